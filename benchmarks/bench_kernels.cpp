// Kernel microbenchmarks, single thread:
//  * BM_ReadBandwidth: how fast one core streams memory (the limit for decode);
//  * BM_Matvec/<type>/<isa>: GB/s of weight bytes streamed by a matrix-vector product at the
//    decode shapes of LFM2.5-8B-A1B, with cold weights (rotating over copies larger than the
//    caches), so the figure reads as a fraction of BM_ReadBandwidth;
//  * BM_MatvecShareOfProbe: the repacked mat-vec and the probe interleaved, reported as a share.
// Speed does not depend on weight values: the weights are random bytes with sane scales.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "kernels.h"
#include "runtime/huge_buffer.h"
#ifdef LFM_BENCH_INT8_PEAK
#include "int8_peak.h"
#endif

namespace {

constexpr size_t kColdBytes = size_t{512} << 20;  // well past any L3

void BM_ReadBandwidth(benchmark::State& state) {
    const lfm::KernelTable& k = lfm::kernels();
    lfm::HugeBuffer mem(kColdBytes);  // huge pages, as the loaded weights use
    auto* buf = reinterpret_cast<uint64_t*>(mem.data());
    const size_t words = kColdBytes / 8;
    for (size_t i = 0; i < words; ++i) buf[i] = i;
    for (auto _ : state) {
        // the widest loads of the chosen ISA, four independent sums (kernels.h: read_sum)
        benchmark::DoNotOptimize(k.read_sum(buf, static_cast<int64_t>(words)));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kColdBytes));
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond);

// Valid-looking weights: random bytes, with every f16 field a small finite scale.
std::vector<uint8_t> make_weights(lfm::DType type, int64_t rows, int64_t cols) {
    const size_t rb = lfm::row_bytes(type, cols);
    std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
    std::mt19937 rng(1);
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    const lfm::DTypeTraits& tr = lfm::traits(type);
    const lfm::f16_t scale = lfm::f32_to_f16(0.01f);
    std::vector<size_t> f16_fields;
    switch (type) {
        case lfm::DType::kQ6_K: f16_fields = {208}; break;
        case lfm::DType::kQ2_K: f16_fields = {80, 82}; break;
        case lfm::DType::kQ3_K: f16_fields = {108}; break;
        case lfm::DType::kQ4_K: case lfm::DType::kQ5_K: case lfm::DType::kQ4_1: case lfm::DType::kQ5_1: f16_fields = {0, 2}; break;
        case lfm::DType::kF16: case lfm::DType::kBF16: case lfm::DType::kF32: break;
        default: f16_fields = {0};
    }
    if (type == lfm::DType::kF16 || type == lfm::DType::kBF16) {
        for (size_t i = 0; i + 1 < w.size(); i += 2) std::memcpy(&w[i], &scale, 2);
    } else if (type == lfm::DType::kF32) {
        const float v = 0.01f;
        for (size_t i = 0; i + 3 < w.size(); i += 4) std::memcpy(&w[i], &v, 4);
    }
    for (size_t b = 0; b < w.size() / static_cast<size_t>(tr.block_bytes); ++b)
        for (size_t f : f16_fields) std::memcpy(&w[b * static_cast<size_t>(tr.block_bytes) + f], &scale, 2);
    return w;
}

// Copies of one matrix image filling kColdBytes, so each iteration reads memory the caches lost.
// In huge pages, as the loaded weights are (src/runtime/huge_buffer.h).
struct ColdCopies {
    lfm::HugeBuffer bytes;
    size_t matrix_bytes, count;
    explicit ColdCopies(const std::vector<uint8_t>& one)
        : bytes(one.size() * std::max<size_t>(1, kColdBytes / one.size())),
          matrix_bytes(one.size()),
          count(std::max<size_t>(1, kColdBytes / one.size())) {
        for (size_t c = 0; c < count; ++c) std::memcpy(bytes.data() + c * matrix_bytes, one.data(), matrix_bytes);
    }
    const uint8_t* copy(size_t iteration) const { return bytes.data() + (iteration % count) * matrix_bytes; }
};

