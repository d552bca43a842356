// The MCP client against servers that behave and servers that do not: tests/mcp/fake_server.mjs
// (plain Node, each misbehaviour on demand), and the reference servers from npm
// (@modelcontextprotocol/server-everything over stdio and Streamable HTTP, server-filesystem),
// which `npm ci --prefix tests/mcp` installs (.ci/deps does). Skipped, naming why, without node or
// without tests/mcp/node_modules.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "lfm/agent.h"
#include "mcp/sse.h"
#include "test_util.h"

extern char** environ;

namespace lfm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kMcpDir = LFM_MCP_TEST_DIR;
const std::string kFakeServer = kMcpDir + "/fake_server.mjs";
const std::string kEverything =
    kMcpDir + "/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
const std::string kFilesystem =
    kMcpDir + "/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js";

bool have_node() {
    return std::system("command -v node >/dev/null 2>&1") == 0;
}

#define REQUIRE_NODE() \
    if (!have_node()) GTEST_SKIP() << "node is not installed (apt-get install nodejs)"
#define REQUIRE_NPM_SERVERS()                                 \
    REQUIRE_NODE();                                           \
    if (!fs::exists(kEverything) || !fs::exists(kFilesystem)) \
    GTEST_SKIP() << "tests/mcp/node_modules is missing (npm ci --prefix tests/mcp, which .ci/deps runs)"

// What the servers logged, for assertions.
struct Log {
    std::mutex mutex;
    std::vector<std::string> lines;
    void add(const std::string& server, const std::string& message) {
        std::lock_guard lock(mutex);
        lines.push_back(server + ": " + message);
    }
    bool contains(const std::string& text) {
        std::lock_guard lock(mutex);
        for (const auto& line : lines)
            if (line.find(text) != std::string::npos) return true;
        return false;
    }
    size_t size() {
        std::lock_guard lock(mutex);
        return lines.size();
    }
};

McpOptions options_with(Log& log, std::chrono::milliseconds call_timeout = 20s) {
    McpOptions options;
    options.connect_timeout = 30s;  // node's start on a loaded machine
    options.call_timeout = call_timeout;
    options.on_log = [&log](const std::string& server, const std::string& message) {
        log.add(server, message);
    };
    return options;
}

McpServerConfig stdio_server(const std::string& name, const std::string& command,
                             std::vector<std::string> args = {}) {
    McpServerConfig config;
    config.name = name;
    config.command = command;
    config.args = std::move(args);
    return config;
}

McpServerConfig fake(const std::string& mode = "normal", const std::string& name = "fake") {
    return stdio_server(name, "node", {kFakeServer, mode});
}

ToolCall tool_call(const std::string& name, const std::string& arguments = "{}") {
    return ToolCall{std::string("call-1"), name, arguments};
}

bool has_tool(const std::vector<Tool>& tools, const std::string& name) {
    for (const Tool& t : tools)
        if (t.name == name) return true;
    return false;
}

#define EXPECT_HAS(haystack, needle) \
    EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// ---------------------------------------------------------------------------------------------
// Configuration

TEST(McpConfig, ParsesStdioAndHttpServers) {
    auto servers = McpServerConfig::parse(R"({"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "server", "/tmp"], "env": {"A": "1"}, "cwd": "/tmp", "autoApprove": []},
        "web": {"type": "http", "url": "https://example.com/mcp", "headers": {"Authorization": "Bearer x"}},
        "off": {"command": "x", "disabled": true}}})",
                                          "test.json");
    ASSERT_EQ(servers.size(), 2u);
    EXPECT_EQ(servers[0].name, "files");
    EXPECT_EQ(servers[0].command, "npx");
    EXPECT_EQ(servers[0].args, (std::vector<std::string>{"-y", "server", "/tmp"}));
    EXPECT_EQ(servers[0].env.at("A"), "1");
    EXPECT_EQ(servers[0].cwd, "/tmp");
    EXPECT_EQ(servers[1].url, "https://example.com/mcp");
    EXPECT_EQ(servers[1].headers.at("Authorization"), "Bearer x");
    // VS Code's spelling.
    auto vscode =
        McpServerConfig::parse(R"({"servers": {"s": {"type": "stdio", "command": "srv"}}})", "mcp.json");
    ASSERT_EQ(vscode.size(), 1u);
    EXPECT_EQ(vscode[0].command, "srv");
}

