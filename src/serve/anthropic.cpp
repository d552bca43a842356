// Anthropic's Messages API (POST /v1/messages), for Claude Code and other clients pointed at a
// local model: system, text / tool_use / tool_result / thinking blocks, tools with input_schema,
// tool_choice, thinking, and its stream of message / content-block events.

#include <fmt/format.h>

#include "dialect.h"
#include "fields.h"

namespace lfm::serve {

using namespace fields;

namespace {

std::string block_text(const json& content, const std::string& where) {
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array()) bad(where, "content must be a string or a list of blocks");
    std::string text;
    for (const json& b : content) {
        if (!b.is_object() || b.value("type", "") != "text" || !b.contains("text") || !b["text"].is_string())
            bad(where, "only text blocks may appear here");
        text += b["text"].get<std::string>();
    }
    return text;
}

// Anthropic's messages as lfm's: a user message's tool_result blocks become tool messages (in
// order, before its text), an assistant's tool_use blocks its tool calls.
std::vector<Message> to_messages(const json& messages) {
    std::vector<Message> out;
    for (size_t i = 0; i < messages.size(); ++i) {
        const json& m = messages[i];
        const std::string where = fmt::format("messages[{}]", i);
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) bad(where, "a message needs a string 'role'");
        const std::string role = m["role"].get<std::string>();
        if (role != "user" && role != "assistant") bad(where, fmt::format("role must be user or assistant, not '{}'", role));
        if (!m.contains("content")) bad(where, "a message needs 'content'");
        const json& content = m["content"];
        if (content.is_string()) {
            out.push_back(role == "user" ? Message::user(content.get<std::string>()) : Message::assistant(content.get<std::string>()));
            continue;
        }
        if (!content.is_array()) bad(where, "content must be a string or a list of blocks");
        Message msg = role == "user" ? Message::user("") : Message::assistant("");
        for (size_t k = 0; k < content.size(); ++k) {
            const json& b = content[k];
            const std::string at = fmt::format("{}.content[{}]", where, k);
            if (!b.is_object() || !b.contains("type") || !b["type"].is_string()) bad(at, "a block needs a string 'type'");
            const std::string type = b["type"].get<std::string>();
            if (type == "text") {
                if (!b.contains("text") || !b["text"].is_string()) bad(at, "a text block needs 'text'");
                msg.content += b["text"].get<std::string>();
            } else if (type == "tool_result" && role == "user") {
                Message result = Message::tool(b.contains("content") ? block_text(b["content"], at) : "");
                if (!b.contains("tool_use_id") || !b["tool_use_id"].is_string()) bad(at, "a tool_result needs 'tool_use_id'");
                result.tool_call_id = b["tool_use_id"].get<std::string>();
                if (b.value("is_error", false)) result.content = "Error: " + result.content;
                out.push_back(std::move(result));
            } else if (type == "tool_use" && role == "assistant") {
                if (!b.contains("name") || !b["name"].is_string()) bad(at, "a tool_use block needs 'name'");
                ToolCall c;
                c.id = b.value("id", "");
                c.name = b["name"].get<std::string>();
                c.arguments = b.contains("input") && b["input"].is_object() ? b["input"].dump() : "{}";
                msg.tool_calls.push_back(std::move(c));
            } else if ((type == "thinking" || type == "redacted_thinking") && role == "assistant") {
                if (type == "thinking" && b.contains("thinking") && b["thinking"].is_string()) msg.thinking = b["thinking"].get<std::string>();
            } else {
                bad(at, fmt::format("'{}' blocks are not supported in {} messages", type, role));
            }
        }
        if (role == "assistant" || !msg.content.empty()) out.push_back(std::move(msg));
    }
    return out;
}

}  // namespace

