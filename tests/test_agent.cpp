// The agent loop (lfm::Agent) and the tool executors that are not MCP (FunctionTools, ToolBox),
// on the tiny reference model: a forced call reaches the tool with arguments that match its
// schema, the result comes back as a tool message, and the model goes on.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "lfm/agent.h"
#include "test_util.h"

namespace lfm {
namespace {

using json = nlohmann::json;

Tool make_tool(const std::string& name, const std::string& parameters) {
    Tool t;
    t.name = name;
    t.description = "a test tool";
    t.parameters = parameters;
    return t;
}

const char* kCityParameters =
    R"({"type": "object", "properties": {"city": {"type": "string", "maxLength": 10}}, "required": ["city"]})";

struct Tiny {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
    std::unique_ptr<Chat> chat;
};

Tiny tiny_chat(int64_t n_ctx = 2048) {
    Tiny t;
    t.model = Model::load(test::ref_path("tinyB-q8_0.gguf"));
    t.tokenizer = t.model->tokenizer();
    Chat::Options co;
    co.session.n_ctx = n_ctx;
    co.session.n_threads = 2;
    co.render.date = "2026-01-01";
    t.chat = std::make_unique<Chat>(t.model, t.tokenizer, co);
    return t;
}

GenerateOptions short_replies() {
    GenerateOptions o;
    o.sampler.seed = 7;
    o.max_tokens = 60;
    return o;
}

TEST(FunctionTools, CallsTheFunctionByNameAndTurnsFailuresIntoErrorResults) {
    FunctionTools tools;
    tools.add(make_tool("upper", kCityParameters), [](std::string_view args) {
        std::string city = json::parse(args).at("city").get<std::string>();
        for (char& c : city) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return ToolResult{city};
    });
    tools.add(make_tool("broken", "{}"),
              [](std::string_view) -> ToolResult { throw std::runtime_error("disk on fire"); });
    ASSERT_EQ(tools.tools().size(), 2u);
    EXPECT_EQ(tools.call({"c", "upper", R"({"city": "Oslo"})"}).content, "OSLO");
    const ToolResult broken = tools.call({"c", "broken", "{}"});
    EXPECT_TRUE(broken.is_error);
    EXPECT_NE(broken.content.find("disk on fire"), std::string::npos) << broken.content;
    const ToolResult missing = tools.call({"c", "nope", "{}"});
    EXPECT_TRUE(missing.is_error);
    EXPECT_NE(missing.content.find("'nope'"), std::string::npos);
    tools.add(make_tool("upper", "{}"), [](std::string_view) { return ToolResult{"replaced"}; });
    EXPECT_EQ(tools.tools().size(), 2u);
    EXPECT_EQ(tools.call({"c", "upper", "{}"}).content, "replaced");
    EXPECT_THROW(tools.add(make_tool("", "{}"), [](std::string_view) { return ToolResult{}; }), Error);
}

TEST(ToolBox, QualifiesNamesTwoSourcesDeclareAndRoutesEachCall) {
    auto a = std::make_shared<FunctionTools>();
    auto b = std::make_shared<FunctionTools>();
    a->add(make_tool("search", "{}"), [](std::string_view) { return ToolResult{"from a"}; });
    a->add(make_tool("only_a", "{}"), [](std::string_view) { return ToolResult{"a alone"}; });
    b->add(make_tool("search", "{}"),
           [](std::string_view args) { return ToolResult{"from b " + std::string(args)}; });
    ToolBox box;
    box.add("web", a);
    box.add("files", b);
    std::vector<std::string> names;
    for (const Tool& t : box.tools()) names.push_back(t.name);
    EXPECT_EQ(names, (std::vector<std::string>{"web__search", "only_a", "files__search"}));
    EXPECT_EQ(box.call({"1", "web__search", "{}"}).content, "from a");
    EXPECT_EQ(box.call({"2", "files__search", R"({"q": 1})"}).content, R"(from b {"q": 1})");
    EXPECT_EQ(box.call({"3", "only_a", "{}"}).content, "a alone");
    EXPECT_TRUE(box.call({"4", "search", "{}"}).is_error);  // ambiguous: only the qualified names exist
}

// tool_choice "required": the first reply is a call of a declared tool with schema-valid
// arguments; the result goes back as a tool message answering that call; the model replies
// again; the transcript replays (the template renders, from the messages, the prompt the model
// was given for its last reply).
TEST(Agent, AForcedCallRunsAndItsResultGoesBackToTheModel) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    std::vector<std::string> seen;
    tools.add(make_tool("get_weather", kCityParameters), [&](std::string_view args) {
        seen.emplace_back(args);
        const json a = json::parse(args);  // throws (an error result) when not JSON
        return ToolResult{"sunny in " + a.at("city").get<std::string>()};
    });
    AgentOptions ao;
    ao.tool_choice = "required";
    ao.max_tool_rounds = 1;
    Agent agent(*t.chat, tools, ao);
    const AgentResult r = agent.send("What is the weather in Oslo?", short_replies());

