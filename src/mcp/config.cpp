// McpServerConfig: the mcpServers file of Claude Desktop, Cursor and LM Studio (and VS Code's
// "servers" spelling of it). Strict about the fields lfm uses, so that a typo is an error naming
// the server and the field rather than a server that silently does something else; fields other
// clients use (autoApprove, timeout, ...) are ignored.

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lfm/agent.h"

namespace lfm {
namespace {

using Json = nlohmann::json;

struct Where {
    const std::string& origin;
    const std::string& server;
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: MCP server \"{}\": {}", origin, server, what));
    }
};

std::string string_field(const Json& server, const char* field, const Where& where) {
    auto it = server.find(field);
    if (it == server.end() || it->is_null()) return {};
    if (!it->is_string()) where.fail(fmt::format("\"{}\" must be a string", field));
    return it->get<std::string>();
}

std::map<std::string, std::string> string_map(const Json& server, const char* field, const Where& where) {
    std::map<std::string, std::string> out;
    auto it = server.find(field);
    if (it == server.end() || it->is_null()) return out;
    if (!it->is_object()) where.fail(fmt::format("\"{}\" must be an object of strings", field));
    for (const auto& [key, value] : it->items()) {
        if (!value.is_string()) where.fail(fmt::format("\"{}.{}\" must be a string", field, key));
        out[key] = value.get<std::string>();
    }
    return out;
}

std::vector<std::string> string_list(const Json& server, const char* field, const Where& where) {
    std::vector<std::string> out;
    auto it = server.find(field);
    if (it == server.end() || it->is_null()) return out;
    if (!it->is_array()) where.fail(fmt::format("\"{}\" must be an array of strings", field));
    for (size_t i = 0; i < it->size(); ++i) {
        if (!(*it)[i].is_string()) where.fail(fmt::format("\"{}[{}]\" must be a string", field, i));
        out.push_back((*it)[i].get<std::string>());
    }
    return out;
}

McpServerConfig parse_server(const std::string& name, const Json& server, const std::string& origin) {
    Where where{origin, name};
    if (!server.is_object()) where.fail("must be an object with \"command\" or \"url\"");
    McpServerConfig config;
    config.name = name;
    config.command = string_field(server, "command", where);
    config.cwd = string_field(server, "cwd", where);
    config.url = string_field(server, "url", where);
    config.env = string_map(server, "env", where);
    config.headers = string_map(server, "headers", where);
    config.args = string_list(server, "args", where);
    config.include_tools = string_list(server, "includeTools", where);
    config.exclude_tools = string_list(server, "excludeTools", where);

    const std::string type = string_field(server, "type", where);
    if (type == "sse") where.fail("SSE transport (2024-11-05) is not supported; use Streamable HTTP");
    const bool stdio_type = type == "stdio";
    const bool http_type = type == "http" || type == "streamable-http" || type == "streamableHttp";
    if (!type.empty() && !stdio_type && !http_type)
        where.fail(fmt::format("\"type\" \"{}\" is not one of stdio, http, streamable-http", type));

    if (!config.command.empty() && !config.url.empty())
        where.fail("has both \"command\" and \"url\"; give one");
    if (config.command.empty() && config.url.empty())
        where.fail("needs \"command\" (stdio) or \"url\" (HTTP)");
    if (stdio_type && config.command.empty()) where.fail("\"type\" is stdio but there is no \"command\"");
    if (http_type && config.url.empty())
        where.fail(fmt::format("\"type\" is {} but there is no \"url\"", type));
    if (!config.url.empty() && config.url.rfind("http://", 0) != 0 && config.url.rfind("https://", 0) != 0)
        where.fail(fmt::format("\"url\" \"{}\" must start with http:// or https://", config.url));
    return config;
}

}  // namespace

std::vector<McpServerConfig> McpServerConfig::parse(std::string_view json_text, const std::string& origin) {
    Json root = Json::parse(json_text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
    if (root.is_discarded())
        throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: not valid JSON", origin));
    if (!root.is_object())
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("{}: must be a JSON object with \"mcpServers\"", origin));
    auto servers = root.find("mcpServers");
    if (servers == root.end()) servers = root.find("servers");
    if (servers == root.end() || !servers->is_object())
        throw Error(
            ErrorCode::kInvalidArgument,
            fmt::format("{}: needs an object \"mcpServers\" (or \"servers\") naming the servers", origin));
    std::vector<McpServerConfig> out;
    for (const auto& [name, server] : servers->items()) {
        // Claude Desktop and Cline keep switched-off servers in the file this way.
        if (server.is_object() && server.contains("disabled") && server["disabled"] == true) continue;
        if (name.empty())
            throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: a server has an empty name", origin));
        out.push_back(parse_server(name, server, origin));
    }
    return out;
}

bool McpServerConfig::shows_tool(const std::string& tool) const {
    auto named = [&](const std::vector<std::string>& list) { return std::find(list.begin(), list.end(), tool) != list.end(); };
    return (include_tools.empty() || named(include_tools)) && !named(exclude_tools);
}

std::vector<McpServerConfig> McpServerConfig::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(ErrorCode::kIo,
                    fmt::format("cannot read MCP configuration '{}': {}", path, std::strerror(errno)));
    std::ostringstream text;
    text << in.rdbuf();
    return parse(text.str(), path);
}

}  // namespace lfm
