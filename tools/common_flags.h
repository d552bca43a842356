#pragma once
// Flags that several commands share (model loading, sampling), named as llama.cpp names them
// where the meaning is the same, and the small terminal helpers the commands print with.

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lfm/generate.h"
#include "lfm/hub.h"
#include "lfm/model.h"
#include "lfm/tokenizer.h"

namespace lfm::cli {

struct ModelFlags {
    std::string model;
    std::string hf;  // ORG/NAME[:QUANT] on the Hugging Face hub
    std::string chat_template_file;
    std::string kv_type = "f16";
    int threads = 0;
    int64_t ctx = 4096;
    int64_t batch = 512;
    bool no_repack = false;
};
void add_model_flags(CLI::App& app, ModelFlags& flags);
// "f16", "f32" or "q8_0" (the values --kv-type accepts) as the library's KvType.
KvType kv_type_named(const std::string& name);

struct SamplingFlags {
    SamplerConfig sampler;
    int64_t n_predict = -1;
    std::vector<std::string> stop;
    int64_t reasoning_budget = -1;
    bool no_think = false;
    bool ignore_eos = false;
    bool strict_tool_calls = false;  // calls the model starts follow the tools' grammar (chat, run)
    std::string tools_file;
    std::string system;
    std::string date;
};
void add_sampling_flags(CLI::App& app, SamplingFlags& flags);
GenerateOptions generate_options(const SamplingFlags& flags);

// Constrained output: at most one of --json-schema, --grammar, --regex, --json-object,
// --tool-choice.
struct ConstraintFlags {
    std::string json_schema_file;
    std::string grammar_file;
    std::string regex;
    bool json_object = false;
    std::string tool_choice;  // "required" or a tool's name
};
void add_constraint_flags(CLI::App& app, ConstraintFlags& flags);
// nullptr when no constraint flag is given. thinking: a forced tool call may think first.
std::shared_ptr<const Constraint> make_constraint(const ConstraintFlags& flags, const std::vector<Tool>& tools,
                                                  bool thinking, std::shared_ptr<const Tokenizer> tokenizer);

struct LoadedModel {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
    SessionOptions session;
    std::string template_source;  // from --chat-template-file; empty: the model's own
};
LoadedModel load_model(const ModelFlags& flags);
// Hub options with a progress bar on stderr (when it is a terminal).
HubOptions hub_options_with_progress();

// Token ids written as 1,2,3 or [1, 2, 3], or @FILE holding them.
std::vector<int32_t> parse_ids(const std::string& spec);
// A tool call in OpenAI's form: {"id", "type": "function", "function": {"name", "arguments": "{...}"}}.
nlohmann::ordered_json tool_call_json(const ToolCall& call);

std::string read_file(const std::string& path, const char* what);
std::vector<Tool> read_tools(const std::string& path);

// Colours only for a terminal, and never when NO_COLOR is set (no-color.org).
bool use_color(int fd);
inline constexpr const char* kDim = "\033[2m";
inline constexpr const char* kBold = "\033[1m";
inline constexpr const char* kCyan = "\033[36m";
inline constexpr const char* kReset = "\033[0m";

}  // namespace lfm::cli
