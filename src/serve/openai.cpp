// OpenAI request parsing and response pieces (openai.h).

#include "openai.h"

#include "fields.h"
#include "text/utf8.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace lfm::serve {

using namespace fields;

// The sampling fields common to chat and completions.
void parse_sampling(const json& body, const ApiContext& ctx, Request& r) {
    GenerateOptions& o = r.options;
    o = ctx.defaults;
    if (field(body, "model") && !body["model"].is_string()) bad("model", "'model' must be a string");
    if (integer(body, "n", 1, 1, 1) != 1) bad("n", "only n = 1 is supported");
    SamplerConfig& s = o.sampler;
    s.temperature = static_cast<float>(number(body, "temperature", 0, 2, s.temperature));
    s.top_p = static_cast<float>(number(body, "top_p", 0, 1, s.top_p));
    if (s.top_p == 0) s.top_p = 1e-9f;  // 0 means "the top token only" to OpenAI's clients
    s.top_k = static_cast<int>(integer(body, "top_k", 0, 1 << 20, s.top_k));
    s.min_p = static_cast<float>(number(body, "min_p", 0, 1, s.min_p));
    s.repetition_penalty = static_cast<float>(number(body, "repetition_penalty", 1e-3, 100, s.repetition_penalty));
    s.frequency_penalty = static_cast<float>(number(body, "frequency_penalty", -2, 2, s.frequency_penalty));
    s.presence_penalty = static_cast<float>(number(body, "presence_penalty", -2, 2, s.presence_penalty));
    if (const json* seed = field(body, "seed")) {
        if (!seed->is_number_integer()) bad("seed", "'seed' must be an integer");
        s.seed = static_cast<uint64_t>(seed->get<int64_t>());
    }
    if (const json* lb = field(body, "logit_bias"); lb != nullptr && !(lb->is_object() && lb->empty()))
        bad("logit_bias", "'logit_bias' is not supported");
    for (const char* key : {"max_tokens", "max_completion_tokens"})  // absent: the server's -n
        if (field(body, key)) o.max_tokens = integer(body, key, 0, INT32_MAX, -1);
    if (const json* stop = field(body, "stop")) {
        o.stop.clear();
        if (stop->is_string()) {
            o.stop.push_back(stop->get<std::string>());
        } else if (stop->is_array()) {
            for (const json& x : *stop) {
                if (!x.is_string()) bad("stop", "'stop' must be a string or a list of strings");
                o.stop.push_back(x.get<std::string>());
            }
        } else {
            bad("stop", "'stop' must be a string or a list of strings");
        }
        if (o.stop.size() > 16) bad("stop", "at most 16 stop strings");
        for (const std::string& x : o.stop)
            if (x.empty()) bad("stop", "a stop string must not be empty");
    }
    // llama-server's extension: go on past the end-of-turn token to max_tokens (fixed-length
    // replies for benchmarks and tests)
    o.ignore_eos = boolean(body, "ignore_eos", o.ignore_eos);
    r.stream = boolean(body, "stream", false);
    if (const json* so = field(body, "stream_options")) {
        if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
        r.include_usage = boolean(*so, "include_usage", false);
    }
    try {
        o.sampler.validate();
    } catch (const Error& e) {
        bad("", e.what());
    }
}

