// The generation loop: prefill, then sample -> stop rules -> text -> reply splitter -> decode,
// one token at a time. Text goes out only when it is certain: a character split across tokens
// waits for its last byte, and text that may be the start of a stop string waits until it is
// not (stop strings never leak into the output).

#include <algorithm>
#include <chrono>
#include <optional>

#include "lfm/generate.h"
#include "text/utf8.h"

namespace lfm {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Length of the longest suffix of text that is a proper prefix of a stop string.
size_t partial_stop_suffix(std::string_view text, const std::vector<std::string>& stops) {
    size_t best = 0;
    for (const std::string& s : stops)
        for (size_t n = std::min(text.size(), s.size() - 1); n > best; --n)
            if (text.substr(text.size() - n) == std::string_view(s).substr(0, n)) {
                best = n;
                break;
            }
    return best;
}

bool is_marker(const Tokenizer& tokenizer, int32_t id) {
    const std::string& text = tokenizer.token_text(id);
    return text == "<think>" || text == "</think>" || text == "<|tool_call_start|>" || text == "<|tool_call_end|>";
}

}  // namespace

const char* to_string(StopReason reason) {
    switch (reason) {
        case StopReason::kEndOfTurn: return "end_of_turn";
        case StopReason::kMaxTokens: return "max_tokens";
        case StopReason::kStopString: return "stop_string";
        case StopReason::kContextFull: return "context_full";
        case StopReason::kCancelled: return "cancelled";
    }
    return "?";
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::span<const int32_t> prompt,
                        const GenerateOptions& options, const GenerateEvents& events) {
    if (options.max_tokens < -1) throw Error(ErrorCode::kInvalidArgument, "max tokens must be >= 0 (or -1: no limit)");
    for (const std::string& s : options.stop)
        if (s.empty()) throw Error(ErrorCode::kInvalidArgument, "a stop string must not be empty");
    if (prompt.empty() && session.position() == 0) throw Error(ErrorCode::kInvalidArgument, "the prompt is empty");
    const int64_t free = session.n_ctx() - session.position();
    if (static_cast<int64_t>(prompt.size()) > free)
        throw Error(ErrorCode::kContextOverflow,
                    "the prompt has " + std::to_string(prompt.size()) + " tokens but the context has room for " +
                        std::to_string(free) + " (of " + std::to_string(session.n_ctx()) + "); use a larger -c");
    for (int32_t id : prompt)
        if (id < 0 || id >= tokenizer.n_vocab())
            throw Error(ErrorCode::kInvalidArgument, "prompt token id " + std::to_string(id) + " is not in the vocabulary");

    Sampler sampler(options.sampler);
    std::vector<int32_t> stop_ids;
    if (auto eos = tokenizer.eos()) stop_ids.push_back(*eos);
    for (const char* t : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = tokenizer.find_token(t)) stop_ids.push_back(*id);

    // A constraint: its matcher follows the generation and masks each step's choice.
    std::optional<ConstraintMatcher> matcher;
    std::vector<uint64_t> mask;
    int32_t end_id = stop_ids.empty() ? -1 : stop_ids.front();
    if (auto im_end = tokenizer.find_token("<|im_end|>")) end_id = *im_end;
    if (options.constraint) {
        if (options.constraint->tokenizer().n_vocab() != tokenizer.n_vocab())
            throw Error(ErrorCode::kInvalidArgument, "the constraint was made for another vocabulary (" +
                                                         std::to_string(options.constraint->tokenizer().n_vocab()) +
                                                         " tokens, not " + std::to_string(tokenizer.n_vocab()) + ")");
        matcher.emplace(options.constraint);
        mask.resize(matcher->mask_words());
    }

    GenerateResult result;

    // Output plumbing: reply splitter (or plain content), fed through the stop-string filter.
    ReplyStream::Events split_events{events.reasoning, events.content, events.tool_call, {}};
    ReplyStream stream(split_events, options.tools, options.starts_in_reasoning);
    std::string utf8_pending, stop_pending;
    bool stopped_by_string = false;
    auto deliver = [&](std::string_view text) {
        result.text += text;
        if (options.parse_reply) stream.push(text);
        else if (events.content && !text.empty()) events.content(text);
    };
    auto output = [&](std::string_view text) {  // returns false once a stop string is reached
        if (options.stop.empty()) {
            deliver(text);
            return true;
        }
        stop_pending += text;
        size_t first = std::string::npos;
        for (const std::string& s : options.stop) first = std::min(first, stop_pending.find(s));
        if (first != std::string::npos) {
            deliver(std::string_view(stop_pending).substr(0, first));
            stop_pending.clear();
            stopped_by_string = true;
            return false;
        }
        size_t keep = partial_stop_suffix(stop_pending, options.stop);
        deliver(std::string_view(stop_pending).substr(0, stop_pending.size() - keep));
        stop_pending.erase(0, stop_pending.size() - keep);
        return true;
    };

    const auto t_prompt = Clock::now();
    if (!prompt.empty()) session.prefill(prompt);
    result.timings.prompt_tokens = static_cast<int64_t>(prompt.size());
    result.timings.prompt_ms = ms_since(t_prompt);
    // for the repetition penalty: the whole sequence, earlier turns included
    std::vector<int32_t> history(session.tokens().begin(), session.tokens().end());

    const auto t_gen = Clock::now();
    int64_t thinking_tokens = 0;
    bool budget_spent = false;
    result.stop_reason = StopReason::kMaxTokens;
    for (;;) {
        if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
            result.stop_reason = StopReason::kCancelled;
            break;
        }
        if (options.max_tokens >= 0 && result.timings.generated_tokens >= options.max_tokens) {
            result.stop_reason = StopReason::kMaxTokens;
            break;
        }
        int32_t id;
        if (!matcher) {
            id = sampler.sample(session.logits(), history);
        } else if (matcher->only_end() || matcher->ended()) {
            id = end_id;  // complete, and nothing may follow: the turn ends here
            matcher->advance(id);
        } else {
            // The mask first, then the sampler chain on what it allows; a single choice is taken.
            matcher->fill_mask(mask);
            size_t allowed = 0;
            int32_t only = -1;
            for (size_t w = 0; w < mask.size(); ++w)
                if (mask[w]) {
                    allowed += static_cast<size_t>(__builtin_popcountll(mask[w]));
                    only = static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(mask[w])));
                }
            if (allowed == 0)
                throw Error(ErrorCode::kInvalidArgument, "the constraint allows no token here (a bug: please report the grammar)");
            id = allowed == 1 ? only : sampler.sample(session.logits(), history, mask);
            if (!matcher->advance(id))
                throw Error(ErrorCode::kInvalidArgument, "the constraint rejected a token its own mask allowed");
        }
        ++result.timings.generated_tokens;
        result.tokens.push_back(id);
        if (events.token) events.token(id);
        const bool constraint_done = matcher && matcher->ended();
        if ((!options.ignore_eos || constraint_done) && std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) {
            result.stop_reason = StopReason::kEndOfTurn;
            break;
        }
        history.push_back(id);
        if (stream.in_reasoning()) ++thinking_tokens;

        // Control tokens print nothing, except the markers the reply splitter reads.
        if (!tokenizer.is_special(id) || is_marker(tokenizer, id)) utf8_pending += tokenizer.token_bytes(id, true);
        const size_t complete = utf8_complete_prefix(utf8_pending);
        // Invalid bytes (a model can emit any byte token) become U+FFFD: events carry valid UTF-8.
        const bool go_on = output(sanitize_utf8(std::string_view(utf8_pending).substr(0, complete)));
        utf8_pending.erase(0, complete);
        if (!go_on) {
            result.stop_reason = StopReason::kStopString;
            break;
        }
        if (session.position() >= session.n_ctx()) {
            result.stop_reason = StopReason::kContextFull;
            break;
        }
        session.decode(id);

        // Reasoning budget: close the thought and let the answer begin.
        if (options.reasoning_budget >= 0 && !budget_spent && stream.in_reasoning() &&
            thinking_tokens >= options.reasoning_budget) {
            budget_spent = true;
            std::vector<int32_t> close = tokenizer.encode("</think>", false, true);
            // Under a constraint the thought closes only where the constraint allows it to.
            if (matcher) {
                if (close.size() != 1 || !matcher->advance(close[0])) continue;
            }
            if (session.position() + static_cast<int64_t>(close.size()) > session.n_ctx()) {
                result.stop_reason = StopReason::kContextFull;
                break;
            }
            session.prefill(close);
            result.tokens.insert(result.tokens.end(), close.begin(), close.end());
            history.insert(history.end(), close.begin(), close.end());
            output(sanitize_utf8(utf8_pending) + "</think>");
            utf8_pending.clear();
        }
    }
    if (!stopped_by_string) {
        if (!utf8_pending.empty()) output(sanitize_utf8(utf8_pending));
        if (!stop_pending.empty()) deliver(stop_pending);  // held back as a possible stop string; it was not
    }
    if (options.parse_reply) {
        stream.finish();
        result.reply = stream.reply();
    } else {
        result.reply.content = result.text;
    }
    result.timings.generate_ms = ms_since(t_gen);
    return result;
}

}  // namespace lfm
