#include "mcp/json_rpc.h"

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace lfm::mcp {
namespace {

constexpr int kMethodNotFound = -32601;

// Our ids are integers; a server that echoes them as strings is still understood.
std::optional<int64_t> our_id(const Json& id) {
    if (id.is_number_integer()) return id.get<int64_t>();
    if (id.is_string()) {
        const std::string& s = id.get_ref<const std::string&>();
        int64_t value = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
        if (ec == std::errc() && end == s.data() + s.size()) return value;
    }
    return std::nullopt;
}

std::string short_text(const Json& value) {
    std::string text = value.is_string() ? value.get<std::string>() : to_wire(value);
    if (text.size() > 200) text = text.substr(0, 200) + "...";
    return text;
}

}  // namespace

std::string to_wire(const Json& message) {
    return message.dump(-1, ' ', false, Json::error_handler_t::replace);
}

RpcSession::RpcSession(Transport& transport, Handlers handlers)
    : transport_(transport), handlers_(std::move(handlers)) {}

TransportEvents RpcSession::events() {
    TransportEvents events;
    events.on_message = [this](Json message) { on_message(message); };
    events.on_request_failed = [this](const Json& id, const std::string& why) { on_request_failed(id, why); };
    events.on_closed = [this](const std::string& why) {
        // The client records why before its waiters wake up and report it.
        if (handlers_.on_closed) handlers_.on_closed(why);
        fail_all(why);
    };
    events.on_log = [this](const std::string& line) { log(line); };
    return events;
}

RpcOutcome RpcSession::request(const std::string& method, Json params, std::chrono::milliseconds timeout,
                               const std::atomic<bool>* cancel, bool progress) {
    Pending pending;
    pending.timeout = timeout;
    pending.deadline = std::chrono::steady_clock::now() + timeout;
    int64_t id = 0;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return {RpcOutcome::Kind::kFailed, {}, close_reason_};
        id = next_id_++;
        pending_[id] = &pending;
    }
    Json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (progress) {
        if (!params.is_object()) params = Json::object();
        params["_meta"]["progressToken"] = id;  // our id is unique among our requests, so a fine token
    }
    if (!params.is_null()) message["params"] = std::move(params);
    try {
        transport_.send(message);
    } catch (const std::exception& e) {
        std::lock_guard lock(mutex_);
        pending_.erase(id);
        return {RpcOutcome::Kind::kFailed, {}, e.what()};
    }

    std::unique_lock lock(mutex_);
    // The cancel flag may be set from a signal handler, which cannot notify a condition variable:
    // it is polled.
    constexpr auto kPoll = std::chrono::milliseconds(25);
    while (!pending.done) {
        auto now = std::chrono::steady_clock::now();
        if (cancel && cancel->load()) {
            pending.outcome = {RpcOutcome::Kind::kCancelled, {}, "cancelled"};
            break;
        }
        if (now >= pending.deadline) {
            pending.outcome = {RpcOutcome::Kind::kTimedOut, {}, "timed out"};
            break;
        }
        answered_.wait_until(lock, std::min(pending.deadline, now + kPoll));
    }
    pending_.erase(id);
    RpcOutcome outcome = std::move(pending.outcome);
    lock.unlock();

    if (outcome.kind == RpcOutcome::Kind::kCancelled || outcome.kind == RpcOutcome::Kind::kTimedOut) {
        // The lifecycle forbids cancelling initialize; the client gives up on the server instead.
        if (method != "initialize")
            notify("notifications/cancelled", {{"requestId", id}, {"reason", outcome.message}});
        transport_.abandon(id);
    }
    return outcome;
}

bool RpcSession::notify(const std::string& method, Json params) {
    Json message = {{"jsonrpc", "2.0"}, {"method", method}};
    if (!params.is_null()) message["params"] = std::move(params);
    try {
        transport_.send(message);
        return true;
    } catch (const std::exception& e) {
        log(fmt::format("could not send {}: {}", method, e.what()));
        return false;
    }
}