TEST(McpConfig, ErrorsNameOriginServerAndField) {
    const std::pair<const char*, const char*> cases[] = {
        {"not json", "not valid JSON"},
        {"[]", "must be a JSON object"},
        {R"({"other": {}})", "needs an object \"mcpServers\""},
        {R"({"mcpServers": {"s": 3}})", "\"s\": must be an object"},
        {R"({"mcpServers": {"s": {}}})", "\"s\": needs \"command\" (stdio) or \"url\""},
        {R"({"mcpServers": {"s": {"command": "a", "url": "http://x"}}})", "has both \"command\" and \"url\""},
        {R"({"mcpServers": {"s": {"command": 1}}})", "\"command\" must be a string"},
        {R"({"mcpServers": {"s": {"command": "a", "args": "b"}}})", "\"args\" must be an array"},
        {R"({"mcpServers": {"s": {"command": "a", "args": ["b", 2]}}})", "\"args[1]\" must be a string"},
        {R"({"mcpServers": {"s": {"command": "a", "env": {"K": 1}}}})", "\"env.K\" must be a string"},
        {R"({"mcpServers": {"s": {"url": "http://x", "headers": []}}})", "\"headers\" must be an object"},
        {R"({"mcpServers": {"s": {"url": "ftp://x"}}})", "must start with http:// or https://"},
        {R"({"mcpServers": {"s": {"type": "sse", "url": "http://x/sse"}}})",
         "SSE transport (2024-11-05) is not supported; use Streamable HTTP"},
        {R"({"mcpServers": {"s": {"type": "ws", "url": "http://x"}}})", "\"type\" \"ws\" is not one of"},
        {R"({"mcpServers": {"s": {"type": "stdio", "url": "http://x"}}})",
         "\"type\" is stdio but there is no \"command\""},
    };
    for (const auto& [text, expected] : cases) {
        try {
            McpServerConfig::parse(text, "my.json");
            ADD_FAILURE() << "no error for " << text;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << text;
            EXPECT_HAS(e.what(), expected);
            EXPECT_HAS(e.what(), "my.json");
        }
    }
    try {
        McpServerConfig::load("/nonexistent/mcp.json");
        ADD_FAILURE() << "no error for a missing file";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kIo);
        EXPECT_HAS(e.what(), "/nonexistent/mcp.json");
    }
}

TEST(McpSse, EventsAcrossReads) {
    mcp::SseReader reader(1000);
    std::vector<std::string> events;
    auto on = [&](const std::string& data) { events.push_back(data); };
    // A priming event (id, empty data), a comment, a two-line event split at "\r|\n", a retry.
    ASSERT_TRUE(
        reader.feed("id: e1\nretry: 500\ndata: \n\n: keep-alive\n\nevent: message\ndata: {\"a\":\r", on));
    ASSERT_TRUE(reader.feed("\ndata: 1}\r\n\r\nid: e2\ndata:x\n", on));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0], "{\"a\":\n1}");
    ASSERT_TRUE(reader.feed("\n", on));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1], "x");
    EXPECT_EQ(reader.last_event_id(), "e2");
    EXPECT_EQ(reader.retry_ms(), 500);
    EXPECT_FALSE(reader.feed("data: " + std::string(2000, 'x'), on));
}

// ---------------------------------------------------------------------------------------------
// The fake server: the protocol's corners

class McpFake : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_node()) GTEST_SKIP() << "node is not installed (apt-get install nodejs)";
    }
    // A client of the fake server in `mode`; null (and the test failed) when it is not ready.
    std::unique_ptr<McpClient> ready(const std::string& mode = "normal",
                                     std::chrono::milliseconds call_timeout = 20s) {
        auto client = McpClient::connect(fake(mode), options_with(log, call_timeout));
        if (client->state() == McpClient::State::kReady) return client;
        ADD_FAILURE() << client->error();
        return nullptr;
    }
    Log log;
};
class McpBroken : public McpFake {};

