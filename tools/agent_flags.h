#pragma once
// Flags for running tools (`lfm chat` and `lfm run`): MCP servers from --mcp config files, how
// many tool rounds a reply may take, whether calls are asked for; and the terminal's views of
// them (a call, its result, the servers).

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "lfm/agent.h"

namespace lfm::cli {

struct AgentFlags {
    std::vector<std::string> mcp_files;
    bool yes = false;  // run every call without asking
    int max_tool_rounds = 8;
    int64_t max_result_tokens = 0;
    double tool_timeout_s = 120;
    bool mcp_log = false;              // show the servers' stderr and log messages
    std::string tool_choice = "auto";  // lfm chat: for the first reply to each message
    bool enabled() const { return !mcp_files.empty(); }
};
void add_agent_flags(CLI::App& app, AgentFlags& flags, bool interactive);

// Every server of every --mcp file, connected; a server that fails is reported on stderr and
// left out. Log lines from the servers go to stderr, dimmed when it is a terminal.
std::shared_ptr<McpTools> start_mcp(const AgentFlags& flags);
AgentOptions agent_options(const AgentFlags& flags);

// One line for a call: name({"arg": ...}); the result, cut to max_chars for the terminal.
std::string describe_call(const ToolCall& call);
std::string describe_result(const ToolResult& result, size_t max_chars = 400);
// The servers, their state and their tools (`/mcp` in chat).
std::string describe_servers(const McpTools& tools);

}  // namespace lfm::cli
