// Q2_K 8-row kernels (q2_k_x8_avx512.inc) for AVX-512 CPUs without GFNI: each 2-bit plane is a
// 16-bit shift and a byte mask. Compiled with the AVX-512 flags only (see kernels/CMakeLists.txt).

#include <immintrin.h>

#include "q2_k_x8_avx512.h"

#define LFM_Q2K_NS shift_and
namespace lfm::avx512::shift_and {
namespace {
// The 16-bit shifts carry bits across bytes, but the mask keeps only each byte's own two bits.
inline void unpack_planes(__m512i v, __m512i (&q)[4]) {
    const __m512i m3 = _mm512_set1_epi8(0x03);
    q[0] = _mm512_and_si512(v, m3);
    q[1] = _mm512_and_si512(_mm512_srli_epi16(v, 2), m3);
    q[2] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m3);
    q[3] = _mm512_and_si512(_mm512_srli_epi16(v, 6), m3);
}
}  // namespace
}  // namespace lfm::avx512::shift_and
#include "q2_k_x8_avx512.inc"

namespace lfm::avx512 {
void gemv8_q2_k_512(const void* w, const void* act, int64_t n, float* out) {
    shift_and::gemm8_q2_k<1>(w, act, 0, n, out, 0);
}
void gemm8x4_q2_k_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    shift_and::gemm8_q2_k<4>(w, act, act_stride, n, out, out_stride);
}
}  // namespace lfm::avx512
