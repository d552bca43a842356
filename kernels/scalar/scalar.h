#pragma once
// The scalar kernels: the reference every other ISA is tested against. Plain loops, written to
// be read; f32 dot products accumulate in double so they are the most accurate path.

#include <cstdint>

namespace lfm::scalar {

// activation quantizers (QuantizeRowFn)
void quantize_row_f32(const float* x, void* out, int64_t n);
void quantize_row_f16(const float* x, void* out, int64_t n);
void quantize_row_bf16(const float* x, void* out, int64_t n);
void quantize_row_q8_0(const float* x, void* out, int64_t n);
void quantize_row_q8_1(const float* x, void* out, int64_t n);
void quantize_row_q8_k(const float* x, void* out, int64_t n);

// dequantizers (DequantizeRowFn)
void dequantize_row_f32(const void* row, float* y, int64_t n);
void dequantize_row_f16(const void* row, float* y, int64_t n);
void dequantize_row_bf16(const void* row, float* y, int64_t n);
void dequantize_row_q4_0(const void* row, float* y, int64_t n);
void dequantize_row_q4_1(const void* row, float* y, int64_t n);
void dequantize_row_q5_0(const void* row, float* y, int64_t n);
void dequantize_row_q5_1(const void* row, float* y, int64_t n);
void dequantize_row_q8_0(const void* row, float* y, int64_t n);
void dequantize_row_q2_k(const void* row, float* y, int64_t n);
void dequantize_row_q3_k(const void* row, float* y, int64_t n);
void dequantize_row_q4_k(const void* row, float* y, int64_t n);
void dequantize_row_q5_k(const void* row, float* y, int64_t n);
void dequantize_row_q6_k(const void* row, float* y, int64_t n);
void dequantize_row_iq4_nl(const void* row, float* y, int64_t n);
void dequantize_row_iq4_xs(const void* row, float* y, int64_t n);
void dequantize_row_mxfp4(const void* row, float* y, int64_t n);

// dot products, weight row · activation row in the weight type's vec_dot_type (VecDotFn)
float vec_dot_f32(const void* w, const void* a, int64_t n);
float vec_dot_f16(const void* w, const void* a, int64_t n);
float vec_dot_bf16(const void* w, const void* a, int64_t n);
float vec_dot_q4_0(const void* w, const void* a, int64_t n);
float vec_dot_q4_1(const void* w, const void* a, int64_t n);
float vec_dot_q5_0(const void* w, const void* a, int64_t n);
float vec_dot_q5_1(const void* w, const void* a, int64_t n);
float vec_dot_q8_0(const void* w, const void* a, int64_t n);
float vec_dot_q2_k(const void* w, const void* a, int64_t n);
float vec_dot_q3_k(const void* w, const void* a, int64_t n);
float vec_dot_q4_k(const void* w, const void* a, int64_t n);
float vec_dot_q5_k(const void* w, const void* a, int64_t n);
float vec_dot_q6_k(const void* w, const void* a, int64_t n);
float vec_dot_iq4_nl(const void* w, const void* a, int64_t n);
float vec_dot_iq4_xs(const void* w, const void* a, int64_t n);
float vec_dot_mxfp4(const void* w, const void* a, int64_t n);

// float ops
void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps);
void rope_neox(float* x, int n_heads, int head_dim, const float* cos_sin);
void softmax(float* x, int64_t n);
void attend_block(const float* qt, int64_t d, const float* k, const float* v, int64_t n_rows,
                  const int32_t* n_visible, float* mx, float* sum, float* o);
void silu_mul(float* gate, const float* up, int64_t n);
void short_conv_step(const float* s, const float* w, float* state, float* y, int64_t n, int k);

void axpy_f32(float a, const void* x, float* y, int64_t n);
void axpy_f16(float a, const void* x, float* y, int64_t n);
void dot_rows_f32(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q, int64_t n,
                  float scale, float* out, size_t out_stride);
void dot_rows_f16(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q, int64_t n,
                  float scale, float* out, size_t out_stride);
void axpy_rows_f32(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q, float* y,
                   size_t y_stride, int64_t n);
void dot_rows_q8_0(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q, int64_t n,
                   float scale, float* out, size_t out_stride);
void axpy_rows_q8_0(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q, float* y,
                    size_t y_stride, int64_t n);
uint64_t read_sum(const uint64_t* p, int64_t n);
void axpy_rows_f16(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q, float* y,
                   size_t y_stride, int64_t n);

}  // namespace lfm::scalar