TEST_F(McpFake, ListsEveryPageOfTools) {
    auto client = ready();
    ASSERT_TRUE(client);
    EXPECT_EQ(client->protocol_version(), "2025-11-25");
    EXPECT_EQ(client->server_info(), "fake 1.2.3");
    EXPECT_EQ(client->name(), "fake");
    auto tools = client->tools();
    ASSERT_EQ(tools.size(), 11u);  // six pages of two
    EXPECT_EQ(tools[0].name, "echo");
    EXPECT_EQ(tools[0].description, "Says the text back");
    EXPECT_HAS(tools[0].parameters, "\"required\":[\"text\"]");
    EXPECT_EQ(tools[10].name, "cancelled_log");
    client->close();
    EXPECT_EQ(client->state(), McpClient::State::kClosed);
    ToolResult after = client->call(tool_call("echo", R"({"text": "x"})"));
    EXPECT_TRUE(after.is_error);
    EXPECT_HAS(after.content, "closed");
}

TEST_F(McpFake, CallsCarryArgumentsResultsLogsAndErrors) {
    auto client = ready();
    ASSERT_TRUE(client);

    ToolResult echo = client->call(tool_call("echo", R"({"text": "héllo"})"));
    EXPECT_FALSE(echo.is_error);
    EXPECT_EQ(echo.content, "echo: héllo");
    EXPECT_TRUE(log.contains("fake: [info] echo: echoing héllo"));

    ToolResult failed = client->call(tool_call("fail"));
    EXPECT_TRUE(failed.is_error);
    EXPECT_EQ(failed.content, "no such city");

    ToolResult unknown = client->call(tool_call("nope"));
    EXPECT_TRUE(unknown.is_error);
    EXPECT_HAS(unknown.content,
               "MCP server 'fake': tool 'nope' failed: Unknown tool: nope (JSON-RPC error -32602)");

    ToolResult bad_args = client->call(tool_call("echo", "[1, 2"));
    EXPECT_TRUE(bad_args.is_error);
    EXPECT_HAS(bad_args.content, "not a JSON object");

    ToolResult mixed = client->call(tool_call("mixed"));
    EXPECT_FALSE(mixed.is_error);
    EXPECT_EQ(
        mixed.content,
        "here:\n[image/png, 8 bytes]\n[file:///a.bin application/zip, 4 bytes]\n[file:///notes.txt]\nnotes\n"
        "[resource link: file:///b.txt (b)]");
    EXPECT_EQ(client->call(tool_call("structured")).content, R"({"temperature":21.5})");

    // The server's ping is answered; sampling, which lfm does not offer, is refused.
    ToolResult asked = client->call(tool_call("ask"));
    EXPECT_HAS(asked.content, R"("ping":{"result":{}})");
    EXPECT_HAS(asked.content, R"("code":-32601)");
    EXPECT_EQ(client->state(), McpClient::State::kReady);
}

TEST_F(McpFake, ListChangedIsReadAgain) {
    auto client = ready();
    ASSERT_TRUE(client);
    EXPECT_FALSE(has_tool(client->tools(), "added"));
    EXPECT_EQ(client->call(tool_call("change")).content, "changed");
    auto tools = client->tools();
    EXPECT_EQ(tools.size(), 12u);
    EXPECT_TRUE(has_tool(tools, "added"));
}

TEST_F(McpFake, ProgressExtendsTheTimeout) {
    // 1 s of work with progress every 100 ms, under a 500 ms time-out.
    auto client = ready("normal", 500ms);
    ASSERT_TRUE(client);
    ToolResult slow = client->call(tool_call("slow", R"({"ms": 1000})"));
    EXPECT_FALSE(slow.is_error) << slow.content;
    EXPECT_EQ(slow.content, "slept 1000 ms");
}

