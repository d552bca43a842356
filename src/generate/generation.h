#pragma once
// One reply being generated, a token at a time, driven from outside: generate() runs it on one
// session, and the HTTP server's scheduler runs many in step, feeding every slot's tokens to one
// forward pass (run_batch).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "lfm/generate.h"

namespace lfm {

class Generation {
public:
    // The prompt is already in the session, and session.logits() are its last token's.
    // Throws lfm::Error for options out of range.
    Generation(const Session& session, const Tokenizer& tokenizer, const GenerateOptions& options,
               const GenerateEvents& events);

    // Picks the next token from the session's logits and delivers its text. Returns the tokens
    // to append to the session before the next call: the token, and the </think> a spent
    // reasoning budget forces; empty once the reply has ended (then done() is true).
    const std::vector<int32_t>& step();
    // The checks the constructor makes, for callers that want them before running the prompt.
    static void validate(const GenerateOptions& options);
    bool done() const { return done_; }
    // Flushes the text held back (a partial character, a possible stop string) and returns the
    // result; timings cover the steps only (the caller adds the prompt's).
    GenerateResult finish();

private:
    int32_t pick();
    int32_t pick_masked(ConstraintMatcher& matcher);
    bool output(std::string_view text);  // false once a stop string is reached
    void deliver(std::string_view text);
    void stop(StopReason reason);

    const Session& session_;
    const Tokenizer& tokenizer_;
    const GenerateOptions& options_;
    GenerateEvents events_;
    Sampler sampler_;
    std::vector<int32_t> stop_ids_;
    int32_t end_id_ = -1;
    std::optional<ConstraintMatcher> matcher_;
    std::optional<ConstraintMatcher> call_matcher_;  // inside a tool call the model started
    int32_t call_start_id_ = -1;                      // <|tool_call_start|> when calls are held to a constraint
    std::vector<uint64_t> mask_;
    ReplyStream stream_;
    std::vector<int32_t> history_;  // the whole sequence, for the repetition penalty
    std::vector<int32_t> feed_;
    std::string utf8_pending_, stop_pending_;
    bool stopped_by_string_ = false;
    int64_t thinking_tokens_ = 0;
    bool budget_spent_ = false;
    bool done_ = false;
    GenerateResult result_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace lfm
