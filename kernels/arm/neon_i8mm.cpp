// NEON kernels with the dot-product and int8 matrix-multiply extensions (sdot, smmla: Armv8.6's
// FEAT_I8MM, optional from Armv8.2); flags only for this file.
#define LFM_NEON_NS neon_i8mm
#define LFM_NEON_ISA_NAME "neon+i8mm"
#define LFM_NEON_DOTPROD 1
#define LFM_NEON_I8MM 1
#include "neon.inc"

namespace lfm {
const KernelTable& neon_i8mm_kernel_table() {
    static const KernelTable t = neon_i8mm::make_table();
    return t;
}
}  // namespace lfm
