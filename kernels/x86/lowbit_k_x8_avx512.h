#pragma once
// 512-bit kernels for Q2_K and Q3_K rows repacked 8 at a time (BlockQ2_Kx8, BlockQ3_Kx8;
// lowbit_k_x8_avx512.inc), put into the AVX-512 table: Gemv8Fn and Gemm8x4Fn, with GFNI
// (lowbit_k_x8_gfni.cpp) where the CPU has it and without (lowbit_k_x8_avx512.cpp). Both give
// the same results bit for bit.

#include <cstddef>
#include <cstdint>

namespace lfm::avx512 {
void gemv8_q2_k_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_q2_k_512(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                      size_t out_stride);
void gemv8_q3_k_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_q3_k_512(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                      size_t out_stride);
void gemv8_q2_k_512_gfni(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_q2_k_512_gfni(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                           size_t out_stride);
void gemv8_q3_k_512_gfni(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_q3_k_512_gfni(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                           size_t out_stride);
}  // namespace lfm::avx512
