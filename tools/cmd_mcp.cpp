// `lfm mcp`: connects to MCP servers (a config file, or one server given by --url / --command) and
// lists their state and tools, or calls one tool and prints its result. A way to check a
// configuration before an agent uses it, and the client the MCP conformance suite drives (it
// appends the server's URL to the command: `lfm mcp --call add_numbers --args {...} --url`).

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>

#include "commands.h"
#include "lfm/agent.h"

namespace lfm::cli {
namespace {

using Json = nlohmann::json;

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) {
    g_interrupted = true;
}

// "node server.js --root '/my dir'" as words: blanks separate, quotes group, as a shell would
// for these simple cases.
std::vector<std::string> split_command(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (char c : text) {
        if (quote) {
            if (c == quote)
                quote = 0;
            else
                word += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (quote)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("--command: unbalanced quote in '{}'", text));
    if (in_word) words.push_back(std::move(word));
    return words;
}

// A parameter's type from its JSON Schema, briefly: string, number[], a|b, any.
std::string type_of(const Json& schema) {
    if (!schema.is_object()) return "any";
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
        std::string out;
        for (const Json& v : *e)
            out += (out.empty() ? "" : "|") + (v.is_string() ? v.get<std::string>() : v.dump());
        return out;
    }
    auto t = schema.find("type");
    if (t == schema.end()) return "any";
    if (t->is_array()) {
        std::string out;
        for (const Json& v : *t)
            out += (out.empty() ? "" : "|") + (v.is_string() ? v.get<std::string>() : v.dump());
        return out;
    }
    if (*t == "array" && schema.contains("items")) return type_of(schema["items"]) + "[]";
    return t->is_string() ? t->get<std::string>() : "any";
}

// "name(a: number, b?: string)".
std::string signature(const Tool& tool) {
    Json schema = Json::parse(tool.parameters, nullptr, false);
    std::string out = tool.name + "(";
    if (schema.is_object() && schema.contains("properties") && schema["properties"].is_object()) {
        std::set<std::string> required;
        if (auto r = schema.find("required"); r != schema.end() && r->is_array())
            for (const Json& name : *r)
                if (name.is_string()) required.insert(name.get<std::string>());
        bool first = true;
        for (const auto& [name, property] : schema["properties"].items()) {
            out += fmt::format("{}{}{}: {}", first ? "" : ", ", name, required.count(name) ? "" : "?",
                               type_of(property));
            first = false;
        }
    }
    return out + ")";
}

std::string first_line(const std::string& text, size_t max) {
    std::string line = text.substr(0, text.find('\n'));
    return line.size() > max ? line.substr(0, max) + "..." : line;
}

std::vector<McpServerConfig> configs_from_flags(const std::vector<std::string>& files, const std::string& url,
                                                const std::vector<std::string>& headers,
                                                const std::string& command) {
    std::vector<McpServerConfig> configs;
    for (const std::string& file : files) {
        auto more = McpServerConfig::load(file);
        configs.insert(configs.end(), more.begin(), more.end());
    }
    if (!url.empty()) {
        McpServerConfig c;
        c.url = url;
        size_t host = url.find("://");
        c.name = host == std::string::npos
                     ? url
                     : url.substr(host + 3, url.find_first_of(":/?", host + 3) - host - 3);
        for (const std::string& h : headers) {
            size_t colon = h.find(':');
            if (colon == std::string::npos)
                throw Error(ErrorCode::kInvalidArgument,
                            fmt::format("--header '{}' is not 'Name: value'", h));
            size_t value = h.find_first_not_of(' ', colon + 1);
            c.headers[h.substr(0, colon)] = value == std::string::npos ? "" : h.substr(value);
        }
        configs.push_back(std::move(c));
    }
    if (!command.empty()) {
        std::vector<std::string> words = split_command(command);
        if (words.empty()) throw Error(ErrorCode::kInvalidArgument, "--command is empty");
        McpServerConfig c;
        c.command = words[0];
        c.args.assign(words.begin() + 1, words.end());
        c.name = c.command.substr(c.command.find_last_of('/') + 1);
        configs.push_back(std::move(c));
    }
    if (configs.empty())
        throw Error(ErrorCode::kInvalidArgument,
                    "no MCP server: give --mcp FILE, --url URL or --command CMD");
    return configs;
}

Json tool_json(const Tool& tool) {
    Json parameters = Json::parse(tool.parameters, nullptr, false);
    return {{"name", tool.name},
            {"description", tool.description},
            {"parameters", parameters.is_discarded() ? Json() : parameters}};
}

int list_servers(McpTools& mcp, bool json) {
    bool all_ready = true;
    Json out = Json::array();
    for (const auto& server : mcp.servers()) {
        const bool ready = server->state() == McpClient::State::kReady;
        all_ready &= ready;
        std::vector<Tool> tools = ready ? server->tools() : std::vector<Tool>{};
        if (json) {
            Json s = {
                {"name", server->name()}, {"state", to_string(server->state())}, {"tools", Json::array()}};
            if (ready)
                s["protocol_version"] = server->protocol_version(), s["server_info"] = server->server_info();
            else
                s["error"] = server->error();
            for (const Tool& t : tools) s["tools"].push_back(tool_json(t));
            out.push_back(std::move(s));
            continue;
        }
        if (!ready) {
            fmt::print("{}: {}: {}\n", server->name(), to_string(server->state()), server->error());
            continue;
        }
        fmt::print("{}: ready, MCP {}, {}, {} tool{}\n", server->name(), server->protocol_version(),
                   server->server_info(), tools.size(), tools.size() == 1 ? "" : "s");
        for (const Tool& t : tools) {
            std::string description = first_line(t.description, 100);
            fmt::print("  {}{}{}\n", signature(t), description.empty() ? "" : "  ", description);
        }
    }
    if (json) fmt::print("{}\n", Json{{"servers", out}}.dump(2));
    return all_ready ? 0 : 1;
}

}  // namespace

