// Prompt-batch kernels that need 512-bit registers: sixteen repacked rows (two consecutive 8-row
// groups) against eight tokens per call, and thirty-two rows (four groups) against four. One zmm lane per row: lanes 0..7 come from the first group of a pair, 8..15 from
// the second, so the 8-row layout that decode streams serves here unchanged.
// Compiled with the AVX-512 flags only (see kernels/CMakeLists.txt).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../kernels.h"
#include "../kquant.h"
#include "../types.h"
#include "gemm16_avx512.h"
#include "q4_k_x8_scales.h"
#include "simd_common.h"

namespace lfm::avx512 {

namespace {

// A table load: cheaper than converting a scalar half.
const float* const kHalf = f16_table();

using x86::load32;

// [a | b]: 32 bytes of the first group in the low half, 32 of the second in the high half.
inline __m512i load_pair(const uint8_t* a, const uint8_t* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load32(a)), load32(b), 1);
}

// 16 halves (8 from each group) as 16 floats.
inline __m512 load_scales(const f16_t* a, const f16_t* b) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
    return _mm512_cvtph_ps(_mm256_set_m128i(hi, lo));
}

// Four activation bytes in every lane.
inline __m512i bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// Unsigned weights, eight steps of one block for 16 rows (us = w + zero, the zero point 2^kShift),
// against eight tokens: the natural vpdpbusd operands, each activation dword broadcast from memory
// by its own vpbroadcastd (the form folded into vpdpbusd, {1to16}, ran at ~0.6x on Zen 5). Per
// token and block
//   Σ w·y = Σ us·y - zero·Σy,
// and the activation row carries -Σy per block (q8_0_neg_sums), so the dot starts from
// -zero·Σy and needs nothing per row. Step s holds elements 4s..4s+3 in the activation's order.
template <int kShift, int kTokens>
inline void tokens_unsigned_block(const __m512i (&us)[8], __m512 dx, const uint8_t* act, size_t act_stride, int64_t n,
                                  int64_t b, __m512 (&acc)[kTokens]) {
    // Unrolled, so the accumulators stay in registers (GCC otherwise unrolls by two and keeps
    // acc[] on the stack).
#pragma GCC unroll 8
    for (int j = 0; j < kTokens; ++j) {
        const uint8_t* row = act + static_cast<size_t>(j) * act_stride;
        const auto* y = reinterpret_cast<const BlockQ8_0*>(row) + b;
        __m512i d0 = _mm512_slli_epi32(_mm512_set1_epi32(q8_0_neg_sums(row, n)[b]), kShift), d1 = _mm512_setzero_si512();
        for (int s = 0; s < 8; s += 2) {
            d0 = _mm512_dpbusd_epi32(d0, us[s], bcast4(y->qs + 4 * s));
            d1 = _mm512_dpbusd_epi32(d1, us[s + 1], bcast4(y->qs + 4 * s + 4));
        }
        const __m512 d = _mm512_mul_ps(dx, _mm512_set1_ps(kHalf[y->d]));
        acc[j] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_add_epi32(d0, d1)), acc[j]);
    }
}

// Q4_0's steps in pairs: load i (0..3) is qs[32i..32i+31] of each row group, whose low nibbles
// are step i (elements 4i..) and high nibbles step 4 + i (elements 16 + 4i..).
struct Q4_0Steps {
    using Block8 = BlockQ4_0x8;
    static constexpr int kShift = 3;
    static constexpr int lo(int i) { return i; }
    static constexpr int hi(int i) { return 4 + i; }
    static void load(const Block8& xa, const Block8& xb, int i, __m512i& lo, __m512i& hi) {
        const __m512i mask = _mm512_set1_epi8(0x0F);
        const __m512i q = load_pair(xa.qs + 32 * i, xb.qs + 32 * i);
        lo = _mm512_and_si512(q, mask);
        hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), mask);
    }
};

