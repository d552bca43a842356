// Picks the kernel table once per process. Only the scalar table exists so far; the SIMD tables
// (issue: SIMD kernels) register here with their CPU checks.

#include <cstdlib>
#include <stdexcept>

#include "kernels.h"

namespace lfm {

const KernelTable* kernel_table(const std::string& isa) {
    if (isa == "scalar") return &scalar_kernel_table();
    return nullptr;
}

std::vector<std::string> available_isas() { return {"scalar"}; }

const KernelTable& kernels() {
    static const KernelTable& chosen = [] () -> const KernelTable& {
        const char* forced = std::getenv("LFM_ISA");
        if (forced != nullptr && *forced != '\0') {
            if (const KernelTable* t = kernel_table(forced)) return *t;
            throw std::runtime_error(std::string("LFM_ISA=") + forced +
                                     " is not available on this machine/build (choices: scalar)");
        }
        return *kernel_table(available_isas().front());
    }();
    return chosen;
}

size_t activation_bytes(DType w, int64_t n) { return row_bytes(traits(w).vec_dot_type, n); }

void quantize_activation(const KernelTable& k, DType w, const float* x, void* out, int64_t n) {
    k.quantize_row[static_cast<uint32_t>(traits(w).vec_dot_type)](x, out, n);
}

void matvec_rows(const KernelTable& k, DType w, const void* weights, size_t w_row_bytes, const void* act,
                 int64_t n, float* y, int64_t r0, int64_t r1) {
    const VecDotFn dot = k.vec_dot[static_cast<uint32_t>(w)];
    const auto* base = static_cast<const uint8_t*>(weights);
    for (int64_t r = r0; r < r1; ++r) y[r] = dot(base + static_cast<size_t>(r) * w_row_bytes, act, n);
}

}  // namespace lfm