namespace {

void check_fits(const Request& r, const ApiContext& ctx) {
    const char* param = r.kind == Request::Kind::kCompletion ? "prompt" : "messages";
    if (r.prompt.empty()) bad(param, "the prompt is empty");
    if (static_cast<int64_t>(r.prompt.size()) >= ctx.n_ctx)
        throw ApiError(400, fmt::format("the prompt has {} tokens but the context holds {} (start the server with a larger -c)",
                                        r.prompt.size(), ctx.n_ctx),
                       param, "invalid_request_error");
}

std::vector<Tool> parse_tools(const json& body) {
    const json* tools = field(body, "tools");
    if (tools == nullptr) return {};
    try {
        return Tool::parse_list(tools->dump());
    } catch (const Error& e) {
        bad("tools", e.what());
    }
}

// The tool-call constraint for these tools, or the engine's refusal naming the tool (found by
// compiling each tool alone, only when the whole list is refused).
ConstraintCache::Entry compile_tool_constraint(const std::vector<Tool>& tools, const std::shared_ptr<const Tokenizer>& tok) {
    try {
        return {Constraint::tool_call(tools, "", false, tok), {}};
    } catch (const Error& whole) {
        for (size_t i = 0; i < tools.size(); ++i) {
            try {
                Constraint::tool_call({tools[i]}, "", false, tok);
            } catch (const Error& e) {
                return {nullptr, fmt::format("tools[{}] ('{}'): {}", i, tools[i].name, e.what())};
            }
        }
        return {nullptr, whole.what()};
    }
}

std::string tools_key(const std::vector<Tool>& tools) {
    std::string key;
    for (const Tool& t : tools) key += t.to_json();
    return key;
}

// The request's forced tool call or response format, from the cache when the server has one.
// The key names everything the constraint is compiled from.
std::shared_ptr<const Constraint> forced_constraint(const ChatSpec& spec, const ApiContext& ctx) {
    std::string key;
    std::function<std::shared_ptr<const Constraint>()> compile;
    if (spec.force_tool) {
        key = fmt::format("tool_choice {} {} {}", spec.tool_name, spec.thinking, tools_key(spec.tools));
        compile = [&] { return Constraint::tool_call(spec.tools, spec.tool_name, spec.thinking, ctx.tokenizer); };
    } else if (spec.format == ChatSpec::Format::kJsonObject) {
        key = "json_object";
        compile = [&] { return Constraint::json_object(ctx.tokenizer); };
    } else if (spec.format == ChatSpec::Format::kJsonSchema) {
        key = "json_schema " + spec.schema;
        compile = [&] { return Constraint::json_schema(spec.schema, ctx.tokenizer); };
    } else {
        return nullptr;
    }
    const char* param = spec.force_tool ? "tool_choice" : "response_format";
    const auto checked = [&]() -> ConstraintCache::Entry {
        try {
            return {compile(), {}};
        } catch (const Error& e) {
            return {nullptr, e.what()};
        }
    };
    const ConstraintCache::Entry entry = ctx.constraints ? ctx.constraints->get(key, checked) : checked();
    if (!entry.constraint) bad(param, entry.error);
    return entry.constraint;
}

// Strict tool calls for a request that leaves the calls to the model (tool_choice auto, no
// response format): asked by a tool ("strict": true, refused schemas a 400) or by the server's
// --strict-tool-calls (refused schemas a warning, and the calls go unconstrained).
void constrain_tool_calls(const ChatSpec& spec, const ApiContext& ctx, Request& r) {
    if (spec.tools.empty() || r.options.constraint || !(spec.strict_tools || r.options.strict_tool_calls)) return;
    const auto compile = [&] { return compile_tool_constraint(spec.tools, ctx.tokenizer); };
    const ConstraintCache::Entry entry = ctx.constraints ? ctx.constraints->get("strict " + tools_key(spec.tools), compile) : compile();
    if (entry.constraint) {
        r.options.tool_call_constraint = entry.constraint;
    } else if (spec.strict_tools) {
        bad("tools", fmt::format("strict tool calls cannot be enforced for {}", entry.error));
    } else {
        r.warnings.push_back(fmt::format("--strict-tool-calls: tool calls left unconstrained for this request: {}", entry.error));
    }
}

}  // namespace

ConstraintCache::Entry ConstraintCache::get(const std::string& key, const std::function<Entry()>& compile) {
    {
        std::lock_guard lock(mutex_);
        for (auto it = items_.begin(); it != items_.end(); ++it)
            if (it->key == key) {
                items_.splice(items_.begin(), items_, it);
                return it->entry;
            }
    }
    Entry entry = compile();
    std::lock_guard lock(mutex_);
    ++compiles_;
    items_.push_front(Item{key, entry});
    if (items_.size() > capacity_) items_.pop_back();
    return entry;
}

int64_t ConstraintCache::compiles() const {
    std::lock_guard lock(mutex_);
    return compiles_;
}

