#pragma once
// OpenAI's wire format, both ways, without sockets: a request body becomes a Job (the prompt's
// tokens and the generation options), and results become response objects and stream chunks.
// Every malformed request is an ApiError (a 4xx naming the field), never an exception of
// another kind.

#include <nlohmann/json.hpp>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api_error.h"
#include "lfm/constrain.h"
#include "lfm/generate.h"

namespace lfm::serve {

using json = nlohmann::ordered_json;

// Compiled constraints by what they were compiled from: strict tool calls per tool list, a forced
// tool call per tool list and choice, a response format per schema. Agents send the same ones
// with every request: compiled once, and the constraint's mask cache, shared by every request
// thread, stays warm. A refusal is remembered too. Bounded: the least recently used goes first.
class ConstraintCache {
public:
    explicit ConstraintCache(size_t capacity = 16) : capacity_(capacity) {}
    struct Entry {
        std::shared_ptr<const Constraint> constraint;  // null when refused
        std::string error;                             // the refusal (strict tools: "tools[i] ('name'): ...")
    };
    // The entry for key, compiling it (outside the lock: other keys need not wait) when absent.
    Entry get(const std::string& key, const std::function<Entry()>& compile);
    int64_t compiles() const;  // constraints compiled so far (hits do not count)

private:
    struct Item {
        std::string key;
        Entry entry;
    };
    size_t capacity_;
    mutable std::mutex mutex_;
    std::list<Item> items_;  // most recently used first
    int64_t compiles_ = 0;
};

// What the server knows that requests need.
struct ApiContext {
    std::shared_ptr<const Tokenizer> tokenizer;
    const ChatTemplate* chat_template = nullptr;
    GenerateOptions defaults;     // the command line's sampling defaults
    int64_t n_ctx = 4096;         // tokens per slot
    std::string model_name;
    size_t max_json_depth = 64;
    // Strict tool calls (defaults.strict_tool_calls, or a tool's "strict": true) take their
    // constraints from here; null: each request compiles its own.
    std::shared_ptr<ConstraintCache> constraints;  // null: compile for each request
};

// One request, ready for a slot.
struct Request {
    enum class Kind { kChat, kCompletion };
    Kind kind = Kind::kChat;
    std::vector<int32_t> prompt;
    GenerateOptions options;
    bool stream = false;
    bool include_usage = false;
    int top_logprobs = -1;  // -1: no logprobs; 0..20
    bool echo = false;      // completions: the prompt text first
    std::string prompt_text;
    std::vector<std::string> warnings;  // for the server's log (a strict tool list it could not enforce)
};

// A conversation to render, whichever API it came in: the shared half of chat requests.
struct ChatSpec {
    std::vector<Message> messages;
    std::vector<Tool> tools;
    bool force_tool = false;     // a tool call is required
    std::string tool_name;       // the one to call; empty: any declared tool
    bool strict_tools = false;   // a tool said "strict": true: its calls follow its schema, or 400
    bool thinking = true;        // false: "<think></think>" is prefilled
    int64_t thinking_budget = -1;
    RenderOptions render;
    enum class Format { kText, kJsonObject, kJsonSchema } format = Format::kText;
    std::string schema;          // kJsonSchema
};
// Tools written flat, {"name", "description", <schema_key>: JSON Schema} (Anthropic's with
// "input_schema", the Responses API's with "parameters" and "type": "function" when typed).
std::vector<Tool> flat_tools(const json& tools, const char* schema_key, bool typed);
// Whether a tool says "strict": true (OpenAI chat: in its "function", in_function; Responses:
// on the tool itself); a "strict" that is not a boolean is ApiError(400).
bool strict_tools(const json& tools, bool in_function);
// Renders, tokenizes and constrains the conversation into r (r.options already holds the sampling).
void build_chat(const ChatSpec& spec, const ApiContext& ctx, Request& r);

// The body parsed as JSON within the depth limit; ApiError(400) naming the problem otherwise.
json parse_body(const std::string& body, size_t max_depth);

Request parse_chat_request(const json& body, const ApiContext& ctx);
Request parse_anthropic_request(const json& body, const ApiContext& ctx);
Request parse_responses_request(const json& body, const ApiContext& ctx);
// The sampling fields shared by the OpenAI requests (temperature, top_p, max_tokens, stop, ...).
void parse_sampling(const json& body, const ApiContext& ctx, Request& r);
Request parse_completion_request(const json& body, const ApiContext& ctx);
// The conversation as the model sees it ({"messages", "tools", ...} like a chat request).
std::string apply_template(const json& body, const ApiContext& ctx);

// A token's log probability and the most likely alternatives, from the logits it was sampled from.
struct TokenLogprob {
    int32_t id = 0;
    float logprob = 0;
    std::vector<std::pair<int32_t, float>> top;
};
TokenLogprob token_logprob(std::span<const float> logits, int32_t id, int top_n);
json logprob_json(const TokenLogprob& lp, const Tokenizer& tokenizer);

// JSON text as the server writes it: a string that is not UTF-8 (a model's partial character, an
// echoed prompt of token ids) gets U+FFFD where nlohmann's dump() would throw.
std::string to_text(const json& j);

// "stop", "length" or "tool_calls".
std::string finish_reason(const GenerateResult& result);
json usage_json(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens);
json tool_calls_json(const std::vector<ToolCall>& calls);

}  // namespace lfm::serve