    EXPECT_EQ(r.tool_rounds, 1);
    ASSERT_GE(r.messages.size(), 4u);
    EXPECT_EQ(r.messages[0].role, "user");
    EXPECT_EQ(r.messages[1].role, "assistant");
    // "required" is one call or more (in one message); the next reply's calls are over the limit.
    const std::vector<ToolCall>& calls = r.messages[1].tool_calls;
    ASSERT_EQ(seen.size(), calls.size());
    ASSERT_GE(r.messages.size(), 3 + calls.size());
    for (size_t i = 0; i < calls.size(); ++i) {
        const json args = json::parse(seen[i]);
        ASSERT_TRUE(args.contains("city") && args["city"].is_string()) << seen[i];
        EXPECT_LE(args["city"].get<std::string>().size(), 10u);
        EXPECT_EQ(calls[i].name, "get_weather");
        const Message& result = r.messages[2 + i];
        EXPECT_EQ(result.role, "tool");
        EXPECT_EQ(result.tool_call_id, calls[i].id);
        EXPECT_EQ(result.content, "sunny in " + args["city"].get<std::string>());
        for (size_t j = 0; j < i; ++j) EXPECT_NE(calls[i].id, calls[j].id);
    }
    EXPECT_EQ(r.messages.back().role, "assistant");
    EXPECT_GT(r.last.tokens.size(), 0u);

    // Replay: the messages before the last reply, rendered, are what the session was given.
    const std::vector<Message>& all = t.chat->messages();
    const std::vector<Message> before(all.begin(), all.end() - 1);
    RenderOptions ro;
    ro.date = "2026-01-01";
    const std::string prompt = t.chat->chat_template().render(before, t.chat->tools(), ro);
    const std::vector<int32_t> ids = t.tokenizer->encode(prompt, false, true);
    const auto held = t.chat->session().tokens();
    ASSERT_GE(held.size(), ids.size());
    EXPECT_TRUE(std::equal(ids.begin(), ids.end(), held.begin()));
    // The tool message reached the session once, not re-run from scratch: the last reply's prompt
    // reused what the first one left.
    EXPECT_GT(r.last.cached_tokens, 0);
}

TEST(Agent, DeniedCallsAreNotRunAndTheModelIsToldSo) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    int runs = 0;
    tools.add(make_tool("get_weather", kCityParameters), [&](std::string_view) {
        ++runs;
        return ToolResult{"rain"};
    });
    int asked = 0;
    AgentOptions ao;
    ao.tool_choice = "get_weather";
    ao.max_tool_rounds = 1;
    ao.approve = [&](const ToolCall&) {
        ++asked;
        return ToolApproval::kDeny;
    };
    Agent agent(*t.chat, tools, ao);
    const AgentResult r = agent.send("Weather?", short_replies());
    EXPECT_EQ(runs, 0);
    EXPECT_GE(asked, 1);
    ASSERT_GE(r.messages.size(), 3u);
    EXPECT_EQ(r.messages[2].role, "tool");
    EXPECT_NE(r.messages[2].content.find("did not allow"), std::string::npos) << r.messages[2].content;

