// generate(): the prompt, then one Generation step after another on one session.

#include <chrono>

#include "generation.h"

namespace lfm {

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
    Generation::validate(options);
    if (prompt.empty() && session.position() == 0) throw Error(ErrorCode::kInvalidArgument, "the prompt is empty");
    const int64_t free = session.n_ctx() - session.position();
    if (static_cast<int64_t>(prompt.size()) > free)
        throw Error(ErrorCode::kContextOverflow,
                    "the prompt has " + std::to_string(prompt.size()) + " tokens but the context has room for " +
                        std::to_string(free) + " (of " + std::to_string(session.n_ctx()) + "); use a larger -c");
    for (int32_t id : prompt)
        if (id < 0 || id >= tokenizer.n_vocab())
            throw Error(ErrorCode::kInvalidArgument, "prompt token id " + std::to_string(id) + " is not in the vocabulary");

    const auto t_prompt = std::chrono::steady_clock::now();
    if (!prompt.empty()) session.prefill(prompt);
    const double prompt_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_prompt).count();

    Generation g(session, tokenizer, options, events);
    for (;;) {
        const std::vector<int32_t>& feed = g.step();
        if (feed.empty()) break;
        session.prefill(feed);
    }
    GenerateResult result = g.finish();
    result.timings.prompt_tokens = static_cast<int64_t>(prompt.size());
    result.timings.prompt_ms = prompt_ms;
    return result;
}

}  // namespace lfm