TEST_F(McpFake, TimeoutAndCancelSendNotificationsCancelled) {
    auto client = ready("normal", 300ms);
    ASSERT_TRUE(client);
    auto start = Clock::now();
    ToolResult hung = client->call(tool_call("hang"));
    EXPECT_TRUE(hung.is_error);
    EXPECT_EQ(hung.content, "MCP server 'fake': tool 'hang': timed out after 0.3 s");
    EXPECT_LT(Clock::now() - start, 2s);

    std::atomic<bool> cancel{false};
    std::thread canceller([&] {
        std::this_thread::sleep_for(100ms);
        cancel = true;
    });
    auto client2 = ready();
    ASSERT_TRUE(client2);
    start = Clock::now();
    ToolResult cancelled = client2->call(tool_call("hang"), &cancel);
    canceller.join();
    EXPECT_TRUE(cancelled.is_error);
    EXPECT_EQ(cancelled.content, "MCP server 'fake': tool 'hang': cancelled");
    EXPECT_LT(Clock::now() - start, 2s);

    // The server heard of both, by request id, and the connections go on.
    EXPECT_HAS(client->call(tool_call("cancelled_log")).content, R"("reason":"timed out")");
    EXPECT_HAS(client2->call(tool_call("cancelled_log")).content, R"("reason":"cancelled")");
    EXPECT_HAS(client2->call(tool_call("cancelled_log")).content, R"("requestId":)");
    EXPECT_EQ(client->state(), McpClient::State::kReady);
}

