// NEON kernels with the ARMv8.2 dot-product extension (sdot); flags only for this file.
#define LFM_NEON_NS neon_dot
#define LFM_NEON_ISA_NAME "neon+dotprod"
#define LFM_NEON_DOTPROD 1
#include "neon.inc"

namespace lfm {
const KernelTable& neon_dotprod_kernel_table() {
    static const KernelTable t = neon_dot::make_table();
    return t;
}
}  // namespace lfm
