// Loading a tokenizer from GGUF metadata (tokenizer.ggml.*) or from Hugging Face files
// (tokenizer.json + tokenizer_config.json), tokenizer-and-chat.md §1.1.

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../io/gguf.h"
#include "../io/json_file.h"
#include "tokenizer_impl.h"

namespace fs = std::filesystem;

namespace lfm {

namespace {

[[noreturn]] void bad(const std::string& source, const std::string& what) {
    throw Error(ErrorCode::kInvalidFile, source + ": " + what);
}

std::pair<std::string_view, std::string_view> split_merge(std::string_view m, const std::string& source) {
    const size_t sp = m.find(' ', 1);  // a merge's left side is never empty
    if (sp == std::string_view::npos) bad(source, fmt::format("merge '{}' is not two tokens separated by a space", m));
    return {m.substr(0, sp), m.substr(sp + 1)};
}

// Split pattern for a GGUF tokenizer.ggml.pre value.
std::string pattern_for_pre(std::string_view pre, const std::string& source, bool& ignore_merges) {
    if (pre == "lfm2" || pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") {
        ignore_merges = true;
        return kLlama3SplitPattern;
    }
    if (pre == "default" || pre == "gpt2" || pre.empty()) return kGpt2SplitPattern;
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: pre-tokenizer '{}' is not supported (lfm knows lfm2, llama-bpe and gpt2)", source, pre));
}


// A special-token entry of tokenizer_config.json: a string or {"content": string}.
std::optional<std::string> token_string(const nlohmann::json& cfg, const char* key) {
    if (!cfg.is_object() || !cfg.contains(key)) return std::nullopt;
    const auto& v = cfg[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return std::nullopt;
}

// The Split regex of a tokenizer.json pre_tokenizer (possibly inside a Sequence), or GPT-2's
// pattern for a bare ByteLevel with use_regex.
std::optional<std::string> split_pattern(const nlohmann::json& pre) {
    if (!pre.is_object()) return std::nullopt;
    const std::string type = pre.value("type", "");
    if (type == "Sequence" && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
        for (const auto& p : pre["pretokenizers"])
            if (auto s = split_pattern(p)) return s;
        return std::nullopt;
    }
    if (type == "Split" && pre.contains("pattern") && pre["pattern"].is_object() && pre["pattern"].contains("Regex") &&
        pre["pattern"]["Regex"].is_string())
        return pre["pattern"]["Regex"].get<std::string>();
    if (type == "ByteLevel" && pre.value("use_regex", true)) return std::string(kGpt2SplitPattern);
    return std::nullopt;
}

}  // namespace

std::shared_ptr<const Tokenizer> tokenizer_from_gguf(const GgufFile& g) {
    auto t = std::make_unique<Tokenizer::Impl>();
    t->source = g.path();
    const auto model = g.get_string("tokenizer.ggml.model");
    if (!model) bad(t->source, "no tokenizer in this file (missing 'tokenizer.ggml.model')");
    if (*model != "gpt2") {
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("{}: tokenizer model '{}' is not supported (LFM2 uses byte-level BPE, 'gpt2')", t->source, *model));
    }
    const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->type != GgufType::kArray || tokens->elem_type != GgufType::kString)
        bad(t->source, "'tokenizer.ggml.tokens' must be an array of strings");
    for (std::string_view s : tokens->strings()) t->tokens.emplace_back(s);
    if (const GgufValue* types = g.find("tokenizer.ggml.token_type")) {
        const auto v = types->ints();
        if (v.size() != t->tokens.size())
            bad(t->source, fmt::format("'tokenizer.ggml.token_type' has {} entries for {} tokens", v.size(), t->tokens.size()));
        for (int64_t x : v) t->types.push_back(static_cast<TokenType>(x));
    }
    std::vector<std::pair<std::string_view, std::string_view>> merges;  // views into the mapped file
    if (const GgufValue* m = g.find("tokenizer.ggml.merges")) {
        if (m->type != GgufType::kArray || m->elem_type != GgufType::kString) bad(t->source, "'tokenizer.ggml.merges' must be strings");
        merges.reserve(m->count);
        for (std::string_view s : m->strings()) merges.push_back(split_merge(s, t->source));
    }
    const std::string pre(g.get_string("tokenizer.ggml.pre").value_or("default"));
    t->pretokenizer = std::make_unique<PreTokenizer>(pattern_for_pre(pre, t->source, t->ignore_merges));
    auto id_key = [&](const char* key) -> std::optional<int32_t> {
        auto v = g.get_int(key);
        if (!v) return std::nullopt;
        if (*v < 0 || *v >= static_cast<int64_t>(t->tokens.size()))
            bad(t->source, fmt::format("'{}' = {} is not a token id", key, *v));
        return static_cast<int32_t>(*v);
    };
    t->bos = id_key("tokenizer.ggml.bos_token_id");
    t->eos = id_key("tokenizer.ggml.eos_token_id");
    t->add_bos = g.get_bool("tokenizer.ggml.add_bos_token").value_or(true) && t->bos.has_value();
    t->chat_template = std::string(g.get_string("tokenizer.chat_template").value_or(""));
    t->build(merges);
    return make_tokenizer(std::move(t));
}

// chat_template.jinja (newer exports) or tokenizer_config.json's chat_template: a string, or a
// list of {"name", "template"} of which "default" is the chat one.
static std::string hf_chat_template(const std::string& dir, const nlohmann::json& cfg) {
    const fs::path jinja_path = fs::path(dir) / "chat_template.jinja";
    if (fs::exists(jinja_path)) {
        std::ifstream in(jinja_path, std::ios::binary);
        if (!in) throw Error(ErrorCode::kIo, jinja_path.string() + ": cannot read");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    if (!cfg.is_object() || !cfg.contains("chat_template")) return "";
    const auto& t = cfg["chat_template"];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_array())
        for (const auto& e : t)
            if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string())
                return e["template"].get<std::string>();
    return "";
}

