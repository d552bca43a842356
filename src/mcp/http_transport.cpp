// MCP's Streamable HTTP transport (2025-03-26 onwards): every message is a POST to one endpoint;
// the answer to a request is a JSON body or an event stream that may carry the server's
// notifications and requests before it. A stream that ends without the answer is resumed with a
// GET carrying Last-Event-ID (2025-11-25's polling). Each POST runs on its own thread with its
// own connection, so calls from several threads proceed at once and one can be abandoned (its
// connection shut down) without touching the others. The optional GET stream for messages
// unrelated to a request is not opened: a tool-calling client needs none of them.

#include <fmt/format.h>
#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <cctype>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "mcp/sse.h"
#include "mcp/transport.h"

namespace lfm::mcp {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kCloseWait{2000};     // for abandoned POSTs to end, and for the DELETE
constexpr milliseconds kDefaultRetry{1000};  // before resuming a stream whose server named no delay
constexpr int kMaxResumeFailures = 3;
constexpr size_t kMaxErrorBody = 300;

struct Url {
    std::string origin;  // scheme://host[:port], what httplib::Client takes
    std::string path;    // /path?query
};

Url parse_url(const std::string& url) {
    size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("'{}' is not an http:// or https:// URL", url));
    std::string scheme = url.substr(0, scheme_end);
    if (scheme != "http" && scheme != "https")
        throw Error(ErrorCode::kInvalidArgument, fmt::format("'{}' is not an http:// or https:// URL", url));
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
    if (scheme == "https")
        throw Error(
            ErrorCode::kUnsupported,
            fmt::format("'{}': this lfm was built with a cpp-httplib without TLS; use an http:// URL", url));
#endif
    size_t host_start = scheme_end + 3;
    size_t path_start = url.find_first_of("/?#", host_start);
    Url out;
    out.origin = url.substr(0, path_start);
    if (out.origin.size() == host_start)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("'{}' names no host", url));
    out.path = path_start == std::string::npos ? "/" : url.substr(path_start);
    if (size_t hash = out.path.find('#'); hash != std::string::npos) out.path.erase(hash);
    if (out.path.empty() || out.path[0] != '/') out.path.insert(out.path.begin(), '/');
    return out;
}

std::string describe(httplib::Error error) {
    switch (error) {
        case httplib::Error::Connection:
            return "the connection failed (nothing listens there, or the host is unknown)";
        case httplib::Error::ConnectionTimeout:
            return "the connection timed out";
        case httplib::Error::Read:
            return "reading the answer failed (the connection was closed or timed out)";
        case httplib::Error::Write:
            return "sending the request failed";
        case httplib::Error::SSLConnection:
            return "the TLS handshake failed";
        case httplib::Error::SSLLoadingCerts:
            return "the system's CA certificates could not be loaded";
        case httplib::Error::SSLServerVerification:
            return "the server's TLS certificate could not be verified";
        default:
            return httplib::to_string(error);
    }
}

bool media_type_is(const std::string& content_type, std::string_view type) {
    std::string_view ct(content_type);
    ct = ct.substr(0, ct.find(';'));
    while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
    if (ct.size() != type.size()) return false;
    for (size_t i = 0; i < ct.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(ct[i])) != type[i]) return false;
    return true;
}

bool answers(const Json& message, const Json& id) {
    if (message.is_array()) {
        for (const Json& m : message)
            if (answers(m, id)) return true;
        return false;
    }
    if (!message.is_object() || message.contains("method")) return false;
    auto it = message.find("id");
    if (it == message.end()) return false;
    return *it == id ||
           (it->is_string() && id.is_number_integer() && *it == std::to_string(id.get<int64_t>()));
}

// httplib sends with MSG_NOSIGNAL, but OpenSSL writes to an https socket with write(), which
// raises SIGPIPE when the server has gone. The transport's requests run on threads of its own,
// where the signal is blocked: one raised stays pending on the thread and ends with it, and the
// process-wide disposition is left alone.
void block_sigpipe_in_this_thread() {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
}

// One message sent: its POST, and the GETs that resume its stream.
struct Exchange {
    Json id;  // the request's id; null for notifications and our answers to the server
    std::string method;
    std::string body;
    std::atomic<bool> aborted{false};
    bool answered = false;  // only its own thread touches it
    std::mutex client_mutex;
    std::shared_ptr<httplib::Client> client;  // the connection in use, to shut down from outside

