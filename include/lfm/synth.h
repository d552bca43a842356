#pragma once
// Synthetic models: the real shape of LFM2.5-8B-A1B (or another LFM2-MoE shape) with random
// weights, for benchmarks. Speed does not depend on weight values. Deterministic for a seed.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "lfm/model.h"

namespace lfm {

struct SynthOptions {
    // "lfm2.5-8b-a1b" (default), "lfm2-8b-a1b", or a JSON file with the keys of
    // ../shared/tools/make_lfm2moe_gguf.py's configs (hidden_size, n_layers, attn_layers, ...).
    std::string shape = "lfm2.5-8b-a1b";
    // Q4_0, Q4_K_M, Q5_K_M (llama.cpp's mixes), Q6_K, Q8_0, F16, BF16 or F32 for the weight
    // matrices; norms, conv kernels, router and expert bias are F32 as in converted files.
    std::string type = "Q4_K_M";
    uint64_t seed = 1;
};

// Writes a GGUF that llama.cpp's tools load too (tokenizer metadata included). Throws lfm::Error.
void write_synthetic_gguf(const std::string& path, const SynthOptions& options);
// What write_synthetic_gguf would write, without making the tensors' bytes: the sizes to set
// beside the real files'.
struct SynthLayout {
    uint64_t header_bytes = 0;       // metadata and tensor infos, padded to the alignment
    uint64_t tensor_data_bytes = 0;  // every tensor, each padded to the alignment
    std::map<std::string, int> tensors_by_type;  // "Q4_K" -> how many tensors
};
SynthLayout synthetic_layout(const SynthOptions& options);
// The same model built in memory, with no file at all.
std::shared_ptr<const Model> synthetic_model(const SynthOptions& options, const ModelOptions& model_options = {});

}  // namespace lfm