// A random activation row of `cols`, converted for weights of `type`.
std::vector<uint8_t> activation(const lfm::KernelTable& k, lfm::DType type, int64_t cols, std::vector<float>& x) {
    x.resize(static_cast<size_t>(cols));
    std::mt19937 rng(2);
    for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
    std::vector<uint8_t> act(lfm::activation_bytes(type, cols));
    lfm::quantize_activation(k, type, x.data(), act.data(), cols);
    return act;
}

void BM_Matvec(benchmark::State& state, lfm::DType type, const char* isa) {
    const lfm::KernelTable* k = lfm::kernel_table(isa);
    if (k == nullptr) {
        state.SkipWithError("ISA not available on this CPU");
        return;
    }
    const int64_t rows = state.range(0), cols = state.range(1);
    const size_t rb = lfm::row_bytes(type, cols);
    const ColdCopies w(make_weights(type, rows, cols));
    std::vector<float> x, y(static_cast<size_t>(rows));
    std::vector<uint8_t> act = activation(*k, type, cols, x);
    size_t c = 0;
    for (auto _ : state) {
        lfm::quantize_activation(*k, type, x.data(), act.data(), cols);  // part of every mat-vec
        lfm::matvec_rows(*k, type, w.copy(c++), rb, act.data(), cols, y.data(), 0, rows);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.matrix_bytes));
}

// The same product on rows repacked 8 at a time (what a loaded model uses for Q4_0 and Q4_K).
void BM_MatvecRepacked(benchmark::State& state, lfm::DType type, const char* isa) {
    const lfm::KernelTable* k = lfm::kernel_table(isa);
    if (k == nullptr || k->gemv8[static_cast<uint32_t>(type)] == nullptr) {
        state.SkipWithError("no repacked kernel on this CPU");
        return;
    }
    const int64_t rows = state.range(0), cols = state.range(1);
    const size_t rb = lfm::row_bytes(type, cols);
    const size_t group = lfm::packed8_group_bytes(type, cols);
    const size_t matrix_bytes = group * static_cast<size_t>(rows / 8);
    const auto one = make_weights(type, rows, cols);
    std::vector<uint8_t> packed(matrix_bytes);
    lfm::repack_rows8(type, one.data(), packed.data(), rows, cols);
    const ColdCopies w(packed);  // huge pages, as the model's repacked arena (weights.cpp)
    std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
    std::mt19937 rng(2);
    for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
    std::vector<uint8_t> act(lfm::activation_bytes(type, cols));
    const lfm::Gemv8Fn gemv8 = k->gemv8[static_cast<uint32_t>(type)];
    size_t c = 0;
    for (auto _ : state) {
        lfm::quantize_activation(*k, type, x.data(), act.data(), cols);
        const uint8_t* base = w.copy(c++);
        for (int64_t r = 0; r < rows; r += 8) gemv8(base + static_cast<size_t>(r / 8) * group, act.data(), cols, y.data() + r);
        benchmark::DoNotOptimize(y.data());
    }
    // in bytes of the original format, so the figure compares with BM_Matvec
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(rb * static_cast<size_t>(rows)));
}
BENCHMARK_CAPTURE(BM_MatvecRepacked, q4_k_avx2, lfm::DType::kQ4_K, "avx2")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecRepacked, q4_k_avx512, lfm::DType::kQ4_K, "avx512")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecRepacked, q4_0_avx2, lfm::DType::kQ4_0, "avx2")->Args({1792, 2048})->Args({2048, 1792})->Args({6144, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepacked, q4_0_avx512, lfm::DType::kQ4_0, "avx512")->Args({1792, 2048})->Args({2048, 1792})->Args({6144, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepacked, q8_0_avx2, lfm::DType::kQ8_0, "avx2")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecRepacked, q8_0_avx512, lfm::DType::kQ8_0, "avx512")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecRepacked, q2_k_avx512, lfm::DType::kQ2_K, "avx512")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecRepacked, q3_k_avx512, lfm::DType::kQ3_K, "avx512")->Args({1792, 2048})->Args({2048, 1792});