Command add_mcp(CLI::App& app) {
    struct Opts {
        std::vector<std::string> files;
        std::string url;
        std::vector<std::string> headers;
        std::string command;
        std::string call;
        std::string args = "{}";
        double timeout = 120;
        double connect_timeout = 30;
        bool json = false;
        bool verbose = false;
    };
    auto o = std::make_shared<Opts>();
    app.add_option("--mcp", o->files, "an MCP configuration file ({\"mcpServers\": {...}}); repeatable");
    app.add_option("--url", o->url, "one Streamable HTTP server at this URL");
    app.add_option("--header", o->headers,
                   "'Name: value' sent to the --url server (Authorization, ...); repeatable");
    app.add_option("--command", o->command,
                   "one stdio server: the command and its arguments, e.g. \"npx -y "
                   "@modelcontextprotocol/server-everything\"");
    app.add_option("--call", o->call, "call this tool (a name the listing shows) and print its result");
    app.add_option("--args", o->args, "the call's arguments as a JSON object (default {})");
    app.add_option("--timeout", o->timeout,
                   "seconds a call may take (progress notifications extend it; default 120)")
        ->check(CLI::PositiveNumber);
    app.add_option("--connect-timeout", o->connect_timeout,
                   "seconds to start, initialize and list tools (default 30)")
        ->check(CLI::PositiveNumber);
    app.add_flag("--json", o->json,
                 "print JSON: the servers and their tools, or the call's {content, is_error}");
    app.add_flag("-v,--verbose", o->verbose,
                 "show what the servers log (their stderr, logging notifications)");
    app.footer("Exit status: 1 when a server failed (listing) or the call's result is an error.");
    return [o] {
        McpOptions options;
        options.call_timeout = std::chrono::milliseconds(static_cast<int64_t>(o->timeout * 1000));
        options.connect_timeout = std::chrono::milliseconds(static_cast<int64_t>(o->connect_timeout * 1000));
        if (o->verbose)
            options.on_log = [](const std::string& server, const std::string& message) {
                fmt::print(stderr, "[{}] {}\n", server, message);
            };
        McpTools mcp(configs_from_flags(o->files, o->url, o->headers, o->command), options);
        if (o->call.empty()) return list_servers(mcp, o->json);

        for (const auto& server : mcp.servers())
            if (server->state() != McpClient::State::kReady) fmt::print(stderr, "lfm: {}\n", server->error());
        std::signal(SIGINT, on_interrupt);  // Ctrl-C cancels the call (notifications/cancelled)
        ToolCall call;
        call.id = "call-1";
        call.name = o->call;
        call.arguments = o->args;
        ToolResult result = mcp.call(call, &g_interrupted);
        std::signal(SIGINT, SIG_DFL);
        if (o->json)
            fmt::print("{}\n", Json{{"content", result.content}, {"is_error", result.is_error}}.dump(2));
        else
            fmt::print("{}\n", result.content);
        return result.is_error ? 1 : 0;
    };
}

}  // namespace lfm::cli