std::shared_ptr<const Tokenizer> tokenizer_from_hf(const std::string& tokenizer_json, const std::string& dir) {
    auto t = std::make_unique<Tokenizer::Impl>();
    t->source = tokenizer_json;
    const nlohmann::json j = read_json_file(tokenizer_json);
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) bad(t->source, "no 'model' object");
    const auto& m = j["model"];
    if (m.value("type", "BPE") != "BPE")
        throw Error(ErrorCode::kUnsupported, t->source + ": tokenizer model '" + m.value("type", "") + "' is not BPE");
    if (!m.contains("vocab") || !m["vocab"].is_object()) bad(t->source, "model.vocab must be an object");
    const auto& vocab = m["vocab"];
    int64_t max_id = -1;
    for (const auto& [text, id] : vocab.items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 24))
            bad(t->source, "vocab id of '" + text + "' is not a valid token id");
        max_id = std::max(max_id, id.get<int64_t>());
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
        for (const auto& a : j["added_tokens"])
            if (a.contains("id") && a["id"].is_number_integer()) max_id = std::max(max_id, a["id"].get<int64_t>());
    }
    t->tokens.resize(static_cast<size_t>(max_id + 1));
    t->types.assign(t->tokens.size(), TokenType::kNormal);
    std::vector<bool> present(t->tokens.size(), false);
    for (const auto& [text, id] : vocab.items()) {
        t->tokens[id.get<size_t>()] = text;
        present[id.get<size_t>()] = true;
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
        for (const auto& a : j["added_tokens"]) {
            if (!a.is_object() || !a.contains("id") || !a.contains("content") || !a["content"].is_string()) continue;
            const auto id = a["id"].get<size_t>();
            t->tokens[id] = a["content"].get<std::string>();
            t->types[id] = a.value("special", false) ? TokenType::kControl : TokenType::kUserDefined;
            present[id] = true;
        }
    }
    for (size_t i = 0; i < present.size(); ++i) {
        if (!present[i]) {
            t->tokens[i] = fmt::format("<|unused_{}|>", i);
            t->types[i] = TokenType::kUnused;
        }
    }
    std::vector<std::pair<std::string_view, std::string_view>> merges;  // views into `j`
    if (m.contains("merges") && m["merges"].is_array()) {
        for (const auto& e : m["merges"]) {
            if (e.is_string()) merges.push_back(split_merge(e.get_ref<const std::string&>(), t->source));
            else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string())
                merges.emplace_back(e[0].get_ref<const std::string&>(), e[1].get_ref<const std::string&>());
            else bad(t->source, "a merge is neither \"a b\" nor [\"a\", \"b\"]");
        }
    }
    t->ignore_merges = m.value("ignore_merges", false);
    const auto pattern = split_pattern(j.value("pre_tokenizer", nlohmann::json()));
    if (!pattern) throw Error(ErrorCode::kUnsupported, t->source + ": pre_tokenizer has no Split regex or ByteLevel regex");
    t->pretokenizer = std::make_unique<PreTokenizer>(*pattern);

    // BOS/EOS strings from tokenizer_config.json, ids from config.json as a fallback
    const fs::path cfg_path = fs::path(dir) / "tokenizer_config.json";
    const nlohmann::json cfg = fs::exists(cfg_path) ? read_json_file(cfg_path) : nlohmann::json();
    t->build(merges);
    auto lookup = [&](const std::optional<std::string>& s) -> std::optional<int32_t> {
        if (!s) return std::nullopt;
        return t->id_of(*s);
    };
    t->bos = lookup(token_string(cfg, "bos_token"));
    t->eos = lookup(token_string(cfg, "eos_token"));
    const fs::path config_path = fs::path(dir) / "config.json";
    if ((!t->bos || !t->eos) && fs::exists(config_path)) {
        const nlohmann::json c = read_json_file(config_path);
        auto id_of = [&](const char* key) -> std::optional<int32_t> {
            if (!c.contains(key) || !c[key].is_number_integer()) return std::nullopt;
            const auto v = c[key].get<int64_t>();
            return v >= 0 && v < static_cast<int64_t>(t->tokens.size()) ? std::optional<int32_t>(static_cast<int32_t>(v)) : std::nullopt;
        };
        if (!t->bos) t->bos = id_of("bos_token_id");
        if (!t->eos) t->eos = id_of("eos_token_id");
    }
    t->add_bos = cfg.is_object() && cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()
                     ? cfg["add_bos_token"].get<bool>()
                     : t->bos.has_value();
    t->add_bos = t->add_bos && t->bos.has_value();
    t->chat_template = hf_chat_template(dir, cfg);
    return make_tokenizer(std::move(t));
}

std::shared_ptr<const Tokenizer> Tokenizer::load(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(ErrorCode::kIo, path + ": no such file or directory");
    if (fs::is_directory(path)) {
        const fs::path tj = fs::path(path) / "tokenizer.json";
        if (!fs::exists(tj)) throw Error(ErrorCode::kIo, path + ": directory has no tokenizer.json");
        return tokenizer_from_hf(tj.string(), path);
    }
    if (fs::path(path).extension() == ".json") return tokenizer_from_hf(path, fs::path(path).parent_path().string());
    const GgufFile g(std::make_shared<const MappedFile>(path));
    return tokenizer_from_gguf(g);
}

}  // namespace lfm
