#pragma once
// Generating text: the sampler chain, the generation loop with its stop rules, and Chat, a
// conversation that renders the model's own template and reuses the KV cache between turns.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lfm/chat.h"
#include "lfm/constrain.h"
#include "lfm/error.h"
#include "lfm/model.h"
#include "lfm/tokenizer.h"

namespace lfm {

// Defaults are LFM2.5-8B-A1B's model card: temperature 0.2, top-k 80, repetition penalty 1.05.
// Order (as Hugging Face): penalty -> temperature -> top-k -> top-p -> min-p -> sample.
struct SamplerConfig {
    static constexpr uint64_t kRandomSeed = ~uint64_t{0};

    float temperature = 0.2f;          // 0: greedy (the highest logit, ties to the lowest id)
    int top_k = 80;                    // keep the k most likely tokens; 0: off
    float top_p = 1.0f;                // keep the smallest set with this much probability; 1: off
    float min_p = 0.0f;                // drop tokens below min_p x the top probability; 0: off
    float repetition_penalty = 1.05f;  // HF's rule on each distinct recent token; 1: off
    int repeat_last_n = 64;            // tokens the penalties look back over (llama.cpp's default); -1: all
    // OpenAI's penalties over the same window: logit -= frequency × count + presence × (count > 0)
    float frequency_penalty = 0.0f;
    float presence_penalty = 0.0f;
    uint64_t seed = kRandomSeed;       // kRandomSeed: a fresh one each run

    void validate() const;  // throws lfm::Error naming the field out of range
};

class Sampler {
public:
    explicit Sampler(const SamplerConfig& config);
    // The next token. history: the sequence so far, prompt included (for the penalty).
    // Partial selection only: the cost is one pass over the logits plus work on k candidates.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
    // The same over the allowed tokens only (bit id % 64 of allowed[id / 64]; at least one set):
    // the mask comes first, so top-k, top-p and min-p choose among allowed tokens.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history, std::span<const uint64_t> allowed);
    const SamplerConfig& config() const { return config_; }
    uint64_t seed() const { return seed_; }

private:
    void select_top(std::span<const float> logits, size_t m);
    SamplerConfig config_;
    uint64_t seed_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int32_t>> candidates_;  // (logit, id)
    std::vector<std::pair<int32_t, float>> penalized_;   // (id, penalized logit), by id
    std::vector<int32_t> recent_;                        // the penalty window, sorted
    std::vector<float> probs_;
    std::vector<float> masked_;          // logits of the allowed tokens
    std::vector<int32_t> masked_ids_;    // their ids
    std::vector<int32_t> masked_history_;
};

enum class StopReason { kEndOfTurn, kMaxTokens, kStopString, kContextFull, kCancelled };
const char* to_string(StopReason reason);  // "end_of_turn", "max_tokens", ...

struct Timings {
    int64_t prompt_tokens = 0;
    double prompt_ms = 0;
    int64_t generated_tokens = 0;
    double generate_ms = 0;
    double prompt_tokens_per_second() const { return prompt_ms > 0 ? prompt_tokens * 1000.0 / prompt_ms : 0; }
    double generate_tokens_per_second() const {
        return generate_ms > 0 ? generated_tokens * 1000.0 / generate_ms : 0;
    }
};

struct GenerateOptions {
    SamplerConfig sampler;
    int64_t max_tokens = -1;         // -1: until the end of turn or a full context
    std::vector<std::string> stop;   // stop strings; the output ends before them
    // Thinking tokens allowed before </think> is forced and the answer begins; -1: no limit.
    // 0 in Chat also prefills an empty <think></think>, so the model does not think at all.
    int64_t reasoning_budget = -1;
    bool parse_reply = true;         // split reasoning / content / tool calls; false: all is content
    bool starts_in_reasoning = false;  // the prompt ends inside <think>
    std::vector<Tool> tools;         // names the tool-call parser accepts (empty: any)
    bool ignore_eos = false;         // go on past the end-of-turn token (benchmarks, tests)
    const std::atomic<bool>* cancel = nullptr;  // set it (from any thread) to stop after this token
    // Output that must match a JSON Schema, grammar, regex or tool call (lfm/constrain.h): each
    // token is sampled among those it allows, and generation ends (end_of_turn) once it is
    // complete and only the end may follow. Made for the same vocabulary as the tokenizer.
    std::shared_ptr<const Constraint> constraint;
    // Tool calls the model starts on its own: from the <|tool_call_start|> it samples to the
    // <|tool_call_end|> that closes the call, tokens follow this constraint (Constraint::tool_call
    // for the declared tools, name ""); before and after, the reply is free, and
    // each further call is held to it again. Not used while `constraint` is set.
    std::shared_ptr<const Constraint> tool_call_constraint;
    // Chat: when tool_call_constraint is not set, make it from the conversation's tools (and
    // keep it while they stay the same). generate() itself reads tool_call_constraint only.
    bool strict_tool_calls = false;
};

struct GenerateEvents {
    std::function<void(std::string_view)> reasoning;
    std::function<void(std::string_view)> content;
    std::function<void(const ToolCall&)> tool_call;
    std::function<void(int32_t)> token;  // every generated id, the end-of-turn token included
};

struct GenerateResult {
    ParsedReply reply;             // reasoning, content and tool calls
    std::string text;              // everything generated, as text (stop string and end token excluded)
    // Every id the loop added after the prompt (sampled ones, and the </think> a reasoning budget
    // forced), in order; all are in the session but the last one when the stop reason is
    // end_of_turn, stop_string or context_full.
    std::vector<int32_t> tokens;
    StopReason stop_reason = StopReason::kEndOfTurn;
    Timings timings;
    int64_t cached_tokens = 0;     // Chat: prompt tokens the session already held (not run again)
    int64_t messages_dropped = 0;  // Chat: oldest messages dropped so the conversation fits the context
};

// Appends prompt to what the session holds (it may be empty when the session's logits are
// current), then samples until a stop rule fires. Stops on the end-of-turn token (<|im_end|>),
// <|endoftext|> and the file's EOS; their text is not output. The repetition penalty looks back
// over the whole sequence the session holds.
GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const GenerateEvents& events = {});