    // "always": asked once, then every later call of that tool runs without asking.
    asked = 0;
    agent.options().approve = [&](const ToolCall&) {
        ++asked;
        return ToolApproval::kAlwaysAllow;
    };
    agent.send("And tomorrow?", short_replies());
    agent.send("And the day after?", short_replies());
    EXPECT_EQ(asked, 1);
    EXPECT_GE(runs, 2);
}

TEST(Agent, ResultsTooLargeForTheContextAreCutWithANote) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    std::string huge;
    for (int i = 0; i < 20000; ++i) huge += "line " + std::to_string(i) + " é\n";
    tools.add(make_tool("dump", R"({"type": "object", "properties": {}})"),
              [&](std::string_view) { return ToolResult{huge}; });
    AgentOptions ao;
    ao.tool_choice = "dump";  // a named tool: one call (a noisy model repeats calls under "required")
    ao.max_tool_rounds = 1;
    ao.max_result_tokens = 100;
    Agent agent(*t.chat, tools, ao);
    const AgentResult r = agent.send("Dump it.", short_replies());
    ASSERT_GE(r.messages.size(), 3u);
    const std::string& cut = r.messages[2].content;
    EXPECT_NE(cut.find("[lfm: the result was cut"), std::string::npos);
    EXPECT_EQ(cut.rfind("line 0 é\nline 1 é\n", 0), 0u) << "the start is kept";
    EXPECT_LT(t.tokenizer->encode(cut, false, false).size(), 130u);
    // And with no explicit limit, half of the free context: a 2048-token context holds it.
    EXPECT_LT(t.chat->context_used(), t.chat->context_size());
}

TEST(Agent, RoundLimitAndCancelStopTheLoop) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    std::atomic<bool> cancel{false};
    int runs = 0;
    tools.add(make_tool("slow", R"({"type": "object", "properties": {}})"), [&](std::string_view) {
        ++runs;
        cancel = true;  // Ctrl-C while the tool runs
        return ToolResult{"stopped", true};
    });
    AgentOptions ao;
    ao.tool_choice = "slow";
    ao.max_tool_rounds = 0;
    Agent agent(*t.chat, tools, ao);
    GenerateOptions go = short_replies();
    AgentResult r = agent.send("Go.", go);
    EXPECT_TRUE(r.round_limit);
    EXPECT_EQ(runs, 0);
    EXPECT_EQ(r.messages.size(), 2u);  // the user message and the reply whose calls were not run

    agent.options().max_tool_rounds = 5;
    go.cancel = &cancel;
    r = agent.send("Again.", go);
    EXPECT_EQ(runs, 1);
    EXPECT_FALSE(r.round_limit);
    ASSERT_GE(r.messages.size(), 3u);
    EXPECT_EQ(r.messages.back().role, "tool");  // no reply after a cancelled call: the user speaks next
}

TEST(Agent, BadToolChoicesAreClearErrorsAndLeaveTheConversationAlone) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools none;
    AgentOptions ao;
    ao.tool_choice = "required";
    Agent no_tools(*t.chat, none, ao);
    EXPECT_THROW(no_tools.send("hi", short_replies()), Error);
    FunctionTools tools;
    tools.add(make_tool("a", "{}"), [](std::string_view) { return ToolResult{}; });
    ao.tool_choice = "b";
    Agent wrong(*t.chat, tools, ao);
    try {
        wrong.send("hi", short_replies());
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(t.chat->messages().empty());
}

// ---------------------------------------------------------------------------------------------
// `lfm run --mcp`: the real MCP servers of tests/mcp (npm), the tiny model made to call them by
// --tool-choice, the transcript printed by --json.

