// lfm::ChatTemplate: messages and tools -> the variables a chat template expects (the shape
// Hugging Face's apply_chat_template passes: messages, tools, add_generation_prompt, bos_token,
// eos_token, plus extras) -> the built-in Jinja engine.

#include <ctime>

#include <nlohmann/json.hpp>

#include "lfm/chat.h"
#include "text/jinja/jinja.h"

namespace lfm {

using ordered_json = nlohmann::ordered_json;
using jinja::Dict;
using jinja::List;
using jinja::Value;

namespace {

ordered_json parse_json(std::string_view text, const std::string& what) {
    try {
        return ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(ErrorCode::kInvalidArgument, what + " is not valid JSON: " + e.what());
    }
}

std::shared_ptr<Dict> dict() { return std::make_shared<Dict>(); }

// An OpenAI tool call's arguments may be a JSON string; templates need the object.
Value arguments_value(const std::string& arguments) {
    try {
        ordered_json j = ordered_json::parse(arguments);
        if (j.is_object()) return Value::from_json(j);
    } catch (const nlohmann::json::parse_error&) {
    }
    return Value(arguments);
}

Value message_value(const Message& m) {
    auto d = dict();
    d->set("role", Value(m.role));
    if (m.parts.empty()) {
        d->set("content", Value(m.content));
    } else {
        List parts;
        for (const ContentPart& p : m.parts) {
            auto part = dict();
            part->set("type", Value(p.type));
            if (p.type == "text") part->set("text", Value(p.text));
            parts.emplace_back(part);
        }
        d->set("content", Value(std::move(parts)));
    }
    if (m.thinking) d->set("thinking", Value(*m.thinking));
    if (!m.tool_calls.empty()) {
        List calls;
        for (const ToolCall& c : m.tool_calls) {
            auto call = dict();
            if (!c.id.empty()) call->set("id", Value(c.id));
            call->set("type", Value("function"));
            auto fn = dict();
            fn->set("name", Value(c.name));
            fn->set("arguments", arguments_value(c.arguments));
            call->set("function", Value(fn));
            calls.emplace_back(call);
        }
        d->set("tool_calls", Value(std::move(calls)));
    }
    if (!m.tool_call_id.empty()) d->set("tool_call_id", Value(m.tool_call_id));
    return Value(d);
}

// Messages given as JSON go to the template as they are, except tool-call arguments written as
// a JSON string (OpenAI's wire format), which are parsed into the object templates iterate.
Value messages_from_json(const ordered_json& messages) {
    if (!messages.is_array()) throw Error(ErrorCode::kInvalidArgument, "conversation: 'messages' must be a list");
    ordered_json copy = messages;
    for (size_t i = 0; i < copy.size(); ++i) {
        ordered_json& m = copy[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
            throw Error(ErrorCode::kInvalidArgument,
                        "conversation: message " + std::to_string(i) + " is not an object with a string 'role'");
        if (!m.contains("tool_calls") || !m["tool_calls"].is_array()) continue;
        for (ordered_json& call : m["tool_calls"]) {
            if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
            ordered_json& args = call["function"]["arguments"];
            if (!args.is_string()) continue;
            try {
                ordered_json parsed = ordered_json::parse(args.get<std::string>());
                if (parsed.is_object()) args = parsed;
            } catch (const nlohmann::json::parse_error&) {
            }
        }
    }
    return Value::from_json(copy);
}

std::tm render_time(const std::string& date) {
    std::tm tm{};
    if (date.empty()) {
        std::time_t now = std::time(nullptr);
        localtime_r(&now, &tm);
        return tm;
    }
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (date.size() != 10 || std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 ||
        d < 1 || d > 31)
        throw Error(ErrorCode::kInvalidArgument, "date '" + date + "' is not YYYY-MM-DD");
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = 12;
    std::tm normalized = tm;
    std::mktime(&normalized);  // fills the weekday and day of year
    tm.tm_wday = normalized.tm_wday;
    tm.tm_yday = normalized.tm_yday;
    return tm;
}

}  // namespace

std::string Tool::to_json() const {
    if (!json.empty()) return json;
    ordered_json fn;
    fn["name"] = name;
    fn["description"] = description;
    fn["parameters"] = parse_json(parameters, "tool '" + name + "' parameters");
    ordered_json tool;
    tool["type"] = "function";
    tool["function"] = fn;
    return Value::from_json(tool).to_json();
}

std::vector<Tool> Tool::parse_list(std::string_view json_text) {
    ordered_json j = parse_json(json_text, "tools");
    if (!j.is_array()) throw Error(ErrorCode::kInvalidArgument, "tools must be a JSON list of function schemas");
    std::vector<Tool> tools;
    for (size_t i = 0; i < j.size(); ++i) {
        const ordered_json& t = j[i];
        const std::string where = "tools[" + std::to_string(i) + "]";
        if (!t.is_object()) throw Error(ErrorCode::kInvalidArgument, where + " is not an object");
        const ordered_json* fn = &t;
        if (t.contains("function")) {
            if (!t["function"].is_object()) throw Error(ErrorCode::kInvalidArgument, where + ".function is not an object");
            if (t.contains("type") && t["type"] != "function")
                throw Error(ErrorCode::kInvalidArgument, where + ": type must be \"function\"");
            fn = &t["function"];
        }
        if (!fn->contains("name") || !(*fn)["name"].is_string() || (*fn)["name"].get<std::string>().empty())
            throw Error(ErrorCode::kInvalidArgument, where + " has no function name");
        Tool tool;
        tool.name = (*fn)["name"].get<std::string>();
        if (fn->contains("description")) {
            if (!(*fn)["description"].is_string())
                throw Error(ErrorCode::kInvalidArgument, where + ": description must be a string");
            tool.description = (*fn)["description"].get<std::string>();
        }
        if (fn->contains("parameters")) {
            if (!(*fn)["parameters"].is_object())
                throw Error(ErrorCode::kInvalidArgument, where + ": parameters must be a JSON schema object");
            tool.parameters = Value::from_json((*fn)["parameters"]).to_json();
        }
        tool.json = Value::from_json(t).to_json();
        tools.push_back(std::move(tool));
    }
    return tools;
}

struct ChatTemplate::Impl {
    std::string source;
    std::string bos, eos;
    std::shared_ptr<const jinja::Template> compiled;

