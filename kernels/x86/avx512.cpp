// AVX-512 kernels (F/BW/VL/VNNI): the AVX2 code shape with vpdpbusd for the int8 dot products,
// and 512-bit xsimd batches for the float kernels. Flags only for this file.
#define LFM_X86_NS avx512
#define LFM_X86_ISA_NAME "avx512"
#define LFM_X86_VNNI 1
#define LFM_XSIMD_ARCH xsimd::avx512bw
#include "dot_x86.inc"
#include "nonlinear4_x86.inc"
#include "lowbit_k_x86.inc"
#include "gemm16_avx512.h"
#include "gemv8_avx512.h"
#include "lowbit_k_x8_avx512.h"
#include "nonlinear4_x8_avx512.h"
#include "../cpu_features.h"
#include "q6_k_avx512.h"
#include "quantize_avx512.h"
#define LFM_X86_GEMM16 1
#include "table_x86.inc"

namespace lfm {
const KernelTable& avx512_kernel_table() {
    static const KernelTable t = avx512::make_table();
    return t;
}
}  // namespace lfm
