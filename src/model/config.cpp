#include "config.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "../io/gguf.h"
#include "lfm/error.h"

namespace lfm {

namespace {

[[noreturn]] void bad(const std::string& source, const std::string& what) {
    throw Error(ErrorCode::kInvalidFile, source + ": " + what);
}

}  // namespace

int64_t Config::n_attention_layers() const {
    int64_t n = 0;
    for (LayerKind k : layer_kinds) n += k == LayerKind::kAttention;
    return n;
}

void Config::validate(const std::string& source) const {
    auto in_range = [&](const char* name, int64_t v, int64_t lo, int64_t hi) {
        if (v < lo || v > hi) bad(source, fmt::format("{} = {} is out of range [{}, {}]", name, v, lo, hi));
    };
    in_range("vocab size", n_vocab, 1, int64_t{1} << 24);
    in_range("hidden size", n_embd, 1, 1 << 16);
    in_range("layer count", n_layer, 1, 1024);
    in_range("attention heads", n_head, 1, 1024);
    in_range("kv heads", n_head_kv, 0, n_head);
    in_range("head dim", head_dim, 2, 1024);
    in_range("conv kernel width", conv_kernel, 1, 64);
    in_range("dense FFN width", n_ff, 0, 1 << 20);
    in_range("context length", n_ctx_train, 1, int64_t{1} << 24);
    if (head_dim % 2 != 0) bad(source, fmt::format("head dim {} must be even for RoPE", head_dim));
    if (static_cast<int64_t>(layer_kinds.size()) != n_layer)
        bad(source, fmt::format("{} layer types for {} layers", layer_kinds.size(), n_layer));
    if (n_attention_layers() > 0 && (n_head_kv == 0 || n_head % n_head_kv != 0))
        bad(source, fmt::format("attention heads {} must be a multiple of kv heads {}", n_head, n_head_kv));
    if (!(norm_eps > 0.0f) || !std::isfinite(norm_eps)) bad(source, "norm epsilon must be positive");
    if (!(rope_theta > 0.0f) || !std::isfinite(rope_theta)) bad(source, "rope theta must be positive");
    in_range("leading dense layers", n_dense_layers, 0, n_layer);
    if (is_moe()) {
        in_range("expert count", n_expert, 1, 1024);
        in_range("experts used per token", n_expert_used, 1, n_expert);
        in_range("expert FFN width", n_ff_exp, 1, 1 << 20);
    } else if (n_dense_layers != n_layer) {
        bad(source, "a model without experts must have a dense FFN in every layer");
    }
    if (n_dense_layers > 0 && n_ff < 1) bad(source, "dense FFN width is missing");
}

// ---- GGUF ---------------------------------------------------------------------------------

Config config_from_gguf(const GgufFile& g) {
    const std::string& path = g.path();
    const auto arch = g.get_string("general.architecture");
    if (!arch) bad(path, "missing metadata 'general.architecture'");
    if (*arch != "lfm2moe" && *arch != "lfm2") {
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("{}: architecture '{}' is not supported (lfm runs LFM2 models: 'lfm2moe' or 'lfm2')", path,
                                *arch));
    }
    Config c;
    c.arch = std::string(*arch);
    const std::string p = c.arch + ".";
    auto required_int = [&](const std::string& key) {
        auto v = g.get_int(p + key);
        if (!v) bad(path, "missing metadata '" + p + key + "'");
        return *v;
    };
    c.n_embd = required_int("embedding_length");
    c.n_layer = required_int("block_count");
    c.n_head = required_int("attention.head_count");
    c.n_ctx_train = required_int("context_length");
    c.conv_kernel = required_int("shortconv.l_cache");
    c.n_ff = g.get_int(p + "feed_forward_length").value_or(0);
    const auto eps = g.get_float(p + "attention.layer_norm_rms_epsilon");
    if (!eps) bad(path, "missing metadata '" + p + "attention.layer_norm_rms_epsilon'");
    c.norm_eps = static_cast<float>(*eps);
    c.rope_theta = static_cast<float>(g.get_float(p + "rope.freq_base").value_or(1e6));
    c.head_dim = g.get_int(p + "attention.key_length").value_or(c.n_head > 0 ? c.n_embd / c.n_head : 0);
    if (c.n_layer < 1 || c.n_layer > 1024) bad(path, fmt::format("block_count {} is out of range", c.n_layer));