bool strict_tools(const json& tools, bool in_function) {
    bool strict = false;
    if (!tools.is_array()) return false;
    for (size_t i = 0; i < tools.size(); ++i) {
        const json* holder = &tools[i];
        if (in_function) holder = holder->is_object() ? field(*holder, "function") : nullptr;
        if (holder == nullptr || !holder->is_object()) continue;
        if (const json* v = field(*holder, "strict")) {
            if (!v->is_boolean())
                bad("tools", fmt::format("tools[{}]: '{}strict' must be true or false", i, in_function ? "function." : ""));
            strict = strict || v->get<bool>();
        }
    }
    return strict;
}

void build_chat(const ChatSpec& spec, const ApiContext& ctx, Request& r) {
    std::string text;
    try {
        text = ctx.chat_template->render(spec.messages, spec.tools, spec.render);
    } catch (const Error& e) {
        bad("messages", fmt::format("the chat template cannot render this conversation: {}", e.what()));
    }
    if (!spec.thinking) {
        text += "<think></think>";  // no thinking at all (spec §4), as lfm chat does
        r.options.reasoning_budget = 0;
    } else if (spec.thinking_budget >= 0) {
        r.options.reasoning_budget = spec.thinking_budget;
    }
    r.prompt_text = text;
    r.prompt = ctx.tokenizer->encode(text, false, true);  // the rendered prompt starts with its own BOS
    r.options.tools = spec.tools;
    r.options.constraint = forced_constraint(spec, ctx);
    constrain_tool_calls(spec, ctx, r);
    check_fits(r, ctx);
    if (r.options.max_tokens < 0 || r.options.max_tokens > ctx.n_ctx) r.options.max_tokens = -1;  // the context ends it
}

std::vector<Tool> flat_tools(const json& tools, const char* schema_key, bool typed) {
    if (!tools.is_array()) bad("tools", "'tools' must be a list");
    json openai = json::array();
    for (size_t i = 0; i < tools.size(); ++i) {
        const json& t = tools[i];
        const std::string where = fmt::format("tools[{}]", i);
        if (!t.is_object()) bad(where, "a tool must be an object");
        if (typed && t.value("type", "") != "function")
            bad(where, fmt::format("only function tools are supported ({{\"type\": \"function\", \"name\", \"{}\"}})", schema_key));
        if (!t.contains("name") || !t["name"].is_string()) bad(where, "a tool needs a string 'name'");
        json fn{{"name", t["name"]}};
        if (t.contains("description")) fn["description"] = t["description"];
        fn["parameters"] = t.contains(schema_key) && !t[schema_key].is_null() ? t[schema_key]
                                                                              : json{{"type", "object"}, {"properties", json::object()}};
        openai.push_back(json{{"type", "function"}, {"function", fn}});
    }
    try {
        return Tool::parse_list(openai.dump());
    } catch (const Error& e) {
        bad("tools", e.what());
    }
}

json parse_body(const std::string& body, size_t max_depth) {
    if (json_depth(body) > max_depth) bad("", fmt::format("the JSON body nests deeper than {} levels", max_depth));
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) bad("", "the body is not valid JSON");
    if (!j.is_object()) bad("", "the body must be a JSON object");
    return j;
}

