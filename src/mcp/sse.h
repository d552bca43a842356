#pragma once
// A reader of text/event-stream (the WHATWG server-sent events format) as Streamable HTTP uses
// it: events of data lines, an id to resume from and a retry delay.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace lfm::mcp {

class SseReader {
  public:
    explicit SseReader(size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}
    // Feeds bytes as they come; calls on_data with the data of each complete event that has
    // some. False when an event grows past max_event_bytes.
    bool feed(std::string_view bytes, const std::function<void(const std::string& data)>& on_data);

    const std::string& last_event_id() const { return last_event_id_; }
    std::optional<int> retry_ms() const { return retry_ms_; }

  private:
    void line(std::string_view text, const std::function<void(const std::string&)>& on_data);

    size_t max_event_bytes_;
    std::string line_;
    bool after_cr_ = false;  // "\r\n" is one line end, even when split between two reads
    std::string data_;
    bool has_data_ = false;
    std::string last_event_id_;
    std::optional<int> retry_ms_;
};

}  // namespace lfm::mcp
