// Kernel microbenchmarks: GB/s of weight bytes streamed by a matrix-vector product, per weight
// type, at the decode shapes of LFM2.5-8B-A1B. Speed does not depend on weight values, so the
// weights are random bytes with valid scales.

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels.h"

namespace {

void BM_Matvec(benchmark::State& state, lfm::DType type) {
    const int64_t rows = state.range(0), cols = state.range(1);
    const lfm::KernelTable& k = lfm::kernels();
    const size_t rb = lfm::row_bytes(type, cols);
    std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
    std::mt19937 rng(1);
    for (auto& b : w) b = static_cast<uint8_t>(rng() & 0x3F);  // small values keep every f16 scale finite
    std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
    for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
    std::vector<uint8_t> act(lfm::activation_bytes(type, cols) + 64);
    for (auto _ : state) {
        lfm::quantize_activation(k, type, x.data(), act.data(), cols);
        lfm::matvec_rows(k, type, w.data(), rb, act.data(), cols, y.data(), 0, rows);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
    state.SetLabel(std::string(k.isa) + " " + lfm::dtype_name(type));
}

// expert gate/up 1792×2048 (decode)
BENCHMARK_CAPTURE(BM_Matvec, q4_0, lfm::DType::kQ4_0)->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_Matvec, q8_0, lfm::DType::kQ8_0)->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_Matvec, q4_k, lfm::DType::kQ4_K)->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_Matvec, q6_k, lfm::DType::kQ6_K)->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_Matvec, f16, lfm::DType::kF16)->Args({1792, 2048});

}  // namespace