Request parse_chat_request(const json& body, const ApiContext& ctx) {
    Request r;
    r.kind = Request::Kind::kChat;
    parse_sampling(body, ctx, r);
    const json* messages = field(body, "messages");
    if (messages == nullptr) bad("messages", "'messages' is required");
    if (!messages->is_array() || messages->empty()) bad("messages", "'messages' must be a non-empty list");
    std::vector<Message> conversation;
    try {
        conversation = Message::parse_list(messages->dump());
    } catch (const Error& e) {
        bad("messages", e.what());
    }
    for (size_t i = 0; i < conversation.size(); ++i) {
        const json& m = (*messages)[i];
        const std::string& role = conversation[i].role;
        if (role == "tool" && conversation[i].tool_call_id.empty())
            bad("messages", fmt::format("messages[{}]: a tool message needs 'tool_call_id'", i));
        if (role != "assistant" && !m.contains("content"))
            bad("messages", fmt::format("messages[{}]: a {} message needs 'content'", i, role));
        if (role == "assistant" && !m.contains("content") && conversation[i].tool_calls.empty())
            bad("messages", fmt::format("messages[{}]: an assistant message needs 'content' or 'tool_calls'", i));
    }
    std::vector<Tool> tools = parse_tools(body);

    // tool_choice: auto (the default), none (the tools are not shown), required, or one function
    bool force = false;  // tool_choice required or named
    std::string forced;  // the named function; empty: any declared tool
    if (const json* tc = field(body, "tool_choice")) {
        if (tc->is_string()) {
            const std::string v = tc->get<std::string>();
            if (v == "none") tools.clear();
            else if (v == "required") force = true;
            else if (v != "auto") bad("tool_choice", "'tool_choice' must be none, auto, required or a function");
        } else if (tc->is_object() && tc->contains("function") && (*tc)["function"].is_object() &&
                   (*tc)["function"].contains("name") && (*tc)["function"]["name"].is_string()) {
            force = true;
            forced = (*tc)["function"]["name"].get<std::string>();
            if (std::none_of(tools.begin(), tools.end(), [&](const Tool& t) { return t.name == forced; }))
                bad("tool_choice", fmt::format("tool_choice names '{}', which is not among the tools", forced));
        } else {
            bad("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}");
        }
        if (force && tools.empty()) bad("tool_choice", "tool_choice requires tools");
    }
    boolean(body, "parallel_tool_calls", true);

    // thinking off: chat_template_kwargs.enable_thinking = false, or reasoning_effort "none"
    ChatSpec spec;
    spec.messages = std::move(conversation);
    spec.tools = std::move(tools);
    spec.force_tool = force;
    spec.tool_name = forced;
    if (const json* t = field(body, "tools")) spec.strict_tools = strict_tools(*t, true);
    if (const json* kw = field(body, "chat_template_kwargs")) {
        if (!kw->is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object");
        if (kw->contains("enable_thinking")) spec.thinking = boolean(*kw, "enable_thinking", true);
        spec.render.extra_json = kw->dump();
    }
    if (const json* effort = field(body, "reasoning_effort")) {
        if (!effort->is_string()) bad("reasoning_effort", "'reasoning_effort' must be a string");
        const std::string e = effort->get<std::string>();
        if (e == "none") spec.thinking = false;
        else if (e != "minimal" && e != "low" && e != "medium" && e != "high")
            bad("reasoning_effort", "'reasoning_effort' must be none, minimal, low, medium or high");
    }
    if (!force) {
        if (const json* rf = field(body, "response_format")) {
            if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
                bad("response_format", "'response_format' must be an object with a 'type'");
            const std::string type = (*rf)["type"].get<std::string>();
            if (type == "json_object") {
                spec.format = ChatSpec::Format::kJsonObject;
            } else if (type == "json_schema") {
                const json* js = field(*rf, "json_schema");
                if (js == nullptr || !js->is_object() || !js->contains("schema"))
                    bad("response_format", "response_format json_schema needs 'json_schema': {'name', 'schema'}");
                spec.format = ChatSpec::Format::kJsonSchema;
                spec.schema = (*js)["schema"].dump();
            } else if (type != "text") {
                bad("response_format", "response_format type must be text, json_object or json_schema");
            }
        }
    }
    build_chat(spec, ctx, r);

    if (const json* lp = field(body, "logprobs"); lp != nullptr && boolean(body, "logprobs", false))
        r.top_logprobs = static_cast<int>(integer(body, "top_logprobs", 0, 20, 0));
    else if (field(body, "top_logprobs"))
        bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    return r;
}

Request parse_completion_request(const json& body, const ApiContext& ctx) {
    Request r;
    r.kind = Request::Kind::kCompletion;
    parse_sampling(body, ctx, r);
    const json* prompt = field(body, "prompt");
    if (prompt == nullptr) bad("prompt", "'prompt' is required");
    const Tokenizer& tok = *ctx.tokenizer;
    auto text_prompt = [&](const std::string& text) {
        r.prompt_text = text;
        r.prompt = tok.encode(text, tok.add_bos(), true);
    };
    if (prompt->is_string()) {
        text_prompt(prompt->get<std::string>());
    } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
        text_prompt((*prompt)[0].get<std::string>());
    } else if (prompt->is_array() && !prompt->empty() && std::all_of(prompt->begin(), prompt->end(), [](const json& x) { return x.is_number_integer(); })) {
        for (const json& x : *prompt) {
            const auto id = x.get<int64_t>();
            if (id < 0 || id >= tok.n_vocab()) bad("prompt", fmt::format("token id {} is not in the vocabulary", id));
            r.prompt.push_back(static_cast<int32_t>(id));
        }
        r.prompt_text = tok.decode(r.prompt);
    } else {
        bad("prompt", "'prompt' must be a string or a list of token ids (one prompt per request)");
    }
    r.echo = boolean(body, "echo", false);
    r.options.parse_reply = false;  // raw text: no reasoning or tool-call split
    if (const json* lp = field(body, "logprobs")) {
        if (lp->is_boolean()) r.top_logprobs = lp->get<bool>() ? 0 : -1;
        else r.top_logprobs = static_cast<int>(integer(body, "logprobs", 0, 20, 0));
    }
    if (const json* suffix = field(body, "suffix"); suffix != nullptr) bad("suffix", "'suffix' is not supported");
    check_fits(r, ctx);
    if (r.options.max_tokens < 0 && !field(body, "max_tokens")) r.options.max_tokens = 16;  // OpenAI's default for completions
    return r;
}

