// IQ4_NL, MXFP4 and IQ4_XS on 512-bit registers for rows repacked 8 at a time. The first two are Q4_0's
// blocks with other scales (f16 d; an E8M0 exponent) and each nibble an index into a 16-entry int8 table, so
// they take Q4_0's 8-row layout (BlockQ4_0x8, BlockMXFP4x8) and its decode loop: one zmm holds two 4-element
// steps of the 8 rows, and the activation's dwords come by vpermd from one register. The table lookup
// (vpshufb) returns value + 128, an unsigned byte, the natural vpdpbusd operand; the dot starts from
// 128·(-Σy) per block, which the Q8_0 activation row carries (q8_0_neg_sums). IQ4_XS's 32-element sub-blocks
// are the same blocks with a 6-bit scale each under one f16 d per 256. Compiled with the AVX-512 flags only
// (see kernels/CMakeLists.txt).

#include "nonlinear4_x8_avx512.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../kernels.h"
#include "../types.h"
#include "simd512_common.h"
#include "simd_common.h"

namespace lfm::avx512 {

namespace {

const float* const kHalf = f16_table();

using x86::bcast8;
using x86::step_pair;

// Row r's two halves (lanes r and 8 + r) added, as int32: the halves hold the large 128·Σy terms
// that cancel between them, so they meet before any rounding to float.
inline __m256i fold_halves(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// A type's 16 values + 128 (as unsigned bytes) in every 128-bit lane, for vpshufb.
inline __m512i biased_table(const int8_t* values) {
    alignas(16) uint8_t t[16];
    for (int i = 0; i < 16; ++i) t[i] = static_cast<uint8_t>(values[i] + 128);
    return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// Σ value·y of one 8-row block of 32 elements (qs: its 128 interleaved bytes) for NT tokens (yq:
// the 32 activation bytes of each): int32 lanes r and 8 + r of dot[j] hold row r's two halves
// (steps 4g.. and 4g + 1..), each started from start[j]; exact in int32. With the table biased
// by 128, start[j] = 64·(-Σy) in each half makes the sum of the halves Σ value·y.
template <int NT>
inline void block_dots(const uint8_t* qs, __m512i table, const int8_t* const* yq, const int32_t* start,
                       __m512i (&dot)[NT]) {
    const __m512i mask = _mm512_set1_epi8(0x0F);
    __m512i yv[NT];
    for (int j = 0; j < NT; ++j) {
        yv[j] = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(yq[j])));
        dot[j] = _mm512_set1_epi32(start[j]);
    }
    for (int g = 0; g < 2; ++g) {  // groups 2g, 2g + 1: elements 8g.. (low nibbles) and 16 + 8g.. (high)
        const __m512i q = _mm512_loadu_si512(qs + 64 * g);
        const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(q, mask));
        const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), mask));
        const __m512i lo_idx = step_pair(2 * g), hi_idx = step_pair(4 + 2 * g);
        for (int j = 0; j < NT; ++j) {
            dot[j] = _mm512_dpbusd_epi32(dot[j], lo, _mm512_permutexvar_epi32(lo_idx, yv[j]));
            dot[j] = _mm512_dpbusd_epi32(dot[j], hi, _mm512_permutexvar_epi32(hi_idx, yv[j]));
        }
    }
}

