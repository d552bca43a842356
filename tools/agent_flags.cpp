#include "agent_flags.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common_flags.h"

namespace lfm::cli {

void add_agent_flags(CLI::App& app, AgentFlags& f, bool interactive) {
    app.add_option(
        "--mcp", f.mcp_files,
        "MCP servers the model may call, in the mcpServers JSON format of Claude Desktop (repeatable)");
    if (interactive) {  // lfm run has these among its constraint flags and runs calls without asking
        app.add_flag("-y,--yes", f.yes, "run every tool call without asking");
        app.add_option(
            "--tool-choice", f.tool_choice,
            "auto (default), none, required (a call first) or a tool's name, for each message's first reply");
    }
    app.add_option("--max-tool-rounds", f.max_tool_rounds,
                   "replies with tool calls per message, at most (default 8)")
        ->check(CLI::Range(0, 1000));
    app.add_option(
           "--max-tool-result", f.max_result_tokens,
           "tokens of a tool result kept (longer ones are cut, with a note); 0: half of the free context")
        ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
    app.add_flag("--mcp-log", f.mcp_log,
                 "show what the MCP servers log (their stderr, logging notifications)");
    app.add_option("--tool-timeout", f.tool_timeout_s, "seconds a tool call may take (default 120)")
        ->check(CLI::Range(0.1, 86400.0));
}

std::shared_ptr<McpTools> start_mcp(const AgentFlags& f) {
    std::vector<McpServerConfig> configs;
    for (const std::string& file : f.mcp_files) {
        std::vector<McpServerConfig> more = McpServerConfig::load(file);
        configs.insert(configs.end(), more.begin(), more.end());
    }
    McpOptions options;
    options.call_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.tool_timeout_s * 1000));
    const bool color = use_color(STDERR_FILENO);
    if (f.mcp_log)
        options.on_log = [color](const std::string& server, const std::string& message) {
            fmt::print(stderr, "{}[{}] {}{}\n", color ? kDim : "", server, message, color ? kReset : "");
            std::fflush(stderr);
        };
    auto tools = std::make_shared<McpTools>(configs, options);
    for (const auto& server : tools->servers())
        if (server->state() != McpClient::State::kReady)
            fmt::print(stderr, "{} (left out; the others go on)\n", server->error());
    return tools;
}

AgentOptions agent_options(const AgentFlags& f) {
    AgentOptions o;
    o.max_tool_rounds = f.max_tool_rounds;
    o.max_result_tokens = f.max_result_tokens;
    o.tool_choice = f.tool_choice;
    return o;
}

std::string describe_call(const ToolCall& call) {
    std::string args = call.arguments;
    try {
        args = nlohmann::json::parse(call.arguments).dump();
    } catch (const nlohmann::json::exception&) {
    }
    return fmt::format("{}({})", call.name, args);
}

std::string describe_result(const ToolResult& result, size_t max_chars) {
    std::string text = result.content;
    if (text.size() > max_chars) {
        size_t cut = max_chars;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text = fmt::format("{}… ({} bytes)", text.substr(0, cut), result.content.size());
    }
    return result.is_error ? fmt::format("error: {}", text) : text;
}

std::string describe_servers(const McpTools& tools) {
    std::string out;
    for (const auto& server : tools.servers()) {
        out += fmt::format("{}: {}", server->name(), to_string(server->state()));
        if (server->state() == McpClient::State::kReady)
            out += fmt::format(" ({}, protocol {})", server->server_info(), server->protocol_version());
        else if (!server->error().empty())
            out += fmt::format(" ({})", server->error());
        out += "\n";
        if (server->state() != McpClient::State::kReady) continue;
        for (const Tool& t : server->tools()) {
            std::string description = t.description.substr(0, t.description.find('\n'));
            if (description.size() > 70) description = description.substr(0, 67) + "...";
            out += fmt::format("  {:<24} {}\n", t.name, description);
        }
    }
    return out.empty() ? "(no MCP servers: give --mcp FILE)\n" : out;
}

}  // namespace lfm::cli