Request parse_anthropic_request(const json& body, const ApiContext& ctx) {
    Request r;
    r.kind = Request::Kind::kChat;
    GenerateOptions& o = r.options;
    o = ctx.defaults;
    if (field(body, "model") && !body["model"].is_string()) bad("model", "'model' must be a string");
    if (!field(body, "max_tokens")) bad("max_tokens", "'max_tokens' is required");
    o.max_tokens = integer(body, "max_tokens", 1, INT32_MAX, 1);
    o.sampler.temperature = static_cast<float>(number(body, "temperature", 0, 2, o.sampler.temperature));
    o.sampler.top_p = static_cast<float>(number(body, "top_p", 1e-9, 1, o.sampler.top_p));
    o.sampler.top_k = static_cast<int>(integer(body, "top_k", 0, 1 << 20, o.sampler.top_k));
    if (const json* stop = field(body, "stop_sequences")) {
        if (!stop->is_array()) bad("stop_sequences", "'stop_sequences' must be a list of strings");
        o.stop.clear();
        for (const json& s : *stop) {
            if (!s.is_string() || s.get<std::string>().empty()) bad("stop_sequences", "stop sequences must be non-empty strings");
            o.stop.push_back(s.get<std::string>());
        }
    }
    r.stream = boolean(body, "stream", false);
    r.include_usage = true;

    const json* messages = field(body, "messages");
    if (messages == nullptr || !messages->is_array() || messages->empty()) bad("messages", "'messages' must be a non-empty list");
    ChatSpec spec;
    if (const json* system = field(body, "system")) spec.messages.push_back(Message::system(block_text(*system, "system")));
    for (Message& m : to_messages(*messages)) spec.messages.push_back(std::move(m));
    if (const json* tools = field(body, "tools")) spec.tools = flat_tools(*tools, "input_schema", false);
    if (const json* tc = field(body, "tool_choice")) {
        if (!tc->is_object() || !tc->contains("type") || !(*tc)["type"].is_string())
            bad("tool_choice", "'tool_choice' must be an object with a 'type'");
        const std::string type = (*tc)["type"].get<std::string>();
        if (type == "none") {
            spec.tools.clear();
        } else if (type == "any") {
            spec.force_tool = true;
        } else if (type == "tool") {
            if (!tc->contains("name") || !(*tc)["name"].is_string()) bad("tool_choice", "tool_choice 'tool' needs a 'name'");
            spec.force_tool = true;
            spec.tool_name = (*tc)["name"].get<std::string>();
            if (std::none_of(spec.tools.begin(), spec.tools.end(), [&](const Tool& t) { return t.name == spec.tool_name; }))
                bad("tool_choice", fmt::format("tool_choice names '{}', which is not among the tools", spec.tool_name));
        } else if (type != "auto") {
            bad("tool_choice", "tool_choice type must be auto, any, tool or none");
        }
        if (spec.force_tool && spec.tools.empty()) bad("tool_choice", "tool_choice requires tools");
    }
    if (const json* thinking = field(body, "thinking")) {
        if (!thinking->is_object() || !thinking->contains("type")) bad("thinking", "'thinking' must be an object with a 'type'");
        const std::string type = (*thinking)["type"].is_string() ? (*thinking)["type"].get<std::string>() : "";
        if (type == "disabled") spec.thinking = false;
        else if (type == "enabled") spec.thinking_budget = integer(*thinking, "budget_tokens", 0, INT32_MAX, -1);
        else bad("thinking", "thinking type must be enabled or disabled");
    }
    build_chat(spec, ctx, r);
    if (o.max_tokens > ctx.n_ctx) o.max_tokens = -1;
    return r;
}

