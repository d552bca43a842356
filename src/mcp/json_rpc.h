#pragma once
// JSON-RPC 2.0 over a Transport: ids matched to waiting callers (any number of threads), time-outs
// that progress notifications extend, cancellation (notifications/cancelled), and the requests a
// server may send us (ping answered; anything else "method not found", since lfm offers the server
// no sampling, roots or elicitation).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "mcp/transport.h"

namespace lfm::mcp {

struct RpcOutcome {
    enum class Kind { kResult, kError, kFailed, kTimedOut, kCancelled };
    Kind kind = Kind::kFailed;
    Json result;          // kResult
    std::string message;  // kError: the server's error message; kFailed: why there is no answer
    int64_t code = 0;     // kError: the JSON-RPC error code
    bool ok() const { return kind == Kind::kResult; }
};

class RpcSession {
  public:
    struct Handlers {
        std::function<void(const std::string& method, const Json& params)> on_notification;
        std::function<void(const std::string& why)> on_closed;
        std::function<void(const std::string& line)> on_log;
    };
    RpcSession(Transport& transport, Handlers handlers);

    // The events to start the transport with; they route into this session.
    TransportEvents events();

    // Sends a request and waits for its answer, until `timeout` passes without one (progress
    // notifications for it start the time-out again when `progress`), `cancel` is set or the
    // connection ends. Never throws.
    RpcOutcome request(const std::string& method, Json params, std::chrono::milliseconds timeout,
                       const std::atomic<bool>* cancel = nullptr, bool progress = false);
    // Sends a notification; false (with the reason logged) when it could not be sent.
    bool notify(const std::string& method, Json params);
    // Every waiting request fails with `why`, and so does every later one.
    void fail_all(const std::string& why);

  private:
    struct Pending {
        bool done = false;
        RpcOutcome outcome;
        std::chrono::steady_clock::time_point deadline;
        std::chrono::milliseconds timeout{0};
    };
    void on_message(const Json& message);
    void on_response(const Json& message);
    void on_server_request(const Json& message);
    void on_request_failed(const Json& id, const std::string& why);
    void on_progress(const Json& params);
    void finish(int64_t id, RpcOutcome outcome);
    void log(const std::string& line) const;

    Transport& transport_;
    Handlers handlers_;
    std::mutex mutex_;
    std::condition_variable answered_;
    std::map<int64_t, Pending*> pending_;  // the waiters' own Pending, on their stacks
    int64_t next_id_ = 1;
    bool closed_ = false;
    std::string close_reason_;
};

}  // namespace lfm::mcp