void RpcSession::log(const std::string& line) const {
    if (handlers_.on_log) handlers_.on_log(line);
}

void RpcSession::fail_all(const std::string& why) {
    std::lock_guard lock(mutex_);
    if (!closed_) {
        closed_ = true;
        close_reason_ = why;
    }
    for (auto& [id, pending] : pending_) {
        if (pending->done) continue;
        pending->done = true;
        pending->outcome = {RpcOutcome::Kind::kFailed, {}, why};
    }
    answered_.notify_all();
}

void RpcSession::finish(int64_t id, RpcOutcome outcome) {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(id);
    // An answer nobody waits for any more (it came after a time-out or cancel) is dropped.
    if (it == pending_.end() || it->second->done) return;
    it->second->done = true;
    it->second->outcome = std::move(outcome);
    answered_.notify_all();
}

void RpcSession::on_message(const Json& message) {
    if (message.is_array()) {  // a batch (2025-03-26); later revisions send none, but it costs nothing
        for (const Json& m : message) on_message(m);
        return;
    }
    if (!message.is_object()) {
        log("ignored a JSON value that is not a JSON-RPC message: " + short_text(message));
        return;
    }
    auto method = message.find("method");
    if (method != message.end() && method->is_string()) {
        if (message.contains("id")) {
            on_server_request(message);
            return;
        }
        Json params = message.value("params", Json::object());
        if (*method == "notifications/progress") on_progress(params);
        if (handlers_.on_notification) handlers_.on_notification(method->get<std::string>(), params);
        return;
    }
    if (message.contains("id") && (message.contains("result") || message.contains("error"))) {
        on_response(message);
        return;
    }
    log("ignored a message that is neither request, notification nor response: " + short_text(message));
}

void RpcSession::on_response(const Json& message) {
    auto id = our_id(message["id"]);
    if (!id) {
        // An error with a null id is the server saying it could not read one of our messages.
        log("ignored an answer to no request of ours: " + short_text(message));
        return;
    }
    if (auto error = message.find("error"); error != message.end()) {
        RpcOutcome outcome{RpcOutcome::Kind::kError, {}, "error without a message", 0};
        if (error->is_object()) {
            if (auto m = error->find("message"); m != error->end()) outcome.message = short_text(*m);
            if (auto c = error->find("code"); c != error->end() && c->is_number_integer())
                outcome.code = c->get<int64_t>();
            // Details the server attached (a validation error's path, say) help the model fix its call.
            if (auto d = error->find("data"); d != error->end() && !d->is_null())
                outcome.message += " (" + short_text(*d) + ")";
        }
        finish(*id, std::move(outcome));
        return;
    }
    finish(*id, {RpcOutcome::Kind::kResult, message["result"], {}});
}

void RpcSession::on_server_request(const Json& message) {
    const std::string method = message["method"].get<std::string>();
    Json reply = {{"jsonrpc", "2.0"}, {"id", message["id"]}};
    if (method == "ping") {
        reply["result"] = Json::object();
    } else {
        reply["error"] = {
            {"code", kMethodNotFound},
            {"message", fmt::format("lfm does not offer {} (it declares no client capabilities)", method)}};
    }
    try {
        transport_.send(reply);
    } catch (const std::exception& e) {
        log(fmt::format("could not answer the server's {} request: {}", method, e.what()));
    }
}

void RpcSession::on_request_failed(const Json& id, const std::string& why) {
    if (auto ours = our_id(id)) finish(*ours, {RpcOutcome::Kind::kFailed, {}, why});
}

void RpcSession::on_progress(const Json& params) {
    if (!params.is_object()) return;
    auto token = params.find("progressToken");
    if (token == params.end()) return;
    auto id = our_id(*token);
    if (!id) return;
    std::lock_guard lock(mutex_);
    auto it = pending_.find(*id);
    if (it == pending_.end()) return;
    it->second->deadline = std::chrono::steady_clock::now() + it->second->timeout;
}

}  // namespace lfm::mcp
