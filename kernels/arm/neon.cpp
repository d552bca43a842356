// NEON kernels for any AArch64 CPU (no dot-product extension needed).
#define LFM_NEON_NS neon
#define LFM_NEON_ISA_NAME "neon"
#include "neon.inc"

namespace lfm {
const KernelTable& neon_kernel_table() {
    static const KernelTable t = neon::make_table();
    return t;
}
}  // namespace lfm