namespace fs = std::filesystem;
const std::string kMcpDir = LFM_MCP_TEST_DIR;
const std::string kEverything =
    kMcpDir + "/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
const std::string kFilesystem =
    kMcpDir + "/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js";

#define REQUIRE_MCP_SERVERS()                                             \
    LFM_REQUIRE_SHARED();                                                 \
    if (std::system("command -v node >/dev/null 2>&1") != 0)              \
        GTEST_SKIP() << "node is not installed (apt-get install nodejs)"; \
    if (!fs::exists(kEverything) || !fs::exists(kFilesystem))             \
    GTEST_SKIP() << "tests/mcp/node_modules is missing (npm ci --prefix tests/mcp, which .ci/deps runs)"

struct Output {
    int status;
    std::string out;  // stdout
    std::string err;  // stderr
};
Output run_cli(const std::string& args) {
    const fs::path err_file = fs::temp_directory_path() / ("lfm_agent_err_" + std::to_string(::getpid()));
    const std::string cmd = std::string(LFM_CLI_PATH) + " " + args + " 2>" + err_file.string();
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return {-1, "", "popen failed"};
    Output o;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
    const int status = ::pclose(p);
    o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    o.err.assign(std::istreambuf_iterator<char>(in), {});
    fs::remove(err_file);
    return o;
}

// A folder for the filesystem server and a config naming both servers, a few tools each (the
// tiny model's context is 4096 tokens; the servers' whole lists take more).
struct McpSetup {
    fs::path dir = fs::temp_directory_path() / ("lfm_agent_" + std::to_string(::getpid()));
    std::string config;
    McpSetup() {
        fs::create_directories(dir / "files");
        std::ofstream(dir / "files" / "note.txt") << "hello from a file";
        json c;
        c["mcpServers"]["files"] = {{"command", "node"},
                                    {"args", {kFilesystem, (dir / "files").string()}},
                                    {"includeTools", {"list_allowed_directories", "read_text_file"}}};
        c["mcpServers"]["everything"] = {{"command", "node"},
                                         {"args", {kEverything, "stdio"}},
                                         {"includeTools", {"get-structured-content"}}};
        config = (dir / "mcp.json").string();
        std::ofstream(config) << c.dump(2);
    }
    ~McpSetup() { fs::remove_all(dir); }
};

std::string model_flags() {
    return "run -m " + test::ref_path("tinyB-q8_0.gguf") + " -c 4096 -t 2 --seed 3 -n 400 --date 2026-01-01";
}

// The tools the tests force take bounded arguments (an enum, none): a noise model fills a free
// string until the token limit.
TEST(AgentCli, RunCallsARealServerAndPrintsATranscriptThatReplays) {
    REQUIRE_MCP_SERVERS();
    McpSetup setup;
    const Output o =
        run_cli(model_flags() + " --mcp " + setup.config +
                " --tool-choice get-structured-content --max-tool-rounds 1 --json -p 'Weather in Chicago?'");
    ASSERT_EQ(o.status, 0) << o.err;
    const nlohmann::ordered_json j =
        nlohmann::ordered_json::parse(o.out);  // key order as printed: the template shows tools as given
    // The three tools the config keeps of two servers, shown to the model.
    std::vector<std::string> names;
    for (const auto& t : j.at("tools")) names.push_back(t.at("function").at("name").get<std::string>());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"get-structured-content", "list_allowed_directories",
                                               "read_text_file"}));

    const auto& m = j.at("messages");
    ASSERT_GE(m.size(), 4u) << m.dump(1);
    EXPECT_EQ(m[0]["role"], "user");
    EXPECT_EQ(m[1]["role"], "assistant");
    ASSERT_EQ(m[1]["tool_calls"].size(), 1u) << m[1].dump();
    const auto& call = m[1]["tool_calls"][0];
    EXPECT_EQ(call["function"]["name"], "get-structured-content");
    // The arguments match the schema (location: one of three cities) and the server answered
    // with its weather record for it.
    const json args = json::parse(call["function"]["arguments"].get<std::string>());
    ASSERT_TRUE(args.contains("location")) << args.dump();
    EXPECT_TRUE(args["location"] == "New York" || args["location"] == "Chicago" ||
                args["location"] == "Los Angeles");
    EXPECT_EQ(m[2]["role"], "tool");
    EXPECT_EQ(m[2]["tool_call_id"], call["id"]);
    const json weather = json::parse(m[2]["content"].get<std::string>());
    EXPECT_TRUE(weather.contains("temperature") && weather.contains("conditions")) << weather.dump();
    EXPECT_EQ(m.back()["role"], "assistant");  // generation went on after the result
    EXPECT_EQ(j["tool_rounds"], 1);

    // Replay: the messages but the last, with the tools, through the template = `prompt`.
    nlohmann::ordered_json conversation;
    conversation["messages"] = nlohmann::ordered_json(m.begin(), m.end() - 1);
    conversation["tools"] = j["tools"];
    const std::string conv_path = (setup.dir / "conversation.json").string();
    std::ofstream(conv_path) << conversation.dump();
    const Output rendered = run_cli("template -m " + test::ref_path("tinyB-q8_0.gguf") +
                                    " --date 2026-01-01 --conversation " + conv_path);
    ASSERT_EQ(rendered.status, 0) << rendered.err;
    EXPECT_EQ(rendered.out, j["prompt"].get<std::string>());
}

