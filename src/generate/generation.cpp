// One reply, a step at a time: sample (under the constraint's mask, if any) -> stop rules ->
// text -> reply splitter. Text goes out only when it is certain: a character split across
// tokens waits for its last byte, and text that may be the start of a stop string waits until
// it is not (stop strings never leak into the output).

#include "generation.h"

#include <algorithm>

#include "text/utf8.h"

namespace lfm {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
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

ReplyStream::Events split_events(const GenerateEvents& e) { return {e.reasoning, e.content, e.tool_call, {}}; }

}  // namespace

Generation::Generation(const Session& session, const Tokenizer& tokenizer, const GenerateOptions& options,
                       const GenerateEvents& events)
    : session_(session),
      tokenizer_(tokenizer),
      options_(options),
      events_(events),
      sampler_(options.sampler),
      stream_(split_events(events), options.tools, options.starts_in_reasoning),
      history_(session.tokens().begin(), session.tokens().end()),
      start_(std::chrono::steady_clock::now()) {
    validate(options);
    if (auto eos = tokenizer.eos()) stop_ids_.push_back(*eos);
    for (const char* t : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = tokenizer.find_token(t)) stop_ids_.push_back(*id);
    end_id_ = stop_ids_.empty() ? -1 : stop_ids_.front();
    if (auto im_end = tokenizer.find_token("<|im_end|>")) end_id_ = *im_end;
    // A constraint: its matcher follows the generation and masks each step's choice.
    auto check_vocab = [&](const Constraint& c) {
        if (c.tokenizer().n_vocab() != tokenizer.n_vocab())
            throw Error(ErrorCode::kInvalidArgument, "the constraint was made for another vocabulary (" +
                                                         std::to_string(c.tokenizer().n_vocab()) + " tokens, not " +
                                                         std::to_string(tokenizer.n_vocab()) + ")");
    };
    if (options.constraint) {
        check_vocab(*options.constraint);
        matcher_.emplace(options.constraint);
        mask_.resize(matcher_->mask_words());
    } else if (options.tool_call_constraint) {  // held in reserve until the model starts a call
        check_vocab(*options.tool_call_constraint);
        auto start = tokenizer.find_token("<|tool_call_start|>");
        ConstraintMatcher probe(options.tool_call_constraint);
        if (!start || !probe.allows(*start))
            throw Error(ErrorCode::kInvalidArgument, "tool_call_constraint must allow <|tool_call_start|> first (a Constraint::tool_call)");
        call_start_id_ = *start;
        mask_.resize(probe.mask_words());
    }
    result_.stop_reason = StopReason::kMaxTokens;
}

void Generation::validate(const GenerateOptions& options) {
    if (options.max_tokens < -1) throw Error(ErrorCode::kInvalidArgument, "max tokens must be >= 0 (or -1: no limit)");
    for (const std::string& s : options.stop)
        if (s.empty()) throw Error(ErrorCode::kInvalidArgument, "a stop string must not be empty");
    options.sampler.validate();
}

void Generation::deliver(std::string_view text) {
    result_.text += text;
    if (options_.parse_reply) stream_.push(text);
    else if (events_.content && !text.empty()) events_.content(text);
}

bool Generation::output(std::string_view text) {
    if (options_.stop.empty()) {
        deliver(text);
        return true;
    }
    stop_pending_ += text;
    size_t first = std::string::npos;
    for (const std::string& s : options_.stop) first = std::min(first, stop_pending_.find(s));
    if (first != std::string::npos) {
        deliver(std::string_view(stop_pending_).substr(0, first));
        stop_pending_.clear();
        stopped_by_string_ = true;
        return false;
    }
    const size_t keep = partial_stop_suffix(stop_pending_, options_.stop);
    deliver(std::string_view(stop_pending_).substr(0, stop_pending_.size() - keep));
    stop_pending_.erase(0, stop_pending_.size() - keep);
    return true;
}

void Generation::stop(StopReason reason) {
    result_.stop_reason = reason;
    done_ = true;
    feed_.clear();
}

int32_t Generation::pick() {
    if (call_matcher_) {  // inside a call the model started: held to the tool-call grammar
        const int32_t id = pick_masked(*call_matcher_);
        if (call_matcher_->only_end()) call_matcher_.reset();  // <|tool_call_end|>: free again
        return id;
    }
    if (!matcher_) {
        const int32_t id = sampler_.sample(session_.logits(), history_);
        if (id == call_start_id_) {
            call_matcher_.emplace(options_.tool_call_constraint);
            call_matcher_->advance(id);
        }
        return id;
    }
    if (matcher_->only_end() || matcher_->ended()) {
        matcher_->advance(end_id_);  // complete, and nothing may follow: the turn ends here
        return end_id_;
    }
    return pick_masked(*matcher_);
}

