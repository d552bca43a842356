#include "mcp/sse.h"

#include <charconv>

namespace lfm::mcp {

bool SseReader::feed(std::string_view bytes, const std::function<void(const std::string&)>& on_data) {
    for (char c : bytes) {
        if (after_cr_) {
            after_cr_ = false;
            if (c == '\n') continue;
        }
        if (c == '\r' || c == '\n') {
            after_cr_ = c == '\r';
            line(line_, on_data);
            line_.clear();
            continue;
        }
        line_ += c;
        if (line_.size() + data_.size() > max_event_bytes_) return false;
    }
    return true;
}

void SseReader::line(std::string_view text, const std::function<void(const std::string&)>& on_data) {
    if (text.empty()) {  // the end of an event
        if (has_data_ && !data_.empty()) on_data(data_);
        data_.clear();
        has_data_ = false;
        return;
    }
    if (text.front() == ':') return;  // a comment (keep-alive)
    std::string_view field = text, value;
    if (size_t colon = text.find(':'); colon != std::string_view::npos) {
        field = text.substr(0, colon);
        value = text.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        if (has_data_) data_ += '\n';
        data_ += value;
        has_data_ = true;
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) last_event_id_ = value;
    } else if (field == "retry") {
        int ms = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
        if (ec == std::errc() && end == value.data() + value.size() && ms >= 0) retry_ms_ = ms;
    }
    // "event" names the kind; MCP sends only messages, so it is not needed.
}

}  // namespace lfm::mcp
