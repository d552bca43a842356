// Picks the kernel table once per process: the best ISA that this build has and that the CPU
// and OS allow. LFM_ISA=scalar|avx2|avx512|neon|neon-dotprod|neon-nodot forces one (every path
// can be tested on one machine).

#include <cstdlib>
#include <stdexcept>

#include "cpu_features.h"
#include "kernels.h"

namespace lfm {

const KernelTable* kernel_table(const std::string& isa) {
    const CpuFeatures& cpu = cpu_features();
    if (isa == "scalar") return &scalar_kernel_table();
#if defined(LFM_HAVE_X86_KERNELS)
    if (isa == "avx2" && cpu.can_avx2()) return &avx2_kernel_table();
    if (isa == "avx512" && cpu.can_avx512()) return &avx512_kernel_table();
#endif
#if defined(LFM_HAVE_NEON_KERNELS)
    // "neon" is the best NEON table the CPU runs: smmla where it has i8mm (with sdot: every core
    // with i8mm has it too), sdot where it has the dot product; the others force a lower level
    if (isa == "neon" && cpu.neon) {
        if (cpu.dotprod && cpu.i8mm) return &neon_i8mm_kernel_table();
        return cpu.dotprod ? &neon_dotprod_kernel_table() : &neon_kernel_table();
    }
    if (isa == "neon-dotprod" && cpu.neon && cpu.dotprod) return &neon_dotprod_kernel_table();
    if (isa == "neon-nodot" && cpu.neon) return &neon_kernel_table();
#endif
    (void)cpu;
    return nullptr;
}

std::vector<std::string> available_isas() {
    std::vector<std::string> out;
    for (const char* isa : {"avx512", "avx2", "neon", "neon-dotprod", "neon-nodot", "scalar"})
        if (kernel_table(isa) != nullptr) out.emplace_back(isa);
    return out;
}

const KernelTable& kernels() {
    static const KernelTable& chosen = [] () -> const KernelTable& {
        const char* forced = std::getenv("LFM_ISA");
        if (forced != nullptr && *forced != '\0') {
            if (const KernelTable* t = kernel_table(forced)) return *t;
            std::string choices;
            for (const auto& isa : available_isas()) {
                if (!choices.empty()) choices += ", ";
                choices += isa;
            }
            throw std::runtime_error(std::string("LFM_ISA=") + forced + " is not available on this machine (choices: " +
                                     choices + ")");
        }
        return *kernel_table(available_isas().front());
    }();
    return chosen;
}

size_t activation_bytes(DType w, int64_t n) {
    const DType a = traits(w).vec_dot_type;
    if (a != DType::kQ8_0) return row_bytes(a, n);
    return q8_0_sums_offset(n) + static_cast<size_t>(n / QK) * sizeof(int32_t);
}

void quantize_activation(const KernelTable& k, DType w, const float* x, void* out, int64_t n) {
    const DType a = traits(w).vec_dot_type;
    k.quantize_row[static_cast<uint32_t>(a)](x, out, n);
    if (a != DType::kQ8_0) return;
    // The row's block sums (q8_0_neg_sums): 32 bytes each, a loop the compiler vectorizes.
    const auto* blocks = static_cast<const BlockQ8_0*>(out);
    int32_t* sums = q8_0_neg_sums(out, n);
    for (int64_t b = 0; b < n / QK; ++b) {
        int32_t s = 0;
        for (int i = 0; i < QK; ++i) s += blocks[b].qs[i];
        sums[b] = -s;
    }
}

void matvec_rows(const KernelTable& k, DType w, const void* weights, size_t w_row_bytes, const void* act,
                 int64_t n, float* y, int64_t r0, int64_t r1) {
    const VecDotFn dot = k.vec_dot[static_cast<uint32_t>(w)];
    const auto* base = static_cast<const uint8_t*>(weights);
    for (int64_t r = r0; r < r1; ++r) y[r] = dot(base + static_cast<size_t>(r) * w_row_bytes, act, n);
}

void matmul_packed_rows(const KernelTable& k, DType w, const uint8_t* packed, size_t group_bytes, const uint8_t* act,
                        size_t act_stride, int64_t n_tok, int64_t n, float* y, int64_t y_stride, int64_t r0, int64_t r1) {
    const auto id = static_cast<uint32_t>(w);
    const Gemm32x4Fn gemm32 = k.gemm32x4[id];
    const Gemm16x8Fn gemm16 = k.gemm16x8[id];
    const Gemm8x4Fn gemm8 = k.gemm8x4[id];
    const Gemv8Fn gemv8 = k.gemv8[id];
    auto group = [&](int64_t r) { return packed + static_cast<size_t>(r / 8) * group_bytes; };
    auto a = [&](int64_t t) { return act + static_cast<size_t>(t) * act_stride; };
    auto out = [&](int64_t t, int64_t r) { return y + t * y_stride + r; };
    const auto ys = static_cast<size_t>(y_stride);
    int64_t t = 0;
    // 32 rows x 4 tokens where the tile is that tall (it halves gemm16x8's activation broadcasts
    // per multiply-add), the 8-row groups left over four tokens at a time.
    if (gemm32 != nullptr && gemm8 != nullptr && r1 - r0 >= 32) {
        for (; t + 4 <= n_tok; t += 4) {
            int64_t r = r0;
            for (; r + 32 <= r1; r += 32) gemm32(group(r), group_bytes, a(t), act_stride, n, out(t, r), ys);
            for (; r < r1; r += 8) gemm8(group(r), a(t), act_stride, n, out(t, r), ys);
        }
    }
    if (gemm16 != nullptr) {
        for (; t + 8 <= n_tok; t += 8) {
            int64_t r = r0;
            for (; r + 16 <= r1; r += 16) gemm16(group(r), group_bytes, a(t), act_stride, n, out(t, r), ys);
            for (; r < r1; r += 8) {  // eight rows left over
                int64_t h = 0;
                if (gemm8 != nullptr)
                    for (; h < 8; h += 4) gemm8(group(r), a(t + h), act_stride, n, out(t + h, r), ys);
                for (; h < 8; ++h) gemv8(group(r), a(t + h), n, out(t + h, r));
            }
        }
    }
    if (gemm8 != nullptr)
        for (; t + 4 <= n_tok; t += 4)
            for (int64_t r = r0; r < r1; r += 8) gemm8(group(r), a(t), act_stride, n, out(t, r), ys);
    for (; t < n_tok; ++t)
        for (int64_t r = r0; r < r1; r += 8) gemv8(group(r), a(t), n, out(t, r));
}

}  // namespace lfm
