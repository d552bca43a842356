// `lfm pull` against a small HTTP server on loopback that plays the Hugging Face hub: the file
// list with sizes and digests, downloads with HTTP Range, connections dropped mid-file, wrong
// digests, missing repositories. The cache must come out in the hub's own layout.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "hub/sha256.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace lfm {
namespace {

// A send to a client that hung up fails instead of raising SIGPIPE: Linux's flag per call;
// macOS has none, and its sockets get SO_NOSIGPIPE instead (below).
#if defined(MSG_NOSIGNAL)
constexpr int kNoSigpipe = MSG_NOSIGNAL;
#else
constexpr int kNoSigpipe = 0;
#endif

class FakeHub {
public:
    std::string file;         // the GGUF's bytes
    std::string sha256;       // what the hub claims
    std::atomic<int> drops{0};  // the next `drops` downloads stop halfway
    std::mutex mu;
    std::vector<std::string> requests;  // "PATH range=..."

    FakeHub() {
        std::mt19937 gen(5);
        file.resize(1 << 20);
        for (char& c : file) c = static_cast<char>(gen());
        sha256 = sha256_hex(file);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0) return;
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeHub() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        if (thread_.joinable()) thread_.join();
    }
    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    size_t request_count() {
        std::lock_guard<std::mutex> lock(mu);
        return requests.size();
    }

private:
    void serve() {
        while (!stop_) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
#if defined(SO_NOSIGPIPE)
            const int one = 1;
            ::setsockopt(c, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
            handle(c);
            ::close(c);
        }
    }
    static void send_all(int c, const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            ssize_t n = ::send(c, s.data() + off, s.size() - off, kNoSigpipe);
            if (n <= 0) return;
            off += static_cast<size_t>(n);
        }
    }
    void handle(int c) {
        std::string req;
        char buf[4096];
        while (req.find("\r\n\r\n") == std::string::npos) {
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) return;
            req.append(buf, static_cast<size_t>(n));
        }
        const std::string path = req.substr(4, req.find(' ', 4) - 4);
        size_t from = 0;
        std::string range;
        if (size_t r = req.find("Range: bytes="); r != std::string::npos) {
            range = req.substr(r + 13, req.find("\r\n", r) - r - 13);
            from = std::stoul(range);
        }
        {
            std::lock_guard<std::mutex> lock(mu);
            requests.push_back(path + " range=" + range);
        }
        const std::string json = R"({"sha": "c0ffee", "siblings": [{"rfilename": "README.md", "size": 5},
            {"rfilename": "Tiny-Q8_0.gguf", "size": 7, "lfs": {"sha256": "00", "size": 7}},
            {"rfilename": "Tiny-Q4_K_M.gguf", "size": )" + std::to_string(file.size()) +
                                 R"(, "lfs": {"sha256": ")" + sha256 + R"(", "size": )" + std::to_string(file.size()) + "}}]}";
        if (path == "/api/models/Org/Tiny-GGUF/revision/main?blobs=true") {
            send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(json.size()) + "\r\nConnection: close\r\n\r\n" + json);
        } else if (path == "/Org/Tiny-GGUF/resolve/c0ffee/Tiny-Q4_K_M.gguf" && from <= file.size()) {
            const std::string body = file.substr(from);
            std::string head = from > 0 ? "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(from) + "-" +
                                              std::to_string(file.size() - 1) + "/" + std::to_string(file.size()) + "\r\n"
                                        : "HTTP/1.1 200 OK\r\n";
            head += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
            send_all(c, head);
            if (drops > 0) {  // the connection drops halfway through
                --drops;
                send_all(c, body.substr(0, body.size() / 2));
                return;
            }
            send_all(c, body);
        } else {
            send_all(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    }

    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

struct PullRun {
    int exit_code;
    std::string out, err;
};

PullRun lfm_pull(const std::string& args, const std::string& env) {
    const std::string out = test::temp_path("pull.out"), err = test::temp_path("pull.err");
    const std::string cmd = env + " " + LFM_CLI_PATH + " pull " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    auto slurp = [](const std::string& p) {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

class Pull : public ::testing::Test {
protected:
    void SetUp() override {
        home_ = test::temp_path("hf-home");
        fs::remove_all(home_);
        env_ = "HF_HOME=" + home_ + " HF_ENDPOINT=" + hub_.endpoint() + " HF_HUB_OFFLINE=0";
    }
    fs::path repo() const { return fs::path(home_) / "hub" / "models--Org--Tiny-GGUF"; }
    FakeHub hub_;
    std::string home_, env_;
};

TEST_F(Pull, DroppedConnectionIsAnErrorAndTheNextRunResumes) {
    hub_.drops = 1;
    PullRun cut = lfm_pull("Org/Tiny-GGUF:Q4_K_M --retries 0", env_);
    EXPECT_EQ(cut.exit_code, 1) << cut.err;
    EXPECT_EQ(cut.err.rfind("lfm: error: downloading Tiny-Q4_K_M.gguf failed", 0), 0u) << cut.err;
    EXPECT_NE(cut.err.find("the next run resumes it"), std::string::npos) << cut.err;
    EXPECT_EQ(std::count(cut.err.begin(), cut.err.end(), '\n'), 1) << cut.err;
    const fs::path partial = repo() / "blobs" / (hub_.sha256 + ".incomplete");
    ASSERT_TRUE(fs::exists(partial));
    const auto half = fs::file_size(partial);
    EXPECT_EQ(half, hub_.file.size() / 2);

    PullRun ok = lfm_pull("Org/Tiny-GGUF:Q4_K_M", env_);
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_EQ(hub_.requests.back(), "/Org/Tiny-GGUF/resolve/c0ffee/Tiny-Q4_K_M.gguf range=" + std::to_string(half) + "-");
    // The hub's cache layout: blob named by digest, snapshot link, refs/main.
    const fs::path link = repo() / "snapshots" / "c0ffee" / "Tiny-Q4_K_M.gguf";
    EXPECT_EQ(ok.out, link.string() + "\n");
    EXPECT_TRUE(fs::is_symlink(link));
    EXPECT_EQ(fs::read_symlink(link), fs::path("../../blobs") / hub_.sha256);
    std::ifstream in(link, std::ios::binary);
    EXPECT_TRUE(std::string(std::istreambuf_iterator<char>(in), {}) == hub_.file);
    std::ifstream refs(repo() / "refs" / "main");
    std::string commit;
    refs >> commit;
    EXPECT_EQ(commit, "c0ffee");

    // Cached: no request at all, also offline.
    const size_t before = hub_.request_count();
    PullRun again = lfm_pull("Org/Tiny-GGUF:Q4_K_M", "HF_HOME=" + home_ + " HF_ENDPOINT=http://127.0.0.1:9 HF_HUB_OFFLINE=1");
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out, ok.out);
    EXPECT_EQ(hub_.request_count(), before);
}

TEST_F(Pull, RetriesResumeWithinOneRun) {
    hub_.drops = 2;
    PullRun ok = lfm_pull("Org/Tiny-GGUF", env_);  // no quant: Q4_K_M is the default
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    EXPECT_NE(ok.out.find("Tiny-Q4_K_M.gguf"), std::string::npos);
    int ranged = 0;
    for (const auto& r : hub_.requests) ranged += r.find("range=") != std::string::npos && !r.ends_with("range=");
    EXPECT_EQ(ranged, 2);
}

TEST_F(Pull, BadDigestUnknownQuantMissingRepoAndOffline) {
    hub_.sha256 = std::string(64, 'a');  // the hub claims another digest
    PullRun bad = lfm_pull("Org/Tiny-GGUF:Q4_K_M", env_);
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("is corrupt (sha256"), std::string::npos) << bad.err;
    EXPECT_FALSE(fs::exists(repo() / "blobs" / (hub_.sha256 + ".incomplete")));

    PullRun quant = lfm_pull("Org/Tiny-GGUF:Q5_K_S", env_);
    EXPECT_EQ(quant.exit_code, 1);
    EXPECT_NE(quant.err.find("no GGUF file for 'Q5_K_S'; its GGUF files: Tiny-Q8_0.gguf, Tiny-Q4_K_M.gguf"),
              std::string::npos) << quant.err;

    PullRun missing = lfm_pull("Org/Nope", env_);
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("HTTP 404"), std::string::npos) << missing.err;
    EXPECT_NE(missing.err.find("or pass -m FILE"), std::string::npos) << missing.err;

    PullRun offline = lfm_pull("Org/Tiny-GGUF", "HF_HOME=" + home_ + " HF_HUB_OFFLINE=1");
    EXPECT_EQ(offline.exit_code, 1);
    EXPECT_NE(offline.err.find("downloads are off"), std::string::npos) << offline.err;
}

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // Fed in uneven pieces, the same digest.
    Sha256 h;
    const std::string s(1000, 'x');
    for (size_t i = 0; i < s.size();) {
        size_t n = std::min<size_t>(1 + i % 97, s.size() - i);
        h.update(s.data() + i, n);
        i += n;
    }
    EXPECT_EQ(h.hex_digest(), sha256_hex(s));
}

}  // namespace
}  // namespace lfm
