// Encode throughput (MB/s of input text) with a real 128K byte-level BPE vocabulary
// (../shared/data/tokenizer-llama3-bpe, the LLaMA-3 split that LFM2 also uses), on English prose,
// C++ code and multilingual text. Single thread.

#include <benchmark/benchmark.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lfm/tokenizer.h"

namespace {

const std::string kShared = LFM_SHARED_DIR;

std::shared_ptr<const lfm::Tokenizer> vocab() {
    static auto t = lfm::Tokenizer::load(kShared + "/data/tokenizer-llama3-bpe/ggml-vocab-llama-bpe.gguf");
    return t;
}

std::string repeat_to(const std::string& s, size_t bytes) {
    std::string out;
    while (out.size() < bytes) out += s;
    return out;
}

std::string prose() {
    return repeat_to(
        "It was a bright cold day in April, and the clocks were striking thirteen. The engine reads the "
        "weights once per token, so its speed is set by memory bandwidth rather than arithmetic; a laptop "
        "with two channels of DDR5 moves about sixty gigabytes a second, which bounds decoding at roughly "
        "fifty tokens a second for a five-gigabyte model. Nobody said it would be easy, but we don't mind.\n\n",
        1 << 20);
}

std::string code() {
    std::ifstream in(std::string(LFM_SOURCE_DIR) + "/src/model/lfm2.cpp");
    std::stringstream ss;
    ss << in.rdbuf();
    return repeat_to(ss.str(), 1 << 20);
}

std::string multilingual() {
    std::ifstream in(kShared + "/reference/tokenizer/llama3-bpe.json");
    const auto j = nlohmann::json::parse(in);
    std::string all;
    for (const auto& c : j["cases"]) all += c["text"].get<std::string>() + "\n";
    return repeat_to(all, 1 << 20);
}

void BM_Encode(benchmark::State& state, std::string (*make)()) {
    const std::string text = make();
    size_t n_tokens = 0;
    for (auto _ : state) {
        const auto ids = vocab()->encode(text, false, false);
        n_tokens = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
    state.counters["tokens"] = static_cast<double>(n_tokens);
}

BENCHMARK_CAPTURE(BM_Encode, english_prose, prose)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, cpp_code, code)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, multilingual, multilingual)->Unit(benchmark::kMillisecond);

}  // namespace
