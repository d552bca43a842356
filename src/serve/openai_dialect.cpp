// OpenAI's chat.completion / text_completion objects and their stream chunks.

#include <fmt/format.h>

#include "dialect.h"

namespace lfm::serve {

std::string sse(const json& data) { return fmt::format("data: {}\n\n", to_text(data)); }
std::string sse(const std::string& event, const json& data) { return fmt::format("event: {}\ndata: {}\n\n", event, to_text(data)); }

json openai_error(const ApiError& e) {
    return json{{"error", {{"message", e.what()}, {"type", e.type}, {"param", e.param.empty() ? json() : json(e.param)}, {"code", json()}}}};
}

namespace {

class OpenAi : public Dialect {
public:
    OpenAi(bool chat, bool include_usage) : chat_(chat), include_usage_(include_usage) {}

    std::string stream_start(const Reply& r) override {
        return chat_ ? sse(chunk(r, json{{"role", "assistant"}, {"content", ""}})) : std::string();
    }

    std::string stream_event(const Reply& r, const Event& e) override {
        switch (e.kind) {
            case Event::Kind::kReasoning: return sse(chunk(r, json{{"reasoning_content", e.text}}));
            case Event::Kind::kContent: return sse(chunk(r, chat_ ? json{{"content", e.text}} : json(e.text)));
            case Event::Kind::kToolCall: {
                const ToolCall& c = r.calls.back();
                json call{{"index", r.calls.size() - 1}, {"id", c.id}, {"type", "function"},
                          {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
                return sse(chunk(r, json{{"tool_calls", json::array({call})}}));
            }
            case Event::Kind::kLogprob: {
                json c = chunk(r, chat_ ? json::object() : json(""));
                c["choices"][0]["logprobs"] = json{{"content", json::array({r.logprobs.back()})}};
                return sse(c);
            }
            case Event::Kind::kPromptProgress:  // a comment: keeps clients and proxies from timing out
                return fmt::format(": prompt {}/{}\n\n", e.prompt_done, e.prompt_tokens);
            default: return {};
        }
    }

    std::string stream_end(const Reply& r) override {
        const GenerateResult& g = r.done->result;
        std::string out = sse(chunk(r, chat_ ? json::object() : json(""), finish_reason(g)));
        if (include_usage_) {
            json u = chunk(r, json::object());
            u["choices"] = json::array();
            u["usage"] = usage_json(r.done->prompt_tokens, r.done->cached_tokens, g.timings.generated_tokens);
            out += sse(u);
        }
        return out + "data: [DONE]\n\n";
    }

    json body(const Reply& r) override {
        const GenerateResult& g = r.done->result;
        json choice{{"index", 0}};
        if (chat_) {
            json m{{"role", "assistant"}, {"content", r.content.empty() && !r.calls.empty() ? json() : json(r.content)}};
            if (!r.reasoning.empty()) m["reasoning_content"] = r.reasoning;
            if (!r.calls.empty()) m["tool_calls"] = tool_calls_json(r.calls);
            choice["message"] = m;
        } else {
            choice["text"] = r.content;
        }
        choice["logprobs"] = r.logprobs.empty() ? json() : json{{"content", r.logprobs}};
        choice["finish_reason"] = finish_reason(g);
        return json{{"id", r.id},
                    {"object", chat_ ? "chat.completion" : "text_completion"},
                    {"created", r.created},
                    {"model", r.model},
                    {"choices", json::array({choice})},
                    {"usage", usage_json(r.done->prompt_tokens, r.done->cached_tokens, g.timings.generated_tokens)},
                    {"timings", {{"prompt_n", g.timings.prompt_tokens}, {"prompt_ms", g.timings.prompt_ms},
                                 {"predicted_n", g.timings.generated_tokens}, {"predicted_ms", g.timings.generate_ms}}}};
    }

    json error_body(const ApiError& e) const override { return openai_error(e); }
    std::string stream_error(const ApiError& e) const override { return sse(openai_error(e)); }

private:
    json chunk(const Reply& r, json delta_or_text, const json& finish = json()) const {
        json choice{{"index", 0}};
        if (chat_) choice["delta"] = std::move(delta_or_text);
        else choice["text"] = std::move(delta_or_text);
        choice["logprobs"] = json();
        choice["finish_reason"] = finish;
        return json{{"id", r.id}, {"object", chat_ ? "chat.completion.chunk" : "text_completion"}, {"created", r.created},
                    {"model", r.model}, {"choices", json::array({choice})}};
    }

    bool chat_, include_usage_;
};

}  // namespace

std::unique_ptr<Dialect> openai_chat_dialect(bool include_usage) { return std::make_unique<OpenAi>(true, include_usage); }
std::unique_ptr<Dialect> openai_completion_dialect(bool include_usage) { return std::make_unique<OpenAi>(false, include_usage); }

}  // namespace lfm::serve
