// Q2_K and Q3_K 8-row kernels (lowbit_k_x8_avx512.inc) for AVX-512 CPUs without GFNI: each 2-bit
// plane is a 16-bit shift and a byte mask (the shifts carry bits across bytes, the masks keep
// each byte's own). Compiled with the AVX-512 flags only (see kernels/CMakeLists.txt).

#include "lowbit_k_x8_avx512.h"

#include <immintrin.h>

#define LFM_LOWBIT_NS shift_and
namespace lfm::avx512::shift_and {
namespace {
inline void planes2(__m512i v, __m512i (&q)[4]) {
    const __m512i m3 = _mm512_set1_epi8(0x03);
    q[0] = _mm512_and_si512(v, m3);
    q[1] = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
    q[2] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
    q[3] = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
}
// h's bit s (low 32 bytes) or 4 + s (high 32 bytes) is plane s's third bit: shifted onto bit
// 2 + s first (left by 2, right by 2), then one right shift and mask per plane.
inline void planes3(__m512i v, __m512i h, __m512i (&q)[4]) {
    const __m512i bit2 = _mm512_set1_epi8(0x04);
    const __m512i top = _mm512_mask_blend_epi64(0xF0, _mm512_slli_epi16(h, 2), _mm512_srli_epi16(h, 2));
    planes2(v, q);
    q[0] = _mm512_ternarylogic_epi32(q[0], top, bit2, 0xF8);  // q | (top & bit2)
    for (int s = 1; s < 4; ++s) q[s] = _mm512_ternarylogic_epi32(q[s], _mm512_srli_epi16(top, s), bit2, 0xF8);
}
}  // namespace
}  // namespace lfm::avx512::shift_and
#include "lowbit_k_x8_avx512.inc"

namespace lfm::avx512 {
void gemv8_q2_k_512(const void* w, const void* act, int64_t n, float* out) {
    shift_and::gemm8_q2_k<1>(w, act, 0, n, out, 0);
}
void gemm8x4_q2_k_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out,
                      size_t out_stride) {
    shift_and::gemm8_q2_k<4>(w, act, act_stride, n, out, out_stride);
}
void gemv8_q3_k_512(const void* w, const void* act, int64_t n, float* out) {
    shift_and::gemm8_q3_k<1>(w, act, 0, n, out, 0);
}
void gemm8x4_q3_k_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out,
                      size_t out_stride) {
    shift_and::gemm8_q3_k<4>(w, act, act_stride, n, out, out_stride);
}
}  // namespace lfm::avx512
