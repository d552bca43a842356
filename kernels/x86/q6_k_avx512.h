#pragma once
// 512-bit Q6_K dot products (q6_k_avx512.cpp), put into the AVX-512 table: VecDotFn, VecDotX4Fn,
// and for rows repacked 8 at a time (BlockQ6_Kx8) Gemv8Fn and Gemm8x4Fn.

#include <cstddef>
#include <cstdint>

namespace lfm::avx512 {
float vec_dot_q6_k_512(const void* w, const void* act, int64_t n);
void vec_dot_x4_q6_k_512(const void* w, const void* act, size_t act_stride, int64_t n, float* out);
void gemv8_q6_k_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_q6_k_512(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride);
}  // namespace lfm::avx512
