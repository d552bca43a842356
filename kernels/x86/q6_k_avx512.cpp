// Q6_K dot products with 512-bit registers: a whole 128-element half block per register pair
// for plain rows, and the kernels for rows repacked 8 at a time (BlockQ6_Kx8).
// Q6_K is the tied head of Q4_0 and Q4_K_M files (128000 × 2048, 215 MB read per token) and a
// third of Q4_K_M's expert down matrices; its 256-bit kernel spends more time unpacking the six
// bit values than the memory takes to deliver them. Compiled with the AVX-512 flags only.
//
// Per half block (128 elements; ggml's order, ../shared/spec/gguf.md):
//   element l      = ql[l] & 15      | (qh[l] >> 0 & 3) << 4     l in 0..31
//   element l + 32 = ql[l + 32] & 15 | (qh[l] >> 2 & 3) << 4
//   element l + 64 = ql[l] >> 4      | (qh[l] >> 4 & 3) << 4
//   element l + 96 = ql[l + 32] >> 4 | (qh[l] >> 6 & 3) << 4
// so with L = ql[0..63] in one zmm and Hq = [qh, qh >> 2], elements 0..63 are
// (L & 15) | (Hq & 3) << 4 and elements 64..127 are (L >> 4 & 15) | (Hq >> 4 & 3) << 4. The Hq
// terms are computed as (Hq << 4) & 0x30 and Hq & 0x30: the two bits moved straight onto bits
// 4..5 (16-bit shifts carry bits across bytes, but never into bits 4..5 of a byte).
// The stored values are q + 32 (0..63, unsigned): Σ sc·(q-32)·y = Σ sc·q·y - 32·Σ sc·bsum.

#include <immintrin.h>

#include <cstdint>

#include "../kernels.h"
#include "../types.h"
#include "prefetch.h"
#include "q6_k_avx512.h"
#include "simd_common.h"

namespace lfm::avx512 {

namespace {

const float* const kHalf = f16_table();

// The two 64-element quant vectors of half block `half` (unsigned 0..63).
inline void unpack_half(const BlockQ6_K& x, int half, __m512i& lo, __m512i& hi) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i l = _mm512_loadu_si512(x.ql + 64 * half);
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qh + 32 * half));
    const __m512i hq = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
    lo = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_slli_epi16(hq, 4), m30));
    hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_and_si512(hq, m30));
}

// The block's 16 scales as int16 (returned, for the offset term), and widened so that int16 lane
// j of vector k (64 elements, 32 pair sums) holds scale 4k + j/8: the scale of the sub-block its
// pair of elements lies in.
inline __m256i expand_scales(const BlockQ6_K& x, __m512i (&sc)[4]) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
    const __m512i s16 = _mm512_castsi256_si512(sc16);
    const __m512i lane = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13,
                                          12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i sub = _mm512_srli_epi16(lane, 3);  // j / 8
    for (int k = 0; k < 4; ++k)
        sc[k] = _mm512_permutexvar_epi16(_mm512_add_epi16(sub, _mm512_set1_epi16(static_cast<short>(4 * k))), s16);
    return sc16;
}

// 32 · Σ scale·bsum of one activation block (sc16: the block's scales from expand_scales), as 8
// int32 lanes in the low half of a zmm.
inline __m512i offset_term(__m256i sc16, const BlockQ8_K& y) {
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums));
    return _mm512_zextsi256_si512(_mm256_slli_epi32(_mm256_madd_epi16(sc16, bs), 5));
}

// Σ sc·q·y of one block against one activation block: u8×s8 pair sums (≤ 2·63·127, no
// saturation), then the pairs times their scale summed into int32 lanes (vpdpwssd).
inline __m512i block_sum(const __m512i (&q)[4], const __m512i (&sc)[4], const BlockQ8_K& y) {
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
        const __m512i p = _mm512_maddubs_epi16(q[k], _mm512_loadu_si512(y.qs + 64 * k));
        acc = _mm512_dpwssd_epi32(acc, p, sc[k]);
    }
    return acc;
}

// Lanes 0..7 take dword a, lanes 8..15 dword b (of a vector of 16 dwords).
inline __m512i dword_pair(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi32(a), _mm256_set1_epi32(b), 1);
}

// BlockQ6_Kx8: the top two bits of step k (bits 2k..2k+1 of each qh byte) moved onto bits 4..5.
inline __m512i top_bits(__m512i h, int k) {
    const __m512i m30 = _mm512_set1_epi8(0x30);
    switch (k) {
        case 0: return _mm512_and_si512(_mm512_slli_epi16(h, 4), m30);
        case 1: return _mm512_and_si512(_mm512_slli_epi16(h, 2), m30);
        case 2: return _mm512_and_si512(h, m30);
        default: return _mm512_and_si512(_mm512_srli_epi16(h, 2), m30);
    }
}

