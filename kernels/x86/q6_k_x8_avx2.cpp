// Q6_K on rows repacked 8 at a time (BlockQ6_Kx8) with 256-bit registers and no VNNI: a 32-byte
// load is one 4-element step of one sub-block for the 8 rows (lane r: row r), every activation
// step one 4-byte broadcast shared by the 8 rows. maddubs' int16 pair sums of two steps are
// added (at most 2·2·63·127 = 32004 in magnitude: no wrap, and maddubs never saturates on
// them), then multiplied by the sub-block's scale and widened in one madd: one scale multiply
// per two steps and 8 rows, where the plain-row kernel needs one per step and row.
// The stored values are q + 32: Σ sc·(q-32)·y = Σ sc·q·y - 32·Σ_s sc_s·bsum_s, the second term
// per row from pairs of sub-blocks, one madd each. Compiled with the AVX2 flags only.

#include <immintrin.h>

#include "../types.h"
#include "q6_k_x8_avx2.h"
#include "simd_common.h"

namespace lfm::avx2 {

namespace {

using x86::act_row;
using x86::bcast4;
using x86::load32;

// The top two bits of step k (bits 2k..2k+1 of each qh byte) moved onto bits 4..5.
inline __m256i top_bits(__m256i h, int k) {
    const __m256i m30 = _mm256_set1_epi8(0x30);
    switch (k) {
        case 0: return _mm256_and_si256(_mm256_slli_epi16(h, 4), m30);
        case 1: return _mm256_and_si256(_mm256_slli_epi16(h, 2), m30);
        case 2: return _mm256_and_si256(h, m30);
        default: return _mm256_and_si256(_mm256_srli_epi16(h, 2), m30);
    }
}

// Sub-block s's scales of the 8 rows as int16, each twice: lane r of the madd is (sc_r, sc_r).
inline __m256i sub_block_scale(const BlockQ6_Kx8& x, int s) {
    const __m128i s8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x.scales + 8 * s));
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(s8, s8));
}

template <int NT>
void gemm8_q6_k(const void* w, const void* a, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    const auto* x = static_cast<const BlockQ6_Kx8*>(w);
    const BlockQ8_K* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = act_row<BlockQ8_K>(a, act_stride, t);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; ++b) {
        // each token's sum starts from -32·Σ_s sc_s·bsum_s: lane r of a madd takes
        // (sc_s, sc_s+1) of row r against (bsum_s, bsum_s+1)
        __m256i isum[NT];
        for (int t = 0; t < NT; ++t) isum[t] = _mm256_setzero_si256();
        for (int s = 0; s < 16; s += 2) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales + 8 * s));
            const __m256i pairs = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, _mm_srli_si128(v, 8)));
            for (int t = 0; t < NT; ++t) isum[t] = _mm256_sub_epi32(isum[t], _mm256_madd_epi16(pairs, bcast4(y[t][b].bsums + s)));
        }
        for (int t = 0; t < NT; ++t) isum[t] = _mm256_slli_epi32(isum[t], 5);
        for (int c = 0; c < 4; ++c) {
            for (int h = 0; h < 2; ++h) {  // sub-blocks 4c + h (low nibbles) and 4c + 2 + h (high nibbles)
                const uint8_t* chunk = x[b].chunk[c];
                const __m256i h0 = load32(chunk + 256 + 32 * h), h1 = load32(chunk + 320 + 32 * h);
                const __m256i sc0 = sub_block_scale(x[b], 4 * c + h), sc1 = sub_block_scale(x[b], 4 * c + 2 + h);
#pragma GCC unroll 2
                for (int k = 0; k < 4; k += 2) {  // unrolled: top_bits(k) is one shift and mask
                    const __m256i la = load32(chunk + 64 * k + 32 * h);
                    const __m256i lb = load32(chunk + 64 * (k + 1) + 32 * h);
                    const __m256i q0a = _mm256_or_si256(_mm256_and_si256(la, m4), top_bits(h0, k));
                    const __m256i q0b = _mm256_or_si256(_mm256_and_si256(lb, m4), top_bits(h0, k + 1));
                    const __m256i q1a = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4), top_bits(h1, k));
                    const __m256i q1b = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4), top_bits(h1, k + 1));
                    for (int t = 0; t < NT; ++t) {
                        const int8_t* yq = y[t][b].qs + 64 * c + 16 * h + 4 * k;  // element 64c + 16h + 4k
                        const __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(q0a, bcast4(yq)), _mm256_maddubs_epi16(q0b, bcast4(yq + 4)));
                        const __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(q1a, bcast4(yq + 32)),
                                                            _mm256_maddubs_epi16(q1b, bcast4(yq + 36)));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(p0, sc0), _mm256_madd_epi16(p1, sc1)));
                    }
                }
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(y[t][b].d)), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride, acc[t]);
}

}  // namespace

void gemv8_q6_k_256(const void* w, const void* act, int64_t n, float* out) { gemm8_q6_k<1>(w, act, 0, n, out, 0); }

void gemm8x4_q6_k_256(const void* w, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    gemm8_q6_k<4>(w, act, act_stride, n, out, out_stride);
}

}  // namespace lfm::avx2
