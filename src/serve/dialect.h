#pragma once
// How one API (OpenAI chat completions, OpenAI completions, Anthropic messages, ...) turns a
// job's events into its stream and its final object. The events add up in a Reply, common to
// all; a Dialect formats. http.cpp runs any of them the same way.

#include <optional>
#include <string>
#include <vector>

#include "openai.h"
#include "scheduler.h"

namespace lfm::serve {

struct Reply {
    std::string id, model;
    int64_t created = 0;
    std::string reasoning, content;
    std::vector<ToolCall> calls;
    json logprobs = json::array();
    std::optional<Event> done;
    std::string error;
};

class Dialect {
public:
    virtual ~Dialect() = default;
    // Server-sent events, each a complete "event: ...\ndata: ...\n\n" or "data: ...\n\n" text.
    virtual std::string stream_start(const Reply& r) = 0;
    // After the event has been applied to r (the event's own delta is in e).
    virtual std::string stream_event(const Reply& r, const Event& e) = 0;
    virtual std::string stream_end(const Reply& r) = 0;
    virtual json body(const Reply& r) = 0;
    virtual json error_body(const ApiError& e) const = 0;
    virtual std::string stream_error(const ApiError& e) const = 0;
};

// OpenAI's error object: {"error": {"message", "type", "param", "code"}}.
json openai_error(const ApiError& e);
std::unique_ptr<Dialect> openai_chat_dialect(bool include_usage);
std::unique_ptr<Dialect> openai_completion_dialect(bool include_usage);
std::unique_ptr<Dialect> anthropic_dialect();
std::unique_ptr<Dialect> responses_dialect();

std::string sse(const json& data);                            // "data: {...}\n\n"
std::string sse(const std::string& event, const json& data);  // "event: NAME\ndata: {...}\n\n"

}  // namespace lfm::serve
