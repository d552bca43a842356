// Splitting a streamed reply into reasoning, content and tool calls (tokenizer-and-chat.md
// §3.2–3.3, §4). Markers may arrive split across pieces, so text that could be the start of a
// marker is held back until it is decided; white space at the edges of reasoning and content is
// held back too, and dropped where a section ends (parsers must trim, §2.1).

#include <algorithm>
#include <span>

#include "lfm/chat.h"

namespace lfm {
namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";
constexpr std::string_view kCallOpen = "<|tool_call_start|>";
constexpr std::string_view kCallClose = "<|tool_call_end|>";

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Length of the longest suffix of text that is a proper prefix of one of the markers.
size_t partial_marker_suffix(std::string_view text, std::span<const std::string_view> markers) {
    size_t best = 0;
    for (std::string_view m : markers)
        for (size_t n = std::min(text.size(), m.size() - 1); n > best; --n)
            if (text.substr(text.size() - n) == m.substr(0, n)) {
                best = n;
                break;
            }
    return best;
}

}  // namespace

ReplyStream::ReplyStream(Events events, std::vector<Tool> tools, bool starts_in_reasoning)
    : events_(std::move(events)), tools_(std::move(tools)),
      state_(starts_in_reasoning ? State::kReasoning : State::kContent) {}

// Text of the current section that is certain: leading white space of a section is dropped,
// trailing white space waits in pending_ (it is emitted once more text follows).
void ReplyStream::emit(std::string_view text) {
    if (text.empty()) return;
    if (state_ == State::kReasoning) {
        if (reply_.reasoning.empty()) {
            size_t b = 0;
            while (b < text.size() && is_ws(text[b])) ++b;
            text.remove_prefix(b);
            if (text.empty()) return;
        }
        reply_.reasoning += text;
        if (events_.reasoning) events_.reasoning(text);
    } else {
        if (!seen_content_) {
            size_t b = 0;
            while (b < text.size() && is_ws(text[b])) ++b;
            text.remove_prefix(b);
            if (text.empty()) return;
            seen_content_ = true;
        }
        reply_.content += text;
        if (events_.content) events_.content(text);
    }
}

void ReplyStream::push(std::string_view piece) {
    pending_ += piece;
    for (;;) {
        if (state_ == State::kToolCall) {
            size_t end = pending_.find(kCallClose);
            if (end == std::string::npos) {
                // Keep a possible partial end marker in pending_, the rest in block_.
                size_t keep = partial_marker_suffix(pending_, std::span<const std::string_view>(&kCallClose, 1));
                block_ += pending_.substr(0, pending_.size() - keep);
                pending_.erase(0, pending_.size() - keep);
                return;
            }
            block_ += pending_.substr(0, end);
            pending_.erase(0, end + kCallClose.size());
            close_tool_block(true);
            continue;
        }
        static constexpr std::string_view kInReasoning[] = {kThinkClose};
        static constexpr std::string_view kInContent[] = {kThinkOpen, kCallOpen};
        const std::span<const std::string_view> markers =
            state_ == State::kReasoning ? std::span<const std::string_view>(kInReasoning)
                                        : std::span<const std::string_view>(kInContent);
        size_t hit = std::string::npos;
        std::string_view marker;
        for (std::string_view m : markers) {
            size_t at = pending_.find(m);
            if (at < hit) hit = at, marker = m;
        }
        if (hit != std::string::npos) {
            std::string before = pending_.substr(0, hit);
            pending_.erase(0, hit + marker.size());
            // Trailing white space before a marker ends the section: dropped (but kept with a
            // tool-call block, in case the block turns out not to parse and becomes content).
            size_t text_end = before.size();
            while (text_end > 0 && is_ws(before[text_end - 1])) --text_end;
            ws_before_block_ = before.substr(text_end);
            before.resize(text_end);
            emit(before);
            if (marker == kThinkOpen) state_ = State::kReasoning;
            else if (marker == kThinkClose) state_ = State::kContent;
            else state_ = State::kToolCall;
            continue;
        }
        // No marker: emit all but a possible partial marker and trailing white space.
        size_t keep = partial_marker_suffix(pending_, markers);
        size_t cut = pending_.size() - keep;
        while (cut > 0 && is_ws(pending_[cut - 1])) --cut;
        emit(std::string_view(pending_).substr(0, cut));
        pending_.erase(0, cut);
        return;
    }
}

void ReplyStream::close_tool_block(bool complete) {
    ToolCallParse parsed = complete ? parse_tool_calls(block_, tools_) : ToolCallParse{{}, "the block was not closed"};
    state_ = State::kContent;
    if (parsed.ok()) {
        for (ToolCall& call : parsed.calls) {
            call.id = "call_" + std::to_string(reply_.tool_calls.size());
            reply_.tool_calls.push_back(call);
            if (events_.tool_call) events_.tool_call(call);
        }
    } else {
        // Never lose text: the raw block becomes content, and the error is reported.
        std::string raw = ws_before_block_ + std::string(kCallOpen) + block_ + (complete ? std::string(kCallClose) : std::string());
        reply_.tool_call_errors.push_back(parsed.error);
        if (events_.tool_call_error) events_.tool_call_error(raw, parsed.error);
        emit(raw);
    }
    block_.clear();
}

void ReplyStream::finish() {
    if (state_ == State::kToolCall) {
        block_ += pending_;
        pending_.clear();
        close_tool_block(false);
        return;
    }
    // A held-back partial marker is text after all; trailing white space is dropped.
    std::string rest = std::move(pending_);
    pending_.clear();
    while (!rest.empty() && is_ws(rest.back())) rest.pop_back();
    emit(rest);
}

ParsedReply parse_reply(std::string_view text, std::span<const Tool> tools) {
    ReplyStream stream({}, std::vector<Tool>(tools.begin(), tools.end()));
    stream.push(text);
    stream.finish();
    ParsedReply reply = stream.reply();
    // LFM2.5 may write the call list without markers (§3.3): with declared tools, a reply that is
    // nothing but such a list is taken as calls.
    if (!tools.empty() && reply.tool_calls.empty() && reply.content.starts_with('[')) {
        ToolCallParse bare = parse_tool_calls(reply.content, tools);
        if (bare.ok()) {
            reply.tool_calls = std::move(bare.calls);
            reply.content.clear();
        }
    }
    return reply;
}

}  // namespace lfm
