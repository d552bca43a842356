// `lfm chat` driven through a pseudo-terminal, as a person would: type a prompt and get a reply,
// Ctrl-C at the prompt and during a reply, /reset, /stats, Ctrl-D to leave.

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_util.h"

namespace lfm {
namespace {

class Terminal {
public:
    explicit Terminal(const std::vector<std::string>& args) {
        pid_ = ::forkpty(&fd_, nullptr, nullptr, nullptr);
        if (pid_ == 0) {
            ::setenv("TERM", "dumb", 1);
            ::setenv("NO_COLOR", "1", 1);
            std::vector<char*> argv;
            for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
            argv.push_back(nullptr);
            ::execv(LFM_CLI_PATH, argv.data());
            ::_exit(127);
        }
    }
    ~Terminal() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }
    bool started() const { return pid_ > 0; }

    // Reads until `needle` appears after position `from` of everything seen; false on timeout.
    bool wait_for(const std::string& needle, size_t from, int timeout_ms = 20000) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (seen_.find(needle, from) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) return seen_.find(needle, from) != std::string::npos;
            seen_.append(buf, static_cast<size_t>(n));
        }
        return true;
    }
    void type(const std::string& keys) { ASSERT_EQ(::write(fd_, keys.data(), keys.size()), static_cast<ssize_t>(keys.size())); }
    size_t mark() const { return seen_.size(); }
    const std::string& seen() const { return seen_; }

    int exit_status(int timeout_ms = 10000) {
        for (int waited = 0; waited < timeout_ms; waited += 20) {
            wait_for("\x01never", seen_.size(), 20);  // keep draining output
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
        }
        return -2;
    }

private:
    pid_t pid_ = -1;
    int fd_ = -1;
    bool exited_ = false;
    std::string seen_;
};

TEST(ChatCli, ConversationResetAndCtrlD) {
    LFM_REQUIRE_SHARED();
    Terminal t({"lfm", "chat", "-m", test::ref_path("tinyB-q8_0.gguf"), "--temp", "0", "-n", "8", "-t", "2"});
    ASSERT_TRUE(t.started());
    ASSERT_TRUE(t.wait_for("Ctrl-D to quit", 0)) << t.seen();
    ASSERT_TRUE(t.wait_for("> ", 0)) << t.seen();

    size_t m = t.mark();
    t.type("Hello there\r");
    ASSERT_TRUE(t.wait_for("Hello there", m)) << t.seen();
    size_t after_echo = t.seen().find("Hello there", m) + 11;
    ASSERT_TRUE(t.wait_for("\n> ", after_echo)) << t.seen();  // the reply, then the next prompt
    const std::string reply = t.seen().substr(after_echo, t.seen().find("\n> ", after_echo) - after_echo);
    EXPECT_GT(reply.find_first_not_of("\r\n "), 0u) << "no reply text: " << t.seen();
    EXPECT_NE(reply.find_first_not_of("\r\n "), std::string::npos) << "no reply text: " << t.seen();

    m = t.mark();
    t.type("/stats\r");
    ASSERT_TRUE(t.wait_for("last reply: 8 tokens", m)) << t.seen();

    // Keys typed before libedit has the terminal again would meet the cooked line discipline:
    // wait for the prompt and a moment more.
    auto at_prompt = [&](size_t from) {
        ASSERT_TRUE(t.wait_for("\n> ", from)) << t.seen();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    };
    at_prompt(t.seen().find("last reply", m));
    m = t.mark();
    t.type("\x03");  // Ctrl-C at the prompt: a fresh line, the chat goes on
    t.type("/reset\r");
    ASSERT_TRUE(t.wait_for("(conversation cleared)", m)) << t.seen();
    m = t.mark();
    t.type("/stats\r");
    ASSERT_TRUE(t.wait_for("context 0 / 4096", m)) << t.seen();
    at_prompt(t.seen().find("context 0 / 4096", m));
    t.type("\x04");  // Ctrl-D on an empty line
    EXPECT_EQ(t.exit_status(), 0) << t.seen();
}

