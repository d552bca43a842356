// MCP's stdio transport: the server is a child process; messages are lines of JSON on its stdin
// and stdout, its stderr is a log. One thread reads both outputs so that the server never blocks
// on a full pipe; writes are non-blocking with a deadline so that a server that stops reading
// cannot block lfm.

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "mcp/transport.h"
#include "runtime/platform.h"

namespace lfm::mcp {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPoll{50};
constexpr milliseconds kExitGrace{1000};  // after stdin is closed, and again after SIGTERM
constexpr size_t kMaxLogLine = 4096;
constexpr int kMaxGarbageReports = 5;

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// The usual signals' names (as glibc's sigabbrev_np, which macOS lacks), nullptr for others.
const char* signal_name(int sig) {
    switch (sig) {
        case SIGHUP: return "HUP";
        case SIGINT: return "INT";
        case SIGQUIT: return "QUIT";
        case SIGILL: return "ILL";
        case SIGTRAP: return "TRAP";
        case SIGABRT: return "ABRT";
        case SIGBUS: return "BUS";
        case SIGFPE: return "FPE";
        case SIGKILL: return "KILL";
        case SIGUSR1: return "USR1";
        case SIGSEGV: return "SEGV";
        case SIGUSR2: return "USR2";
        case SIGPIPE: return "PIPE";
        case SIGALRM: return "ALRM";
        case SIGTERM: return "TERM";
        case SIGXCPU: return "XCPU";
        case SIGSYS: return "SYS";
        default: return nullptr;
    }
}

std::string exit_description(int status) {
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char* name = signal_name(WTERMSIG(status));
        return fmt::format("was killed by signal {}{}{}", WTERMSIG(status), name ? " SIG" : "",
                           name ? name : "");
    }
    return "ended";
}