std::string apply_template(const json& body, const ApiContext& ctx) {
    const json* messages = field(body, "messages");
    if (messages == nullptr || !messages->is_array()) bad("messages", "'messages' must be a list");
    try {
        const std::vector<Message> conversation = Message::parse_list(messages->dump());
        return ctx.chat_template->render(conversation, parse_tools(body), RenderOptions{});
    } catch (const Error& e) {
        bad("messages", e.what());
    }
}

TokenLogprob token_logprob(std::span<const float> logits, int32_t id, int top_n) {
    TokenLogprob out;
    out.id = id;
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float x : logits) sum += std::exp(static_cast<double>(x - max));
    const auto log_z = static_cast<float>(max + std::log(sum));
    out.logprob = logits[static_cast<size_t>(id)] - log_z;
    if (top_n > 0) {
        std::vector<int32_t> ids(logits.size());
        for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
        const auto n = static_cast<std::ptrdiff_t>(std::min<size_t>(static_cast<size_t>(top_n), ids.size()));
        std::partial_sort(ids.begin(), ids.begin() + n, ids.end(),
                          [&](int32_t a, int32_t b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
        for (std::ptrdiff_t i = 0; i < n; ++i) out.top.emplace_back(ids[static_cast<size_t>(i)], logits[static_cast<size_t>(ids[static_cast<size_t>(i)])] - log_z);
    }
    return out;
}

json logprob_json(const TokenLogprob& lp, const Tokenizer& tokenizer) {
    auto entry = [&](int32_t id, float logprob) {
        const std::string text = tokenizer.token_bytes(id, true);
        json bytes = json::array();
        for (unsigned char c : text) bytes.push_back(c);
        // a token may be part of a character: the text with U+FFFD, the exact bytes beside it
        return json{{"token", sanitize_utf8(text)}, {"logprob", logprob}, {"bytes", bytes}};
    };
    json j = entry(lp.id, lp.logprob);
    json top = json::array();
    for (const auto& [id, logprob] : lp.top) top.push_back(entry(id, logprob));
    j["top_logprobs"] = top;
    return j;
}

std::string to_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string finish_reason(const GenerateResult& result) {
    if (result.stop_reason == StopReason::kMaxTokens || result.stop_reason == StopReason::kContextFull) return "length";
    return result.reply.tool_calls.empty() ? "stop" : "tool_calls";
}

json usage_json(int64_t prompt_tokens, int64_t cached_tokens, int64_t completion_tokens) {
    return json{{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens},
                {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
    json out = json::array();
    for (const ToolCall& c : calls)
        out.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    return out;
}

}  // namespace lfm::serve