// Q8_0's steps 2i and 2i + 1, made unsigned by w ^ 0x80 = w + 128.
struct Q8_0Steps {
    using Block8 = BlockQ8_0x8;
    static constexpr int kShift = 7;
    static constexpr int lo(int i) { return 2 * i; }
    static constexpr int hi(int i) { return 2 * i + 1; }
    static void load(const Block8& xa, const Block8& xb, int i, __m512i& lo, __m512i& hi) {
        const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
        const auto* a = reinterpret_cast<const uint8_t*>(xa.qs);
        const auto* b = reinterpret_cast<const uint8_t*>(xb.qs);
        lo = _mm512_xor_si512(load_pair(a + 64 * i, b + 64 * i), bias);
        hi = _mm512_xor_si512(load_pair(a + 64 * i + 32, b + 64 * i + 32), bias);
    }
};

// The block loop of the unsigned kernels: Steps::load makes block b's eight steps of 16 rows
// unsigned (w + 2^kShift), two at a time.
template <typename Steps>
void gemm16x8_unsigned(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                       size_t out_stride) {
    using Block8 = typename Steps::Block8;
    const auto* xa = static_cast<const Block8*>(w);
    const auto* xb = reinterpret_cast<const Block8*>(static_cast<const uint8_t*>(w) + group_bytes);
    __m512 acc[8];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK; ++b) {
        __m512i us[8];
        for (int i = 0; i < 4; ++i) Steps::load(xa[b], xb[b], i, us[Steps::lo(i)], us[Steps::hi(i)]);
        tokens_unsigned_block<Steps::kShift, 8>(us, load_scales(xa[b].d, xb[b].d), static_cast<const uint8_t*>(act),
                                                act_stride, n, b, acc);
    }
    for (int j = 0; j < 8; ++j) _mm512_storeu_ps(out + static_cast<size_t>(j) * out_stride, acc[j]);
}

// 32 rows (four 8-row groups, two zmm of 16) against kTokens tokens, one step pair at a time:
// each broadcast activation dword feeds two vpdpbusd (rows 0..15 and 16..31), half the
// broadcasts per multiply-add of gemm16x8, whose broadcast loads were its largest cost. The
// weights are unpacked as the steps go rather than held for the whole block, so 2·kTokens int32
// and 2·kTokens float accumulators fit the 32 registers. Steps::load(xa, xb, i, lo, hi) makes
// steps Steps::lo(i) and Steps::hi(i) (i = 0..3) of block b unsigned for 16 rows.
template <typename Steps, int kTokens>
void gemm32_unsigned(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                     size_t out_stride) {
    using Block8 = typename Steps::Block8;
    const auto* base = static_cast<const uint8_t*>(w);
    const Block8* g[4];
    for (int i = 0; i < 4; ++i) g[i] = reinterpret_cast<const Block8*>(base + static_cast<size_t>(i) * group_bytes);
    const auto* a = static_cast<const uint8_t*>(act);
    __m512 acc[2][kTokens];
    for (auto& half : acc)
        for (auto& v : half) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK; ++b) {
        const BlockQ8_0* y[kTokens];
        __m512i isum[2][kTokens];
#pragma GCC unroll 8
        for (int j = 0; j < kTokens; ++j) {
            const uint8_t* row = a + static_cast<size_t>(j) * act_stride;
            y[j] = reinterpret_cast<const BlockQ8_0*>(row) + b;
            isum[0][j] = isum[1][j] = _mm512_slli_epi32(_mm512_set1_epi32(q8_0_neg_sums(row, n)[b]), Steps::kShift);
        }
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) {
            __m512i lo0, hi0, lo1, hi1;
            Steps::load(g[0][b], g[1][b], i, lo0, hi0);
            Steps::load(g[2][b], g[3][b], i, lo1, hi1);
#pragma GCC unroll 8
            for (int j = 0; j < kTokens; ++j) {
                const __m512i ylo = bcast4(y[j]->qs + 4 * Steps::lo(i)), yhi = bcast4(y[j]->qs + 4 * Steps::hi(i));
                isum[0][j] = _mm512_dpbusd_epi32(isum[0][j], lo0, ylo);
                isum[1][j] = _mm512_dpbusd_epi32(isum[1][j], lo1, ylo);
                isum[0][j] = _mm512_dpbusd_epi32(isum[0][j], hi0, yhi);
                isum[1][j] = _mm512_dpbusd_epi32(isum[1][j], hi1, yhi);
            }
        }
        const __m512 dx0 = load_scales(g[0][b].d, g[1][b].d), dx1 = load_scales(g[2][b].d, g[3][b].d);