// 8 rows in Q4_0's layout (Block: BlockQ4_0x8 for IQ4_NL, BlockMXFP4x8) against NT activation
// rows act + j·act_stride; row_scales(block) gives the 8 rows' float scales.
template <int NT, class Block, class RowScales>
void gemm8_nl4(const void* w, const void* a, size_t act_stride, int64_t n, float* out, size_t out_stride,
               const int8_t* values, RowScales row_scales) {
    const auto* x = static_cast<const Block*>(w);
    const __m512i table = biased_table(values);
    const BlockQ8_0* y[NT];
    const int32_t* neg_sums[NT];
    for (int j = 0; j < NT; ++j) {
        y[j] = x86::act_row<BlockQ8_0>(a, act_stride, j);
        neg_sums[j] = q8_0_neg_sums(y[j], n);
    }
    __m256 acc[NT];
    for (int j = 0; j < NT; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK; ++b) {
        __m512i dot[NT];
        const int8_t* yq[NT];
        int32_t start[NT];
        for (int j = 0; j < NT; ++j) {
            yq[j] = y[j][b].qs;
            start[j] = 64 * neg_sums[j][b];
        }
        block_dots<NT>(x[b].qs, table, yq, start, dot);
        const __m256 d8 = row_scales(x[b]);
        for (int j = 0; j < NT; ++j)
            acc[j] = _mm256_fmadd_ps(_mm256_mul_ps(d8, _mm256_set1_ps(kHalf[y[j][b].d])),
                                     _mm256_cvtepi32_ps(fold_halves(dot[j])), acc[j]);
    }
    for (int j = 0; j < NT; ++j) _mm256_storeu_ps(out + static_cast<size_t>(j) * out_stride, acc[j]);
}

inline __m256 iq4_nl_scales(const BlockQ4_0x8& x) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.d)));
}

// e8m0_half_to_f32 of the 8 rows' exponents: (e - 1) << 23 as float bits, 0x00200000 << e for
// the subnormals e = 0, 1.
inline __m256 mxfp4_scales(const BlockMXFP4x8& x) {
    int64_t e8;
    std::memcpy(&e8, x.e, 8);
    const __m256i e = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(e8));
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i subnormal = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    const __m256i small = _mm256_cmpgt_epi32(_mm256_set1_epi32(2), e);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(normal, subnormal, small));
}

// IQ4_XS's sub-scales of sub-block ib (entries 8ib..8ib+7 of BlockIQ4_XSx8) minus 32, as int32
// in lanes 2r and 2r + 1.
inline __m512i iq4_xs_sub_scales(const BlockIQ4_XSx8& x, int ib) {
    int64_t lo8, hi8;
    std::memcpy(&lo8, x.scales_l + 8 * (ib % 4), 8);
    std::memcpy(&hi8, x.scales_h + 8 * (ib % 2), 8);
    const __m128i lo = _mm_and_si128(_mm_srl_epi16(_mm_cvtsi64_si128(lo8), _mm_cvtsi32_si128(4 * (ib / 4))),
                                     _mm_set1_epi8(15));
    const __m128i hi =
        _mm_and_si128(_mm_srl_epi16(_mm_cvtsi64_si128(hi8), _mm_cvtsi32_si128(2 * (ib / 2))), _mm_set1_epi8(3));
    const __m128i v = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
    return _mm512_cvtepi8_epi32(_mm_unpacklo_epi8(v, v));
}

// Σ value·y of one sub-block of the 8 rows (qs: its 128 bytes, BlockIQ4_XSx8) for NT tokens (yq:
// the sub-block's 32 activation bytes of each): lanes 2r and 2r + 1 of dot[j] hold row r's steps
// of even and odd index, each started from start[j] (64·(-Σy) each, with the table biased by 128).
template <int NT>
inline void iq4_xs_sub_dots(const uint8_t* qs, __m512i table, const int8_t* const* yq, const int32_t* start,
                            __m512i (&dot)[NT]) {
    const __m512i mask = _mm512_set1_epi8(0x0F);
    for (int j = 0; j < NT; ++j) dot[j] = _mm512_set1_epi32(start[j]);
    for (int g = 0; g < 2; ++g) {  // steps 2g, 2g + 1: elements 8g.. (low nibbles) and 16 + 8g.. (high)
        const __m512i q = _mm512_loadu_si512(qs + 64 * g);
        const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(q, mask));
        const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(q, 4), mask));
        for (int j = 0; j < NT; ++j) {
            dot[j] = _mm512_dpbusd_epi32(dot[j], lo, bcast8(yq[j] + 8 * g));
            dot[j] = _mm512_dpbusd_epi32(dot[j], hi, bcast8(yq[j] + 16 + 8 * g));
        }
    }
}

