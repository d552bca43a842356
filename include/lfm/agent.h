#pragma once
// Tools that run. A ToolExecutor lists tools and runs calls: FunctionTools runs C++ callbacks,
// McpTools the tools of MCP servers (Model Context Protocol, stdio and Streamable HTTP), ToolBox
// merges several. Agent is the loop on a Chat: the model calls tools, their results go back as
// tool messages, and the model goes on until it answers without a call.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "lfm/chat.h"
#include "lfm/error.h"
#include "lfm/generate.h"

namespace lfm {

// What a tool call gave back, as text for the model (an MCP result's text parts joined; other
// parts named by their type and size).
struct ToolResult {
    std::string content;
    bool is_error = false;  // the tool failed, was refused, timed out or was cancelled; content says why
};

// Runs tools. call() is given a tool name from tools() and the arguments as a JSON object's text;
// it returns an error result (never throws) for a failed call. cancel: when set (from any thread,
// a signal handler for instance), the call gives up as soon as it can and returns an error result.
class ToolExecutor {
public:
    virtual ~ToolExecutor() = default;
    virtual std::vector<Tool> tools() = 0;
    virtual ToolResult call(const ToolCall& call, const std::atomic<bool>* cancel = nullptr) = 0;
};

// Tools implemented by the application: a schema and a C++ function each. A function that throws
// gives an error result with the exception's message.
class FunctionTools : public ToolExecutor {
public:
    using Function = std::function<ToolResult(std::string_view arguments_json)>;
    void add(Tool tool, Function function);  // replaces a tool of the same name
    std::vector<Tool> tools() override;
    ToolResult call(const ToolCall& call, const std::atomic<bool>* cancel = nullptr) override;

private:
    std::vector<std::pair<Tool, Function>> tools_;
};

// Several executors as one. A tool name two of them declare is shown to the model as
// "<source>__<name>" for each (the source's name, as given to add()); calls go to the executor
// that declared the tool, under its own name. tools() and call() may run on several threads.
class ToolBox : public ToolExecutor {
public:
    void add(std::string source, std::shared_ptr<ToolExecutor> executor);
    std::vector<Tool> tools() override;
    ToolResult call(const ToolCall& call, const std::atomic<bool>* cancel = nullptr) override;

private:
    struct Route {
        ToolExecutor* executor;
        std::string name;  // the executor's own name for the tool
    };
    std::mutex mutex_;  // guards sources_ and routes_ (not the calls themselves)
    std::vector<std::pair<std::string, std::shared_ptr<ToolExecutor>>> sources_;
    std::map<std::string, Route> routes_;  // as of the last tools()
};

// ---------------------------------------------------------------------------------------------
// MCP

// One server in the mcpServers format of Claude Desktop, Cursor and LM Studio:
// {"mcpServers": {"NAME": {"command": "...", "args": [...], "env": {...}, "cwd": "..."}
//                 | {"url": "http://...", "headers": {...}}}}
// plus "includeTools" / "excludeTools" (tool names; Gemini CLI's spelling) to show the model only
// some of a server's tools, and "disabled": true to skip a server.
struct McpServerConfig {
    std::string name;
    std::string command;  // stdio transport: the program (looked up in PATH) ...
    std::vector<std::string> args;            // ... its arguments
    std::map<std::string, std::string> env;   // ... added to lfm's own environment
    std::string cwd;                          // ... its working directory (empty: lfm's)
    std::string url;      // Streamable HTTP transport: the endpoint
    std::map<std::string, std::string> headers;  // sent with every HTTP request (Authorization, ...)
    std::vector<std::string> include_tools;  // when not empty, only these tools are listed and callable
    std::vector<std::string> exclude_tools;  // these never are
    bool shows_tool(const std::string& tool) const;