#pragma GCC unroll 8
        for (int j = 0; j < kTokens; ++j) {
            const __m512 dy = _mm512_set1_ps(kHalf[y[j]->d]);
            acc[0][j] = _mm512_fmadd_ps(_mm512_mul_ps(dx0, dy), _mm512_cvtepi32_ps(isum[0][j]), acc[0][j]);
            acc[1][j] = _mm512_fmadd_ps(_mm512_mul_ps(dx1, dy), _mm512_cvtepi32_ps(isum[1][j]), acc[1][j]);
        }
    }
    for (int j = 0; j < kTokens; ++j) {
        _mm512_storeu_ps(out + static_cast<size_t>(j) * out_stride, acc[0][j]);
        _mm512_storeu_ps(out + static_cast<size_t>(j) * out_stride + 16, acc[1][j]);
    }
}

// Q4_K's mins of 16 rows (8 from each of two groups) as int16 pairs for vpmaddwd: lane r of
// mn16[i] holds (mn[2i][r], mn[2i+1][r]).
inline void q4_k_min_pairs(const x86::Q4KScales8& sa, const x86::Q4KScales8& sb, __m512i (&mn16)[4]) {
    for (int i = 0; i < 4; ++i) {
        auto pairs = [&](const x86::Q4KScales8& x) {
            return _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x.mn[2 * i])),
                                     _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x.mn[2 * i + 1])));
        };
        mn16[i] = _mm512_cvtepu8_epi16(_mm256_set_m128i(pairs(sb), pairs(sa)));
    }
}

// Σ_sub mn[sub][row]·(sum of the token's sub-block sub) for the 16 rows of mn16: the token's 8
// sub-block sums (two bsums each) as int16 pairs, |sum| <= 32·127, against the min pairs.
inline __m512i q4_k_min_dot(const __m512i (&mn16)[4], const BlockQ8_K& y) {
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums));
    const __m256i sums32 = _mm256_madd_epi16(bs, _mm256_set1_epi16(1));  // [s0 s1 s2 s3 | s4 s5 s6 s7]
    const __m128i sums16 = _mm_packs_epi32(_mm256_castsi256_si128(sums32), _mm256_extracti128_si256(sums32, 1));
    alignas(16) int32_t pair[4];  // (s_2i, s_2i+1) as one dword each
    _mm_store_si128(reinterpret_cast<__m128i*>(pair), sums16);
    __m512i msum = _mm512_setzero_si512();
    for (int i = 0; i < 4; ++i) msum = _mm512_add_epi32(msum, _mm512_madd_epi16(mn16[i], _mm512_set1_epi32(pair[i])));
    return msum;
}

}  // namespace

void gemm32x4_q4_0(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                   size_t out_stride) {
    gemm32_unsigned<Q4_0Steps, 4>(w, group_bytes, act, act_stride, n, out, out_stride);
}

void gemm32x4_q8_0(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                   size_t out_stride) {
    gemm32_unsigned<Q8_0Steps, 4>(w, group_bytes, act, act_stride, n, out, out_stride);
}

// Q4_0: the nibbles are w + 8 already (Q4_0Steps).
void gemm16x8_q4_0(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                   size_t out_stride) {
    gemm16x8_unsigned<Q4_0Steps>(w, group_bytes, act, act_stride, n, out, out_stride);
}

// Q8_0: w + 128 is w ^ 0x80, once per block for the eight tokens (Q8_0Steps).
void gemm16x8_q8_0(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                   size_t out_stride) {
    gemm16x8_unsigned<Q8_0Steps>(w, group_bytes, act, act_stride, n, out, out_stride);
}

