// Picks the kernel table once per process: the best ISA that this build has and that the CPU
// and OS allow. LFM_ISA=scalar|avx2|avx512|neon forces one (every path can be tested on one
// machine).

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "cpu_features.h"
#include "kernels.h"
#include "kquant.h"

namespace lfm {

const KernelTable* kernel_table(const std::string& isa) {
    const CpuFeatures& cpu = cpu_features();
    if (isa == "scalar") return &scalar_kernel_table();
#if defined(LFM_HAVE_X86_KERNELS)
    if (isa == "avx2" && cpu.can_avx2()) return &avx2_kernel_table();
    if (isa == "avx512" && cpu.can_avx512()) return &avx512_kernel_table();
#endif
#if defined(LFM_HAVE_NEON_KERNELS)
    // "neon" is the best NEON table the CPU runs: with sdot where it has the extension
    if (isa == "neon" && cpu.neon) return cpu.dotprod ? &neon_dotprod_kernel_table() : &neon_kernel_table();
    if (isa == "neon-nodot" && cpu.neon) return &neon_kernel_table();
#endif
    (void)cpu;
    return nullptr;
}

std::vector<std::string> available_isas() {
    std::vector<std::string> out;
    for (const char* isa : {"avx512", "avx2", "neon", "neon-nodot", "scalar"})
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

size_t packed8_group_bytes(DType t, int64_t n_cols) {
    static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K) && sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0) &&
                  sizeof(BlockQ8_0x8) == 8 * sizeof(BlockQ8_0));
    return 8 * row_bytes(t, n_cols);
}

namespace {
void repack_rows8_q4_k(const uint8_t* src, uint8_t* dst, int64_t n_rows, int64_t n_cols) {
    const int64_t nb = n_cols / QK_K;
    const size_t rb = row_bytes(DType::kQ4_K, n_cols);
    for (int64_t g = 0; g < n_rows / 8; ++g) {
        auto* out = reinterpret_cast<BlockQ4_Kx8*>(dst + static_cast<size_t>(g) * packed8_group_bytes(DType::kQ4_K, n_cols));
        for (int64_t b = 0; b < nb; ++b) {
            std::memset(out[b].hi, 0, sizeof(out[b].hi));
            for (int r = 0; r < 8; ++r) {
                const auto* in = reinterpret_cast<const BlockQ4_K*>(src + static_cast<size_t>(g * 8 + r) * rb) + b;
                out[b].d[r] = in->d;
                out[b].dmin[r] = in->dmin;
                for (int sub = 0; sub < 8; ++sub) {  // the layout BlockQ4_Kx8 describes
                    uint8_t sc, mn;
                    kquant_scale_min(sub, in->scales, sc, mn);
                    const int e = 8 * sub + r;
                    out[b].lo[e] = static_cast<uint8_t>((sc & 15) | (mn & 15) << 4);
                    const int high = (sc >> 4) | (mn >> 4) << 2;
                    out[b].hi[e % 32] = static_cast<uint8_t>(out[b].hi[e % 32] | (e < 32 ? high : high << 4));
                }
                for (int c = 0; c < 4; ++c)
                    for (int k = 0; k < 8; ++k)
                        for (int i = 0; i < 4; ++i) out[b].qs[256 * c + 32 * k + 4 * r + i] = in->qs[32 * c + 4 * k + i];
            }
        }
    }
}

// Q4_0 and Q8_0: each row's quants in 4-byte steps, step s of the 8 rows side by side.
template <typename Block, typename Block8>
void interleave_rows8(const uint8_t* src, uint8_t* dst, int64_t n_rows, int64_t n_cols, DType t) {
    constexpr int kSteps = sizeof(Block::qs) / 4;
    const int64_t nb = n_cols / QK;
    const size_t rb = row_bytes(t, n_cols);
    for (int64_t g = 0; g < n_rows / 8; ++g) {
        auto* out = reinterpret_cast<Block8*>(dst + static_cast<size_t>(g) * 8 * rb);
        for (int64_t b = 0; b < nb; ++b) {
            for (int r = 0; r < 8; ++r) {
                const auto* in = reinterpret_cast<const Block*>(src + static_cast<size_t>(g * 8 + r) * rb) + b;
                out[b].d[r] = in->d;
                for (int step = 0; step < kSteps; ++step)
                    std::memcpy(&out[b].qs[32 * step + 4 * r], &in->qs[4 * step], 4);
            }
        }
    }
}
}  // namespace

void repack_rows8(DType t, const uint8_t* src, uint8_t* dst, int64_t n_rows, int64_t n_cols) {
    if (t == DType::kQ4_K) {
        repack_rows8_q4_k(src, dst, n_rows, n_cols);
        return;
    }
    if (t == DType::kQ8_0) interleave_rows8<BlockQ8_0, BlockQ8_0x8>(src, dst, n_rows, n_cols, t);
    else if (t == DType::kQ4_0) interleave_rows8<BlockQ4_0, BlockQ4_0x8>(src, dst, n_rows, n_cols, t);
    else throw std::logic_error("repack_rows8: no 8-row layout for this type");
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
