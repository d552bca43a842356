#pragma once
// 512-bit activation quantizers (quantize_avx512.cpp), put into the AVX-512 table: QuantizeRowFn.

#include <cstdint>

namespace lfm::avx512 {
void quantize_row_q8_0_512(const float* x, void* out, int64_t n);
void quantize_row_q8_k_512(const float* x, void* out, int64_t n);
}  // namespace lfm::avx512
