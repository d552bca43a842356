// Decode kernels on 512-bit registers for rows repacked 8 at a time (BlockQ4_0x8, BlockQ8_0x8,
// BlockQ4_Kx8): one zmm holds two consecutive 4-element steps of the 8 rows (lanes 0..7: step k,
// lanes 8..15: step k+1), so every load, mask and vpdpbusd does two steps' work where a 256-bit
// kernel does one. The two halves carry the same rows and are added once per call. No software
// prefetch: these long contiguous streams go faster with the hardware prefetcher alone
// (prefetch.h says how that was measured). Compiled with the AVX-512 flags only (see
// kernels/CMakeLists.txt).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../kernels.h"
#include "../types.h"
#include "gemv8_avx512.h"
#include "q4_k_x8_scales.h"
#include "simd512_common.h"

namespace lfm::avx512 {

namespace {

using x86::step_pair;

const float* const kHalf = f16_table();

// 8 bytes (one per row) as int32 in both halves: lane i and lane 8+i hold byte i.
inline __m512i rows_u8_twice(const uint8_t* p) {
    int64_t v;
    std::memcpy(&v, p, 8);
    return _mm512_cvtepu8_epi32(_mm_set1_epi64x(v));
}

}  // namespace

// Q4_0, 8 rows: group g of a block holds elements 4g..4g+3 (low nibbles, activation dword g) and
// 16+4g.. (high nibbles, dword 4+g) of each row; one zmm takes groups g and g+1. The -8 offset
// is -8·Σy, the same for every row, summed alongside with vpdpbusd (exact in int32).
void gemv8_q4_0_512(const void* w, const void* a, int64_t n, float* out) {
    const auto* x = static_cast<const BlockQ4_0x8*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const __m512i mask = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    const __m512i lo_idx[2] = {step_pair(0), step_pair(2)};
    const __m512i hi_idx[2] = {step_pair(4), step_pair(6)};
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK; ++b) {
        const __m512i yv = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs)));
        __m512i dot = _mm512_setzero_si512(), corr = _mm512_setzero_si512();
        for (int g = 0; g < 2; ++g) {
            const __m512i q = _mm512_loadu_si512(x[b].qs + 64 * g);  // groups 2g, 2g+1
            const __m512i ylo = _mm512_permutexvar_epi32(lo_idx[g], yv), yhi = _mm512_permutexvar_epi32(hi_idx[g], yv);
            dot = _mm512_dpbusd_epi32(dot, _mm512_and_si512(q, mask), ylo);
            dot = _mm512_dpbusd_epi32(dot, _mm512_and_si512(_mm512_srli_epi16(q, 4), mask), yhi);
            corr = _mm512_dpbusd_epi32(corr, eight, ylo);
            corr = _mm512_dpbusd_epi32(corr, eight, yhi);
        }
        // both halves of the register carry the same 8 rows: their scales twice
        const __m256 d8 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d))),
                                        _mm256_set1_ps(kHalf[y[b].d]));
        const __m512 d = _mm512_insertf32x8(_mm512_castps256_ps512(d8), d8, 1);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(dot, corr)), acc);
    }
    _mm256_storeu_ps(out, _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
}

