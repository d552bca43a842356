// `lfm info MODEL [--json]`

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "lfm/model.h"

namespace lfm::cli {

namespace {

std::string human_bytes(uint64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_count(uint64_t n) {
    if (n >= 1000000000ull) return fmt::format("{:.2f} B", static_cast<double>(n) / 1e9);
    if (n >= 1000000ull) return fmt::format("{:.2f} M", static_cast<double>(n) / 1e6);
    if (n >= 1000ull) return fmt::format("{:.2f} K", static_cast<double>(n) / 1e3);
    return fmt::format("{}", n);
}

nlohmann::json to_json(const ModelInfo& i) {
    nlohmann::json j;
    j["path"] = i.path;
    j["format"] = i.format;
    j["architecture"] = i.architecture;
    j["config"] = {{"n_vocab", i.n_vocab},       {"n_embd", i.n_embd},
                   {"n_layer", i.n_layer},       {"n_ctx_train", i.n_ctx_train},
                   {"n_head", i.n_head},         {"n_head_kv", i.n_head_kv},
                   {"head_dim", i.head_dim},     {"n_ff", i.n_ff},
                   {"n_ff_exp", i.n_ff_exp},     {"n_expert", i.n_expert},
                   {"n_expert_used", i.n_expert_used}, {"n_dense_layers", i.n_dense_layers},
                   {"conv_kernel", i.conv_kernel}, {"norm_eps", i.norm_eps},
                   {"rope_theta", i.rope_theta}, {"layer_types", i.layer_types},
                   {"tied_head", i.tied_head}};
    j["file_bytes"] = i.file_bytes;
    j["n_params"] = i.n_params;
    j["n_params_active"] = i.n_params_active;
    j["weight_bytes"] = i.weight_bytes;
    j["bytes_per_token"] = i.bytes_per_token;
    nlohmann::json types = nlohmann::json::object();
    for (size_t k = 0; k < i.bytes_by_type.size(); ++k)
        types[i.bytes_by_type[k].first] = {{"tensors", i.tensors_by_type[k].second}, {"bytes", i.bytes_by_type[k].second}};
    j["tensor_types"] = types;
    nlohmann::json special = nlohmann::json::array();
    for (const auto& t : i.special_tokens) special.push_back({{"role", t.role}, {"id", t.id}, {"text", t.text}});
    j["special_tokens"] = special;
    j["has_tokenizer"] = i.has_tokenizer;
    j["has_chat_template"] = i.has_chat_template;
    j["unused_tensors"] = i.unused_tensors;
    return j;
}

void print_text(const ModelInfo& i) {
    fmt::print("model         {}\n", i.path);
    fmt::print("format        {}\n", i.format);
    fmt::print("architecture  {}\n", i.architecture);
    fmt::print("file size     {} ({} bytes)\n\n", human_bytes(i.file_bytes), i.file_bytes);

    fmt::print("config\n");
    auto row = [](const char* k, const std::string& v) { fmt::print("  {:<22} {}\n", k, v); };
    row("vocab size", std::to_string(i.n_vocab));
    row("hidden size", std::to_string(i.n_embd));
    row("layers", std::to_string(i.n_layer));
    std::string kinds;
    for (const auto& t : i.layer_types) kinds += t == "attention" ? 'A' : 'C';
    row("layer types", kinds + "  (C conv, A attention)");
    row("attention heads", fmt::format("{} (kv {}, head dim {})", i.n_head, i.n_head_kv, i.head_dim));
    row("dense FFN width", fmt::format("{} (leading dense layers: {})", i.n_ff, i.n_dense_layers));
    if (i.n_expert > 0) row("experts", fmt::format("{} × FFN {}, {} used per token", i.n_expert, i.n_ff_exp, i.n_expert_used));
    row("conv kernel", std::to_string(i.conv_kernel));
    row("rope theta", fmt::format("{:g}", i.rope_theta));
    row("norm eps", fmt::format("{:g}", i.norm_eps));
    row("context length", std::to_string(i.n_ctx_train));
    row("head", i.tied_head ? "tied to token embedding" : "separate output.weight");

    fmt::print("\ntensors by type\n");
    for (size_t k = 0; k < i.bytes_by_type.size(); ++k) {
        fmt::print("  {:<6} {:>5} tensors  {:>12}\n", i.bytes_by_type[k].first, i.tensors_by_type[k].second,
                   human_bytes(i.bytes_by_type[k].second));
    }
    fmt::print("\nparameters      {} total, {} active per token ({} / {})\n", human_count(i.n_params),
               human_count(i.n_params_active), i.n_params, i.n_params_active);
    fmt::print("weights         {}, {} read per decoded token\n", human_bytes(i.weight_bytes), human_bytes(i.bytes_per_token));

    fmt::print("\nspecial tokens ");
    if (i.special_tokens.empty()) fmt::print(" (none listed)");
    for (const auto& t : i.special_tokens) fmt::print(" {}={} {}", t.role, t.id, t.text.empty() ? "" : "'" + t.text + "'");
    fmt::print("\ntokenizer       {}\nchat template   {}\n", i.has_tokenizer ? "present" : "absent",
               i.has_chat_template ? "embedded" : "none (the built-in LFM2.5 template will be used)");
    if (!i.unused_tensors.empty()) fmt::print("unused tensors  {}\n", i.unused_tensors.size());
}

}  // namespace

Command add_info(CLI::App& app) {
    struct Opts {
        std::string model;
        bool json = false;
    };
    auto o = std::make_shared<Opts>();
    app.add_option("model", o->model, "GGUF file or Hugging Face model directory");
    app.add_option("-m,--model", o->model, "same as the positional MODEL");
    app.add_flag("--json", o->json, "print as JSON");
    return [o] {
        if (o->model.empty()) throw Error(ErrorCode::kInvalidArgument, "info needs a MODEL (a GGUF file or a Hugging Face directory)");
        ModelOptions mo;
        mo.repack = false;  // describing a file needs no rewritten copy of its weights
        const auto model = Model::load(o->model, mo);
        const ModelInfo& i = model->info();
        for (const auto& name : i.unused_tensors) fmt::print(stderr, "lfm: warning: tensor '{}' is not used by the model\n", name);
        if (o->json) {
            fmt::print("{}\n", to_json(i).dump(2));
        } else {
            print_text(i);
        }
        return 0;
    };
}

}  // namespace lfm::cli