TEST(AgentCli, TheFilesystemServerAnswersTheCall) {
    REQUIRE_MCP_SERVERS();
    McpSetup setup;
    const Output o = run_cli(
        model_flags() + " --mcp " + setup.config +
        " --tool-choice list_allowed_directories --max-tool-rounds 1 --json -p 'Where may you read?'");
    ASSERT_EQ(o.status, 0) << o.err;
    const json m = json::parse(o.out).at("messages");
    ASSERT_GE(m.size(), 3u) << m.dump(1);
    EXPECT_EQ(m[1]["tool_calls"][0]["function"]["name"], "list_allowed_directories");
    const std::string content = m[2]["content"];
    EXPECT_NE(content.find(fs::canonical(setup.dir / "files").string()), std::string::npos) << content;
}

// Servers that misbehave, several at once (tests/mcp/fake_server.mjs, on demand): one crashes in
// the call, one hangs past --tool-timeout, one prints lines that are not JSON, one does not
// exist. Each call's failure comes back to the model as a tool message naming the problem, and
// the reply after it is still generated.
TEST(AgentCli, BrokenServersAreClearToolResultsAndTheRunGoesOn) {
    REQUIRE_MCP_SERVERS();
    McpSetup setup;
    const std::string fake = kMcpDir + "/fake_server.mjs";
    json c;
    c["mcpServers"]["crashy"] = {{"command", "node"}, {"args", {fake}}, {"includeTools", {"crash"}}};
    c["mcpServers"]["stuck"] = {{"command", "node"}, {"args", {fake}}, {"includeTools", {"hang"}}};
    c["mcpServers"]["noisy"] = {
        {"command", "node"}, {"args", {fake, "banner"}}, {"includeTools", {"structured"}}};
    c["mcpServers"]["gone"] = {{"command", "/nonexistent/mcp-server"}};
    const std::string config = (setup.dir / "broken.json").string();
    std::ofstream(config) << c.dump();
    auto run_tool = [&](const std::string& tool) {
        Output o = run_cli(model_flags() + " --mcp " + config + " --tool-choice " + tool +
                           " --tool-timeout 1 --max-tool-rounds 1 --json -p 'Go.'");
        EXPECT_EQ(o.status, 0) << o.err;
        EXPECT_NE(o.err.find("MCP server 'gone': cannot start"), std::string::npos) << o.err;
        json m = json::parse(o.out).at("messages");
        EXPECT_GE(m.size(), 4u) << m.dump(1);  // user, call, result, and the reply after it
        EXPECT_EQ(m[1]["tool_calls"][0]["function"]["name"], tool);
        EXPECT_EQ(m[2]["role"], "tool");
        return m[2]["content"].get<std::string>();
    };
    std::string crashed = run_tool("crash");
    EXPECT_NE(crashed.find("Error: MCP server 'crashy'"), std::string::npos) << crashed;
    EXPECT_NE(crashed.find("exited with status 7"), std::string::npos) << crashed;
    std::string hung = run_tool("hang");
    EXPECT_NE(hung.find("timed out after 1"), std::string::npos) << hung;
    std::string noisy = run_tool("structured");
    EXPECT_EQ(noisy.find("Error:"), std::string::npos) << noisy;
}

