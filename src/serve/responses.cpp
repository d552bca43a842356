// OpenAI's Responses API (POST /v1/responses), which Codex CLI speaks: input as text or items
// (messages, function_call, function_call_output), instructions, function tools, tool_choice,
// text.format, reasoning.effort, and its stream of response.* events. Responses are not stored:
// previous_response_id is refused (send the whole conversation as input items).

#include <fmt/format.h>

#include "dialect.h"
#include "fields.h"

namespace lfm::serve {

using namespace fields;

namespace {

std::string item_text(const json& content, const std::string& where) {
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array()) bad(where, "content must be a string or a list of parts");
    std::string text;
    for (const json& p : content) {
        const std::string type = p.is_object() ? p.value("type", "") : "";
        if ((type == "input_text" || type == "output_text" || type == "text") && p.contains("text") && p["text"].is_string())
            text += p["text"].get<std::string>();
        else
            bad(where, fmt::format("content parts of type '{}' are not supported (text only)", type));
    }
    return text;
}

std::vector<Message> to_messages(const json& input) {
    std::vector<Message> out;
    if (input.is_string()) {
        out.push_back(Message::user(input.get<std::string>()));
        return out;
    }
    if (!input.is_array() || input.empty()) bad("input", "'input' must be a string or a non-empty list of items");
    for (size_t i = 0; i < input.size(); ++i) {
        const json& item = input[i];
        const std::string where = fmt::format("input[{}]", i);
        if (!item.is_object()) bad(where, "an item must be an object");
        const std::string type = item.value("type", "message");
        if (type == "message") {
            const std::string role = item.value("role", "");
            if (role != "user" && role != "assistant" && role != "system" && role != "developer")
                bad(where, fmt::format("role must be user, assistant, system or developer, not '{}'", role));
            if (!item.contains("content")) bad(where, "a message needs 'content'");
            const std::string text = item_text(item["content"], where);
            out.push_back(role == "user" ? Message::user(text) : role == "assistant" ? Message::assistant(text) : Message::system(text));
        } else if (type == "function_call") {
            ToolCall c;
            c.id = item.value("call_id", "");
            if (!item.contains("name") || !item["name"].is_string()) bad(where, "a function_call needs 'name'");
            c.name = item["name"].get<std::string>();
            c.arguments = item.contains("arguments") && item["arguments"].is_string() ? item["arguments"].get<std::string>() : "{}";
            if (out.empty() || out.back().role != "assistant" || !out.back().content.empty()) out.push_back(Message::assistant(""));
            out.back().tool_calls.push_back(std::move(c));
        } else if (type == "function_call_output") {
            if (!item.contains("output")) bad(where, "a function_call_output needs 'output'");
            Message m = Message::tool(item_text(item["output"], where));
            m.tool_call_id = item.value("call_id", "");
            out.push_back(std::move(m));
        } else if (type == "reasoning") {
            continue;  // earlier reasoning: the template drops it from past turns anyway
        } else {
            bad(where, fmt::format("input items of type '{}' are not supported", type));
        }
    }
    return out;
}

}  // namespace

