#include "mcp/tool_result.h"

#include <fmt/format.h>

namespace lfm::mcp {
namespace {

using Json = nlohmann::json;

std::string string_or(const Json& object, const char* key, const char* fallback) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// The size of base64 data once decoded.
size_t decoded_size(const Json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return 0;
    const std::string& b64 = it->get_ref<const std::string&>();
    size_t chars = 0;  // each carries 6 bits; padding and line breaks none
    for (char c : b64)
        if (c != '=' && c != '\n' && c != '\r' && c != ' ') ++chars;
    return chars * 3 / 4;
}

std::string summary(const std::string& what, size_t bytes) {
    return fmt::format("[{}, {} bytes]", what, bytes);
}

// One content block as text; `is_text` says whether it carried text the model can read.
std::string part_text(const Json& part, bool& is_text) {
    is_text = false;
    if (!part.is_object()) return {};
    const std::string type = string_or(part, "type", "");
    if (type == "text") {
        is_text = true;
        return string_or(part, "text", "");
    }
    if (type == "image" || type == "audio")
        return summary(string_or(part, "mimeType", type.c_str()), decoded_size(part, "data"));
    if (type == "resource") {
        const Json resource = part.value("resource", Json::object());
        const std::string uri = string_or(resource, "uri", "resource");
        if (resource.contains("text")) {
            is_text = true;
            return fmt::format("[{}]\n{}", uri, string_or(resource, "text", ""));
        }
        return summary(fmt::format("{} {}", uri, string_or(resource, "mimeType", "application/octet-stream")),
                       decoded_size(resource, "blob"));
    }
    if (type == "resource_link") {
        std::string name = string_or(part, "name", "");
        return fmt::format("[resource link: {}{}]", string_or(part, "uri", "?"),
                           name.empty() ? "" : " (" + name + ")");
    }
    return fmt::format("[{} content]", type.empty() ? "untyped" : type);
}

}  // namespace

ToolResult tool_result_from_mcp(const Json& result) {
    ToolResult out;
    if (!result.is_object()) {
        out.content = "the server's tools/call result is not an object";
        out.is_error = true;
        return out;
    }
    if (auto e = result.find("isError"); e != result.end() && e->is_boolean()) out.is_error = e->get<bool>();
    std::vector<std::string> texts;
    bool any_text = false;
    if (auto content = result.find("content"); content != result.end() && content->is_array()) {
        for (const Json& part : *content) {
            bool is_text = false;
            texts.push_back(part_text(part, is_text));
            any_text |= is_text;
        }
    }
    if (!any_text) {
        if (auto structured = result.find("structuredContent");
            structured != result.end() && !structured->is_null())
            texts.insert(texts.begin(), structured->dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    for (size_t i = 0; i < texts.size(); ++i) {
        if (i) out.content += '\n';
        out.content += texts[i];
    }
    return out;
}

}  // namespace lfm::mcp
