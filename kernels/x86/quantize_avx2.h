#pragma once
// 256-bit activation quantizers (quantize_avx2.cpp), put into the AVX2 table: QuantizeRowFn.

#include <cstdint>

namespace lfm::avx2 {
void quantize_row_q8_0_256(const float* x, void* out, int64_t n);
void quantize_row_q8_k_256(const float* x, void* out, int64_t n);
}  // namespace lfm::avx2