Request parse_responses_request(const json& body, const ApiContext& ctx) {
    Request r;
    r.kind = Request::Kind::kChat;
    GenerateOptions& o = r.options;
    o = ctx.defaults;
    if (field(body, "model") && !body["model"].is_string()) bad("model", "'model' must be a string");
    if (field(body, "previous_response_id"))
        bad("previous_response_id", "responses are not stored: send the conversation as input items");
    o.max_tokens = integer(body, "max_output_tokens", 1, INT32_MAX, o.max_tokens);  // absent: the server's -n
    o.sampler.temperature = static_cast<float>(number(body, "temperature", 0, 2, o.sampler.temperature));
    o.sampler.top_p = static_cast<float>(number(body, "top_p", 1e-9, 1, o.sampler.top_p));
    r.stream = boolean(body, "stream", false);
    if (const json* lp = field(body, "top_logprobs"); lp != nullptr && lp->is_number_integer() && lp->get<int64_t>() > 0)
        bad("top_logprobs", "'top_logprobs' is not supported on /v1/responses (use /v1/chat/completions)");

    ChatSpec spec;
    if (const json* instructions = field(body, "instructions")) {
        if (!instructions->is_string()) bad("instructions", "'instructions' must be a string");
        spec.messages.push_back(Message::system(instructions->get<std::string>()));
    }
    const json* input = field(body, "input");
    if (input == nullptr) bad("input", "'input' is required");
    for (Message& m : to_messages(*input)) spec.messages.push_back(std::move(m));
    if (const json* tools = field(body, "tools")) {
        spec.tools = flat_tools(*tools, "parameters", true);
        spec.strict_tools = strict_tools(*tools, false);
    }
    if (const json* tc = field(body, "tool_choice")) {
        if (tc->is_string()) {
            const std::string v = tc->get<std::string>();
            if (v == "none") spec.tools.clear();
            else if (v == "required") spec.force_tool = true;
            else if (v != "auto") bad("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"name\"}");
        } else if (tc->is_object() && tc->contains("name") && (*tc)["name"].is_string()) {
            spec.force_tool = true;
            spec.tool_name = (*tc)["name"].get<std::string>();
            if (std::none_of(spec.tools.begin(), spec.tools.end(), [&](const Tool& t) { return t.name == spec.tool_name; }))
                bad("tool_choice", fmt::format("tool_choice names '{}', which is not among the tools", spec.tool_name));
        } else {
            bad("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"name\"}");
        }
        if (spec.force_tool && spec.tools.empty()) bad("tool_choice", "tool_choice requires tools");
    }
    if (const json* reasoning = field(body, "reasoning")) {
        if (!reasoning->is_object()) bad("reasoning", "'reasoning' must be an object");
        if (reasoning->value("effort", "") == "none") spec.thinking = false;
    }
    if (const json* text = field(body, "text"); text != nullptr && text->contains("format") && !spec.force_tool) {
        const json& f = (*text)["format"];
        const std::string type = f.is_object() ? f.value("type", "") : "";
        if (type == "json_object") {
            spec.format = ChatSpec::Format::kJsonObject;
        } else if (type == "json_schema") {
            if (!f.contains("schema")) bad("text.format", "a json_schema format needs 'schema'");
            spec.format = ChatSpec::Format::kJsonSchema;
            spec.schema = f["schema"].dump();
        } else if (type != "text") {
            bad("text.format", "text.format type must be text, json_object or json_schema");
        }
    }
    build_chat(spec, ctx, r);
    return r;
}

namespace {

class Responses : public Dialect {
public:
    std::string stream_start(const Reply& r) override {
        std::string out = event("response.created", json{{"response", response(r, "in_progress")}});
        return out + event("response.in_progress", json{{"response", response(r, "in_progress")}});
    }

    std::string stream_event(const Reply& r, const Event& e) override {
        switch (e.kind) {
            case Event::Kind::kReasoning: {
                std::string out = open(r, Item::kReasoning);
                text_ += e.text;
                return out + event("response.reasoning_text.delta",
                                   json{{"item_id", item_id_}, {"output_index", index_}, {"content_index", 0}, {"delta", e.text}});
            }
            case Event::Kind::kContent: {
                std::string out = open(r, Item::kMessage);
                text_ += e.text;
                return out + event("response.output_text.delta",
                                   json{{"item_id", item_id_}, {"output_index", index_}, {"content_index", 0}, {"delta", e.text}});
            }
            case Event::Kind::kToolCall: {
                std::string out = close();
                const ToolCall& c = r.calls.back();
                const std::string id = fmt::format("fc_{}", c.id);
                json item{{"type", "function_call"}, {"id", id}, {"call_id", c.id}, {"name", c.name}, {"arguments", ""}, {"status", "in_progress"}};
                out += event("response.output_item.added", json{{"output_index", index_}, {"item", item}});
                out += event("response.function_call_arguments.delta", json{{"item_id", id}, {"output_index", index_}, {"delta", c.arguments}});
                out += event("response.function_call_arguments.done", json{{"item_id", id}, {"output_index", index_}, {"arguments", c.arguments}});
                item["arguments"] = c.arguments;
                item["status"] = "completed";
                out += event("response.output_item.done", json{{"output_index", index_++}, {"item", item}});
                return out;
            }
            default: return {};
        }
    }

    std::string stream_end(const Reply& r) override {
        std::string out = close();
        return out + event(incomplete(r) ? "response.incomplete" : "response.completed", json{{"response", body(r)}});  // after close()
    }

