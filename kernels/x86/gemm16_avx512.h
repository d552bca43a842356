#pragma once
// 512-bit prompt-batch kernels (gemm16_avx512.cpp), put into the AVX-512 table: Gemm16x8Fn and
// Gemm32x4Fn.

#include <cstddef>
#include <cstdint>

namespace lfm::avx512 {
void gemm16x8_q4_0(const void* packed_rows, size_t group_bytes, const void* act, size_t act_stride, int64_t n,
                   float* out, size_t out_stride);
void gemm16x8_q8_0(const void* packed_rows, size_t group_bytes, const void* act, size_t act_stride, int64_t n,
                   float* out, size_t out_stride);
void gemm16x8_q4_k(const void* packed_rows, size_t group_bytes, const void* act, size_t act_stride, int64_t n,
                   float* out, size_t out_stride);
void gemm32x4_q4_0(const void* packed_rows, size_t group_bytes, const void* act, size_t act_stride, int64_t n,
                   float* out, size_t out_stride);
void gemm32x4_q8_0(const void* packed_rows, size_t group_bytes, const void* act, size_t act_stride, int64_t n,
                   float* out, size_t out_stride);
void gemm32x4_q4_k(const void* packed_rows, size_t group_bytes, const void* act, size_t act_stride, int64_t n,
                   float* out, size_t out_stride);
}  // namespace lfm::avx512
