#pragma once
// Synthetic models: the real shape of LFM2.5-8B-A1B (or another LFM2-MoE shape) with random
// weights, for benchmarks. Speed does not depend on weight values. Deterministic for a seed.

#include <cstdint>
#include <memory>
#include <string>

#include "lfm/model.h"

namespace lfm {

struct SynthOptions {
    // "lfm2.5-8b-a1b" (default), "lfm2-8b-a1b", or a JSON file with the keys of
    // ../shared/tools/make_lfm2moe_gguf.py's configs (hidden_size, n_layers, attn_layers, ...).
    std::string shape = "lfm2.5-8b-a1b";
    // Q4_0, Q4_K_M (llama.cpp's mix), Q8_0, F16, BF16 or F32 for the weight matrices; norms, conv
    // kernels, router and expert bias are F32 as in converted files.
    std::string type = "Q4_K_M";
    uint64_t seed = 1;
};

// Writes a GGUF that llama.cpp's tools load too (tokenizer metadata included). Throws lfm::Error.
void write_synthetic_gguf(const std::string& path, const SynthOptions& options);
// The same model built in memory, with no file at all.
std::shared_ptr<const Model> synthetic_model(const SynthOptions& options, const ModelOptions& model_options = {});

}  // namespace lfm