// Streamable HTTP: server-everything listening on a port, named by "url" in the config.
TEST(AgentCli, ServersOverStreamableHttp) {
    REQUIRE_MCP_SERVERS();
    McpSetup setup;
    int port = 0;
    {  // a port the kernel says is free now
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
        ::close(fd);
    }
    const pid_t server = ::fork();
    if (server == 0) {
        ::setenv("PORT", std::to_string(port).c_str(), 1);
        std::freopen("/dev/null", "w", stdout);
        std::freopen("/dev/null", "w", stderr);
        ::execlp("node", "node", kEverything.c_str(), "streamableHttp", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ASSERT_GT(server, 0);
    struct Reap {
        pid_t pid;
        ~Reap() {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
        }
    } reap{server};
    bool up = false;
    for (int i = 0; i < 300 && !up; ++i) {  // up to 30 s on a loaded machine
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        up = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(up) << "server-everything did not listen on port " << port;
    json c;
    c["mcpServers"]["web"] = {{"url", "http://127.0.0.1:" + std::to_string(port) + "/mcp"},
                              {"includeTools", {"get-structured-content"}}};
    const std::string config = (setup.dir / "http.json").string();
    std::ofstream(config) << c.dump();
    const Output o =
        run_cli(model_flags() + " --mcp " + config +
                " --tool-choice get-structured-content --max-tool-rounds 1 --json -p 'Weather?'");
    ASSERT_EQ(o.status, 0) << o.err;
    const json m = json::parse(o.out).at("messages");
    ASSERT_GE(m.size(), 4u) << m.dump(1);
    const json weather = json::parse(m[2]["content"].get<std::string>());
    EXPECT_TRUE(weather.contains("temperature")) << m[2].dump();
}

TEST(AgentCli, BadConfigurationsAreClearErrors) {
    LFM_REQUIRE_SHARED();
    McpSetup setup;
    const std::string bad = (setup.dir / "bad.json").string();
    std::ofstream(bad) << R"({"mcpServers": {"x": {"args": ["a"]}}})";
    Output o = run_cli(model_flags() + " --mcp " + bad + " -p hi");
    EXPECT_NE(o.status, 0);
    EXPECT_NE(o.err.find("needs \"command\" (stdio) or \"url\""), std::string::npos) << o.err;
    o = run_cli(model_flags() + " --mcp " + (setup.dir / "missing.json").string() + " -p hi");
    EXPECT_NE(o.status, 0);
    EXPECT_NE(o.err.find("missing.json"), std::string::npos) << o.err;
    // A server whose command does not exist: reported, and the run goes on without it.
    const std::string gone = (setup.dir / "gone.json").string();
    std::ofstream(gone) << R"({"mcpServers": {"gone": {"command": "/nonexistent/mcp-server"}}})";
    o = run_cli(model_flags() + " --mcp " + gone + " --json -p hi");
    ASSERT_EQ(o.status, 0) << o.err;
    EXPECT_EQ(json::parse(o.out).at("tools").size(), 0u);
    EXPECT_NE(o.err.find("MCP server 'gone': cannot start '/nonexistent/mcp-server'"), std::string::npos)
        << o.err;
}

}  // namespace
}  // namespace lfm
