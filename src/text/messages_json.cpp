// Messages to and from OpenAI's chat format (Message::parse_list, Message::list_to_json): what
// Chat saves with a session, what `lfm run --json` prints and what HTTP clients send.

#include <nlohmann/json.hpp>

#include "lfm/chat.h"

namespace lfm {

namespace {

using nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument, "messages[" + where + "]: " + what);
}

std::string string_field(const ordered_json& m, const char* key, const std::string& where) {
    if (!m.contains(key) || m[key].is_null()) return {};
    if (!m[key].is_string()) bad(where, std::string("'") + key + "' must be a string");
    return m[key].get<std::string>();
}

}  // namespace

std::vector<Message> Message::parse_list(std::string_view json_text) {
    ordered_json j;
    try {
        j = ordered_json::parse(json_text);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(ErrorCode::kInvalidArgument, std::string("messages: invalid JSON: ") + e.what());
    }
    if (!j.is_array()) throw Error(ErrorCode::kInvalidArgument, "messages must be a JSON list");
    std::vector<Message> out;
    for (size_t i = 0; i < j.size(); ++i) {
        const ordered_json& m = j[i];
        const std::string where = std::to_string(i);
        if (!m.is_object()) bad(where, "not an object");
        Message msg;
        msg.role = string_field(m, "role", where);
        if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool")
            bad(where, "role must be system, user, assistant or tool, not '" + msg.role + "'");
        if (m.contains("content") && m["content"].is_array()) {
            for (size_t p = 0; p < m["content"].size(); ++p) {
                const ordered_json& part = m["content"][p];
                const std::string at = where + "].content[" + std::to_string(p);
                if (!part.is_object()) bad(at, "a content part must be an object");
                ContentPart cp;
                cp.type = string_field(part, "type", at);
                if (cp.type != "text") bad(at, "content parts of type '" + cp.type + "' are not supported (text only)");
                cp.text = string_field(part, "text", at);
                msg.content += cp.text;
                msg.parts.push_back(std::move(cp));
            }
        } else {
            msg.content = string_field(m, "content", where);
        }
        for (const char* key : {"reasoning_content", "thinking"})
            if (m.contains(key) && !m[key].is_null()) msg.thinking = string_field(m, key, where);
        if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
            if (!m["tool_calls"].is_array()) bad(where, "'tool_calls' must be a list");
            for (size_t c = 0; c < m["tool_calls"].size(); ++c) {
                const ordered_json& call = m["tool_calls"][c];
                const std::string at = where + "].tool_calls[" + std::to_string(c);
                if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
                    bad(at, "a tool call must be an object with a 'function' object");
                const ordered_json& fn = call["function"];
                ToolCall tc;
                tc.id = string_field(call, "id", at);
                tc.name = string_field(fn, "name", at);
                if (tc.name.empty()) bad(at, "the function has no name");
                if (fn.contains("arguments") && fn["arguments"].is_object()) {
                    tc.arguments = fn["arguments"].dump();
                } else {
                    tc.arguments = string_field(fn, "arguments", at);
                    if (tc.arguments.empty()) tc.arguments = "{}";
                    const auto args = ordered_json::parse(tc.arguments, nullptr, false);
                    if (args.is_discarded() || !args.is_object()) bad(at, "'arguments' must be a JSON object (as text)");
                }
                msg.tool_calls.push_back(std::move(tc));
            }
        }
        msg.tool_call_id = string_field(m, "tool_call_id", where);
        out.push_back(std::move(msg));
    }
    return out;
}

std::string Message::list_to_json(std::span<const Message> messages) {
    ordered_json out = ordered_json::array();
    for (const Message& m : messages) {
        ordered_json j;
        j["role"] = m.role;
        if (m.parts.empty()) {
            j["content"] = m.content;
        } else {
            j["content"] = ordered_json::array();
            for (const ContentPart& p : m.parts) j["content"].push_back({{"type", p.type}, {"text", p.text}});
        }
        if (m.thinking) j["reasoning_content"] = *m.thinking;
        if (!m.tool_calls.empty()) {
            j["tool_calls"] = ordered_json::array();
            for (const ToolCall& c : m.tool_calls)
                j["tool_calls"].push_back(
                    {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
        }
        if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
        out.push_back(std::move(j));
    }
    return out.dump();
}

}  // namespace lfm