// 8 rows of IQ4_XS (BlockIQ4_XSx8) against NT Q8_K activation rows: each sub-block as an IQ4_NL
// block (its -Σy from the activation's two bsums of 16), times its sub-scale once per 8 rows. A
// row's two lanes are added in int32 once per block; both then hold the row's sum, and the even
// lanes are stored.
template <int NT>
void gemm8_iq4_xs(const void* w, const void* a, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    const auto* x = static_cast<const BlockIQ4_XSx8*>(w);
    const __m512i table = biased_table(kIQ4NLValues);
    const __m512i pairs = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512i evens = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 14, 12, 10, 8, 6, 4, 2, 0);
    const BlockQ8_K* y[NT];
    for (int j = 0; j < NT; ++j) y[j] = x86::act_row<BlockQ8_K>(a, act_stride, j);
    __m512 acc[NT];
    for (int j = 0; j < NT; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; ++b) {
        __m512i isum[NT];
        for (int j = 0; j < NT; ++j) isum[j] = _mm512_setzero_si512();
        for (int ib = 0; ib < 8; ++ib) {
            __m512i dot[NT];
            const int8_t* yq[NT];
            int32_t start[NT];
            for (int j = 0; j < NT; ++j) {
                yq[j] = y[j][b].qs + 32 * ib;
                start[j] = -64 * (y[j][b].bsums[2 * ib] + y[j][b].bsums[2 * ib + 1]);
            }
            iq4_xs_sub_dots<NT>(x[b].qs + 128 * ib, table, yq, start, dot);
            const __m512i sc = iq4_xs_sub_scales(x[b], ib);
            for (int j = 0; j < NT; ++j) isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(dot[j], sc));
        }
        const __m512 d = _mm512_permutexvar_ps(
            pairs, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)))));
        for (int j = 0; j < NT; ++j) {
            const __m512i row_sums = _mm512_add_epi32(isum[j], _mm512_shuffle_epi32(isum[j], _MM_PERM_CDAB));
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y[j][b].d)), _mm512_cvtepi32_ps(row_sums), acc[j]);
        }
    }
    for (int j = 0; j < NT; ++j)
        _mm256_storeu_ps(out + static_cast<size_t>(j) * out_stride,
                         _mm512_castps512_ps256(_mm512_permutexvar_ps(evens, acc[j])));
}

}  // namespace

void gemv8_iq4_nl_512(const void* w, const void* act, int64_t n, float* out) {
    gemm8_nl4<1, BlockQ4_0x8>(w, act, 0, n, out, 0, kIQ4NLValues, iq4_nl_scales);
}
void gemm8x4_iq4_nl_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out,
                        size_t out_stride) {
    gemm8_nl4<4, BlockQ4_0x8>(w, act, act_stride, n, out, out_stride, kIQ4NLValues, iq4_nl_scales);
}
void gemv8_mxfp4_512(const void* w, const void* act, int64_t n, float* out) {
    gemm8_nl4<1, BlockMXFP4x8>(w, act, 0, n, out, 0, kMXFP4Values, mxfp4_scales);
}
void gemm8x4_mxfp4_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out,
                       size_t out_stride) {
    gemm8_nl4<4, BlockMXFP4x8>(w, act, act_stride, n, out, out_stride, kMXFP4Values, mxfp4_scales);
}
void gemv8_iq4_xs_512(const void* w, const void* act, int64_t n, float* out) {
    gemm8_iq4_xs<1>(w, act, 0, n, out, 0);
}
void gemm8x4_iq4_xs_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out,
                        size_t out_stride) {
    gemm8_iq4_xs<4>(w, act, act_stride, n, out, out_stride);
}

}  // namespace lfm::avx512
