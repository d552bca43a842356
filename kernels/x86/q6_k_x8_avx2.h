#pragma once
// 256-bit Q6_K kernels for rows repacked 8 at a time (BlockQ6_Kx8; q6_k_x8_avx2.cpp), put into
// the AVX2 table: Gemv8Fn and Gemm8x4Fn. The AVX-512 table has its own (q6_k_avx512.h).

#include <cstddef>
#include <cstdint>

namespace lfm::avx2 {
void gemv8_q6_k_256(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_q6_k_256(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out, size_t out_stride);
}  // namespace lfm::avx2
