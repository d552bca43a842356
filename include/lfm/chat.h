#pragma once
// Conversations with an LFM model: messages, tools and tool calls; the model's own chat
// template rendered exactly (../shared/spec/tokenizer-and-chat.md §2); the reply split into
// reasoning, content and Pythonic tool calls (§3), all at once or token by token as it streams.

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lfm/error.h"
#include "lfm/tokenizer.h"

namespace lfm {

// One call the model asked for. arguments is a JSON object as text, in the order written
// (OpenAI's wire format: {"name": ..., "arguments": "{...}"}).
struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments = "{}";
};

// A part of a message whose content is a list ({"type": "text", "text": ...} or an image).
struct ContentPart {
    std::string type = "text";
    std::string text;
};

struct Message {
    std::string role;                  // "system", "user", "assistant", "tool"
    std::string content;
    std::vector<ContentPart> parts;    // when not empty, the content is this list instead
    std::optional<std::string> thinking;  // an assistant's reasoning (the template's `thinking`)
    std::vector<ToolCall> tool_calls;  // an assistant's calls
    std::string tool_call_id;          // a tool result: the call it answers (optional)

    static Message system(std::string text) { return make("system", std::move(text)); }
    static Message user(std::string text) { return make("user", std::move(text)); }
    static Message assistant(std::string text) { return make("assistant", std::move(text)); }
    static Message tool(std::string result) { return make("tool", std::move(result)); }

    // A JSON list of messages in OpenAI's chat format: {"role", "content" (a string or a list of
    // {"type": "text", "text"} parts), "reasoning_content", "tool_calls": [{"id", "type":
    // "function", "function": {"name", "arguments": "<JSON text>"}}], "tool_call_id"}. Throws
    // lfm::Error naming the message and the field that is wrong.
    static std::vector<Message> parse_list(std::string_view json_text);
    static std::string list_to_json(std::span<const Message> messages);

private:
    static Message make(std::string role, std::string text) {
        Message m;
        m.role = std::move(role);
        m.content = std::move(text);
        return m;
    }
};

// A function the model may call: an OpenAI-style schema. parameters is a JSON schema as text.
struct Tool {
    std::string name;
    std::string description;
    std::string parameters = R"({"type": "object", "properties": {}})";
    // The tool object exactly as the user wrote it, when it came from JSON; the template prints
    // it as given. Empty: {"type": "function", "function": {name, description, parameters}}.
    std::string json;

    std::string to_json() const;
    // A JSON list of tools: OpenAI objects ({"type": "function", "function": {...}}) or bare
    // {"name", "description", "parameters"} objects. Throws lfm::Error naming what is wrong.
    static std::vector<Tool> parse_list(std::string_view json_text);
};

struct RenderOptions {
    bool add_generation_prompt = true;
    bool preserve_thinking = false;  // keep the reasoning of every past assistant turn
    std::string date;                // "YYYY-MM-DD" for strftime_now(); empty: today, local time
    std::string extra_json;          // more template variables, a JSON object (may be empty)
};

// A chat template: the Jinja subset LFM templates use, rendered as Hugging Face renders it.
// Unsupported syntax is an lfm::Error naming the construct and the line, at construction.
class ChatTemplate {
public:
    explicit ChatTemplate(std::string source, std::string bos_token = "<|startoftext|>",
                          std::string eos_token = "<|im_end|>");
    ~ChatTemplate();
    ChatTemplate(const ChatTemplate&);
    ChatTemplate& operator=(const ChatTemplate&);

    // The LFM2.5-8B-A1B template, for model files that carry none.
    static const std::string& builtin_source();
    // The template a model uses: `source` when given, else the tokenizer file's own, else the
    // built-in one; BOS and EOS texts from the tokenizer.
    static ChatTemplate for_tokenizer(const Tokenizer& tokenizer, const std::string& source = {});

    std::string render(std::span<const Message> messages, std::span<const Tool> tools = {},
                       const RenderOptions& options = {}) const;
    // conversation: a JSON list of messages, or an object with "messages" and optionally "tools",
    // "add_generation_prompt" and "extra" (../shared/reference/chat/cases.json). Options given
    // in the JSON override `options`.
    std::string render_json(std::string_view conversation, const RenderOptions& options = {}) const;

    const std::string& source() const;
    // Tool lists in the system prompt between <|tool_list_start|> / <|tool_list_end|> (LFM2) or
    // as a bare JSON list (LFM2.5); decided as llama.cpp does, from the template text.
    bool uses_tool_list_tokens() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// A parsed Pythonic (or JSON) tool-call list: `[get_weather(city='Paris'), f(x=1)]`.
struct ToolCallParse {
    std::vector<ToolCall> calls;
    std::string error;  // empty on success; otherwise what is wrong and where
    bool ok() const { return error.empty(); }
};
// tools: when not empty, call names must be among them (llama.cpp's constrained grammar).
ToolCallParse parse_tool_calls(std::string_view text, std::span<const Tool> tools = {});

// A whole assistant reply, split.
struct ParsedReply {
    std::string reasoning;
    std::string content;
    std::vector<ToolCall> tool_calls;
    std::vector<std::string> tool_call_errors;  // blocks that did not parse; their text is in content
};
ParsedReply parse_reply(std::string_view text, std::span<const Tool> tools = {});

// The reply as it streams: feed text pieces (decoded tokens, in order); events come out as soon
// as they are certain. Text inside <think>…</think> is reasoning; a <|tool_call_start|>…
// <|tool_call_end|> block is held back and comes out parsed; everything else is content. A
// marker split across pieces is recognised; text that might be the start of one is held back.
class ReplyStream {
public:
    struct Events {
        std::function<void(std::string_view)> reasoning;
        std::function<void(std::string_view)> content;
        std::function<void(const ToolCall&)> tool_call;
        std::function<void(std::string_view raw, const std::string& error)> tool_call_error;
    };
    explicit ReplyStream(Events events, std::vector<Tool> tools = {}, bool starts_in_reasoning = false);
    void push(std::string_view text);
    void finish();  // end of reply: flushes held-back text (an unclosed block as its raw text)
    bool in_reasoning() const { return state_ == State::kReasoning; }
    bool in_tool_call() const { return state_ == State::kToolCall; }
    const ParsedReply& reply() const { return reply_; }  // everything so far

private:
    enum class State { kContent, kReasoning, kToolCall };
    void emit(std::string_view text);
    void close_tool_block(bool complete);
    Events events_;
    std::vector<Tool> tools_;
    State state_ = State::kContent;
    std::string pending_;  // text that may be the start of a marker
    std::string block_;    // inside a tool-call block
    std::string ws_before_block_;  // white space between content and the block's marker
    bool seen_content_ = false;
    ParsedReply reply_;
};

}  // namespace lfm