    bool is_request() const { return !id.is_null(); }
    void abort() {
        aborted = true;
        std::lock_guard lock(client_mutex);
        if (client) client->stop();
    }
};

// What the transport's threads share; they hold it, so it outlives the transport if one of them
// is slow to end (a name lookup cannot be interrupted).
struct Shared {
    Url url;
    std::string url_text;
    McpServerConfig config;
    McpOptions options;

    std::mutex state_mutex;  // session_id, protocol_version
    std::string session_id;
    std::string protocol_version;

    std::mutex delivery_mutex;  // events, closed: after close() no event reaches the client
    TransportEvents events;
    bool closed = false;

    std::mutex exchanges_mutex;
    std::condition_variable exchange_ended;
    std::list<std::shared_ptr<Exchange>> exchanges;

    void deliver(Json message) {
        std::lock_guard lock(delivery_mutex);
        if (!closed && events.on_message) events.on_message(std::move(message));
    }
    void request_failed(const Json& id, const std::string& why) {
        std::lock_guard lock(delivery_mutex);
        if (!closed && events.on_request_failed) events.on_request_failed(id, why);
    }
    void log(const std::string& line) {
        std::lock_guard lock(delivery_mutex);
        if (!closed && events.on_log) events.on_log(line);
    }

    std::shared_ptr<httplib::Client> make_client() const {
        auto client = std::make_shared<httplib::Client>(url.origin);
        client->set_connection_timeout(options.connect_timeout);
        // A tool's stream may be silent for as long as the call may take; the client's own
        // time-out (and abandon()) ends it sooner.
        client->set_read_timeout(std::max(options.call_timeout, options.connect_timeout) +
                                 std::chrono::seconds(5));
        client->set_write_timeout(options.connect_timeout);
        client->set_keep_alive(false);
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
        client->enable_server_certificate_verification(true);
#endif
        return client;
    }

    httplib::Headers headers(const char* accept) {
        httplib::Headers h;
        for (const auto& [key, value] : config.headers) h.emplace(key, value);
        h.emplace("Accept", accept);
        std::lock_guard lock(state_mutex);
        if (!session_id.empty()) h.emplace("Mcp-Session-Id", session_id);
        if (!protocol_version.empty()) h.emplace("MCP-Protocol-Version", protocol_version);
        return h;
    }
};

// The outcome of one HTTP request of an exchange.
struct Reply {
    httplib::Error error = httplib::Error::Success;
    int status = 0;
    std::string content_type;
    std::string body;  // JSON answers and error pages (the first bytes)
    bool too_long = false;
    std::string last_event_id;
    std::optional<int> retry_ms;
};

class HttpTransport final : public Transport {
  public:
    HttpTransport(const McpServerConfig& config, const McpOptions& options)
        : shared_(std::make_shared<Shared>()) {
        shared_->config = config;
        shared_->options = options;
        shared_->url_text = config.url;
    }
    ~HttpTransport() override { close(); }

    void start(TransportEvents events) override {
        shared_->url = parse_url(shared_->url_text);
        std::lock_guard lock(shared_->delivery_mutex);
        shared_->events = std::move(events);
    }

    void send(const Json& message) override {
        auto exchange = std::make_shared<Exchange>();
        if (message.contains("method") && message.contains("id")) exchange->id = message["id"];
        exchange->method = message.value("method", "");
        exchange->body = to_wire(message);
        {
            std::lock_guard lock(shared_->exchanges_mutex);
            if (closing_) throw Error(ErrorCode::kIo, "the connection is closed");
            shared_->exchanges.push_back(exchange);
        }
        try {
            std::thread([shared = shared_, exchange] {
                block_sigpipe_in_this_thread();
                run(*shared, *exchange);
                std::lock_guard lock(shared->exchanges_mutex);
                shared->exchanges.remove(exchange);
                shared->exchange_ended.notify_all();
            }).detach();
        } catch (const std::system_error& e) {
            std::lock_guard lock(shared_->exchanges_mutex);
            shared_->exchanges.remove(exchange);
            throw Error(ErrorCode::kIo, fmt::format("cannot start a thread for the request: {}", e.what()));
        }
    }

