#include "../kernels.h"
#include "scalar.h"

namespace lfm {

namespace {
KernelTable make_scalar_table() {
    using namespace scalar;
    KernelTable t{};
    t.isa = "scalar";
    auto id = [](DType d) { return static_cast<uint32_t>(d); };

    t.quantize_row[id(DType::kF32)] = quantize_row_f32;
    t.quantize_row[id(DType::kF16)] = quantize_row_f16;
    t.quantize_row[id(DType::kBF16)] = quantize_row_bf16;
    t.quantize_row[id(DType::kQ8_0)] = quantize_row_q8_0;
    t.quantize_row[id(DType::kQ8_1)] = quantize_row_q8_1;
    t.quantize_row[id(DType::kQ8_K)] = quantize_row_q8_k;

    t.dequantize_row[id(DType::kF32)] = dequantize_row_f32;
    t.dequantize_row[id(DType::kF16)] = dequantize_row_f16;
    t.dequantize_row[id(DType::kBF16)] = dequantize_row_bf16;
    t.dequantize_row[id(DType::kQ4_0)] = dequantize_row_q4_0;
    t.dequantize_row[id(DType::kQ4_1)] = dequantize_row_q4_1;
    t.dequantize_row[id(DType::kQ5_0)] = dequantize_row_q5_0;
    t.dequantize_row[id(DType::kQ5_1)] = dequantize_row_q5_1;
    t.dequantize_row[id(DType::kQ8_0)] = dequantize_row_q8_0;
    t.dequantize_row[id(DType::kQ2_K)] = dequantize_row_q2_k;  // lowbit_k.cpp
    t.dequantize_row[id(DType::kQ3_K)] = dequantize_row_q3_k;
    t.dequantize_row[id(DType::kQ4_K)] = dequantize_row_q4_k;
    t.dequantize_row[id(DType::kQ5_K)] = dequantize_row_q5_k;
    t.dequantize_row[id(DType::kQ6_K)] = dequantize_row_q6_k;
    t.dequantize_row[id(DType::kIQ4_NL)] = dequantize_row_iq4_nl;
    t.dequantize_row[id(DType::kIQ4_XS)] = dequantize_row_iq4_xs;
    t.dequantize_row[id(DType::kMXFP4)] = dequantize_row_mxfp4;

    t.axpy[id(DType::kF32)] = axpy_f32;
    t.axpy[id(DType::kF16)] = axpy_f16;
    t.dot_rows[id(DType::kF32)] = dot_rows_f32;
    t.dot_rows[id(DType::kF16)] = dot_rows_f16;
    t.axpy_rows[id(DType::kF32)] = axpy_rows_f32;
    t.axpy_rows[id(DType::kF16)] = axpy_rows_f16;
    t.dot_rows[id(DType::kQ8_0)] = dot_rows_q8_0;
    t.axpy_rows[id(DType::kQ8_0)] = axpy_rows_q8_0;

    t.vec_dot[id(DType::kF32)] = vec_dot_f32;
    t.vec_dot[id(DType::kF16)] = vec_dot_f16;
    t.vec_dot[id(DType::kBF16)] = vec_dot_bf16;
    t.vec_dot[id(DType::kQ4_0)] = vec_dot_q4_0;
    t.vec_dot[id(DType::kQ4_1)] = vec_dot_q4_1;
    t.vec_dot[id(DType::kQ5_0)] = vec_dot_q5_0;
    t.vec_dot[id(DType::kQ5_1)] = vec_dot_q5_1;
    t.vec_dot[id(DType::kQ8_0)] = vec_dot_q8_0;
    t.vec_dot[id(DType::kQ2_K)] = vec_dot_q2_k;
    t.vec_dot[id(DType::kQ3_K)] = vec_dot_q3_k;
    t.vec_dot[id(DType::kQ4_K)] = vec_dot_q4_k;
    t.vec_dot[id(DType::kQ5_K)] = vec_dot_q5_k;
    t.vec_dot[id(DType::kQ6_K)] = vec_dot_q6_k;
    t.vec_dot[id(DType::kIQ4_NL)] = vec_dot_iq4_nl;
    t.vec_dot[id(DType::kIQ4_XS)] = vec_dot_iq4_xs;
    t.vec_dot[id(DType::kMXFP4)] = vec_dot_mxfp4;

    t.rmsnorm = rmsnorm;
    t.rope_neox = rope_neox;
    t.softmax = softmax;
    t.attend_block = attend_block;
    t.silu_mul = silu_mul;
    t.short_conv_step = short_conv_step;
    t.read_sum = read_sum;
    return t;
}
}  // namespace

const KernelTable& scalar_kernel_table() {
    static const KernelTable table = make_scalar_table();
    return table;
}

}  // namespace lfm