// A write that cannot raise SIGPIPE in a process whose SIGPIPE disposition is the default (a
// library must not change it): the signal is blocked in this thread for the write, and the one
// the write raised is taken off the pending set before unblocking.
ssize_t write_no_sigpipe(int fd, const char* data, size_t size) {
    sigset_t pipe_only, old_mask, pending_before;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
    sigpending(&pending_before);
    ssize_t n = ::write(fd, data, size);
    int saved = errno;
    sigset_t pending_after;
    sigpending(&pending_after);
    if (n < 0 && saved == EPIPE && !sigismember(&pending_before, SIGPIPE) && sigismember(&pending_after, SIGPIPE)) {
        int taken = 0;
        sigwait(&pipe_only, &taken);  // pending, so it returns at once (sigtimedwait: not on macOS)
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    errno = saved;
    return n;
}

class StdioTransport final : public Transport {
  public:
    StdioTransport(const McpServerConfig& config, const McpOptions& options)
        : config_(config), options_(options) {}
    ~StdioTransport() override { close(); }

    void start(TransportEvents events) override {
        events_ = std::move(events);
        spawn();
        reader_ = std::thread([this] { read_loop(); });
    }

    void send(const Json& message) override {
        std::string line = to_wire(message);
        line += '\n';
        if (write_line(line)) return;
        // The server has exited: the reader says how (status, last stderr line) once it has
        // seen the end of stdout, which is more use than "broken pipe". Waited for outside the
        // write lock, which the reader may need to answer a ping meanwhile.
        std::unique_lock lock(ended_mutex_);
        ended_.wait_for(lock, kExitGrace, [&] { return !ended_why_.empty(); });
        throw Error(ErrorCode::kIo,
                    ended_why_.empty() ? "the server closed its input (it has probably exited)" : ended_why_);
    }

    void close() override {
        std::lock_guard close_lock(close_mutex_);
        if (closed_) return;
        closed_ = true;
        closing_ = true;  // a writer waiting on a full pipe gives up; the server's exit is no news
        {
            std::lock_guard lock(write_mutex_);
            close_fd(in_fd_);  // the spec's polite request to exit
        }
        if (pid_ > 0) {
            if (!wait_exit(kExitGrace)) {
                signal_server(SIGTERM);
                if (!wait_exit(kExitGrace)) {
                    signal_server(SIGKILL);
                    wait_exit(kExitGrace);
                }
            }
        }
        stopping_ = true;  // only now: until the server is gone its output is read, so it cannot block on it
        if (reader_.joinable()) reader_.join();
        close_fd(out_fd_);
        close_fd(err_fd_);
    }

  private:
    // Writes a whole line within the write deadline; false when the server has closed its input.
    bool write_line(const std::string& line) {
        std::lock_guard lock(write_mutex_);
        if (in_fd_ < 0) throw Error(ErrorCode::kIo, "the connection is closed");
        const auto deadline = Clock::now() + options_.connect_timeout;
        size_t done = 0;
        while (done < line.size()) {
            ssize_t n = write_no_sigpipe(in_fd_, line.data() + done, line.size() - done);
            if (n > 0) {
                done += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EPIPE) return false;
            if (n < 0 && errno != EAGAIN)
                throw Error(ErrorCode::kIo,
                            fmt::format("cannot write to the server: {}", std::strerror(errno)));
            if (closing_ || Clock::now() >= deadline)
                throw Error(ErrorCode::kIo, "the server does not read its input");
            pollfd p{in_fd_, POLLOUT, 0};
            ::poll(&p, 1, static_cast<int>(kPoll.count()));
        }
        return true;
    }

    void spawn() {
        int in[2], out[2], err[2];
        // O_CLOEXEC: servers started by other threads at the same time must not inherit these.
        if (!cloexec_pipe(in))
            throw Error(ErrorCode::kIo, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
        if (!cloexec_pipe(out)) {
            ::close(in[0]), ::close(in[1]);
            throw Error(ErrorCode::kIo, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
        }
        if (!cloexec_pipe(err)) {
            ::close(in[0]), ::close(in[1]), ::close(out[0]), ::close(out[1]);
            throw Error(ErrorCode::kIo, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
        if (!config_.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, config_.cwd.c_str());

        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        // Its own process group: Ctrl-C in the terminal stops a tool call, not the servers; and
        // close() can signal what the server started (npx's node, a shell's child) with it.
        posix_spawnattr_setpgroup(&attr, 0);
        sigset_t none, defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, s);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &defaults);
        int flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#if defined(POSIX_SPAWN_CLOEXEC_DEFAULT)  // macOS: the child keeps only stdin, stdout and stderr
        flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
#endif
        posix_spawnattr_setflags(&attr, static_cast<short>(flags));

        std::vector<std::string> env_strings;
        for (char** e = process_environment(); e && *e; ++e) {
            std::string_view entry(*e);
            std::string key(entry.substr(0, entry.find('=')));
            if (!config_.env.count(key)) env_strings.emplace_back(entry);
        }
        for (const auto& [key, value] : config_.env) env_strings.push_back(key + "=" + value);
        std::vector<char*> envp;
        for (std::string& s : env_strings) envp.push_back(s.data());
        envp.push_back(nullptr);
        std::vector<std::string> arg_strings{config_.command};
        arg_strings.insert(arg_strings.end(), config_.args.begin(), config_.args.end());
        std::vector<char*> argv;
        for (std::string& s : arg_strings) argv.push_back(s.data());
        argv.push_back(nullptr);

        pid_t pid = -1;
        int rc = posix_spawnp(&pid, config_.command.c_str(), &actions, &attr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        ::close(in[0]), ::close(out[1]), ::close(err[1]);
        if (rc != 0) {
            ::close(in[1]), ::close(out[0]), ::close(err[0]);
            std::string where = config_.cwd.empty() ? "" : fmt::format(" in '{}'", config_.cwd);
            throw Error(ErrorCode::kIo,
                        fmt::format("cannot start '{}'{}: {}", config_.command, where, std::strerror(rc)));
        }
        pid_ = pid;
        in_fd_ = in[1];
        out_fd_ = out[0];
        err_fd_ = err[0];
        for (int fd : {in_fd_, out_fd_, err_fd_}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }

    // Reaps the server if it has exited, within `wait`. True once it is reaped.
    bool wait_exit(milliseconds wait) {
        const auto deadline = Clock::now() + wait;
        for (;;) {
            {
                std::lock_guard lock(process_mutex_);
                if (reaped_) return true;
                int status = 0;
                pid_t r = ::waitpid(pid_, &status, WNOHANG);
                if (r == pid_ || (r < 0 && errno == ECHILD)) {
                    reaped_ = true;
                    exit_status_ = status;
                    return true;
                }
            }
            if (Clock::now() >= deadline) return false;
            std::this_thread::sleep_for(milliseconds(10));
        }
    }

    void signal_server(int sig) {
        std::lock_guard lock(process_mutex_);
        if (reaped_) return;  // its pid (and group id) may belong to someone else by now
        if (::kill(-pid_, sig) != 0) ::kill(pid_, sig);
    }

    void log(const std::string& line) {
        if (events_.on_log) events_.on_log(line);
    }

    void on_stderr_line(std::string line) {
        if (line.size() > kMaxLogLine) line = line.substr(0, kMaxLogLine) + "...";
        if (line.empty()) return;
        {
            std::lock_guard lock(process_mutex_);
            last_stderr_ = line;
        }
        log(line);
    }

    void on_stdout_line(std::string_view line) {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find_first_not_of(" \t") == std::string_view::npos) return;
        Json message = Json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (message.is_discarded()) {
            // Servers that print banners or debug output to stdout are common; the line is
            // dropped, and a flood of them is reported only at its start.
            if (++garbage_lines_ <= kMaxGarbageReports) {
                std::string shown(line.substr(0, 200));
                log(fmt::format("ignored a line on stdout that is not JSON: {}{}", shown,
                                line.size() > 200 ? "..." : ""));
                if (garbage_lines_ == kMaxGarbageReports)
                    log("further lines that are not JSON are ignored without a note");
            }
            return;
        }
        if (events_.on_message) events_.on_message(std::move(message));
    }

    // Reads what is there; returns false at end of file (or an error).
    static bool drain(int fd, std::string& buffer) {
        char chunk[65536];
        for (;;) {
            ssize_t n = ::read(fd, chunk, sizeof chunk);
            if (n > 0) {
                buffer.append(chunk, static_cast<size_t>(n));
                if (buffer.size() > (1u << 20)) return true;  // let the caller split it first
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return true;
            return false;
        }
    }

    void read_loop() {
        std::string out, err;
        bool out_open = true, err_open = true;
        size_t out_scanned = 0;
        while (!stopping_ && (out_open || err_open)) {
            pollfd fds[2];
            nfds_t n = 0;
            if (out_open) fds[n++] = {out_fd_, POLLIN, 0};
            if (err_open) fds[n++] = {err_fd_, POLLIN, 0};
            ::poll(fds, n, static_cast<int>(kPoll.count()));
            if (err_open) {
                err_open = drain(err_fd_, err);
                size_t start = 0;
                for (size_t nl; (nl = err.find('\n', start)) != std::string::npos; start = nl + 1)
                    on_stderr_line(err.substr(start, nl - start));
                err.erase(0, start);
                if (err.size() > kMaxLogLine || (!err_open && !err.empty())) {
                    on_stderr_line(err);
                    err.clear();
                }
            }
            if (out_open) {
                out_open = drain(out_fd_, out);
                size_t start = 0;
                for (size_t nl; (nl = out.find('\n', std::max(start, out_scanned))) != std::string::npos;
                     start = nl + 1) {
                    if (nl - start > options_.max_message_bytes) break;
                    on_stdout_line(std::string_view(out).substr(start, nl - start));
                }
                out.erase(0, start);
                out_scanned = out.size();
                if (out.size() > options_.max_message_bytes) {
                    closed_by_server(fmt::format("sent a message longer than {} bytes (the limit)",
                                                 options_.max_message_bytes));
                    out_open = false;  // stdout is no longer read: the server is done for
                    continue;
                }
                if (!out_open) {
                    if (!out.empty()) on_stdout_line(out);  // a last message without its newline
                    server_output_ended();
                }
            }
        }
    }

    // stdout ended: the server exited or closed it. Says which, with the last thing it said on
    // stderr, which is usually why.
    void server_output_ended() {
        if (closing_) return;
        std::string what =
            wait_exit(milliseconds(500)) ? exit_description(exit_status_) : "closed its stdout";
        // Let the last stderr lines in (they may be in the pipe still).
        std::string err;
        if (err_fd_ >= 0) {
            pollfd p{err_fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) > 0) {
                drain(err_fd_, err);
                size_t start = 0;
                for (size_t nl; (nl = err.find('\n', start)) != std::string::npos; start = nl + 1)
                    on_stderr_line(err.substr(start, nl - start));
                if (start < err.size()) on_stderr_line(err.substr(start));
            }
        }
        std::string last;
        {
            std::lock_guard lock(process_mutex_);
            last = last_stderr_;
        }
        if (!last.empty()) what += fmt::format(" (its last stderr line: {})", last);
        closed_by_server(what);
    }

    void closed_by_server(const std::string& why) {
        if (!closing_ && events_.on_closed) events_.on_closed(why);
        std::lock_guard lock(ended_mutex_);
        ended_why_ = why;
        ended_.notify_all();
    }

    McpServerConfig config_;
    McpOptions options_;
    TransportEvents events_;
    pid_t pid_ = -1;
    int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
    std::thread reader_;
    std::mutex write_mutex_;
    std::mutex close_mutex_;
    bool closed_ = false;
    std::atomic<bool> closing_{false};   // close() has begun
    std::atomic<bool> stopping_{false};  // the reader thread ends
    std::mutex process_mutex_;           // reaped_, exit_status_, last_stderr_
    bool reaped_ = false;
    int exit_status_ = 0;
    std::string last_stderr_;
    int garbage_lines_ = 0;
    std::mutex ended_mutex_;  // ended_why_: why the server's stdout ended, once it has
    std::condition_variable ended_;
    std::string ended_why_;
};

}  // namespace

std::unique_ptr<Transport> make_stdio_transport(const McpServerConfig& config, const McpOptions& options) {
    return std::make_unique<StdioTransport>(config, options);
}

}  // namespace lfm::mcp
