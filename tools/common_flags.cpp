#include "common_flags.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lfm::cli {

KvType kv_type_named(const std::string& name) {
    if (name == "f32") return KvType::kF32;
    if (name == "q8_0") return KvType::kQ8_0;
    return KvType::kF16;
}

void add_model_flags(CLI::App& app, ModelFlags& f) {
    auto* m = app.add_option("-m,--model", f.model, "GGUF file or Hugging Face model directory");
    app.add_option("--hf-repo", f.hf, "-hf ORG/NAME[:QUANT]: a GGUF from the Hugging Face hub (cached; downloaded once)")
        ->excludes(m);
    app.add_option("-t,--threads", f.threads, "threads (default: one per physical core)")->check(CLI::Range(1, 4096));
    app.add_option("-c,--ctx-size", f.ctx, "context size in tokens (default 4096)")->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
    app.add_option("-b,--batch-size", f.batch, "prompt tokens per forward pass (default 512)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
    app.add_option("--kv-type", f.kv_type, "KV cache type: f16 (default), f32 or q8_0 (half of f16's memory)")
        ->check(CLI::IsMember({"f16", "f32", "q8_0"}));
    app.add_flag("--no-repack", f.no_repack, "use the weights as stored (no 8-row repacking at load)");
    app.add_option("--chat-template-file", f.chat_template_file, "a Jinja chat template to use instead of the model's");
}

void add_sampling_flags(CLI::App& app, SamplingFlags& f) {
    SamplerConfig& s = f.sampler;
    app.add_option("-n,--n-predict", f.n_predict, "tokens to generate at most (-1: until the end of the turn)")
        ->check(CLI::Range(int64_t{-1}, int64_t{1} << 24));
    app.add_option("--temp", s.temperature, "temperature; 0 is greedy (default 0.2)")->check(CLI::Range(0.0f, 100.0f));
    app.add_option("--top-k", s.top_k, "keep the k most likely tokens; 0: off (default 80)")->check(CLI::Range(0, 1 << 24));
    app.add_option("--top-p", s.top_p, "nucleus sampling; 1: off (default 1)")->check(CLI::Range(0.0f, 1.0f));
    app.add_option("--min-p", s.min_p, "drop tokens below min-p x the top probability (default 0)")->check(CLI::Range(0.0f, 1.0f));
    app.add_option("--repeat-penalty", s.repetition_penalty, "repetition penalty; 1: off (default 1.05)")
        ->check(CLI::Range(0.01f, 100.0f));
    app.add_option("--repeat-last-n", s.repeat_last_n, "tokens the penalty looks back over; -1: all (default 64)")
        ->check(CLI::Range(-1, 1 << 24));
    app.add_option("-s,--seed", s.seed, "random seed (default: a fresh one)");
    app.add_option("--stop", f.stop, "stop before this text (may be repeated)");
    app.add_option("--reasoning-budget", f.reasoning_budget, "thinking tokens before the answer is forced; -1: no limit")
        ->check(CLI::Range(int64_t{-1}, int64_t{1} << 24));
    app.add_flag("--ignore-eos", f.ignore_eos, "go on past the end-of-turn token (until -n or a full context)");
    app.add_flag("--no-think", f.no_think, "ask for the answer without thinking (prefills an empty <think></think>)");
    app.add_option("--tools", f.tools_file, "a JSON list of OpenAI-style function schemas the model may call");
    app.add_flag("--strict-tool-calls", f.strict_tool_calls,
                 "a tool call the model starts (<|tool_call_start|>) must name a declared tool with arguments that match its schema");
    app.add_option("--system", f.system, "system prompt");
    app.add_option("--date", f.date, "the date the template sees, YYYY-MM-DD (default: today)");
}

void add_constraint_flags(CLI::App& app, ConstraintFlags& f) {
    auto* schema = app.add_option("--json-schema", f.json_schema_file, "the output is JSON matching this JSON Schema file");
    auto* grammar = app.add_option("--grammar", f.grammar_file, "the output matches this GBNF grammar file (llama.cpp's format)")
                        ->excludes(schema);
    auto* regex = app.add_option("--regex", f.regex, "the output matches this regular expression")->excludes(schema)->excludes(grammar);
    auto* object = app.add_flag("--json-object", f.json_object, "the output is a JSON object (any)")
                       ->excludes(schema)->excludes(grammar)->excludes(regex);
    app.add_option("--tool-choice", f.tool_choice, "required (call one or more of --tools) or a tool's name (call it)")
        ->excludes(schema)->excludes(grammar)->excludes(regex)->excludes(object);
}

std::shared_ptr<const Constraint> make_constraint(const ConstraintFlags& f, const std::vector<Tool>& tools, bool thinking,
                                                  std::shared_ptr<const Tokenizer> tokenizer) {
    auto where = [](const std::string& path, const Error& e) { return Error(e.code(), path + ": " + e.what()); };
    if (!f.json_schema_file.empty()) {
        const std::string text = read_file(f.json_schema_file, "JSON schema");
        try {
            return Constraint::json_schema(text, tokenizer);
        } catch (const Error& e) {
            throw where(f.json_schema_file, e);
        }
    }
    if (!f.grammar_file.empty()) {
        const std::string text = read_file(f.grammar_file, "grammar");
        try {
            return Constraint::gbnf(text, tokenizer);
        } catch (const Error& e) {
            throw where(f.grammar_file, e);
        }
    }
    if (!f.regex.empty()) return Constraint::regex(f.regex, tokenizer);
    if (f.json_object) return Constraint::json_object(tokenizer);
    if (!f.tool_choice.empty()) {
        if (tools.empty()) throw Error(ErrorCode::kInvalidArgument, "--tool-choice needs --tools FILE");
        return Constraint::tool_call(tools, f.tool_choice == "required" ? "" : f.tool_choice, thinking, tokenizer);
    }
    return nullptr;
}

GenerateOptions generate_options(const SamplingFlags& f) {
    GenerateOptions o;
    o.sampler = f.sampler;
    o.max_tokens = f.n_predict;
    o.stop = f.stop;
    o.reasoning_budget = f.no_think ? 0 : f.reasoning_budget;
    o.ignore_eos = f.ignore_eos;
    o.strict_tool_calls = f.strict_tool_calls;
    return o;
}

HubOptions hub_options_with_progress() {
    HubOptions o;
    if (::isatty(STDERR_FILENO)) {
        o.progress = [last = -1](uint64_t done, uint64_t total) mutable {
            const int percent = total > 0 ? static_cast<int>(100 * done / total) : 0;
            if (percent == last) return;
            last = percent;
            const int width = 30, filled = width * percent / 100;
            std::fprintf(stderr, "\r[%s%s] %3d%%  %.1f / %.1f MB", std::string(static_cast<size_t>(filled), '#').c_str(),
                         std::string(static_cast<size_t>(width - filled), ' ').c_str(), percent, done / 1e6, total / 1e6);
            if (percent == 100) std::fputc('\n', stderr);
            std::fflush(stderr);
        };
    }
    return o;
}

LoadedModel load_model(const ModelFlags& flags) {
    ModelFlags f = flags;
    if (f.model.empty() && f.hf.empty()) throw Error(ErrorCode::kInvalidArgument, "no model: give -m FILE or -hf ORG/NAME[:QUANT]");
    if (!f.hf.empty()) f.model = hub_fetch(f.hf, hub_options_with_progress());
    LoadedModel m;
    if (!f.chat_template_file.empty()) m.template_source = read_file(f.chat_template_file, "chat template");
    ModelOptions mo;
    mo.repack = !f.no_repack;
    mo.n_threads = f.threads;
    m.model = Model::load(f.model, mo);
    if (!m.model->info().has_tokenizer)
        throw Error(ErrorCode::kInvalidFile, f.model + ": the model has no tokenizer (GGUF tokenizer.ggml.* or tokenizer.json)");
    m.tokenizer = m.model->tokenizer();  // from the file already parsed: not read a second time
    m.session.n_ctx = f.ctx;
    m.session.n_batch = f.batch;
    m.session.kv_type = kv_type_named(f.kv_type);
    m.session.n_threads = f.threads;
    return m;
}

std::string read_file(const std::string& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorCode::kIo, path + ": cannot open the " + what + " file");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<Tool> read_tools(const std::string& path) {
    const std::string text = read_file(path, "tools");
    try {
        return Tool::parse_list(text);
    } catch (const Error& e) {
        throw Error(e.code(), path + ": " + e.what());
    }
}

std::vector<int32_t> parse_ids(const std::string& spec) {
    std::string text = spec;
    if (!spec.empty() && spec[0] == '@') {
        std::ifstream in(spec.substr(1));
        if (!in) throw Error(ErrorCode::kIo, spec.substr(1) + ": cannot open the token id file");
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    std::replace_if(text.begin(), text.end(), [](char ch) { return ch == ',' || ch == '[' || ch == ']'; }, ' ');
    std::istringstream in(text);
    std::vector<int32_t> ids;
    std::string word;
    while (in >> word) {
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(word, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != word.size() || v < 0 || v > INT32_MAX)
            throw Error(ErrorCode::kInvalidArgument, "'" + word + "' is not a token id (expected a non-negative integer)");
        ids.push_back(static_cast<int32_t>(v));
    }
    if (ids.empty()) throw Error(ErrorCode::kInvalidArgument, "no token ids given");
    return ids;
}

nlohmann::ordered_json tool_call_json(const ToolCall& c) {
    nlohmann::ordered_json j;
    j["id"] = c.id;
    j["type"] = "function";
    j["function"] = {{"name", c.name}, {"arguments", c.arguments}};
    return j;
}

bool use_color(int fd) {
    const char* no_color = std::getenv("NO_COLOR");
    if (no_color != nullptr && *no_color != '\0') return false;
    return ::isatty(fd) != 0;
}

}  // namespace lfm::cli