// Q4_K: unsigned nibbles times signed activation bytes, the natural vpdpbusd operands. Per
// 32-element sub-block an exact int32 dot per row lane, times that row's 6-bit scale; the mins
// term is Σ_sub mn[sub][row]·Σ_sub y, done with vpmaddwd on 16-bit pairs (two sub-blocks a lane)
// so each token costs four multiplies for it instead of eight.
// Chunk c (0..3) holds sub-blocks 2c (low nibbles) and 2c+1 (high nibbles); step k holds
// elements 4k..4k+3 of each.
void gemm16x8_q4_k(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                   size_t out_stride) {
    const auto* xa = static_cast<const BlockQ4_Kx8*>(w);
    const auto* xb = reinterpret_cast<const BlockQ4_Kx8*>(static_cast<const uint8_t*>(w) + group_bytes);
    const auto* a = static_cast<const uint8_t*>(act);
    const __m512i mask = _mm512_set1_epi8(0x0F);
    constexpr int kTokens = 8;
    __m512 acc[kTokens];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const BlockQ8_K* y[kTokens];
        for (int j = 0; j < kTokens; ++j) y[j] = reinterpret_cast<const BlockQ8_K*>(a + static_cast<size_t>(j) * act_stride) + b;
        const x86::Q4KScales8 sa = x86::unpack_q4_k_x8_scales(xa[b]), sb = x86::unpack_q4_k_x8_scales(xb[b]);
        __m512i isum[kTokens];
        for (auto& v : isum) v = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
            for (int half = 0; half < 2; ++half) {
                const int sub = 2 * c + half;
                __m512i q[8];
                for (int k = 0; k < 8; ++k) {
                    const __m512i v = load_pair(xa[b].qs + 256 * c + 32 * k, xb[b].qs + 256 * c + 32 * k);
                    q[k] = _mm512_and_si512(half ? _mm512_srli_epi16(v, 4) : v, mask);
                }
                const __m128i sc8 = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sa.sc[sub])),
                                                       _mm_loadl_epi64(reinterpret_cast<const __m128i*>(sb.sc[sub])));
                const __m512i sc = _mm512_cvtepu8_epi32(sc8);
                for (int j = 0; j < kTokens; ++j) {
                    const int8_t* yq = y[j]->qs + 64 * c + 32 * half;
                    __m512i d0 = _mm512_setzero_si512(), d1 = _mm512_setzero_si512();
                    for (int k = 0; k < 8; k += 2) {
                        d0 = _mm512_dpbusd_epi32(d0, q[k], bcast4(yq + 4 * k));
                        d1 = _mm512_dpbusd_epi32(d1, q[k + 1], bcast4(yq + 4 * k + 4));
                    }
                    isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(_mm512_add_epi32(d0, d1), sc));
                }
            }
        }
        __m512i mn16[4];
        q4_k_min_pairs(sa, sb, mn16);
        const __m512 dx = load_scales(xa[b].d, xb[b].d), mx = load_scales(xa[b].dmin, xb[b].dmin);
        for (int j = 0; j < kTokens; ++j) {
            const __m512i msum = q4_k_min_dot(mn16, *y[j]);
            const __m512 yd = _mm512_set1_ps(y[j]->d);
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dx, yd), _mm512_cvtepi32_ps(isum[j]), acc[j]);
            acc[j] = _mm512_fnmadd_ps(_mm512_mul_ps(mx, yd), _mm512_cvtepi32_ps(msum), acc[j]);
        }
    }
    for (int j = 0; j < kTokens; ++j) _mm512_storeu_ps(out + static_cast<size_t>(j) * out_stride, acc[j]);
}

