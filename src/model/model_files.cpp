#include "model_files.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../io/json_file.h"
#include "../io/safetensors.h"
#include "lfm/error.h"

namespace fs = std::filesystem;

namespace lfm {

const TensorInfo* ModelFiles::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors[it->second];
}

void ModelFiles::build_index() {
    index_.clear();
    for (size_t k = 0; k < tensors.size(); ++k) {
        if (!index_.emplace(tensors[k].name, k).second)
            throw Error(ErrorCode::kInvalidFile, path + ": tensor '" + tensors[k].name + "' appears twice");
    }
}

namespace {

// Consumes `prefix`, a decimal number and a '.', from the front of s; returns the number.
bool take_numbered(std::string_view& s, std::string_view prefix, std::string& number) {
    if (s.substr(0, prefix.size()) != prefix) return false;
    size_t k = prefix.size();
    while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k;
    if (k == prefix.size() || k >= s.size() || s[k] != '.') return false;
    number = std::string(s.substr(prefix.size(), k - prefix.size()));
    s.remove_prefix(k + 1);
    return true;
}

// Multimodal LFM2 variants nest the text model; their prefixes are stripped.
std::string strip_hf_prefix(const std::string& raw) {
    if (raw.rfind("model.language_model.", 0) == 0) return "model." + raw.substr(21);
    if (raw.rfind("language_model.", 0) == 0) return raw.substr(15);
    if (raw.rfind("lfm.", 0) == 0) return raw.substr(4);
    return raw;
}

}  // namespace

std::string hf_to_gguf_name(const std::string& raw) {
    const std::string name = strip_hf_prefix(raw);
    if (name == "model.embed_tokens.weight") return "token_embd.weight";
    if (name == "model.embedding_norm.weight") return "token_embd_norm.weight";
    if (name == "lm_head.weight") return "output.weight";

    std::string_view rest = name;
    std::string layer;
    if (!take_numbered(rest, "model.layers.", layer)) return "";
    const std::string blk = "blk." + layer + ".";
    static const std::pair<const char*, const char*> table[] = {
        {"operator_norm.weight", "attn_norm.weight"},
        {"ffn_norm.weight", "ffn_norm.weight"},
        {"conv.in_proj.weight", "shortconv.in_proj.weight"},
        {"conv.conv.weight", "shortconv.conv.weight"},
        {"conv.out_proj.weight", "shortconv.out_proj.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.out_proj.weight", "attn_output.weight"},
        {"self_attn.q_layernorm.weight", "attn_q_norm.weight"},
        {"self_attn.k_layernorm.weight", "attn_k_norm.weight"},
        {"feed_forward.w1.weight", "ffn_gate.weight"},
        {"feed_forward.w3.weight", "ffn_up.weight"},
        {"feed_forward.w2.weight", "ffn_down.weight"},
        {"feed_forward.gate.weight", "ffn_gate_inp.weight"},
        {"feed_forward.expert_bias", "exp_probs_b.bias"},
        {"feed_forward.expert_bias.weight", "exp_probs_b.bias"},
    };
    for (const auto& [hf, gg] : table)
        if (rest == hf) return blk + gg;
    std::string expert;
    if (take_numbered(rest, "feed_forward.experts.", expert)) {
        if (rest == "w1.weight") return blk + "ffn_gate_exps.weight." + expert;
        if (rest == "w3.weight") return blk + "ffn_up_exps.weight." + expert;
        if (rest == "w2.weight") return blk + "ffn_down_exps.weight." + expert;
    }
    return "";
}

