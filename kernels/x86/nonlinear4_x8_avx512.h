#pragma once
// 512-bit kernels for IQ4_NL and MXFP4 rows repacked 8 at a time in Q4_0's layout (BlockQ4_0x8,
// BlockMXFP4x8) and IQ4_XS rows (BlockIQ4_XSx8; nonlinear4_x8_avx512.cpp), put into the AVX-512 table:
// Gemv8Fn and Gemm8x4Fn.

#include <cstddef>
#include <cstdint>

namespace lfm::avx512 {
void gemv8_iq4_nl_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_iq4_nl_512(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                        size_t out_stride);
void gemv8_mxfp4_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_mxfp4_512(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                       size_t out_stride);
void gemv8_iq4_xs_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemm8x4_iq4_xs_512(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                        size_t out_stride);
}  // namespace lfm::avx512