// The repacked mat-vec on a matrix small enough to stay in L2 (rows x cols as given, read again
// every iteration): the kernel's own speed with memory out of the way. Where it is not well above
// the probe's bandwidth, decode is bound by the kernel's arithmetic, not by memory.
void BM_MatvecRepackedWarm(benchmark::State& state, lfm::DType type, const char* isa) {
    const lfm::KernelTable* k = lfm::kernel_table(isa);
    if (k == nullptr || k->gemv8[static_cast<uint32_t>(type)] == nullptr) {
        state.SkipWithError("no repacked kernel on this CPU");
        return;
    }
    const int64_t rows = state.range(0), cols = state.range(1);
    const size_t group = lfm::packed8_group_bytes(type, cols);
    const auto one = make_weights(type, rows, cols);
    std::vector<uint8_t> packed(group * static_cast<size_t>(rows / 8));
    lfm::repack_rows8(type, one.data(), packed.data(), rows, cols);
    std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
    std::mt19937 rng(2);
    for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
    std::vector<uint8_t> act(lfm::activation_bytes(type, cols));
    lfm::quantize_activation(*k, type, x.data(), act.data(), cols);
    const lfm::Gemv8Fn gemv8 = k->gemv8[static_cast<uint32_t>(type)];
    for (auto _ : state) {
        for (int64_t r = 0; r < rows; r += 8) gemv8(packed.data() + static_cast<size_t>(r / 8) * group, act.data(), cols, y.data() + r);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(packed.size()));
}
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, q4_k_avx512, lfm::DType::kQ4_K, "avx512")->Args({64, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, q6_k_avx512, lfm::DType::kQ6_K, "avx512")->Args({64, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, q2_k_avx512, lfm::DType::kQ2_K, "avx512")->Args({64, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, q3_k_avx512, lfm::DType::kQ3_K, "avx512")->Args({64, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, iq4_nl_avx512, lfm::DType::kIQ4_NL, "avx512")->Args({64, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, iq4_xs_avx512, lfm::DType::kIQ4_XS, "avx512")->Args({64, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, mxfp4_avx512, lfm::DType::kMXFP4, "avx512")->Args({64, 2048});
BENCHMARK_CAPTURE(BM_MatvecRepackedWarm, q4_0_avx512, lfm::DType::kQ4_0, "avx512")->Args({64, 2048});

// The repacked mat-vec and the read probe interleaved matrix by matrix (one cold matrix, then as
// many cold probe bytes, each well under a millisecond), so that both see the same spells of a
// shared, noisy host: separate runs of BM_ReadBandwidth and BM_MatvecRepacked drift apart by ±20 %
// here. Counters: probe and kernel GB/s over the whole run and `share` = kernel / probe, the
// fraction of one core's read bandwidth issue 5 asks about. Types with a repacked kernel run it
// (as a loaded model does); the others run their plain rows through matvec_rows.
void BM_MatvecShareOfProbe(benchmark::State& state, lfm::DType type, const char* isa) {
    const lfm::KernelTable* k = lfm::kernel_table(isa);
    if (k == nullptr) {
        state.SkipWithError("ISA not available on this CPU");
        return;
    }
    const lfm::Gemv8Fn gemv8 = k->gemv8[static_cast<uint32_t>(type)];
    const int64_t rows = state.range(0), cols = state.range(1);
    const size_t rb = lfm::row_bytes(type, cols);
    const size_t group = gemv8 != nullptr ? lfm::packed8_group_bytes(type, cols) : 8 * rb;
    const size_t matrix_bytes = group * static_cast<size_t>(rows / 8);
    auto one = make_weights(type, rows, cols);
    if (gemv8 != nullptr) {
        std::vector<uint8_t> packed(matrix_bytes);
        lfm::repack_rows8(type, one.data(), packed.data(), rows, cols);
        one = std::move(packed);
    }
    const ColdCopies w(one);
    lfm::HugeBuffer probe(kColdBytes);
    auto* words = reinterpret_cast<uint64_t*>(probe.data());
    for (size_t i = 0; i < kColdBytes / 8; ++i) words[i] = i;
    const size_t slice_words = matrix_bytes / 64 * 8, slices = kColdBytes / 8 / slice_words;  // whole lines
    std::vector<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
    std::mt19937 rng(2);
    for (auto& v : x) v = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
    std::vector<uint8_t> act(lfm::activation_bytes(type, cols));
    using Clock = std::chrono::steady_clock;
    Clock::duration probe_time{}, kernel_time{};
    size_t c = 0;
    for (auto _ : state) {
        const auto t0 = Clock::now();
        benchmark::DoNotOptimize(k->read_sum(words + (c % slices) * slice_words, static_cast<int64_t>(slice_words)));
        const auto t1 = Clock::now();
        lfm::quantize_activation(*k, type, x.data(), act.data(), cols);
        const uint8_t* base = w.copy(c++);
        if (gemv8 != nullptr) {
            for (int64_t r = 0; r < rows; r += 8) gemv8(base + static_cast<size_t>(r / 8) * group, act.data(), cols, y.data() + r);
        } else {
            lfm::matvec_rows(*k, type, base, rb, act.data(), cols, y.data(), 0, rows);
        }
        benchmark::DoNotOptimize(y.data());
        const auto t2 = Clock::now();
        probe_time += t1 - t0;
        kernel_time += t2 - t1;
    }
    const auto n = static_cast<double>(state.iterations());
    const double probe_gbs = n * static_cast<double>(slice_words * 8) / std::chrono::duration<double, std::nano>(probe_time).count();
    const double kernel_gbs = n * static_cast<double>(matrix_bytes) / std::chrono::duration<double, std::nano>(kernel_time).count();
    state.counters["probe_GBps"] = probe_gbs;
    state.counters["kernel_GBps"] = kernel_gbs;
    state.counters["share"] = kernel_gbs / probe_gbs;
}
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q4_k_avx512, lfm::DType::kQ4_K, "avx512")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q4_0_avx512, lfm::DType::kQ4_0, "avx512")->Args({1792, 2048})->Args({2048, 1792})->Args({6144, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q8_0_avx512, lfm::DType::kQ8_0, "avx512")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q4_k_avx2, lfm::DType::kQ4_K, "avx2")->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q4_0_avx2, lfm::DType::kQ4_0, "avx2")->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q8_0_avx2, lfm::DType::kQ8_0, "avx2")->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q6_k_avx512, lfm::DType::kQ6_K, "avx512")->Args({2048, 1792})->Args({16000, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q6_k_avx2, lfm::DType::kQ6_K, "avx2")->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q2_k_avx512, lfm::DType::kQ2_K, "avx512")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q2_k_avx2, lfm::DType::kQ2_K, "avx2")->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q3_k_avx512, lfm::DType::kQ3_K, "avx512")->Args({1792, 2048})->Args({2048, 1792});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, q3_k_avx2, lfm::DType::kQ3_K, "avx2")->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, iq4_nl_avx512, lfm::DType::kIQ4_NL, "avx512")->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, iq4_xs_avx512, lfm::DType::kIQ4_XS, "avx512")->Args({1792, 2048});
BENCHMARK_CAPTURE(BM_MatvecShareOfProbe, mxfp4_avx512, lfm::DType::kMXFP4, "avx512")->Args({1792, 2048});