    void set_protocol_version(const std::string& version) override {
        std::lock_guard lock(shared_->state_mutex);
        shared_->protocol_version = version;
    }

    void abandon(const Json& id) override {
        std::lock_guard lock(shared_->exchanges_mutex);
        for (auto& exchange : shared_->exchanges)
            if (exchange->id == id) exchange->abort();
    }

    void close() override {
        {
            std::lock_guard lock(shared_->exchanges_mutex);
            if (closing_) return;
            closing_ = true;
        }
        {
            std::lock_guard lock(shared_->delivery_mutex);
            shared_->closed = true;
        }
        // Shut down what is in flight, again and again: a connection still being opened at the
        // first try has no socket to shut down yet.
        const auto deadline = Clock::now() + kCloseWait;
        std::unique_lock lock(shared_->exchanges_mutex);
        while (!shared_->exchanges.empty() && Clock::now() < deadline) {
            for (auto& exchange : shared_->exchanges) exchange->abort();
            shared_->exchange_ended.wait_for(lock, milliseconds(20));
        }
        lock.unlock();
        delete_session();
    }

  private:
    // The spec asks a client that leaves to end its session, so that the server can free it.
    void delete_session() {
        std::string session;
        {
            std::lock_guard lock(shared_->state_mutex);
            session = shared_->session_id;
        }
        if (session.empty() || shared_->url.origin.empty()) return;
        // Leaving anyway when it fails: the server will expire the session.
        try {
            std::thread([shared = shared_] {
                block_sigpipe_in_this_thread();
                try {
                    auto client = shared->make_client();
                    client->set_connection_timeout(kCloseWait);
                    client->set_read_timeout(kCloseWait);
                    client->set_write_timeout(kCloseWait);
                    client->Delete(shared->url.path, shared->headers("application/json, text/event-stream"));
                } catch (const std::exception&) {
                }
            }).join();
        } catch (const std::system_error&) {
        }
    }

    static void handle_data(Shared& shared, Exchange& exchange, const std::string& data) {
        Json message = Json::parse(data, nullptr, /*allow_exceptions=*/false);
        if (message.is_discarded()) {
            shared.log(fmt::format("ignored an event that is not JSON: {}", data.substr(0, 200)));
            return;
        }
        if (exchange.is_request() && answers(message, exchange.id)) exchange.answered = true;
        shared.deliver(std::move(message));
    }