TEST_F(McpFake, ConcurrentCallsGetTheirOwnAnswers) {
    auto client = ready();
    ASSERT_TRUE(client);
    std::vector<std::string> answers(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] {
            answers[i] =
                i == 0
                    ? client->call(tool_call("slow", R"({"ms": 300})")).content
                    : client->call(tool_call("echo", R"({"text": ")" + std::to_string(i) + R"("})")).content;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(answers[0], "slept 300 ms");
    for (int i = 1; i < 8; ++i) EXPECT_EQ(answers[i], "echo: " + std::to_string(i));
}

// ---------------------------------------------------------------------------------------------
// Servers that misbehave: each a clear message naming the server, never a hang or a crash

TEST_F(McpBroken, ServersThatFailAtStart) {
    McpOptions options = options_with(log);
    struct Case {
        McpServerConfig config;
        std::string expected;
    };
    std::vector<Case> cases = {
        {stdio_server("ghost", "lfm-no-such-mcp-server"),
         "MCP server 'ghost': cannot start 'lfm-no-such-mcp-server': No such file or directory"},
        {stdio_server("quits", "sh", {"-c", "echo 'usage: quits [--port N]' >&2; exit 2"}),
         "MCP server 'quits': exited with status 2 (its last stderr line: usage: quits [--port N])"},
        {fake("exit-at-start"),
         "MCP server 'fake': exited with status 3 (its last stderr line: fake_server: cannot open the "
         "database)"},
        {fake("close-stdout"), "MCP server 'fake': closed its stdout"},
        {fake("old-revision"), "speaks MCP revision '2024-11-05'"},
    };
    for (const Case& c : cases) {
        auto client = McpClient::connect(c.config, options);
        EXPECT_EQ(client->state(), McpClient::State::kFailed) << c.expected;
        EXPECT_HAS(client->error(), c.expected);
        EXPECT_TRUE(client->tools().empty());
        ToolResult r = client->call(tool_call("echo"));
        EXPECT_TRUE(r.is_error);
        EXPECT_HAS(r.content, c.expected);
    }

    McpOptions quick = options;
    quick.connect_timeout = 500ms;
    auto start = Clock::now();
    auto silent = McpClient::connect(fake("silent"), quick);
    EXPECT_EQ(silent->state(), McpClient::State::kFailed);
    EXPECT_EQ(silent->error(), "MCP server 'fake': initialize got no answer within 0.5 s");
    EXPECT_LT(Clock::now() - start, 4s);

    McpOptions small = options;
    small.max_message_bytes = 100000;
    auto huge = McpClient::connect(fake("huge-line"), small);
    EXPECT_EQ(huge->state(), McpClient::State::kFailed);
    EXPECT_HAS(huge->error(), "longer than 100000 bytes");
}

TEST_F(McpBroken, CrashMidCall) {
    auto client = ready();
    ASSERT_TRUE(client);
    auto start = Clock::now();
    ToolResult crashed = client->call(tool_call("crash"));
    EXPECT_LT(Clock::now() - start, 5s);
    EXPECT_TRUE(crashed.is_error);
    EXPECT_HAS(crashed.content, "MCP server 'fake': tool 'crash': exited with status 7");
    EXPECT_HAS(crashed.content, "segmentation fault (pretend)");
    EXPECT_EQ(client->state(), McpClient::State::kFailed);
    ToolResult next = client->call(tool_call("echo", R"({"text": "x"})"));
    EXPECT_TRUE(next.is_error);
    EXPECT_HAS(next.content, "cannot run: MCP server 'fake': exited with status 7");
}

TEST_F(McpBroken, GarbageOnStdout) {
    // Lines that are not JSON are reported and skipped; the server works.
    auto client = ready("banner", 500ms);
    ASSERT_TRUE(client);
    EXPECT_EQ(client->call(tool_call("echo", R"({"text": "x"})")).content, "echo: x");
    EXPECT_TRUE(log.contains("ignored a line on stdout that is not JSON: Welcome to the fake server!"));
    // A flood that never answers still times out, and is not logged line by line.
    ToolResult flood = client->call(tool_call("flood"));
    EXPECT_TRUE(flood.is_error);
    EXPECT_HAS(flood.content, "timed out after 0.5 s");
    EXPECT_LT(log.size(), 20u);
}

TEST_F(McpBroken, CloseIsBoundedAndReapsAServerThatIgnoresSigterm) {
    {
        auto client = ready("ignore-term");
        ASSERT_TRUE(client);
        auto start = Clock::now();
        client->close();
        EXPECT_LT(Clock::now() - start, 4s);
    }
    // Every server these tests started has been reaped: no child is left, zombie or not.
    int status = 0;
    EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
}

// ---------------------------------------------------------------------------------------------
// The reference servers from npm

TEST(McpTools, SeveralServersWithClashingNamesQualified) {
    REQUIRE_NPM_SERVERS();
    Log log;
    McpTools tools({fake("normal", "fake"), stdio_server("everything", "node", {kEverything, "stdio"}),
                    stdio_server("ghost", "lfm-no-such-mcp-server")},
                   options_with(log));
    ASSERT_EQ(tools.servers().size(), 3u);
    EXPECT_EQ(tools.servers()[0]->state(), McpClient::State::kReady) << tools.servers()[0]->error();
    EXPECT_EQ(tools.servers()[1]->state(), McpClient::State::kReady) << tools.servers()[1]->error();
    EXPECT_EQ(tools.servers()[2]->state(), McpClient::State::kFailed);
    auto list = tools.tools();
    EXPECT_TRUE(has_tool(list, "fake__echo"));
    EXPECT_TRUE(has_tool(list, "everything__echo"));
    EXPECT_FALSE(has_tool(list, "echo"));
    EXPECT_TRUE(has_tool(list, "get-sum"));  // unique: unqualified
    EXPECT_TRUE(has_tool(list, "crash"));
    EXPECT_EQ(tools.call(tool_call("fake__echo", R"({"text": "a"})")).content, "echo: a");
    EXPECT_EQ(tools.call(tool_call("everything__echo", R"({"message": "b"})")).content, "Echo: b");
    ToolResult sum = tools.call(tool_call("get-sum", R"({"a": 2, "b": 40})"));
    EXPECT_FALSE(sum.is_error);
    EXPECT_HAS(sum.content, "42");
}

TEST(McpEverything, StdioProgressTimeoutAndErrors) {
    REQUIRE_NPM_SERVERS();
    Log log;
    McpServerConfig config = stdio_server("everything", "node", {kEverything, "stdio"});
    config.env = {{"LFM_MCP_TEST_VALUE", "from lfm"}};
    auto client = McpClient::connect(config, options_with(log, 1000ms));
    ASSERT_EQ(client->state(), McpClient::State::kReady) << client->error();
    EXPECT_HAS(client->server_info(), "everything");
    auto tools = client->tools();
    EXPECT_TRUE(has_tool(tools, "trigger-long-running-operation"));
    // env reaches the server.
    EXPECT_HAS(client->call(tool_call("get-env")).content, "from lfm");
    // A schema violation is the server's error, named.
    ToolResult bad = client->call(tool_call("get-sum", R"({"a": "two"})"));
    EXPECT_TRUE(bad.is_error);
    // Steps of 250 ms under a 1 s time-out: progress keeps the call alive.
    ToolResult ok =
        client->call(tool_call("trigger-long-running-operation", R"({"duration": 1.5, "steps": 6})"));
    EXPECT_FALSE(ok.is_error) << ok.content;
    EXPECT_HAS(ok.content, "Long running operation completed");
    // One step of 10 s: no progress in time.
    ToolResult late =
        client->call(tool_call("trigger-long-running-operation", R"({"duration": 10, "steps": 1})"));
    EXPECT_TRUE(late.is_error);
    EXPECT_HAS(late.content, "timed out after 1 s");
    EXPECT_EQ(client->state(), McpClient::State::kReady);
}

TEST(McpFilesystem, ListsAndReadsATemporaryDirectory) {
    REQUIRE_NPM_SERVERS();
    Log log;
    fs::path dir = fs::path(test::temp_path("mcp-fs"));
    fs::create_directories(dir);
    dir = fs::canonical(dir);
    std::ofstream(dir / "notes.txt") << "the cat sat on the mat\n";
    fs::create_directories(dir / "sub");
    auto client =
        McpClient::connect(stdio_server("files", "node", {kFilesystem, dir.string()}), options_with(log));
    ASSERT_EQ(client->state(), McpClient::State::kReady) << client->error();
    EXPECT_TRUE(has_tool(client->tools(), "read_text_file"));
    ToolResult listing =
        client->call(tool_call("list_directory", nlohmann::json{{"path", dir.string()}}.dump()));
    EXPECT_FALSE(listing.is_error) << listing.content;
    EXPECT_HAS(listing.content, "[FILE] notes.txt");
    EXPECT_HAS(listing.content, "[DIR] sub");
    ToolResult text = client->call(
        tool_call("read_text_file", nlohmann::json{{"path", (dir / "notes.txt").string()}}.dump()));
    EXPECT_EQ(text.content, "the cat sat on the mat\n");
    ToolResult outside = client->call(tool_call("read_text_file", R"({"path": "/etc/hostname"})"));
    EXPECT_TRUE(outside.is_error);
    EXPECT_HAS(outside.content, "outside allowed directories");
}

// A server process of the test's own (the HTTP server), ended with the test.
class ServerProcess {
  public:
    ServerProcess(std::vector<std::string> argv, const std::vector<std::string>& env_extra) {
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e) env.emplace_back(*e);
        env.insert(env.end(), env_extra.begin(), env_extra.end());
        std::vector<char*> argp, envp;
        for (auto& a : argv) argp.push_back(a.data());
        argp.push_back(nullptr);
        for (auto& e : env) envp.push_back(e.data());
        envp.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        if (posix_spawnp(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data()) != 0) pid_ = -1;
        posix_spawn_file_actions_destroy(&actions);
    }
    ~ServerProcess() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    bool running() const { return pid_ > 0; }

  private:
    pid_t pid_ = -1;
};

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool wait_for_port(int port, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (up) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

TEST(McpEverything, StreamableHttp) {
    REQUIRE_NPM_SERVERS();
    const int port = free_port();
    ServerProcess server({"node", kEverything, "streamableHttp"}, {"PORT=" + std::to_string(port)});
    ASSERT_TRUE(server.running());
    ASSERT_TRUE(wait_for_port(port, 30s)) << "server-everything did not listen on port " << port;
    Log log;
    McpServerConfig config;
    config.name = "web";
    config.url = "http://127.0.0.1:" + std::to_string(port) + "/mcp";
    config.headers = {{"X-Test", "lfm"}};
    auto client = McpClient::connect(config, options_with(log, 1000ms));
    ASSERT_EQ(client->state(), McpClient::State::kReady) << client->error();
    EXPECT_EQ(client->protocol_version(), "2025-11-25");
    EXPECT_TRUE(has_tool(client->tools(), "get-sum"));
    EXPECT_HAS(client->call(tool_call("get-sum", R"({"a": 1, "b": 2})")).content, "3");
    EXPECT_EQ(client->call(tool_call("echo", R"({"message": "over http"})")).content, "Echo: over http");
    // Progress arrives on the POST's event stream and keeps the call alive.
    ToolResult ok =
        client->call(tool_call("trigger-long-running-operation", R"({"duration": 1.5, "steps": 6})"));
    EXPECT_FALSE(ok.is_error) << ok.content;
    std::atomic<bool> cancel{false};
    std::thread canceller([&] {
        std::this_thread::sleep_for(150ms);
        cancel = true;
    });
    auto start = Clock::now();
    ToolResult cancelled =
        client->call(tool_call("trigger-long-running-operation", R"({"duration": 10, "steps": 1})"), &cancel);
    canceller.join();
    EXPECT_EQ(cancelled.content, "MCP server 'web': tool 'trigger-long-running-operation': cancelled");
    EXPECT_LT(Clock::now() - start, 2s);
    // Several calls at once, each on its own POST.
    std::vector<std::string> answers(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&, i] {
            answers[i] =
                client->call(tool_call("echo", R"({"message": ")" + std::to_string(i) + R"("})")).content;
        });
    for (auto& t : threads) t.join();
    for (int i = 0; i < 4; ++i) EXPECT_EQ(answers[i], "Echo: " + std::to_string(i));
    client->close();

    // The wrong path, and a port nobody listens on.
    McpServerConfig wrong = config;
    wrong.url = "http://127.0.0.1:" + std::to_string(port) + "/nope";
    auto lost = McpClient::connect(wrong, options_with(log));
    EXPECT_EQ(lost->state(), McpClient::State::kFailed);
    EXPECT_HAS(lost->error(), "MCP server 'web': initialize failed: the server answered HTTP 404");
    McpServerConfig closed = config;
    closed.url = "http://127.0.0.1:" + std::to_string(free_port()) + "/mcp";
    auto refused = McpClient::connect(closed, options_with(log));
    EXPECT_EQ(refused->state(), McpClient::State::kFailed);
    EXPECT_HAS(refused->error(), "cannot reach http://127.0.0.1:");
}