// The mask first, then the sampler chain on what it allows; a single choice is taken.
int32_t Generation::pick_masked(ConstraintMatcher& matcher) {
    matcher.fill_mask(mask_);
    size_t allowed = 0;
    int32_t only = -1;
    for (size_t w = 0; w < mask_.size(); ++w)
        if (mask_[w]) {
            allowed += static_cast<size_t>(__builtin_popcountll(mask_[w]));
            only = static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(mask_[w])));
        }
    if (allowed == 0)
        throw Error(ErrorCode::kInvalidArgument, "the constraint allows no token here (a bug: please report the grammar)");
    const int32_t id = allowed == 1 ? only : sampler_.sample(session_.logits(), history_, mask_);
    if (!matcher.advance(id)) throw Error(ErrorCode::kInvalidArgument, "the constraint rejected a token its own mask allowed");
    return id;
}

const std::vector<int32_t>& Generation::step() {
    feed_.clear();
    if (done_) return feed_;
    if (options_.cancel && options_.cancel->load(std::memory_order_relaxed)) {
        stop(StopReason::kCancelled);
        return feed_;
    }
    if (options_.max_tokens >= 0 && result_.timings.generated_tokens >= options_.max_tokens) {
        stop(StopReason::kMaxTokens);
        return feed_;
    }
    const int32_t id = pick();
    ++result_.timings.generated_tokens;
    result_.tokens.push_back(id);
    if (events_.token) events_.token(id);
    const bool constraint_done = matcher_ && matcher_->ended();
    if ((!options_.ignore_eos || constraint_done) && std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) {
        stop(StopReason::kEndOfTurn);
        return feed_;
    }
    history_.push_back(id);
    if (stream_.in_reasoning()) ++thinking_tokens_;

    // Control tokens print nothing, except the markers the reply splitter reads.
    if (!tokenizer_.is_special(id) || is_marker(tokenizer_, id)) utf8_pending_ += tokenizer_.token_bytes(id, true);
    const size_t complete = utf8_complete_prefix(utf8_pending_);
    // Invalid bytes (a model can emit any byte token) become U+FFFD: events carry valid UTF-8.
    const bool go_on = output(sanitize_utf8(std::string_view(utf8_pending_).substr(0, complete)));
    utf8_pending_.erase(0, complete);
    if (!go_on) {
        stop(StopReason::kStopString);
        return feed_;
    }
    feed_.push_back(id);

    // Reasoning budget: close the thought and let the answer begin.
    if (options_.reasoning_budget >= 0 && !budget_spent_ && !call_matcher_ && stream_.in_reasoning() &&
        thinking_tokens_ >= options_.reasoning_budget) {
        budget_spent_ = true;
        const std::vector<int32_t> close = tokenizer_.encode("</think>", false, true);
        // Under a constraint the thought closes only where the constraint allows it to.
        if (!matcher_ || (close.size() == 1 && matcher_->advance(close[0]))) {
            feed_.insert(feed_.end(), close.begin(), close.end());
            result_.tokens.insert(result_.tokens.end(), close.begin(), close.end());
            history_.insert(history_.end(), close.begin(), close.end());
            output(sanitize_utf8(utf8_pending_) + "</think>");
            utf8_pending_.clear();
        }
    }
    if (session_.position() + static_cast<int64_t>(feed_.size()) > session_.n_ctx()) stop(StopReason::kContextFull);
    return feed_;
}

GenerateResult Generation::finish() {
    done_ = true;
    if (!stopped_by_string_) {
        if (!utf8_pending_.empty()) output(sanitize_utf8(utf8_pending_));
        if (!stop_pending_.empty()) deliver(stop_pending_);  // held back as a possible stop string; it was not
        utf8_pending_.clear();
        stop_pending_.clear();
    }
    if (options_.parse_reply) {
        stream_.finish();
        result_.reply = stream_.reply();
    } else {
        result_.reply.content = result_.text;
    }
    result_.timings.generate_ms = ms_since(start_);
    return std::move(result_);
}

}  // namespace lfm