    json body(const Reply& r) override {
        json output = json::array();
        if (!r.reasoning.empty()) output.push_back(reasoning_item(fmt::format("rs_{}", r.id), r.reasoning));
        if (!r.content.empty() || r.calls.empty()) output.push_back(message_item(fmt::format("msg_{}", r.id), r.content));
        for (const ToolCall& c : r.calls)
            output.push_back({{"type", "function_call"}, {"id", fmt::format("fc_{}", c.id)}, {"call_id", c.id}, {"name", c.name},
                              {"arguments", c.arguments}, {"status", "completed"}});
        json resp = response(r, incomplete(r) ? "incomplete" : "completed");
        resp["output"] = output;
        const GenerateResult& g = r.done->result;
        resp["usage"] = {{"input_tokens", r.done->prompt_tokens},
                         {"input_tokens_details", {{"cached_tokens", r.done->cached_tokens}}},
                         {"output_tokens", g.timings.generated_tokens},
                         {"output_tokens_details", {{"reasoning_tokens", 0}}},
                         {"total_tokens", r.done->prompt_tokens + g.timings.generated_tokens}};
        if (incomplete(r)) resp["incomplete_details"] = {{"reason", "max_output_tokens"}};
        return resp;
    }

    json error_body(const ApiError& e) const override { return openai_error(e); }
    std::string stream_error(const ApiError& e) const override {
        return sse("error", json{{"type", "error"}, {"code", e.type}, {"message", e.what()}, {"param", e.param}});
    }

private:
    enum class Item { kNone, kReasoning, kMessage };

    static bool incomplete(const Reply& r) {
        return r.done && (r.done->result.stop_reason == StopReason::kMaxTokens || r.done->result.stop_reason == StopReason::kContextFull);
    }
    static json reasoning_item(const std::string& id, const std::string& text) {
        return json{{"type", "reasoning"}, {"id", id}, {"summary", json::array()},
                    {"content", json::array({{{"type", "reasoning_text"}, {"text", text}}})}};
    }
    static json message_item(const std::string& id, const std::string& text) {
        return json{{"type", "message"}, {"id", id}, {"status", "completed"}, {"role", "assistant"},
                    {"content", json::array({{{"type", "output_text"}, {"text", text}, {"annotations", json::array()}}})}};
    }
    static json response(const Reply& r, const std::string& status) {
        return json{{"id", fmt::format("resp_{}", r.id)}, {"object", "response"}, {"created_at", r.created}, {"status", status},
                    {"model", r.model}, {"output", json::array()}, {"parallel_tool_calls", true}, {"tool_choice", "auto"},
                    {"tools", json::array()}, {"error", json()}, {"incomplete_details", json()}};
    }
    std::string event(const std::string& type, json data) {
        data["type"] = type;
        data["sequence_number"] = sequence_++;
        return sse(type, data);
    }
    std::string open(const Reply& r, Item kind) {
        if (open_ == kind) return {};
        std::string out = close();
        open_ = kind;
        text_.clear();
        item_id_ = fmt::format("{}_{}_{}", kind == Item::kMessage ? "msg" : "rs", r.id, index_);
        json item = kind == Item::kMessage ? message_item(item_id_, "") : reasoning_item(item_id_, "");
        item["content"] = json::array();
        if (kind == Item::kMessage) item["status"] = "in_progress";
        out += event("response.output_item.added", json{{"output_index", index_}, {"item", item}});
        if (kind == Item::kMessage)
            out += event("response.content_part.added", json{{"item_id", item_id_}, {"output_index", index_}, {"content_index", 0},
                                                             {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}});
        return out;
    }
    std::string close() {
        if (open_ == Item::kNone) return {};
        std::string out;
        if (open_ == Item::kMessage) {
            out += event("response.output_text.done", json{{"item_id", item_id_}, {"output_index", index_}, {"content_index", 0}, {"text", text_}});
            out += event("response.content_part.done", json{{"item_id", item_id_}, {"output_index", index_}, {"content_index", 0},
                                                            {"part", {{"type", "output_text"}, {"text", text_}, {"annotations", json::array()}}}});
            out += event("response.output_item.done", json{{"output_index", index_}, {"item", message_item(item_id_, text_)}});
        } else {
            out += event("response.reasoning_text.done", json{{"item_id", item_id_}, {"output_index", index_}, {"content_index", 0}, {"text", text_}});
            out += event("response.output_item.done", json{{"output_index", index_}, {"item", reasoning_item(item_id_, text_)}});
        }
        open_ = Item::kNone;
        ++index_;
        return out;
    }

    Item open_ = Item::kNone;
    int index_ = 0;
    int64_t sequence_ = 0;
    std::string item_id_, text_;
};

}  // namespace

std::unique_ptr<Dialect> responses_dialect() { return std::make_unique<Responses>(); }

}  // namespace lfm::serve