// A conversation with the model through its chat template. Each reply renders the whole
// conversation and the session keeps the longest prefix it shares with what it holds (the usual
// next turn, but also an edited or dropped message), going back to a checkpoint where needed:
// one is taken at the start of each turn's new tokens and at the end of each prompt. When the
// conversation no longer fits the context, the oldest turns are dropped (never the system prompt
// or the tools). Not thread-safe.
class Chat {
public:
    struct Options {
        SessionOptions session;
        std::string template_source;  // empty: the model file's own, else the built-in LFM2.5 one
        RenderOptions render;         // date, preserve_thinking, extra variables
        // Tokens kept free for the reply when old turns must be dropped to fit the context
        // (0: a quarter of the context, or max_tokens when that is less).
        int64_t reply_room = 0;
    };
    Chat(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer, Options options);
    Chat(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer)
        : Chat(std::move(model), std::move(tokenizer), Options()) {}
    // The tokenizer of the model's own file.
    Chat(std::shared_ptr<const Model> model, Options options);
    ~Chat();

    void set_system(std::string text);  // "" removes it
    void set_tools(std::vector<Tool> tools);
    const std::vector<Tool>& tools() const;

    // Adds a user (or tool-result) message and generates the assistant's reply, which is added
    // to the conversation with its reasoning and tool calls.
    GenerateResult send(Message message, const GenerateOptions& options, const GenerateEvents& events = {});
    GenerateResult send(std::string user_text, const GenerateOptions& options, const GenerateEvents& events = {}) {
        return send(Message::user(std::move(user_text)), options, events);
    }
    // The same in two steps, for turns of several messages (the results of several tool calls).
    void add_message(Message message);
    GenerateResult reply(const GenerateOptions& options, const GenerateEvents& events = {});

    void reset();  // forgets every message but the system prompt
    // Keeps the first n messages (n <= messages().size()): to edit or regenerate, truncate and
    // add or reply again; the session keeps what the shorter conversation still shares.
    void truncate(size_t n);
    // The conversation (messages, tools) and the session's state in one file (Session::save);
    // load restores both and refuses a file made with another model.
    void save(const std::string& path) const;
    void load(const std::string& path);
    const std::vector<Message>& messages() const;
    std::string render_prompt(bool add_generation_prompt = true) const;  // what the model is shown
    int64_t context_used() const;
    int64_t context_size() const;
    const ChatTemplate& chat_template() const;
    const std::shared_ptr<const Tokenizer>& tokenizer() const;
    const Session& session() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace lfm