namespace {

std::string stop_reason(const Reply& r) {
    const GenerateResult& g = r.done->result;
    if (g.stop_reason == StopReason::kMaxTokens || g.stop_reason == StopReason::kContextFull) return "max_tokens";
    if (!r.calls.empty()) return "tool_use";
    if (g.stop_reason == StopReason::kStopString) return "stop_sequence";
    return "end_turn";
}

json tool_use_block(const ToolCall& c) {
    json input = json::parse(c.arguments, nullptr, false);
    if (!input.is_object()) input = json::object();
    return json{{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", input}};
}

class Anthropic : public Dialect {
public:
    std::string stream_start(const Reply& r) override {
        json message{{"id", r.id}, {"type", "message"}, {"role", "assistant"}, {"model", r.model}, {"content", json::array()},
                     {"stop_reason", json()}, {"stop_sequence", json()}, {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}};
        return sse("message_start", json{{"type", "message_start"}, {"message", message}});
    }

    std::string stream_event(const Reply& r, const Event& e) override {
        switch (e.kind) {
            // (statements in order: open() moves the block index that delta() reads)
            case Event::Kind::kReasoning: {
                std::string out = open(Block::kThinking, json{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
                return out + delta(json{{"type", "thinking_delta"}, {"thinking", e.text}});
            }
            case Event::Kind::kContent: {
                std::string out = open(Block::kText, json{{"type", "text"}, {"text", ""}});
                return out + delta(json{{"type", "text_delta"}, {"text", e.text}});
            }
            case Event::Kind::kToolCall: {
                const ToolCall& c = r.calls.back();
                json start = tool_use_block(c);
                start["input"] = json::object();
                std::string out = open(Block::kToolUse, start);
                out += delta(json{{"type", "input_json_delta"}, {"partial_json", c.arguments}});
                return out + close();
            }
            case Event::Kind::kPromptProgress: return sse("ping", json{{"type", "ping"}});
            default: return {};
        }
    }

    std::string stream_end(const Reply& r) override {
        const GenerateResult& g = r.done->result;
        std::string out = close();
        out += sse("message_delta", json{{"type", "message_delta"},
                                         {"delta", {{"stop_reason", stop_reason(r)}, {"stop_sequence", json()}}},
                                         {"usage", usage(r, g)}});
        return out + sse("message_stop", json{{"type", "message_stop"}});
    }

    json body(const Reply& r) override {
        json content = json::array();
        if (!r.reasoning.empty()) content.push_back({{"type", "thinking"}, {"thinking", r.reasoning}, {"signature", ""}});
        if (!r.content.empty()) content.push_back({{"type", "text"}, {"text", r.content}});
        for (const ToolCall& c : r.calls) content.push_back(tool_use_block(c));
        return json{{"id", r.id}, {"type", "message"}, {"role", "assistant"}, {"model", r.model}, {"content", content},
                    {"stop_reason", stop_reason(r)}, {"stop_sequence", json()}, {"usage", usage(r, r.done->result)}};
    }

    json error_body(const ApiError& e) const override {
        return json{{"type", "error"}, {"error", {{"type", e.type}, {"message", e.what()}}}};
    }
    std::string stream_error(const ApiError& e) const override { return sse("error", error_body(e)); }

private:
    enum class Block { kNone, kThinking, kText, kToolUse };

    static json usage(const Reply& r, const GenerateResult& g) {
        return json{{"input_tokens", r.done->prompt_tokens - r.done->cached_tokens},
                    {"cache_read_input_tokens", r.done->cached_tokens},
                    {"output_tokens", g.timings.generated_tokens}};
    }
    // Opens a block of this kind unless one is open already (closing another first).
    std::string open(Block kind, const json& start) {
        if (open_ == kind && kind != Block::kToolUse) return {};
        std::string out = close();
        open_ = kind;
        return out + sse("content_block_start", json{{"type", "content_block_start"}, {"index", index_}, {"content_block", start}});
    }
    std::string delta(const json& d) const {
        return sse("content_block_delta", json{{"type", "content_block_delta"}, {"index", index_}, {"delta", d}});
    }
    std::string close() {
        if (open_ == Block::kNone) return {};
        open_ = Block::kNone;
        return sse("content_block_stop", json{{"type", "content_block_stop"}, {"index", index_++}});
    }

    Block open_ = Block::kNone;
    int index_ = 0;
};

}  // namespace

std::unique_ptr<Dialect> anthropic_dialect() { return std::make_unique<Anthropic>(); }

}  // namespace lfm::serve