// Activation quantization of one token (2048 floats, the model width): done before every
// matrix of a prompt batch for every token, so its cost shows in prefill.
void BM_QuantizeRow(benchmark::State& state, lfm::DType act_type, const char* isa) {
    const lfm::KernelTable* k = lfm::kernel_table(isa);
    if (k == nullptr) {
        state.SkipWithError("ISA not available on this CPU");
        return;
    }
    constexpr int64_t n = 2048;
    std::vector<float> x(n);
    std::mt19937 rng(3);
    for (auto& v : x) v = static_cast<float>(rng() % 2001) / 1000.0f - 1.0f;
    std::vector<uint8_t> out(lfm::row_bytes(act_type, n));
    for (auto _ : state) {
        k->quantize_row[static_cast<uint32_t>(act_type)](x.data(), out.data(), n);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}
BENCHMARK_CAPTURE(BM_QuantizeRow, q8_0_scalar, lfm::DType::kQ8_0, "scalar");
BENCHMARK_CAPTURE(BM_QuantizeRow, q8_0_avx2, lfm::DType::kQ8_0, "avx2");
BENCHMARK_CAPTURE(BM_QuantizeRow, q8_0_avx512, lfm::DType::kQ8_0, "avx512");
BENCHMARK_CAPTURE(BM_QuantizeRow, q8_k_scalar, lfm::DType::kQ8_K, "scalar");
BENCHMARK_CAPTURE(BM_QuantizeRow, q8_k_avx2, lfm::DType::kQ8_K, "avx2");
BENCHMARK_CAPTURE(BM_QuantizeRow, q8_k_avx512, lfm::DType::kQ8_K, "avx512");

#ifdef LFM_BENCH_INT8_PEAK
// The int8 multiply-add throughput of one core (AVX-512 VNNI, int8_peak_avx512.cpp), in the
// GFLOP/s of BM_MatMul (a multiply-add counts two): the ceiling of the batched kernels.
void BM_Int8Peak(benchmark::State& state) {
    if (lfm::kernel_table("avx512") == nullptr) {
        state.SkipWithError("no AVX-512 on this CPU");
        return;
    }
    constexpr int64_t kIterations = 1 << 20;
    for (auto _ : state) benchmark::DoNotOptimize(int8_peak_avx512(kIterations));
    state.counters["GFLOP/s"] = benchmark::Counter(
        2.0 * static_cast<double>(kIterations * int8_peak_macs_per_iteration()) * static_cast<double>(state.iterations()) / 1e9,
        benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Int8Peak);
#endif

// Prompt batches: a weight matrix times `batch` tokens, three ways:
//  * "matvec_whole": token by token, each a whole mat-vec (gemv8 on repacked rows, one dot
//    product per row otherwise), as if the batch were decoded one token at a time;
//  * "matvec": the same kernel, but over 32-row tiles kept in cache while the tokens pass (the
//    forward pass's tiling, minus the batched kernels): the kernel's arithmetic alone;
//  * "batched": the batched kernels on those tiles (matmul_packed_rows on repacked rows, i.e.
//    gemm32x4 or gemm16x8, then gemm8x4; vec_dot_x4 otherwise).
// GFLOP/s = 2·rows·cols·batch.
enum class MatMulPath { kMatvecWhole, kMatvecTiled, kBatched };
void BM_MatMul(benchmark::State& state, lfm::DType type, const char* isa, MatMulPath path) {
    const bool batched = path == MatMulPath::kBatched;
    const lfm::KernelTable* k = lfm::kernel_table(isa);
    const bool repacked = k != nullptr && k->gemv8[static_cast<uint32_t>(type)] != nullptr;
    if (k == nullptr || (batched && !repacked && k->vec_dot_x4[static_cast<uint32_t>(type)] == nullptr) ||
        (batched && repacked && k->gemm8x4[static_cast<uint32_t>(type)] == nullptr)) {
        state.SkipWithError("no such kernel on this CPU");
        return;
    }
    const int64_t rows = state.range(0), cols = state.range(1), batch = state.range(2);
    const int64_t tile = path == MatMulPath::kMatvecWhole ? rows : 32;
    const size_t rb = lfm::row_bytes(type, cols);
    std::vector<uint8_t> w = make_weights(type, rows, cols);
    const size_t group = repacked ? lfm::packed8_group_bytes(type, cols) : 0;
    if (repacked) {
        std::vector<uint8_t> packed(group * static_cast<size_t>(rows / 8));
        lfm::repack_rows8(type, w.data(), packed.data(), rows, cols);
        w.swap(packed);
    }
    std::vector<float> x;
    const std::vector<uint8_t> one = activation(*k, type, cols, x);
    const size_t ab = one.size();
    std::vector<uint8_t> act(ab * static_cast<size_t>(batch));
    for (int64_t t = 0; t < batch; ++t) std::memcpy(act.data() + static_cast<size_t>(t) * ab, one.data(), ab);
    std::vector<float> y(static_cast<size_t>(rows * batch));
    const auto id = static_cast<uint32_t>(type);
    for (auto _ : state) {
        for (int64_t r0 = 0; r0 < rows; r0 += tile) {
            const int64_t r1 = std::min(rows, r0 + tile);
            int64_t t = 0;
            if (batched && repacked) {  // the forward pass's path: 32x4 or 16x8, then 8x4 kernels
                lfm::matmul_packed_rows(*k, type, w.data(), group, act.data(), ab, batch, cols, y.data(), rows, r0, r1);
                continue;
            }
            if (batched) {
                for (; t + 4 <= batch; t += 4) {
                    const uint8_t* a = act.data() + static_cast<size_t>(t) * ab;
                    for (int64_t r = r0; r < r1; ++r) {
                        float out[4];
                        k->vec_dot_x4[id](w.data() + static_cast<size_t>(r) * rb, a, ab, cols, out);
                        for (int j = 0; j < 4; ++j) y[static_cast<size_t>((t + j) * rows + r)] = out[j];
                    }
                }
            }
            for (; t < batch; ++t) {
                const uint8_t* a = act.data() + static_cast<size_t>(t) * ab;
                if (repacked) {
                    for (int64_t r = r0; r < r1; r += 8)
                        k->gemv8[id](w.data() + static_cast<size_t>(r / 8) * group, a, cols, y.data() + t * rows + r);
                } else {
                    lfm::matvec_rows(*k, type, w.data(), rb, a, cols, y.data() + t * rows, r0, r1);
                }
            }
        }
        benchmark::DoNotOptimize(y.data());
    }
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * batch) * static_cast<double>(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
}
#define LFM_MATMUL(type, name, isa)                                                                                 \
    BENCHMARK_CAPTURE(BM_MatMul, name##_##isa##_matvec_whole, lfm::DType::type, #isa, MatMulPath::kMatvecWhole) \
        ->Args({1792, 2048, 64});                                                                              \
    BENCHMARK_CAPTURE(BM_MatMul, name##_##isa##_matvec, lfm::DType::type, #isa, MatMulPath::kMatvecTiled)       \
        ->Args({1792, 2048, 64});                                                                              \
    BENCHMARK_CAPTURE(BM_MatMul, name##_##isa##_batched, lfm::DType::type, #isa, MatMulPath::kBatched)->Args({1792, 2048, 64})
LFM_MATMUL(kQ4_0, q4_0, avx512);
LFM_MATMUL(kQ4_0, q4_0, avx2);
LFM_MATMUL(kQ4_K, q4_k, avx512);
LFM_MATMUL(kQ4_K, q4_k, avx2);
LFM_MATMUL(kQ8_0, q8_0, avx512);
LFM_MATMUL(kQ8_0, q8_0, avx2);
LFM_MATMUL(kQ6_K, q6_k, avx512);
LFM_MATMUL(kQ6_K, q6_k, avx2);
LFM_MATMUL(kIQ4_NL, iq4_nl, avx512);
LFM_MATMUL(kIQ4_XS, iq4_xs, avx512);
LFM_MATMUL(kMXFP4, mxfp4, avx512);
LFM_MATMUL(kQ2_K, q2_k, avx512);
LFM_MATMUL(kQ3_K, q3_k, avx512);

#define LFM_MATVEC(type, name)                                                               \
    BENCHMARK_CAPTURE(BM_Matvec, name##_scalar, lfm::DType::type, "scalar")->Args({1792, 2048}); \
    BENCHMARK_CAPTURE(BM_Matvec, name##_avx2, lfm::DType::type, "avx2")->Args({1792, 2048})->Args({2048, 1792})->Args({6144, 2048}); \
    BENCHMARK_CAPTURE(BM_Matvec, name##_avx512, lfm::DType::type, "avx512")->Args({1792, 2048})->Args({2048, 1792})->Args({6144, 2048}); \
    BENCHMARK_CAPTURE(BM_Matvec, name##_neon, lfm::DType::type, "neon")->Args({1792, 2048})

LFM_MATVEC(kQ4_0, q4_0);
LFM_MATVEC(kQ8_0, q8_0);
LFM_MATVEC(kQ4_K, q4_k);
LFM_MATVEC(kQ6_K, q6_k);
LFM_MATVEC(kQ5_K, q5_k);
LFM_MATVEC(kF16, f16);
LFM_MATVEC(kBF16, bf16);
LFM_MATVEC(kIQ4_NL, iq4_nl);
LFM_MATVEC(kIQ4_XS, iq4_xs);
LFM_MATVEC(kMXFP4, mxfp4);
LFM_MATVEC(kQ2_K, q2_k);
LFM_MATVEC(kQ3_K, q3_k);
// Decode attention of one KV group (LFM2.5-8B-A1B: 4 query heads of 64 per KV head) over an F16
// cache of `depth` positions: scores, softmax, weighted values. heads_per_call 4 reads each key and
// value row once for the group, 1 once per head (what the forward pass did before grouping).
void BM_AttentionGroup(benchmark::State& state, int heads_per_call) {
    const lfm::KernelTable& k = lfm::kernels();
    const int64_t depth = state.range(0), d = 64;
    const int group = 4;
    const size_t hb = lfm::row_bytes(lfm::DType::kF16, d);
    std::vector<uint8_t> K(hb * static_cast<size_t>(depth)), V(K.size()), q(hb * group);
    std::mt19937 rng(3);
    std::vector<float> x(static_cast<size_t>(d));
    auto fill = [&](uint8_t* dst, int64_t rows) {
        for (int64_t r = 0; r < rows; ++r) {
            for (auto& v : x) v = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
            k.quantize_row[static_cast<uint32_t>(lfm::DType::kF16)](x.data(), dst + static_cast<size_t>(r) * hb, d);
        }
    };
    fill(K.data(), depth);
    fill(V.data(), depth);
    fill(q.data(), group);
    std::vector<float> scores(static_cast<size_t>(group * depth)), out(static_cast<size_t>(group * d));
    const auto f16 = static_cast<uint32_t>(lfm::DType::kF16);
    const auto cap = static_cast<size_t>(depth);
    for (auto _ : state) {
        for (int j0 = 0; j0 < group; j0 += heads_per_call) {
            k.dot_rows[f16](K.data(), hb, depth, q.data() + static_cast<size_t>(j0) * hb, hb, heads_per_call, d, 0.125f,
                            scores.data() + static_cast<size_t>(j0) * cap, cap);
        }
        for (int j = 0; j < group; ++j) k.softmax(scores.data() + static_cast<size_t>(j) * cap, depth);
        std::fill(out.begin(), out.end(), 0.0f);
        for (int j0 = 0; j0 < group; j0 += heads_per_call)
            k.axpy_rows[f16](V.data(), hb, depth, scores.data() + static_cast<size_t>(j0) * cap, cap, heads_per_call,
                             out.data() + static_cast<size_t>(j0 * d), static_cast<size_t>(d), d);
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["positions/s"] = benchmark::Counter(static_cast<double>(depth * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_AttentionGroup, grouped, 4)->Arg(4096)->Arg(32768);
BENCHMARK_CAPTURE(BM_AttentionGroup, per_head, 1)->Arg(4096)->Arg(32768);

// The prompt path: a tile of 4 tokens × the group's 4 heads (kAttendTile queries) over the same
// F16 rows, the block of rows widened once for all 16 (attend_tile). positions/s counts token ×
// position pairs as BM_AttentionGroup does, so the two read side by side.
void BM_AttendTile(benchmark::State& state) {
    const lfm::KernelTable& k = lfm::kernels();
    const int64_t depth = state.range(0), d = 64;
    const size_t hb = lfm::row_bytes(lfm::DType::kF16, d);
    std::vector<uint8_t> K(hb * static_cast<size_t>(depth)), V(K.size());
    std::mt19937 rng(3);
    std::vector<float> x(static_cast<size_t>(d));
    for (auto* rows : {&K, &V})
        for (int64_t r = 0; r < depth; ++r) {
            for (auto& v : x) v = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
            k.quantize_row[static_cast<uint32_t>(lfm::DType::kF16)](x.data(), rows->data() + static_cast<size_t>(r) * hb, d);
        }
    std::vector<float> q(static_cast<size_t>(lfm::kAttendTile * d)), out(q.size()), scratch(lfm::attend_scratch_floats(d));
    for (auto& v : q) v = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
    const float* qp[lfm::kAttendTile];
    float* op[lfm::kAttendTile];
    int64_t n_keys[lfm::kAttendTile];
    for (int m = 0; m < lfm::kAttendTile; ++m) {
        qp[m] = q.data() + m * d;
        op[m] = out.data() + m * d;
        n_keys[m] = depth - 3 + m / 4;  // 4 consecutive tokens of 4 heads each
    }
    for (auto _ : state) {
        lfm::attend_tile(k, lfm::DType::kF16, qp, lfm::kAttendTile, n_keys, K.data(), V.data(), hb, d, 0.125f, op, scratch.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.counters["positions/s"] = benchmark::Counter(static_cast<double>(4 * depth * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AttendTile)->Arg(4096)->Arg(32768);

// the tied head of Q4_0 and Q4_K_M files: 128000 × 2048 in Q6_K, 215 MB per decoded token
BENCHMARK_CAPTURE(BM_Matvec, q6_k_head_avx2, lfm::DType::kQ6_K, "avx2")->Args({128000, 2048})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Matvec, q6_k_head_avx512, lfm::DType::kQ6_K, "avx512")->Args({128000, 2048})->Unit(benchmark::kMillisecond);

}  // namespace
