// libFuzzer target for the chat layer's parsers of untrusted text. The first byte picks one:
//   0: a chat template (from a model file): parse it, and render a conversation with tools;
//   1: a tool-call block (model output), with declared tools;
//   2: a whole assistant reply, streamed in pieces of the next byte's size.
// Anything may be rejected with lfm::Error; nothing may crash, hang or overflow the stack.

#include <cstddef>
#include <cstdint>
#include <string>

#include "lfm/chat.h"

namespace {

const std::vector<lfm::Tool>& tools() {
    static const std::vector<lfm::Tool> t = lfm::Tool::parse_list(R"([{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"},
        "days": {"type": "integer"}}}}}])");
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0] % 3) {
            case 0: {
                const lfm::ChatTemplate tmpl(text);
                lfm::RenderOptions o;
                o.date = "2026-11-25";
                (void)tmpl.render_json(R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "<think>a</think>b", "tool_calls": [{"type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Oslo", "days": [1, 2.5, null, true]}}}]},
                    {"role": "tool", "content": [{"type": "text", "text": "18C"}, {"type": "image"}]}],
                    "tools": [{"type": "function", "function": {"name": "get_weather"}}]})", o);
                break;
            }
            case 1: (void)lfm::parse_tool_calls(text, tools()); break;
            default: {
                lfm::ReplyStream stream({}, tools());
                const size_t step = 1 + (text.empty() ? 0 : static_cast<unsigned char>(text[0]) % 7);
                for (size_t i = 0; i < text.size(); i += step) stream.push(std::string_view(text).substr(i, step));
                stream.finish();
            }
        }
    } catch (const lfm::Error&) {
    }
    return 0;
}
