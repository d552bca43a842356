// Cost of choosing one token from LFM2.5-8B-A1B's 128,000 logits, per sampler setting, to read
// next to a decode step (~30-40 ms per token with 2 threads on the full model: `lfm bench`).
// The chain must stay a rounding error of that: one pass over the logits and work on k
// candidates, never a full sort (except top-k off with top-p on, measured here too).

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "lfm/generate.h"

namespace {

constexpr int kVocab = 128000;

std::vector<float> random_logits() {
    std::vector<float> logits(kVocab);
    std::mt19937 gen(3);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    for (float& x : logits) x = dist(gen);
    return logits;
}

void run(benchmark::State& state, lfm::SamplerConfig config) {
    const std::vector<float> logits = random_logits();
    std::vector<int32_t> history(64);
    for (size_t i = 0; i < history.size(); ++i) history[i] = static_cast<int32_t>(i * 997 % kVocab);
    config.seed = 1;
    lfm::Sampler sampler(config);
    for (auto _ : state) benchmark::DoNotOptimize(sampler.sample(logits, history));
    state.SetItemsProcessed(state.iterations());
}

void BM_ModelCardDefaults(benchmark::State& state) { run(state, lfm::SamplerConfig{}); }  // T 0.2, k 80, penalty 1.05

void BM_Greedy(benchmark::State& state) {
    lfm::SamplerConfig c;
    c.temperature = 0;
    run(state, c);
}

void BM_TopPMinP(benchmark::State& state) {  // LFM2's card: min-p 0.15; plus top-p
    lfm::SamplerConfig c;
    c.temperature = 0.3f;
    c.top_p = 0.95f;
    c.min_p = 0.15f;
    run(state, c);
}

void BM_TopKOffTopPOn(benchmark::State& state) {  // the one setting that sorts the vocabulary
    lfm::SamplerConfig c;
    c.top_k = 0;
    c.top_p = 0.9f;
    run(state, c);
}

BENCHMARK(BM_ModelCardDefaults)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Greedy)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopPMinP)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopKOffTopPOn)->Unit(benchmark::kMicrosecond);

}  // namespace
