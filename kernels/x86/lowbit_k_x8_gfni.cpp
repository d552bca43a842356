// Q2_K and Q3_K 8-row kernels (lowbit_k_x8_avx512.inc) for AVX-512 CPUs with GFNI (Ice Lake,
// Zen 4 and later): GF2P8AFFINEQB multiplies each byte by an 8x8 bit matrix, so one instruction
// moves a plane's bits into place and clears the rest, where the plain AVX-512 version needs a
// shift and a mask. Compiled with the AVX-512 flags and -mgfni (see kernels/CMakeLists.txt); the
// table puts these in only where the CPU reports GFNI.

#include <immintrin.h>

#include <cstdint>

#include "lowbit_k_x8_avx512.h"

#define LFM_LOWBIT_NS gfni
namespace lfm::avx512::gfni {
namespace {
// The matrix row of output bit o is byte 7 - o of the qword: a row with one bit i set copies
// input bit i to output bit o.
constexpr uint64_t copy_bit(int i, int o) {
    return (uint64_t{1} << i) << (8 * (7 - o));
}

inline void planes2(__m512i v, __m512i (&q)[4]) {
    q[0] = _mm512_and_si512(v, _mm512_set1_epi8(0x03));
    for (int s = 1; s < 4; ++s)
        q[s] = _mm512_gf2p8affine_epi64_epi8(
            v, _mm512_set1_epi64(static_cast<long long>(copy_bit(2 * s, 0) | copy_bit(2 * s + 1, 1))), 0);
}
// Plane s's third bit onto bit 2: bit s of h's low 32 bytes, bit 4 + s of its high 32 (a matrix
// per qword, so one instruction serves both halves).
inline void planes3(__m512i v, __m512i h, __m512i (&q)[4]) {
    planes2(v, q);
    for (int s = 0; s < 4; ++s) {
        const auto lo = static_cast<long long>(copy_bit(s, 2)),
                   hi = static_cast<long long>(copy_bit(4 + s, 2));
        const __m512i m = _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo);
        q[s] = _mm512_or_si512(q[s], _mm512_gf2p8affine_epi64_epi8(h, m, 0));
    }
}
}  // namespace
}  // namespace lfm::avx512::gfni
#include "lowbit_k_x8_avx512.inc"

namespace lfm::avx512 {
void gemv8_q2_k_512_gfni(const void* w, const void* act, int64_t n, float* out) {
    gfni::gemm8_q2_k<1>(w, act, 0, n, out, 0);
}
void gemm8x4_q2_k_512_gfni(const void* w, const void* act, size_t act_stride, int64_t n, float* out,
                           size_t out_stride) {
    gfni::gemm8_q2_k<4>(w, act, act_stride, n, out, out_stride);
}
void gemv8_q3_k_512_gfni(const void* w, const void* act, int64_t n, float* out) {
    gfni::gemm8_q3_k<1>(w, act, 0, n, out, 0);
}
void gemm8x4_q3_k_512_gfni(const void* w, const void* act, size_t act_stride, int64_t n, float* out,
                           size_t out_stride) {
    gfni::gemm8_q3_k<4>(w, act, act_stride, n, out, out_stride);
}
}  // namespace lfm::avx512
