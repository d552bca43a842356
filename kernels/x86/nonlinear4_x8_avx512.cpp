// IQ4_NL and MXFP4 on 512-bit registers for rows repacked 8 at a time. Both are Q4_0's blocks
// with other scales (f16 d; an E8M0 exponent) and each nibble an index into a 16-entry int8
// table, so they take Q4_0's 8-row layout (BlockQ4_0x8, BlockMXFP4x8) and its decode loop: one
// zmm holds two 4-element steps of the 8 rows, and the activation's dwords come by vpermd from
// one register. The table lookup (vpshufb) returns value + 128, an unsigned byte, the natural
// vpdpbusd operand; the dot starts from 128·(-Σy) per block, which the Q8_0 activation row
// carries (q8_0_neg_sums). Compiled with the AVX-512 flags only (see kernels/CMakeLists.txt).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../kernels.h"
#include "../types.h"
#include "nonlinear4_x8_avx512.h"
#include "simd_common.h"

namespace lfm::avx512 {

namespace {

const float* const kHalf = f16_table();

// Lane index vector: lanes 0..7 pick dword a, lanes 8..15 dword a + 1.
inline __m512i step_pair(int a) {
    return _mm512_add_epi32(_mm512_set1_epi32(a), _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0));
}

// A type's 16 values + 128 (as unsigned bytes) in every 128-bit lane, for vpshufb.
inline __m512i biased_table(const int8_t* values) {
    alignas(16) uint8_t t[16];
    for (int i = 0; i < 16; ++i) t[i] = static_cast<uint8_t>(values[i] + 128);
    return _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
}

// Σ value·y of one 8-row block (qs: its 128 interleaved bytes) for NT tokens: int32 lanes r and
// 8 + r of dot[j] hold row r's two halves (steps 4g.. and 4g + 1..); exact in int32.
template <int NT>
inline void block_dots(const uint8_t* qs, __m512i table, const BlockQ8_0* const* y, const int32_t* const* neg_sums,
                       int64_t b, __m512i (&dot)[NT]) {
    const __m512i mask = _mm512_set1_epi8(0x0F);
    __m512i yv[NT];
    for (int j = 0; j < NT; ++j) {
        yv[j] = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[j][b].qs)));
        dot[j] = _mm512_slli_epi32(_mm512_set1_epi32(neg_sums[j][b]), 6);  // 128·(-Σy), half in each half
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
    __m512 acc[NT];
    for (int j = 0; j < NT; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK; ++b) {
        __m512i dot[NT];
        block_dots<NT>(x[b].qs, table, y, neg_sums, b, dot);
        const __m256 d8 = row_scales(x[b]);
        const __m512 d = _mm512_insertf32x8(_mm512_castps256_ps512(d8), d8, 1);  // both halves: the same rows
        for (int j = 0; j < NT; ++j)
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(kHalf[y[j][b].d])), _mm512_cvtepi32_ps(dot[j]), acc[j]);
    }
    for (int j = 0; j < NT; ++j)
        _mm256_storeu_ps(out + static_cast<size_t>(j) * out_stride,
                         _mm256_add_ps(_mm512_castps512_ps256(acc[j]), _mm512_extractf32x8_ps(acc[j], 1)));
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

}  // namespace

void gemv8_iq4_nl_512(const void* w, const void* act, int64_t n, float* out) {
    gemm8_nl4<1, BlockQ4_0x8>(w, act, 0, n, out, 0, kIQ4NLValues, iq4_nl_scales);
}
void gemm8x4_iq4_nl_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    gemm8_nl4<4, BlockQ4_0x8>(w, act, act_stride, n, out, out_stride, kIQ4NLValues, iq4_nl_scales);
}
void gemv8_mxfp4_512(const void* w, const void* act, int64_t n, float* out) {
    gemm8_nl4<1, BlockMXFP4x8>(w, act, 0, n, out, 0, kMXFP4Values, mxfp4_scales);
}
void gemm8x4_mxfp4_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    gemm8_nl4<4, BlockMXFP4x8>(w, act, act_stride, n, out, out_stride, kMXFP4Values, mxfp4_scales);
}

}  // namespace lfm::avx512