    // Per-layer kv heads: 0 marks a short-conv layer (llama.cpp marks those recurrent).
    const GgufValue* kv = g.find(p + "attention.head_count_kv");
    if (kv == nullptr) bad(path, "missing metadata '" + p + "attention.head_count_kv'");
    std::vector<int64_t> kv_per_layer;
    if (kv->type == GgufType::kArray) {
        kv_per_layer = kv->ints();
        if (static_cast<int64_t>(kv_per_layer.size()) != c.n_layer || kv->count != kv_per_layer.size())
            bad(path, fmt::format("'{}attention.head_count_kv' has {} integer entries for {} layers", p, kv->count, c.n_layer));
    } else if (auto n = kv->as_int()) {
        kv_per_layer.assign(static_cast<size_t>(c.n_layer), *n);
    } else {
        bad(path, "'" + p + "attention.head_count_kv' must be an integer array");
    }
    for (int64_t n : kv_per_layer) {
        c.layer_kinds.push_back(n > 0 ? LayerKind::kAttention : LayerKind::kConv);
        if (n > 0) {
            if (c.n_head_kv != 0 && c.n_head_kv != n) bad(path, "attention layers disagree on their kv head count");
            c.n_head_kv = n;
        }
    }

    if (c.arch == "lfm2moe") {
        c.n_ff_exp = required_int("expert_feed_forward_length");
        c.n_expert = required_int("expert_count");
        c.n_expert_used = required_int("expert_used_count");
        c.n_dense_layers = g.get_int(p + "leading_dense_block_count").value_or(0);
        const int64_t gating = g.get_int(p + "expert_gating_func").value_or(2);
        if (gating != 2) {
            throw Error(ErrorCode::kUnsupported,
                        fmt::format("{}: expert_gating_func {} is not supported (LFM2-MoE uses 2 = sigmoid)", path, gating));
        }
    } else {
        c.n_dense_layers = c.n_layer;
    }
    // vocab size: the key when present, otherwise the embedding's row count (checked at binding)
    if (auto v = g.get_int(p + "vocab_size")) {
        c.n_vocab = *v;
    } else if (const TensorInfo* e = g.tensor("token_embd.weight")) {
        c.n_vocab = e->ne[1];
    }
    c.validate(path);
    return c;
}

// ---- Hugging Face config.json -------------------------------------------------------------

