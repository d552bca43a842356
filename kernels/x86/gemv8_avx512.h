#pragma once
// 512-bit decode kernels for rows repacked 8 at a time (gemv8_avx512.cpp), put into the AVX-512
// table: Gemv8Fn.

#include <cstdint>

namespace lfm::avx512 {
void gemv8_q4_0_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemv8_q8_0_512(const void* packed_rows, const void* act, int64_t n, float* out);
void gemv8_q4_k_512(const void* packed_rows, const void* act, int64_t n, float* out);
}  // namespace lfm::avx512