TEST(ChatCli, CtrlCStopsAReplyAndKeepsTheSession) {
    LFM_REQUIRE_SHARED();
    // --ignore-eos: the reply would run until the context is full (seconds), so Ctrl-C lands in it.
    Terminal t({"lfm", "chat", "-m", test::ref_path("tinyB-q8_0.gguf"), "--temp", "0", "--ignore-eos", "-c", "4096",
                "-t", "2"});
    ASSERT_TRUE(t.started());
    ASSERT_TRUE(t.wait_for("> ", 0)) << t.seen();
    size_t m = t.mark();
    t.type("Tell me a long story\r");
    ASSERT_TRUE(t.wait_for("story", m)) << t.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    t.type("\x03");
    ASSERT_TRUE(t.wait_for("[stopped]", m)) << t.seen();
    ASSERT_TRUE(t.wait_for("\n> ", t.seen().find("[stopped]", m))) << t.seen();
    m = t.mark();
    t.type("/stats\r");
    ASSERT_TRUE(t.wait_for("context ", m)) << t.seen();
    EXPECT_EQ(t.seen().find("context 4096 / 4096", m), std::string::npos) << "the reply was not stopped: " << t.seen();
    t.type("/quit\r");
    EXPECT_EQ(t.exit_status(), 0) << t.seen();
}


// `lfm chat --mcp`: each call is asked for (n: refused, told to the model; a: this tool from now
// on), its result shown and given to the model; /mcp lists the servers; Ctrl-C stops a call that
// hangs and the chat goes on. The real everything server from npm (tests/mcp) and, for the hang,
// tests/mcp/fake_server.mjs.
TEST(ChatCli, ToolsFromMcpServersRunWithTheUsersApproval) {
    LFM_REQUIRE_SHARED();
    const std::string mcp_dir = LFM_MCP_TEST_DIR;
    const std::string everything = mcp_dir + "/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
    if (std::system("command -v node >/dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed (apt-get install nodejs)";
    if (!std::filesystem::exists(everything))
        GTEST_SKIP() << "tests/mcp/node_modules is missing (npm ci --prefix tests/mcp, which .ci/deps runs)";
    const std::string config = (std::filesystem::temp_directory_path() / ("lfm_chat_mcp_" + std::to_string(::getpid()) + ".json")).string();
    std::ofstream(config) << R"({"mcpServers": {"everything": {"command": "node", "args": [")" << everything
                          << R"(", "stdio"], "includeTools": ["get-structured-content"]}, "fake": {"command": "node", "args": [")"
                          << mcp_dir << R"(/fake_server.mjs"], "includeTools": ["hang"]}}})";
    constexpr int kSlow = 90000;  // ms: replies of up to 150 tokens under ASan on a loaded machine
    Terminal t({"lfm", "chat", "-m", test::ref_path("tinyB-q8_0.gguf"), "-s", "4", "-n", "150", "--no-think", "-t", "2", "--mcp", config,
                "--tool-choice", "get-structured-content", "--max-tool-rounds", "1"});
    ASSERT_TRUE(t.started());
    ASSERT_TRUE(t.wait_for("2 tools from 2 MCP servers", 0, kSlow)) << t.seen();
    ASSERT_TRUE(t.wait_for("\n> ", 0, kSlow)) << t.seen();
    auto at_prompt = [&](size_t from) {
        ASSERT_TRUE(t.wait_for("\n> ", from, kSlow)) << t.seen();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    };

    size_t m = t.mark();
    t.type("Say hi\r");
    ASSERT_TRUE(t.wait_for("→ get-structured-content(", m, kSlow)) << t.seen();
    ASSERT_TRUE(t.wait_for("run it? [y]es, [n]o, [a]lways", m, kSlow)) << t.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    t.type("n\r");
    ASSERT_TRUE(t.wait_for("← error: the user did not allow this call", m, kSlow)) << t.seen();
    at_prompt(t.seen().find("did not allow", m));

    m = t.mark();
    t.type("Say it again\r");
    ASSERT_TRUE(t.wait_for("run it?", m, kSlow)) << t.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    t.type("a\r");
    ASSERT_TRUE(t.wait_for("← {\"temperature\"", m, kSlow)) << t.seen();  // the server's answer
    at_prompt(t.seen().find("← {\"temperature\"", m));

    m = t.mark();
    t.type("Once more\r");
    ASSERT_TRUE(t.wait_for("← {\"temperature\"", m, kSlow)) << t.seen();  // always allowed: not asked again
    EXPECT_EQ(t.seen().find("run it?", m), std::string::npos) << t.seen();
    at_prompt(t.seen().find("← {\"temperature\"", m));

    m = t.mark();
    t.type("/mcp\r");
    ASSERT_TRUE(t.wait_for("everything: ready", m, kSlow)) << t.seen();
    ASSERT_TRUE(t.wait_for("hang", m, kSlow)) << t.seen();
    at_prompt(m);

    t.type("/quit\r");
    EXPECT_EQ(t.exit_status(), 0) << t.seen();

    // A call that hangs (--yes: not asked); Ctrl-C stops it, the model is told, the chat goes on.
    Terminal h({"lfm", "chat", "-m", test::ref_path("tinyB-q8_0.gguf"), "-s", "4", "-n", "150", "--no-think", "-t", "2", "--mcp", config,
                "--tool-choice", "hang", "--yes"});
    ASSERT_TRUE(h.started());
    ASSERT_TRUE(h.wait_for("\n> ", 0, kSlow)) << h.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    m = h.mark();
    h.type("Wait for it\r");
    ASSERT_TRUE(h.wait_for("→ hang(", m, kSlow)) << h.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    h.type("\x03");
    ASSERT_TRUE(h.wait_for("← error: ", m, 10000)) << h.seen();
    EXPECT_NE(h.seen().find("cancel", m), std::string::npos) << h.seen();
    ASSERT_TRUE(h.wait_for("\n> ", h.seen().find("← error: ", m), kSlow)) << h.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    h.type("/quit\r");
    EXPECT_EQ(h.exit_status(), 0) << h.seen();
    std::filesystem::remove(config);
}
}  // namespace
}  // namespace lfm