    // One HTTP request; events of an event stream are delivered as they come, and reading stops
    // once the exchange's request is answered.
    static Reply perform(Shared& shared, Exchange& exchange, const std::string& method,
                         httplib::Headers headers) {
        Reply reply;
        auto client = shared.make_client();
        {
            std::lock_guard lock(exchange.client_mutex);
            exchange.client = client;
        }
        if (exchange.aborted) return reply;
        const size_t limit = shared.options.max_message_bytes;
        SseReader sse(limit);
        bool is_sse = false;

        httplib::Request req;
        req.method = method;
        req.path = shared.url.path;
        req.headers = std::move(headers);
        if (method == "POST") {
            req.body = exchange.body;
            req.set_header("Content-Type", "application/json");
        }
        req.response_handler = [&](const httplib::Response& res) {
            reply.status = res.status;
            reply.content_type = res.get_header_value("Content-Type");
            is_sse = res.status < 300 && media_type_is(reply.content_type, "text/event-stream");
            std::string session = res.get_header_value("Mcp-Session-Id");
            if (!session.empty()) {
                std::lock_guard lock(shared.state_mutex);
                if (shared.session_id.empty()) shared.session_id = session;
            }
            return !exchange.aborted.load();
        };
        req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
            if (exchange.aborted) return false;
            if (is_sse) {
                bool fits = sse.feed(std::string_view(data, size),
                                     [&](const std::string& event) { handle_data(shared, exchange, event); });
                if (!fits) reply.too_long = true;
                return fits && !exchange.answered && !exchange.aborted;
            }
            const size_t cap = reply.status >= 300 ? kMaxErrorBody : limit;
            if (reply.body.size() + size > cap) {
                reply.body.append(data, cap - reply.body.size());
                reply.too_long = reply.status < 300;
                return reply.status >= 300;  // an error page is cut, not refused
            }
            reply.body.append(data, size);
            return true;
        };
        httplib::Response res;
        client->send(req, res, reply.error);
        reply.last_event_id = sse.last_event_id();
        reply.retry_ms = sse.retry_ms();
        return reply;
    }

    static std::string failure(const Shared& shared, const Reply& reply) {
        if (reply.too_long)
            return fmt::format("the server sent a message longer than {} bytes (the limit)",
                               shared.options.max_message_bytes);
        if (reply.status == 0)
            return fmt::format("cannot reach {}: {}", shared.url_text, describe(reply.error));
        std::string body = reply.body;
        for (char& c : body)
            if (c == '\n' || c == '\r') c = ' ';
        std::string why = fmt::format("the server answered HTTP {}", reply.status);
        if (!body.empty()) why += ": " + body;
        if (reply.status == 404 && why.find("ession") == std::string::npos)
            why += " (is the URL the MCP endpoint? has the session ended?)";
        return why;
    }

    static void run(Shared& shared, Exchange& exchange) {
        Reply reply =
            perform(shared, exchange, "POST", shared.headers("application/json, text/event-stream"));
        if (exchange.aborted) return;
        if (!exchange.is_request()) {
            // Notifications and our answers: 202 Accepted, or any success; the body is not ours.
            if (reply.status == 0 || reply.status >= 300)
                shared.log(fmt::format("could not send {}: {}",
                                       exchange.method.empty() ? "an answer" : exchange.method,
                                       failure(shared, reply)));
            return;
        }
        if (exchange.answered) return;
        if (reply.too_long || reply.status == 0 || reply.status >= 300) {
            shared.request_failed(exchange.id, failure(shared, reply));
            return;
        }
        if (media_type_is(reply.content_type, "application/json")) {
            handle_data(shared, exchange, reply.body);
            if (!exchange.answered)
                shared.request_failed(exchange.id,
                                      "the server's JSON answer holds no response to the request");
            return;
        }
        if (!media_type_is(reply.content_type, "text/event-stream")) {
            shared.request_failed(
                exchange.id,
                fmt::format(
                    "the server answered with HTTP {} and Content-Type '{}', not JSON or an event stream",
                    reply.status, reply.content_type));
            return;
        }
        resume(shared, exchange, reply);
    }

    // The stream ended before the answer: the server may close it once it has sent an event id,
    // and the client then asks for the rest with GET and Last-Event-ID after the delay it named.
    static void resume(Shared& shared, Exchange& exchange, const Reply& first) {
        std::string last_id = first.last_event_id;
        milliseconds retry = first.retry_ms ? milliseconds(*first.retry_ms) : kDefaultRetry;
        int failures = 0;
        while (!exchange.answered && !exchange.aborted) {
            if (last_id.empty()) {
                shared.request_failed(exchange.id, "the server ended the event stream without answering");
                return;
            }
            const auto wake = Clock::now() + retry;
            while (Clock::now() < wake && !exchange.aborted)
                std::this_thread::sleep_for(std::min(milliseconds(10), retry));
            if (exchange.aborted) return;
            httplib::Headers headers = shared.headers("text/event-stream");
            headers.emplace("Last-Event-ID", last_id);
            Reply reply = perform(shared, exchange, "GET", std::move(headers));
            if (exchange.answered || exchange.aborted) return;
            if (!reply.last_event_id.empty()) last_id = reply.last_event_id;
            if (reply.retry_ms) retry = milliseconds(*reply.retry_ms);
            const bool stream = reply.status >= 200 && reply.status < 300 &&
                                media_type_is(reply.content_type, "text/event-stream");
            if (reply.too_long || reply.status == 405 || (!stream && ++failures > kMaxResumeFailures)) {
                std::string why =
                    reply.status == 405
                        ? "the server ended the event stream without answering, and refuses to resume it"
                        : "resuming the event stream failed: " + failure(shared, reply);
                shared.request_failed(exchange.id, why);
                return;
            }
        }
    }

    std::shared_ptr<Shared> shared_;
    bool closing_ = false;  // under shared_->exchanges_mutex
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const McpServerConfig& config, const McpOptions& options) {
    return std::make_unique<HttpTransport>(config, options);
}

}  // namespace lfm::mcp