namespace {


// Splits the transformers-5 fused expert tensors [E, 2F, H] / [E, H, F] into per-expert views.
bool split_fused_experts(const TensorInfo& t, const std::string& hf_name, std::vector<TensorInfo>& out) {
    const std::string name = strip_hf_prefix(hf_name);
    std::string_view rest = name;
    std::string layer;
    if (!take_numbered(rest, "model.layers.", layer)) return false;
    const bool gate_up = rest == "feed_forward.experts.gate_up_proj" || rest == "feed_forward.experts.gate_up_proj.weight";
    const bool down = rest == "feed_forward.experts.down_proj" || rest == "feed_forward.experts.down_proj.weight";
    if (!gate_up && !down) return false;
    const std::string blk = "blk." + layer + ".";
    if (t.n_dims != 3) throw Error(ErrorCode::kInvalidFile, "fused expert tensor '" + hf_name + "' must be 3-D");
    const int64_t n_expert = t.ne[2], rows = t.ne[1], cols = t.ne[0];
    const size_t row_bytes = static_cast<size_t>(cols) * static_cast<size_t>(traits(t.type).block_bytes);
    auto view = [&](const std::string& stacked, int64_t e, int64_t row0, int64_t n_rows) {
        TensorInfo v;
        v.name = stacked + "." + std::to_string(e);
        v.type = t.type;
        v.n_dims = 2;
        v.ne = {cols, n_rows, 1, 1};
        v.nbytes = static_cast<size_t>(n_rows) * row_bytes;
        v.file_offset = t.file_offset + static_cast<size_t>(e * rows + row0) * row_bytes;
        v.data = t.data + (v.file_offset - t.file_offset);
        out.push_back(v);
    };
    for (int64_t e = 0; e < n_expert; ++e) {
        if (gate_up) {
            if (rows % 2 != 0) throw Error(ErrorCode::kInvalidFile, "fused gate_up_proj '" + hf_name + "' has an odd row count");
            view(blk + "ffn_gate_exps.weight", e, 0, rows / 2);
            view(blk + "ffn_up_exps.weight", e, rows / 2, rows / 2);
        } else {
            view(blk + "ffn_down_exps.weight", e, 0, rows);
        }
    }
    return true;
}

ModelFiles open_hf_dir(const std::string& dir) {
    ModelFiles mf;
    mf.path = dir;
    mf.format = ModelFormat::kHuggingFace;
    mf.hf_dir = dir;
    const fs::path root(dir);
    const fs::path config_path = root / "config.json";
    if (!fs::exists(config_path))
        throw Error(ErrorCode::kIo, dir + ": directory has no config.json (expected a GGUF file or a Hugging Face model directory)");
    mf.config = config_from_hf(read_json_file(config_path), config_path.string());

    std::vector<fs::path> shards;
    const fs::path index_path = root / "model.safetensors.index.json";
    std::map<std::string, std::string> weight_map;
    if (fs::exists(root / "model.safetensors")) {
        shards.push_back(root / "model.safetensors");
    } else if (fs::exists(index_path)) {
        const nlohmann::json idx = read_json_file(index_path);
        if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
            throw Error(ErrorCode::kInvalidFile, index_path.string() + ": has no 'weight_map' object");
        std::set<std::string> files;
        for (const auto& [name, file] : idx["weight_map"].items()) {
            if (!file.is_string()) throw Error(ErrorCode::kInvalidFile, index_path.string() + ": weight_map values must be file names");
            const std::string f = file.get<std::string>();
            if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
                throw Error(ErrorCode::kInvalidFile, index_path.string() + ": shard name '" + f + "' is not a plain file name");
            files.insert(f);
            weight_map[name] = f;
        }
        for (const auto& f : files) shards.push_back(root / f);
    } else {
        throw Error(ErrorCode::kIo, dir + ": no model.safetensors and no model.safetensors.index.json");
    }

    for (const fs::path& shard : shards) {
        auto mapped = std::make_shared<const MappedFile>(shard.string());
        mf.file_bytes += mapped->size();
        SafetensorsFile st(mapped);
        for (const TensorInfo& t : st.tensors()) {
            if (!weight_map.empty()) {
                auto it = weight_map.find(t.name);
                if (it != weight_map.end() && it->second != shard.filename().string()) continue;  // listed elsewhere
            }
            if (split_fused_experts(t, t.name, mf.tensors)) continue;
            TensorInfo g = t;
            g.name = hf_to_gguf_name(t.name);
            if (g.name.empty()) g.name = "hf:" + t.name;  // kept so binding can warn about it
            // the conv kernel [H, 1, K] is stored squeezed in GGUF: ne {K, H}
            if (g.name.find("shortconv.conv.weight") != std::string::npos && g.n_dims == 3 && g.ne[1] == 1) {
                g.ne = {g.ne[0], g.ne[2], 1, 1};
                g.n_dims = 2;
            }
            mf.tensors.push_back(std::move(g));
        }
        mf.mapped.push_back(std::move(mapped));
    }
    for (const auto& [name, file] : weight_map) {
        bool found = false;
        for (const auto& m : mf.mapped) {
            if (fs::path(m->path()).filename() == file) found = true;
        }
        if (!found) throw Error(ErrorCode::kIo, dir + ": shard '" + file + "' listed for '" + name + "' is missing");
    }
    mf.build_index();
    return mf;
}

}  // namespace

ModelFiles open_model_files(const std::string& path) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) throw Error(ErrorCode::kIo, path + ": no such file or directory");
    if (fs::is_directory(status)) return open_hf_dir(path);

    return open_model_files(std::make_shared<const MappedFile>(path));
}

ModelFiles open_model_files(std::shared_ptr<const MappedFile> mapped) {
    ModelFiles mf;
    mf.path = mapped->path();
    mf.format = ModelFormat::kGguf;
    mf.file_bytes = mapped->size();
    mf.gguf = std::make_unique<GgufFile>(mapped);
    if (const auto count = mf.gguf->get_int("split.count"); count && *count > 1) {
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("{}: this is shard {} of a GGUF split into {} files; merge them first with "
                                "`llama-gguf-split --merge FIRST-SHARD.gguf MERGED.gguf`",
                                mf.path, mf.gguf->get_int("split.no").value_or(0) + 1, *count));
    }
    mf.config = config_from_gguf(*mf.gguf);
    mf.tensors = mf.gguf->tensors();
    mf.mapped.push_back(std::move(mapped));
    mf.build_index();
    return mf;
}

}  // namespace lfm
