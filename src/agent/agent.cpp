// lfm::Agent: the tool loop on a Chat. The model replies; when the reply calls tools, each call
// is approved (or not), run by the executor, and its result added as a tool message; then the
// model replies again, until it answers without a call or the round limit is reached. Chat keeps
// the conversation's prefix in the session, so a round costs only the new tool messages' tokens.

#include "lfm/agent.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "lfm/constrain.h"

namespace lfm {

namespace {

// The text cut to about max_tokens tokens (at a token and character boundary), with a note that
// says so; unchanged when it fits. A token is at least one byte, so a text of no more bytes than
// max_tokens is never tokenized.
std::string fit_result(const std::string& text, int64_t max_tokens, const Tokenizer& tokenizer) {
    const auto limit = static_cast<size_t>(std::max<int64_t>(max_tokens, 1));
    if (text.size() <= limit) return text;
    // Only a prefix can be kept: no need to tokenize megabytes of it (no token is 64 bytes long).
    const std::string_view head = std::string_view(text).substr(0, std::min(text.size(), limit * 64));
    const std::vector<int32_t> ids = tokenizer.encode(head, false, false);
    if (ids.size() <= limit && head.size() == text.size()) return text;
    constexpr size_t kNoteRoom = 40;  // tokens the note itself takes, about
    const size_t keep = limit > 2 * kNoteRoom ? limit - kNoteRoom : limit / 2;
    size_t bytes = 0;
    for (size_t i = 0; i < keep && i < ids.size(); ++i) bytes += tokenizer.token_bytes(ids[i], false).size();
    bytes = std::min(bytes, text.size());
    while (bytes > 0 && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80)
        --bytes;  // not inside a character
    return fmt::format("{}\n[lfm: the result was cut to its first {} of {} bytes to fit the context]",
                       text.substr(0, bytes), bytes, text.size());
}

// Calls ids unique in the conversation: each reply numbers its calls from call_0, so a later
// round's ids are renumbered after the calls before it.
void renumber_calls(std::span<const Message> before, std::vector<ToolCall>& calls) {
    std::set<std::string> taken;
    for (const Message& m : before)
        for (const ToolCall& c : m.tool_calls) taken.insert(c.id);
    size_t next = taken.size();
    for (ToolCall& c : calls) {
        if (!c.id.empty() && taken.count(c.id) == 0) {
            taken.insert(c.id);
            continue;
        }
        while (taken.count("call_" + std::to_string(next)) != 0) ++next;
        c.id = "call_" + std::to_string(next);
        taken.insert(c.id);
    }
}

bool is_set(const std::atomic<bool>* flag) {
    return flag != nullptr && flag->load();
}

}  // namespace

Agent::Agent(Chat& chat, ToolExecutor& tools, AgentOptions options)
    : chat_(chat), tools_(tools), options_(std::move(options)) {}

bool Agent::approved(const ToolCall& call) {
    if (!options_.approve) return true;
    if (std::find(always_allowed_.begin(), always_allowed_.end(), call.name) != always_allowed_.end())
        return true;
    const ToolApproval answer = options_.approve(call);
    if (answer == ToolApproval::kAlwaysAllow) always_allowed_.push_back(call.name);
    return answer != ToolApproval::kDeny;
}

AgentResult Agent::send(Message message, const GenerateOptions& options, const GenerateEvents& events) {
    const std::vector<Tool> tools = tools_.tools();
    const std::string& choice = options_.tool_choice;
    const bool forced = choice != "auto" && choice != "none";
    if (forced && tools.empty())
        throw Error(ErrorCode::kInvalidArgument, "tool_choice '" + choice + "' but there are no tools");
    if (forced && choice != "required" &&
        std::none_of(tools.begin(), tools.end(), [&](const Tool& t) { return t.name == choice; }))
        throw Error(ErrorCode::kInvalidArgument,
                    "tool_choice names '" + choice + "', which no tool declares");
    if (options_.max_tool_rounds < 0)
        throw Error(ErrorCode::kInvalidArgument, "max_tool_rounds must be 0 or more");
    chat_.set_tools(tools);

    AgentResult out;
    size_t first = chat_.messages().size();  // where this send's messages begin
    chat_.add_message(std::move(message));
    GenerateOptions go = options;
    for (int round = 0;; ++round) {
        go.constraint = options.constraint;
        if (round == 0 && forced) {
            const bool thinking = options_.thinking && options.reasoning_budget != 0;
            go.constraint =
                Constraint::tool_call(tools, choice == "required" ? "" : choice, thinking, chat_.tokenizer());
        }
        GenerateResult r;
        try {
            r = chat_.reply(go, events);
        } catch (const Error& e) {
            if (round == 0) chat_.truncate(first);  // the turn did not happen
            if (e.code() == ErrorCode::kContextOverflow && !tools.empty())
                throw Error(
                    e.code(),
                    fmt::format(
                        "{} (the {} tools' descriptions are part of the prompt: fewer tools take less)",
                        e.what(), tools.size()));
            throw;
        } catch (...) {
            if (round == 0) chat_.truncate(first);
            throw;
        }
        first -= std::min(first, static_cast<size_t>(r.messages_dropped));  // old turns dropped to fit
        out.last = std::move(r);
        const GenerateResult& last = out.last;
        if (last.reply.tool_calls.empty() || last.stop_reason != StopReason::kEndOfTurn || choice == "none")
            break;
        if (out.tool_rounds >= options_.max_tool_rounds) {
            out.round_limit = true;
            break;
        }
        ++out.tool_rounds;

        // The reply as Chat stored it, its call ids made unique in the conversation.
        Message reply = chat_.messages().back();
        renumber_calls(std::span(chat_.messages()).first(chat_.messages().size() - 1), reply.tool_calls);
        chat_.truncate(chat_.messages().size() - 1);
        chat_.add_message(reply);

        int64_t pending_tokens = 0;  // results of this round already added, not yet in the session
        bool cancelled = false;
        for (const ToolCall& call : reply.tool_calls) {
            ToolResult result;
            if (cancelled) {
                result = {"not run: the user cancelled the calls", true};
            } else if (!approved(call)) {
                result = {"the user did not allow this call", true};
            } else {
                if (options_.on_call) options_.on_call(call);
                result = tools_.call(call, options.cancel);
                if (is_set(options.cancel)) cancelled = true;
            }
            const int64_t free = chat_.context_size() - chat_.context_used() - pending_tokens;
            const int64_t budget =
                options_.max_result_tokens > 0 ? options_.max_result_tokens : std::max<int64_t>(free / 2, 16);
            result.content = fit_result(result.content, budget, *chat_.tokenizer());
            if (options_.on_result) options_.on_result(call, result);
            Message tool =
                Message::tool(result.is_error ? fmt::format("Error: {}", result.content) : result.content);
            tool.tool_call_id = call.id;
            pending_tokens += static_cast<int64_t>(tool.content.size() / 3) +
                              8;  // an estimate; the prompt is measured exactly
            chat_.add_message(std::move(tool));
        }
        if (cancelled) break;  // the results are in the conversation; the user speaks next
    }
    const auto& all = chat_.messages();
    out.messages.assign(all.begin() + static_cast<std::ptrdiff_t>(std::min(first, all.size())), all.end());
    return out;
}

}  // namespace lfm
