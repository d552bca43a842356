// Q2_K 8-row kernels (q2_k_x8_avx512.inc) for AVX-512 CPUs with GFNI (Ice Lake, Zen 4 and later):
// GF2P8AFFINEQB multiplies each byte by an 8x8 bit matrix, so one instruction moves a plane's two
// bits to bits 0..1 and clears the rest, where the plain AVX-512 version needs a shift and a
// mask. Compiled with the AVX-512 flags and -mgfni (see kernels/CMakeLists.txt); the table puts
// these in only where the CPU reports GFNI.

#include <immintrin.h>

#include <cstdint>

#include "q2_k_x8_avx512.h"

#define LFM_Q2K_NS gfni
namespace lfm::avx512::gfni {
namespace {
// Row i of the matrix (byte 7 - i of the qword) gives output bit i: bit 0 takes input bit 2s,
// bit 1 input bit 2s + 1, the others nothing.
inline __m512i plane_matrix(int s) {
    const uint64_t m = (uint64_t{1} << (2 * s)) << 56 | (uint64_t{1} << (2 * s + 1)) << 48;
    return _mm512_set1_epi64(static_cast<long long>(m));
}
inline void unpack_planes(__m512i v, __m512i (&q)[4]) {
    q[0] = _mm512_and_si512(v, _mm512_set1_epi8(0x03));
    for (int s = 1; s < 4; ++s) q[s] = _mm512_gf2p8affine_epi64_epi8(v, plane_matrix(s), 0);
}
}  // namespace
}  // namespace lfm::avx512::gfni
#include "q2_k_x8_avx512.inc"

namespace lfm::avx512 {
void gemv8_q2_k_512_gfni(const void* w, const void* act, int64_t n, float* out) {
    gfni::gemm8_q2_k<1>(w, act, 0, n, out, 0);
}
void gemm8x4_q2_k_512_gfni(const void* w, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride) {
    gfni::gemm8_q2_k<4>(w, act, act_stride, n, out, out_stride);
}
}  // namespace lfm::avx512
