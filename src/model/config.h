#pragma once
// Hyper-parameters of an LFM2 / LFM2-MoE model (../shared/spec/architecture.md §1), read from a
// GGUF file's metadata or a Hugging Face config.json. Nothing is hard-coded to one model size.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lfm {

class GgufFile;

enum class LayerKind { kConv, kAttention };

struct Config {
    std::string arch;         // "lfm2moe" (MoE) or "lfm2" (dense)
    int64_t n_vocab = 0;      // V
    int64_t n_embd = 0;       // H
    int64_t n_layer = 0;      // L
    int64_t n_ff = 0;         // F_d, dense SwiGLU width
    int64_t n_ff_exp = 0;     // F_e, per-expert width (0 for dense models)
    int64_t n_expert = 0;     // E (0 for dense models)
    int64_t n_expert_used = 0;  // k
    int64_t n_dense_layers = 0;  // D: leading layers with a dense FFN (all of them for lfm2)
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;
    int64_t conv_kernel = 0;  // K_c
    float norm_eps = 1e-5f;
    float rope_theta = 1e6f;
    int64_t n_ctx_train = 0;  // max_position_embeddings / context_length
    float routed_scaling = 1.0f;
    bool norm_topk = true;
    std::vector<LayerKind> layer_kinds;

    bool is_moe() const { return n_expert > 0; }
    bool is_attention(int64_t layer) const { return layer_kinds[static_cast<size_t>(layer)] == LayerKind::kAttention; }
    bool is_moe_layer(int64_t layer) const { return is_moe() && layer >= n_dense_layers; }
    int64_t n_attention_layers() const;

    // Checks ranges and consistency; throws lfm::Error naming `source` and the field.
    void validate(const std::string& source) const;
};

Config config_from_gguf(const GgufFile& gguf);
// `source` names the config.json for messages.
Config config_from_hf(const nlohmann::json& config_json, const std::string& source);

}  // namespace lfm