    std::string render(Dict& vars, const RenderOptions& options, bool add_generation_prompt) const {
        vars.set("bos_token", Value(bos));
        vars.set("eos_token", Value(eos));
        if (!vars.find("add_generation_prompt")) vars.set("add_generation_prompt", Value(add_generation_prompt));
        if (options.preserve_thinking && !vars.find("preserve_thinking")) {
            vars.set("preserve_thinking", Value(true));
            vars.set("keep_past_thinking", Value(true));  // the same switch in Liquid's fine-tuning templates
        }
        if (!options.extra_json.empty()) {
            ordered_json extra = parse_json(options.extra_json, "extra template variables");
            if (!extra.is_object()) throw Error(ErrorCode::kInvalidArgument, "extra template variables must be a JSON object");
            for (const auto& [k, v] : extra.items()) vars.set(k, Value::from_json(v));
        }
        try {
            return compiled->render(vars, render_time(options.date));
        } catch (const jinja::TemplateError& e) {
            throw Error(ErrorCode::kInvalidArgument, std::string("chat template: ") + e.what());
        }
    }
};

ChatTemplate::ChatTemplate(std::string source, std::string bos_token, std::string eos_token)
    : impl_(std::make_unique<Impl>()) {
    try {
        impl_->compiled = std::make_shared<const jinja::Template>(source);
    } catch (const jinja::TemplateError& e) {
        throw Error(ErrorCode::kUnsupported, std::string("chat template: ") + e.what());
    }
    impl_->source = std::move(source);
    impl_->bos = std::move(bos_token);
    impl_->eos = std::move(eos_token);
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(const ChatTemplate& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
ChatTemplate& ChatTemplate::operator=(const ChatTemplate& other) {
    if (this != &other) impl_ = std::make_unique<Impl>(*other.impl_);
    return *this;
}

const std::string& ChatTemplate::source() const { return impl_->source; }

bool ChatTemplate::uses_tool_list_tokens() const {
    return impl_->source.find("<|tool_list_start|>") != std::string::npos;
}

std::string ChatTemplate::render(std::span<const Message> messages, std::span<const Tool> tools,
                                 const RenderOptions& options) const {
    Dict vars;
    List list;
    for (const Message& m : messages) list.push_back(message_value(m));
    vars.set("messages", Value(std::move(list)));
    if (!tools.empty()) {
        List tool_values;
        for (const Tool& t : tools) tool_values.push_back(Value::from_json(parse_json(t.to_json(), "tool '" + t.name + "'")));
        vars.set("tools", Value(std::move(tool_values)));
    }
    return impl_->render(vars, options, options.add_generation_prompt);
}

std::string ChatTemplate::render_json(std::string_view conversation, const RenderOptions& options) const {
    ordered_json j = parse_json(conversation, "conversation");
    Dict vars;
    bool add_generation_prompt = options.add_generation_prompt;
    if (j.is_array()) {
        vars.set("messages", messages_from_json(j));
    } else if (j.is_object()) {
        if (!j.contains("messages")) throw Error(ErrorCode::kInvalidArgument, "conversation has no 'messages'");
        vars.set("messages", messages_from_json(j["messages"]));
        if (j.contains("tools") && !j["tools"].is_null()) {
            if (!j["tools"].is_array()) throw Error(ErrorCode::kInvalidArgument, "conversation: 'tools' must be a list");
            vars.set("tools", Value::from_json(j["tools"]));
        }
        if (j.contains("add_generation_prompt")) {
            if (!j["add_generation_prompt"].is_boolean())
                throw Error(ErrorCode::kInvalidArgument, "conversation: 'add_generation_prompt' must be true or false");
            add_generation_prompt = j["add_generation_prompt"].get<bool>();
        }
        if (j.contains("extra")) {
            if (!j["extra"].is_object()) throw Error(ErrorCode::kInvalidArgument, "conversation: 'extra' must be an object");
            for (const auto& [k, v] : j["extra"].items()) vars.set(k, Value::from_json(v));
        }
    } else {
        throw Error(ErrorCode::kInvalidArgument, "conversation must be a list of messages or an object with 'messages'");
    }
    return impl_->render(vars, options, add_generation_prompt);
}

}  // namespace lfm