    // The servers of a config file's text; `origin` names it in errors. Throws lfm::Error
    // (kInvalidArgument) naming the server and the field that is wrong.
    static std::vector<McpServerConfig> parse(std::string_view json_text, const std::string& origin);
    static std::vector<McpServerConfig> load(const std::string& path);
};

struct McpOptions {
    std::chrono::milliseconds connect_timeout{30000};  // start + initialize + tools/list
    std::chrono::milliseconds call_timeout{120000};    // one tools/call (progress notifications extend it)
    size_t max_message_bytes = 16u << 20;              // a longer line or body is an error
    std::string client_name = "lfm";
    // Messages the servers send (logging notifications, stderr lines, connection trouble), for
    // the user; called from the client's reader threads. Null: dropped.
    std::function<void(const std::string& server, const std::string& message)> on_log;
};

// One MCP server's connection. connect() never throws for a server that misbehaves: the client
// is then in state kFailed with error() saying why, and lists no tools.
class McpClient : public ToolExecutor {
public:
    enum class State { kConnecting, kReady, kFailed, kClosed };
    static std::unique_ptr<McpClient> connect(const McpServerConfig& config, const McpOptions& options = {});
    ~McpClient() override;

    const std::string& name() const;
    State state() const;
    std::string error() const;              // why it failed (or exited), empty while ready
    std::string protocol_version() const;   // negotiated at initialize
    std::string server_info() const;        // "name version" from initialize
    std::vector<Tool> tools() override;     // every page of tools/list (re-read after list_changed)
    ToolResult call(const ToolCall& call, const std::atomic<bool>* cancel = nullptr) override;
    void close();  // stdio: closes the server's stdin, then SIGTERM / SIGKILL if it lingers

protected:
    McpClient() = default;
};
const char* to_string(McpClient::State state);  // "connecting", "ready", "failed", "closed"

// Every server of a configuration, connected in parallel; a tool name two servers declare is
// qualified with the server's name ("<server>__<name>"). Servers that fail are reported
// (servers()) and left out; the others go on.
class McpTools : public ToolExecutor {
public:
    McpTools(const std::vector<McpServerConfig>& configs, const McpOptions& options = {});
    ~McpTools() override;
    std::vector<Tool> tools() override;
    ToolResult call(const ToolCall& call, const std::atomic<bool>* cancel = nullptr) override;
    const std::vector<std::shared_ptr<McpClient>>& servers() const;

private:
    std::vector<std::shared_ptr<McpClient>> clients_;
    ToolBox box_;
};

// ---------------------------------------------------------------------------------------------
// The agent loop

enum class ToolApproval { kAllow, kDeny, kAlwaysAllow };

struct AgentOptions {
    int max_tool_rounds = 8;  // replies with calls per send(); then the model must answer without tools
    // A result longer than this many tokens is cut, with a note saying so. 0: half of the context
    // left free at the time of the call.
    int64_t max_result_tokens = 0;
    // Asked before each call (null: every call is allowed). kAlwaysAllow: this tool, from now on.
    std::function<ToolApproval(const ToolCall&)> approve;
    // tool_choice for the first reply of each send(): "auto", "none", "required" or a tool's name.
    // Later replies are "auto" (a forced call every round would never end).
    std::string tool_choice = "auto";
    bool thinking = true;  // a forced call may think first
    std::function<void(const ToolCall&)> on_call;                         // before a call runs
    std::function<void(const ToolCall&, const ToolResult&)> on_result;    // after it
};

struct AgentResult {
    GenerateResult last;            // the final reply (timings of that reply only)
    std::vector<Message> messages;  // what this send() added: the user message, assistant turns, tool results
    int tool_rounds = 0;            // replies that called tools
    bool round_limit = false;       // stopped because max_tool_rounds was reached
};

// The loop on a Chat whose tools are the executor's (set_tools is called at each send()).
// Not thread-safe; the chat and the executor must outlive it.
class Agent {
public:
    Agent(Chat& chat, ToolExecutor& tools, AgentOptions options = {});
    AgentResult send(Message message, const GenerateOptions& options, const GenerateEvents& events = {});
    AgentResult send(std::string user_text, const GenerateOptions& options, const GenerateEvents& events = {}) {
        return send(Message::user(std::move(user_text)), options, events);
    }
    AgentOptions& options() { return options_; }

private:
    bool approved(const ToolCall& call);  // asks options_.approve unless the tool is always allowed
    Chat& chat_;
    ToolExecutor& tools_;
    AgentOptions options_;
    std::vector<std::string> always_allowed_;
};

}  // namespace lfm