Config config_from_hf(const nlohmann::json& j, const std::string& source) {
    if (!j.is_object()) bad(source, "config.json is not a JSON object");
    const std::string model_type = j.value("model_type", "");
    Config c;
    if (model_type == "lfm2_moe") {
        c.arch = "lfm2moe";
    } else if (model_type == "lfm2") {
        c.arch = "lfm2";
    } else {
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("{}: model_type '{}' is not supported (lfm runs 'lfm2_moe' and 'lfm2')", source, model_type));
    }
    auto get_int = [&](const char* key, std::optional<int64_t> def = std::nullopt) -> int64_t {
        if (j.contains(key)) {
            if (!j[key].is_number_integer()) bad(source, fmt::format("'{}' must be an integer", key));
            return j[key].get<int64_t>();
        }
        if (def) return *def;
        bad(source, fmt::format("missing '{}'", key));
    };
    auto get_float = [&](const char* key, double def) -> double {
        if (!j.contains(key)) return def;
        if (!j[key].is_number()) bad(source, fmt::format("'{}' must be a number", key));
        return j[key].get<double>();
    };
    c.n_vocab = get_int("vocab_size");
    c.n_embd = get_int("hidden_size");
    c.n_layer = get_int("num_hidden_layers");
    c.n_head = get_int("num_attention_heads");
    c.n_head_kv = get_int("num_key_value_heads");
    c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? get_int("head_dim")
                                                                     : (c.n_head > 0 ? c.n_embd / c.n_head : 0);
    c.n_ctx_train = get_int("max_position_embeddings", 128000);
    c.conv_kernel = get_int("conv_L_cache", 3);
    c.norm_eps = static_cast<float>(get_float("norm_eps", get_float("block_norm_eps", 1e-5)));
    double theta = get_float("rope_theta", get_float("theta", 1e6));
    if (j.contains("rope_parameters") && j["rope_parameters"].is_object() && j["rope_parameters"].contains("rope_theta")) {
        if (!j["rope_parameters"]["rope_theta"].is_number()) bad(source, "'rope_parameters.rope_theta' must be a number");
        theta = j["rope_parameters"]["rope_theta"].get<double>();
    }
    c.rope_theta = static_cast<float>(theta);
    if (j.value("conv_bias", false)) throw Error(ErrorCode::kUnsupported, source + ": conv_bias = true is not supported");
    if (c.n_layer < 1 || c.n_layer > 1024) bad(source, fmt::format("num_hidden_layers {} is out of range", c.n_layer));

    if (j.contains("layer_types")) {
        const auto& lt = j["layer_types"];
        if (!lt.is_array() || static_cast<int64_t>(lt.size()) != c.n_layer)
            bad(source, fmt::format("'layer_types' must list {} layers", c.n_layer));
        for (const auto& t : lt) {
            const std::string s = t.is_string() ? t.get<std::string>() : "";
            if (s == "conv") c.layer_kinds.push_back(LayerKind::kConv);
            else if (s == "full_attention" || s == "attention") c.layer_kinds.push_back(LayerKind::kAttention);
            else bad(source, "unknown layer type '" + t.dump() + "' in 'layer_types'");
        }
    } else if (j.contains("full_attn_idxs") && j["full_attn_idxs"].is_array()) {
        c.layer_kinds.assign(static_cast<size_t>(c.n_layer), LayerKind::kConv);
        for (const auto& i : j["full_attn_idxs"]) {
            if (!i.is_number_integer() || i.get<int64_t>() < 0 || i.get<int64_t>() >= c.n_layer)
                bad(source, "bad layer index in 'full_attn_idxs': " + i.dump());
            c.layer_kinds[i.get<size_t>()] = LayerKind::kAttention;
        }
    } else {
        bad(source, "neither 'layer_types' nor 'full_attn_idxs' says which layers are attention layers");
    }

    if (c.arch == "lfm2moe") {
        c.n_ff = get_int("intermediate_size", 7168);
        c.n_ff_exp = get_int("moe_intermediate_size");
        c.n_expert = get_int("num_experts");
        c.n_expert_used = get_int("num_experts_per_tok");
        c.n_dense_layers = get_int("num_dense_layers", 2);
        c.routed_scaling = static_cast<float>(get_float("routed_scaling_factor", 1.0));
        c.norm_topk = j.value("norm_topk_prob", true);
        if (!j.value("use_expert_bias", true))
            throw Error(ErrorCode::kUnsupported, source + ": use_expert_bias = false is not supported");
    } else {
        c.n_dense_layers = c.n_layer;
        if (j.contains("intermediate_size")) {
            c.n_ff = get_int("intermediate_size");
        } else {
            // LFM2's block_ff_dim with the SwiGLU auto-adjustment: 2/3, multiplier, round up
            int64_t ff = get_int("block_ff_dim");
            if (j.value("block_auto_adjust_ff_dim", false)) {
                ff = 2 * ff / 3;
                ff = static_cast<int64_t>(get_float("block_ffn_dim_multiplier", 1.0) * static_cast<double>(ff));
                const int64_t m = get_int("block_multiple_of", 256);
                if (m > 0) ff = (ff + m - 1) / m * m;
            }
            c.n_ff = ff;
        }
    }
    c.validate(source);
    return c;
}

}  // namespace lfm