// 8 repacked rows (BlockQ6_Kx8) against NT activation rows act + t·act_stride: one zmm of quants
// is a step of both sub-blocks of a pair for the 8 rows (lane 8h + r: sub-block h of the pair,
// row r), so each of its dword lanes sums one sub-block of one row: it starts from
// -32·bsum(sub-block) (the stored values are q + 32), takes 4 vpdpbusd steps and is multiplied by
// its scale once. The two halves (even and odd sub-blocks) are added at the end.
template <int NT>
void gemm8_q6_k(const void* w, const void* a, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    const auto* x = static_cast<const BlockQ6_Kx8*>(w);
    const BlockQ8_K* y[NT];
    for (int t = 0; t < NT; ++t) y[t] = x86::act_row<BlockQ8_K>(a, act_stride, t);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; ++b) {
        __m512i neg_bsum[NT], isum[NT];  // -32·bsum of the 16 sub-blocks; Σ scale·(sub-block sum)
        for (int t = 0; t < NT; ++t) {
            const __m512i bs = _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[t][b].bsums)));
            neg_bsum[t] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bs, 5));
            isum[t] = _mm512_setzero_si512();
        }
        for (int c = 0; c < 4; ++c) {  // 64 elements of each row: sub-block pairs 2c (j = 0), 2c + 1 (j = 1)
            __m512i yv[NT], dot[NT][2];
            for (int t = 0; t < NT; ++t) {
                yv[t] = _mm512_loadu_si512(y[t][b].qs + 64 * c);
                for (int j = 0; j < 2; ++j)
                    dot[t][j] = _mm512_permutexvar_epi32(dword_pair(4 * c + 2 * j, 4 * c + 2 * j + 1), neg_bsum[t]);
            }
            const uint8_t* chunk = x[b].chunk[c];
            const __m512i h0 = _mm512_loadu_si512(chunk + 256), h1 = _mm512_loadu_si512(chunk + 320);
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k) {  // unrolled: top_bits(k) is one shift and mask
                const __m512i l = _mm512_loadu_si512(chunk + 64 * k);
                // (nibble & 15) | top bits, one vpternlogd each
                const __m512i q0 = _mm512_ternarylogic_epi32(l, top_bits(h0, k), m4, 0xEC);
                const __m512i q1 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), top_bits(h1, k), m4, 0xEC);
                // activation dwords: sub-block h of pair j, step k is dword 8j + 4h + k of the chunk
                const __m512i i0 = dword_pair(k, 4 + k), i1 = dword_pair(8 + k, 12 + k);
                for (int t = 0; t < NT; ++t) {
                    dot[t][0] = _mm512_dpbusd_epi32(dot[t][0], q0, _mm512_permutexvar_epi32(i0, yv[t]));
                    dot[t][1] = _mm512_dpbusd_epi32(dot[t][1], q1, _mm512_permutexvar_epi32(i1, yv[t]));
                }
            }
            const __m512i s0 = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales + 32 * c)));
            const __m512i s1 = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales + 32 * c + 16)));
            for (int t = 0; t < NT; ++t)
                isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(dot[t][0], s0), _mm512_mullo_epi32(dot[t][1], s1)));
        }
        const __m256 d8 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].d)));
        const __m512 d = _mm512_insertf32x8(_mm512_castps256_ps512(d8), d8, 1);
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y[t][b].d)), _mm512_cvtepi32_ps(isum[t]), acc[t]);
    }
    for (int t = 0; t < NT; ++t)
        _mm256_storeu_ps(out + static_cast<size_t>(t) * out_stride,
                         _mm256_add_ps(_mm512_castps512_ps256(acc[t]), _mm512_extractf32x8_ps(acc[t], 1)));
}

}  // namespace

void gemv8_q6_k_512(const void* w, const void* act, int64_t n, float* out) { gemm8_q6_k<1>(w, act, 0, n, out, 0); }

void gemm8x4_q6_k_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    gemm8_q6_k<4>(w, act, act_stride, n, out, out_stride);
}

float vec_dot_q6_k_512(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; ++b) {
        x86::prefetch_ahead(x + b, sizeof(BlockQ6_K));
        __m512i q[4], sc[4];
        unpack_half(x[b], 0, q[0], q[1]);
        unpack_half(x[b], 1, q[2], q[3]);
        const __m256i sc16 = expand_scales(x[b], sc);
        const __m512i total = _mm512_sub_epi32(block_sum(q, sc, y[b]), offset_term(sc16, y[b]));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(kHalf[x[b].d] * y[b].d), _mm512_cvtepi32_ps(total), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

void vec_dot_x4_q6_k_512(const void* w, const void* act, size_t stride, int64_t n, float* out) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* base = static_cast<const uint8_t*>(act);
    const BlockQ8_K* y[4];
    for (int j = 0; j < 4; ++j) y[j] = reinterpret_cast<const BlockQ8_K*>(base + static_cast<size_t>(j) * stride);
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t b = 0; b < n / QK_K; ++b) {
        __m512i q[4], sc[4];
        unpack_half(x[b], 0, q[0], q[1]);
        unpack_half(x[b], 1, q[2], q[3]);
        const __m256i sc16 = expand_scales(x[b], sc);
        const float d = kHalf[x[b].d];
        for (int j = 0; j < 4; ++j) {
            const __m512i total = _mm512_sub_epi32(block_sum(q, sc, y[j][b]), offset_term(sc16, y[j][b]));
            acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(d * y[j][b].d), _mm512_cvtepi32_ps(total), acc[j]);
        }
    }
    for (int j = 0; j < 4; ++j) out[j] = _mm512_reduce_add_ps(acc[j]);
}

}  // namespace lfm::avx512