namespace lfm {
namespace {

// A conversation saved by --session comes back in a new process, and goes on from there; a
// small context drops the oldest turns with a dim line instead of refusing every message.
TEST(ChatCli, SessionFileResumesAndAFullContextDropsOldTurns) {
    LFM_REQUIRE_SHARED();
    const std::string file = test::temp_path("chat-cli.session");
    std::filesystem::remove(file);
    const std::vector<std::string> args = {"lfm", "chat", "-m", test::ref_path("tinyB-q8_0.gguf"), "--temp", "0",
                                           "-n", "16", "-c", "200", "-t", "2", "--session", file};
    {
        Terminal t(args);
        ASSERT_TRUE(t.started());
        ASSERT_TRUE(t.wait_for("> ", 0)) << t.seen();
        size_t m = t.mark();
        for (int turn = 0; turn < 8; ++turn) {  // 200 tokens hold about three turns
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            std::string line = "Turn number ";
            line += std::to_string(turn);
            line += " of a conversation that goes on\r";
            t.type(line);
            ASSERT_TRUE(t.wait_for("of a conversation that goes on", m)) << t.seen();
            m = t.seen().find("of a conversation that goes on", m) + 10;
            ASSERT_TRUE(t.wait_for("\n> ", m)) << t.seen();
            EXPECT_EQ(t.seen().find("error", m), std::string::npos) << t.seen();
        }
        EXPECT_NE(t.seen().find("oldest messages were dropped"), std::string::npos) << t.seen();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        t.type("/quit\r");
        EXPECT_EQ(t.exit_status(), 0) << t.seen();
    }
    ASSERT_TRUE(std::filesystem::exists(file));
    Terminal t(args);
    ASSERT_TRUE(t.started());
    ASSERT_TRUE(t.wait_for("(resumed ", 0)) << t.seen();
    ASSERT_TRUE(t.wait_for("> ", 0)) << t.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    size_t m = t.mark();
    t.type("/stats\r");
    ASSERT_TRUE(t.wait_for("context ", m)) << t.seen();
    EXPECT_EQ(t.seen().find("context 0 /", m), std::string::npos) << "nothing was resumed: " << t.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    m = t.mark();
    t.type("/retry\r");
    ASSERT_TRUE(t.wait_for("\n> ", m)) << t.seen();
    EXPECT_EQ(t.seen().find("error", m), std::string::npos) << t.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    m = t.mark();
    t.type("/load " + test::ref_path("tinyB-q8_0.gguf") + "\r");  // not a session file
    ASSERT_TRUE(t.wait_for("not an lfm session file", m)) << t.seen();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    t.type("/quit\r");
    EXPECT_EQ(t.exit_status(), 0) << t.seen();
}

}  // namespace
}  // namespace lfm