// Q4_K, 32 rows (four groups, two zmm of 16) against 4 tokens, one step at a time as
// gemm32_unsigned: each broadcast activation dword feeds two vpdpbusd. Per sub-block the 2 × 4
// int32 dots are multiplied by the rows' 6-bit scales into isum; the mins term is then done per
// token with vpmaddwd on (mn[2i], mn[2i+1]) pairs as in gemm16x8_q4_k. Registers: 8 dots, 8
// isum, 8 float accumulators, the step's two weight registers, a broadcast and the mask.
void gemm32x4_q4_k(const void* w, size_t group_bytes, const void* act, size_t act_stride, int64_t n, float* out,
                   size_t out_stride) {
    constexpr int kTokens = 4;
    const auto* base = static_cast<const uint8_t*>(w);
    const BlockQ4_Kx8* g[4];
    for (int i = 0; i < 4; ++i) g[i] = reinterpret_cast<const BlockQ4_Kx8*>(base + static_cast<size_t>(i) * group_bytes);
    const auto* a = static_cast<const uint8_t*>(act);
    const __m512i mask = _mm512_set1_epi8(0x0F);
    __m512 acc[2][kTokens];
    for (auto& half : acc)
        for (auto& v : half) v = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const BlockQ8_K* y[kTokens];
        for (int j = 0; j < kTokens; ++j) y[j] = reinterpret_cast<const BlockQ8_K*>(a + static_cast<size_t>(j) * act_stride) + b;
        x86::Q4KScales8 s[4];
        for (int i = 0; i < 4; ++i) s[i] = x86::unpack_q4_k_x8_scales(g[i][b]);
        __m512i isum[2][kTokens];
        for (auto& half : isum)
            for (auto& v : half) v = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
#pragma GCC unroll 2  // rolled, GCC kept the loaded halves on the stack and branched per nibble
            for (int nib = 0; nib < 2; ++nib) {  // sub-block 2c (low nibbles), then 2c + 1 (high)
                const int sub = 2 * c + nib;
                __m512i dot[2][kTokens];
                for (auto& half : dot)
                    for (auto& v : half) v = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int k = 0; k < 8; ++k) {
                    const size_t off = 256 * static_cast<size_t>(c) + 32 * static_cast<size_t>(k);
                    __m512i q0 = load_pair(g[0][b].qs + off, g[1][b].qs + off), q1 = load_pair(g[2][b].qs + off, g[3][b].qs + off);
                    if (nib) {
                        q0 = _mm512_srli_epi16(q0, 4);
                        q1 = _mm512_srli_epi16(q1, 4);
                    }
                    q0 = _mm512_and_si512(q0, mask);
                    q1 = _mm512_and_si512(q1, mask);
#pragma GCC unroll 4
                    for (int j = 0; j < kTokens; ++j) {
                        const __m512i yv = bcast4(y[j]->qs + 64 * c + 32 * nib + 4 * k);
                        dot[0][j] = _mm512_dpbusd_epi32(dot[0][j], q0, yv);
                        dot[1][j] = _mm512_dpbusd_epi32(dot[1][j], q1, yv);
                    }
                }
                for (int h = 0; h < 2; ++h) {
                    const __m128i sc8 = _mm_unpacklo_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s[2 * h].sc[sub])),
                                                           _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s[2 * h + 1].sc[sub])));
                    const __m512i sc = _mm512_cvtepu8_epi32(sc8);
                    for (int j = 0; j < kTokens; ++j) isum[h][j] = _mm512_add_epi32(isum[h][j], _mm512_mullo_epi32(dot[h][j], sc));
                }
            }
        }
        for (int h = 0; h < 2; ++h) {
            __m512i mn16[4];  // this half's 16 rows
            q4_k_min_pairs(s[2 * h], s[2 * h + 1], mn16);
            const __m512 dx = load_scales(g[2 * h][b].d, g[2 * h + 1][b].d);
            const __m512 mx = load_scales(g[2 * h][b].dmin, g[2 * h + 1][b].dmin);
            for (int j = 0; j < kTokens; ++j) {
                const __m512i msum = q4_k_min_dot(mn16, *y[j]);
                const __m512 yd = _mm512_set1_ps(y[j]->d);
                acc[h][j] = _mm512_fmadd_ps(_mm512_mul_ps(dx, yd), _mm512_cvtepi32_ps(isum[h][j]), acc[h][j]);
                acc[h][j] = _mm512_fnmadd_ps(_mm512_mul_ps(mx, yd), _mm512_cvtepi32_ps(msum), acc[h][j]);
            }
        }
    }
    for (int j = 0; j < kTokens; ++j) {
        _mm512_storeu_ps(out + static_cast<size_t>(j) * out_stride, acc[0][j]);
        _mm512_storeu_ps(out + static_cast<size_t>(j) * out_stride + 16, acc[1][j]);
    }
}

}  // namespace lfm::avx512