// ---------------------------------------------------------------------------------------------
// `lfm mcp`

struct CliRun {
    int status = -1;
    std::string out;
};

CliRun run_cli(const std::string& args) {
    CliRun run;
    std::string command = std::string(LFM_CLI_PATH) + " mcp " + args + " 2>&1";
    std::FILE* p = ::popen(command.c_str(), "r");
    if (!p) return run;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, p)) > 0) run.out.append(buffer, n);
    int status = ::pclose(p);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

TEST(McpCli, ListsAndCalls) {
    REQUIRE_NODE();
    std::string server = "--command 'node " + kFakeServer + "'";
    CliRun list = run_cli(server);
    EXPECT_EQ(list.status, 0) << list.out;
    EXPECT_HAS(list.out, "node: ready, MCP 2025-11-25, fake 1.2.3, 11 tools");
    EXPECT_HAS(list.out, "  echo(text: string)  Says the text back");
    EXPECT_HAS(list.out, "  slow(ms?: number)");

    CliRun call = run_cli(server + " --call echo --args '{\"text\": \"cli\"}'");
    EXPECT_EQ(call.status, 0) << call.out;
    EXPECT_EQ(call.out, "echo: cli\n");
    CliRun failed = run_cli(server + " --call fail");
    EXPECT_EQ(failed.status, 1);
    EXPECT_EQ(failed.out, "no such city\n");

    std::string config = test::temp_path("mcp-cli.json");
    std::ofstream(config) << R"({"mcpServers": {"ghost": {"command": "lfm-no-such-mcp-server"}}})";
    CliRun ghost = run_cli("--mcp " + config + " --json");
    EXPECT_EQ(ghost.status, 1);
    EXPECT_HAS(ghost.out, R"("state": "failed")");
    EXPECT_HAS(ghost.out, "cannot start 'lfm-no-such-mcp-server'");
}

}  // namespace
}  // namespace lfm
