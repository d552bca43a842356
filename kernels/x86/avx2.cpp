// AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c only in this file).
#define LFM_X86_NS avx2
#define LFM_X86_ISA_NAME "avx2"
#define LFM_XSIMD_ARCH xsimd::fma3<xsimd::avx2>
#include "dot_x86.inc"
#include "nonlinear4_x86.inc"
#include "lowbit_k_x86.inc"
#include "q6_k_x8_avx2.h"
#include "quantize_avx2.h"
#include "table_x86.inc"

namespace lfm {
const KernelTable& avx2_kernel_table() {
    static const KernelTable t = avx2::make_table();
    return t;
}
}  // namespace lfm