// Q8_0, 8 rows: step s of a block holds bytes 4s..4s+3 of each row (32 bytes), one zmm takes
// steps 2k and 2k+1. The weights are made unsigned (w ^ 0x80 = w + 128), the natural vpdpbusd
// operand, and the dot starts from 128·(-Σy) (the activation row's q8_0_neg_sums), split as 64
// in each half of the register since the halves are summed once the scales are applied.
void gemv8_q8_0_512(const void* w, const void* a, int64_t n, float* out) {
    const auto* x = static_cast<const BlockQ8_0x8*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    const int32_t* neg_sums = q8_0_neg_sums(a, n);
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    const __m512i idx[4] = {step_pair(0), step_pair(2), step_pair(4), step_pair(6)};
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK; ++b) {
        const __m512i yv = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs)));
        __m512i dot = _mm512_slli_epi32(_mm512_set1_epi32(neg_sums[b]), 6);
        for (int k = 0; k < 4; ++k) {
            const __m512i q = _mm512_xor_si512(_mm512_loadu_si512(x[b].qs + 64 * k), bias);  // steps 2k, 2k+1
            dot = _mm512_dpbusd_epi32(dot, q, _mm512_permutexvar_epi32(idx[k], yv));
        }
        const __m256 d8 = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d))),
                                        _mm256_set1_ps(kHalf[y[b].d]));
        const __m512 d = _mm512_insertf32x8(_mm512_castps256_ps512(d8), d8, 1);
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot), acc);
    }
    _mm256_storeu_ps(out, _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
}

// Q4_K, 8 rows: chunk c of a block holds sub-blocks 2c (low nibbles, activation bytes
// 64c..64c+31) and 2c+1 (high nibbles, bytes 64c+32..64c+63); step k is elements 4k..4k+3 of
// each. The 64 activation bytes of a chunk sit in one zmm and each step pair takes its dwords
// with vpermd, so no broadcast reads memory. Mins: Σ_sub mn[sub]·(bsum of the sub-block).
void gemv8_q4_k_512(const void* w, const void* a, int64_t n, float* out) {
    const auto* x = static_cast<const BlockQ4_Kx8*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    const __m512i mask = _mm512_set1_epi8(0x0F);
    const __m512i lo_idx[4] = {step_pair(0), step_pair(2), step_pair(4), step_pair(6)};
    const __m512i hi_idx[4] = {step_pair(8), step_pair(10), step_pair(12), step_pair(14)};
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const x86::Q4KScales8 scales = x86::unpack_q4_k_x8_scales(x[b]);
        __m512i isum = _mm512_setzero_si512(), msum = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
            const __m512i yv = _mm512_loadu_si512(y[b].qs + 64 * c);
            __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
            for (int k = 0; k < 4; ++k) {
                const __m512i q = _mm512_loadu_si512(x[b].qs + 256 * c + 64 * k);  // steps 2k, 2k+1
                lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(q, mask), _mm512_permutexvar_epi32(lo_idx[k], yv));
                hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(_mm512_srli_epi16(q, 4), mask),
                                         _mm512_permutexvar_epi32(hi_idx[k], yv));
            }
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(lo, rows_u8_twice(scales.sc[2 * c])));
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(hi, rows_u8_twice(scales.sc[2 * c + 1])));
        }
        // mins of sub-blocks 2s (lanes 0..7) and 2s+1 (lanes 8..15), both halves summed below
        for (int s = 0; s < 4; ++s) {
            const __m512i mn = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(scales.mn[2 * s])));
            const int bs0 = y[b].bsums[4 * s] + y[b].bsums[4 * s + 1];
            const int bs1 = y[b].bsums[4 * s + 2] + y[b].bsums[4 * s + 3];
            const __m512i bs = _mm512_inserti64x4(_mm512_set1_epi32(bs0), _mm256_set1_epi32(bs1), 1);
            msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(mn, bs));
        }
        const __m256i isum8 = _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
        const __m256i msum8 = _mm256_add_epi32(_mm512_castsi512_si256(msum), _mm512_extracti64x4_epi64(msum, 1));
        // [d | dmin] of the 8 rows times the activation scale; [isum | msum] as floats
        const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].d))),
                                           _mm512_set1_ps(y[b].d));
        const __m512i sums = _mm512_inserti64x4(_mm512_castsi256_si512(isum8), _mm256_sub_epi32(_mm256_setzero_si256(), msum8), 1);
        acc = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(sums), acc);
    }
    // lanes 0..7: Σ d·isum, lanes 8..15: -Σ dmin·msum
    _mm256_storeu_ps(out, _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
}

}  // namespace lfm::avx512
