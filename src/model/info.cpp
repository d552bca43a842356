// ModelInfo: what `lfm info` prints, computed once at load from the config, the tensors and
// the file's metadata.

#include "info.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace lfm {

namespace {

// Special tokens named in the file: GGUF tokenizer.ggml.*_token_id with their text, or the ids of
// a Hugging Face config.json with their text from tokenizer.json's added_tokens.
void add_special_tokens(const ModelFiles& f, ModelInfo& i) {
    static const char* const roles[] = {"bos", "eos", "eot", "pad", "unk", "sep"};
    if (f.gguf) {
        const GgufValue* tokens = f.gguf->find("tokenizer.ggml.tokens");
        const auto texts = tokens ? tokens->strings() : std::vector<std::string_view>{};
        for (const char* role : roles) {
            const GgufValue* v = f.gguf->find(std::string("tokenizer.ggml.") + role + "_token_id");
            if (v == nullptr || !v->as_int()) continue;
            const int64_t id = *v->as_int();
            const std::string text = id >= 0 && static_cast<size_t>(id) < texts.size() ? std::string(texts[static_cast<size_t>(id)]) : "";
            i.special_tokens.push_back({role, id, text});
        }
        i.has_tokenizer = tokens != nullptr;
        i.has_chat_template = f.gguf->find("tokenizer.chat_template") != nullptr;
        return;
    }
    namespace fs = std::filesystem;
    const fs::path dir(f.hf_dir);
    auto read = [](const fs::path& p) -> nlohmann::json {
        std::ifstream in(p);
        if (!in) return {};
        return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    };
    const nlohmann::json config = read(dir / "config.json");
    const nlohmann::json tokenizer = read(dir / "tokenizer.json");
    const nlohmann::json tok_config = read(dir / "tokenizer_config.json");
    std::map<int64_t, std::string> added;
    if (tokenizer.is_object() && tokenizer.contains("added_tokens") && tokenizer["added_tokens"].is_array()) {
        for (const auto& t : tokenizer["added_tokens"]) {
            if (t.is_object() && t.contains("id") && t["id"].is_number_integer() && t.contains("content") && t["content"].is_string())
                added[t["id"].get<int64_t>()] = t["content"].get<std::string>();
        }
    }
    for (const char* role : roles) {
        const std::string key = std::string(role) + "_token_id";
        if (!config.is_object() || !config.contains(key) || !config[key].is_number_integer()) continue;
        const int64_t id = config[key].get<int64_t>();
        i.special_tokens.push_back({role, id, added.count(id) ? added[id] : ""});
    }
    i.has_tokenizer = tokenizer.is_object();
    i.has_chat_template = fs::exists(dir / "chat_template.jinja") ||
                          (tok_config.is_object() && tok_config.contains("chat_template"));
}

// llama.cpp's name for general.file_type, or the most common matrix type when it is absent.
std::string file_type_name(const ModelFiles& f, const ModelInfo& i) {
    if (f.gguf) {
        if (auto ft = f.gguf->get_int("general.file_type")) {
            switch (*ft) {
                case 0: return "all F32";
                case 1: return "F16";
                case 2: return "Q4_0";
                case 3: return "Q4_1";
                case 7: return "Q8_0";
                case 8: return "Q5_0";
                case 9: return "Q5_1";
                case 10: return "Q2_K - Medium";
                case 11: return "Q3_K - Small";
                case 12: return "Q3_K - Medium";
                case 13: return "Q3_K - Large";
                case 14: return "Q4_K - Small";
                case 15: return "Q4_K - Medium";
                case 16: return "Q5_K - Small";
                case 17: return "Q5_K - Medium";
                case 18: return "Q6_K";
                case 21: return "Q2_K - Small";
                case 25: return "IQ4_NL - 4.5 bpw";
                case 30: return "IQ4_XS - 4.25 bpw";
                case 38: return "MXFP4 MoE";
                case 32: return "BF16";
                default: break;
            }
        }
    }
    std::string best;
    uint64_t most = 0;
    for (const auto& [type, bytes] : i.bytes_by_type)
        if (bytes > most) most = bytes, best = type;
    return best;
}

}  // namespace

ModelInfo make_info(const ModelFiles& f, const Weights& w) {
    const Config& c = f.config;
    ModelInfo i;
    i.path = f.path;
    i.format = f.format == ModelFormat::kGguf ? "gguf" : "huggingface";
    i.architecture = c.arch;
    i.n_vocab = c.n_vocab;
    i.n_embd = c.n_embd;
    i.n_layer = c.n_layer;
    i.n_ctx_train = c.n_ctx_train;
    i.n_head = c.n_head;
    i.n_head_kv = c.n_head_kv;
    i.head_dim = c.head_dim;
    i.n_ff = c.n_ff;
    i.n_ff_exp = c.n_ff_exp;
    i.n_expert = c.n_expert;
    i.n_expert_used = c.n_expert_used;
    i.n_dense_layers = c.n_dense_layers;
    i.conv_kernel = c.conv_kernel;
    i.norm_eps = c.norm_eps;
    i.rope_theta = c.rope_theta;
    for (LayerKind k : c.layer_kinds) i.layer_types.push_back(k == LayerKind::kAttention ? "attention" : "conv");
    i.tied_head = w.tied_head;
    i.file_bytes = f.file_bytes;
    i.unused_tensors = w.unused_tensors;

    // Active = what one decoded token reads: k of E experts, the whole head, one embedding row
    // (the tied embedding is read in full as the head).
    std::map<std::string, uint64_t> bytes_by_type;
    std::map<std::string, int> count_by_type;
    for (const TensorInfo& t : f.tensors) {
        if (std::find(w.unused_tensors.begin(), w.unused_tensors.end(), t.name) != w.unused_tensors.end()) continue;
        const auto n = static_cast<uint64_t>(t.n_elements());
        i.n_params += n;
        i.weight_bytes += t.nbytes;
        bytes_by_type[dtype_name(t.type)] += t.nbytes;
        count_by_type[dtype_name(t.type)] += 1;
        if (t.name.find("_exps.weight") != std::string::npos) {
            i.n_params_active += n * static_cast<uint64_t>(c.n_expert_used) / static_cast<uint64_t>(c.n_expert);
            i.bytes_per_token += t.nbytes * static_cast<uint64_t>(c.n_expert_used) / static_cast<uint64_t>(c.n_expert);
        } else if (t.name == "token_embd.weight" && !w.tied_head) {
            i.n_params_active += static_cast<uint64_t>(t.ne[0]);
            i.bytes_per_token += t.nbytes / static_cast<uint64_t>(t.ne[1]);
        } else {
            i.n_params_active += n;
            i.bytes_per_token += t.nbytes;
        }
    }
    i.bytes_by_type.assign(bytes_by_type.begin(), bytes_by_type.end());
    i.tensors_by_type.assign(count_by_type.begin(), count_by_type.end());
    add_special_tokens(f, i);
    i.file_type = file_type_name(f, i);
    return i;
}

}  // namespace lfm
