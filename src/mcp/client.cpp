// McpClient: MCP's lifecycle (initialize, notifications/initialized, tools/list page by page,
// tools/call) on a transport, and the states a connection goes through. A server that misbehaves
// in any way ends up as state kFailed with a sentence naming it in error(); calls then return
// error results. Nothing here throws to the caller.

#include <fmt/format.h>

#include <mutex>
#include <set>

#include "lfm/version.h"
#include "mcp/json_rpc.h"
#include "mcp/tool_result.h"
#include "mcp/transport.h"

namespace lfm {
namespace {

using mcp::Json;
using mcp::RpcOutcome;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The newest revision is asked for; a server may answer with an older one it prefers. 2025-03-26
// (the first with Streamable HTTP) differs from 2025-06-18 only in what a tools client ignores.
constexpr const char* kRequestedRevision = "2025-11-25";
const std::set<std::string> kAcceptedRevisions = {"2025-11-25", "2025-06-18", "2025-03-26"};
constexpr int kMaxToolPages = 1000;

std::string seconds(milliseconds ms) {
    return fmt::format("{:g} s", static_cast<double>(ms.count()) / 1000.0);
}

std::string why_no_result(const RpcOutcome& outcome, milliseconds timeout) {
    switch (outcome.kind) {
        case RpcOutcome::Kind::kError:
            return outcome.code != 0 ? fmt::format("{} (JSON-RPC error {})", outcome.message, outcome.code)
                                     : outcome.message;
        case RpcOutcome::Kind::kTimedOut:
            return "timed out after " + seconds(timeout);
        case RpcOutcome::Kind::kCancelled:
            return "cancelled";
        default:
            return outcome.message;
    }
}

Tool tool_from_mcp(const Json& t) {
    Tool tool;
    tool.name = t["name"].get<std::string>();
    if (auto d = t.find("description"); d != t.end() && d->is_string())
        tool.description = d->get<std::string>();
    else if (auto title = t.find("title"); title != t.end() && title->is_string())
        tool.description = title->get<std::string>();
    if (auto schema = t.find("inputSchema"); schema != t.end() && schema->is_object())
        tool.parameters = schema->dump(-1, ' ', false, Json::error_handler_t::replace);
    return tool;
}

class McpClientImpl final : public McpClient {
  public:
    McpClientImpl(const McpServerConfig& config, const McpOptions& options)
        : config_(config), options_(options) {}
    ~McpClientImpl() override { shut(); }

    void connect() {
        const auto deadline = Clock::now() + options_.connect_timeout;
        auto remaining = [&] {
            return std::max(milliseconds(0),
                            std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
        };
        try {
            transport_ = config_.url.empty() ? mcp::make_stdio_transport(config_, options_)
                                             : mcp::make_http_transport(config_, options_);
            rpc_ = std::make_unique<mcp::RpcSession>(*transport_, handlers());
            transport_->start(rpc_->events());
        } catch (const std::exception& e) {
            give_up(e.what());
            return;
        }
        Json params = {{"protocolVersion", kRequestedRevision},
                       {"capabilities", Json::object()},
                       {"clientInfo", {{"name", options_.client_name}, {"version", kVersionString}}}};
        RpcOutcome init = rpc_->request("initialize", std::move(params), remaining());
        if (!init.ok()) {
            give_up("initialize " + (init.kind == RpcOutcome::Kind::kTimedOut
                                         ? "got no answer within " + seconds(options_.connect_timeout)
                                         : "failed: " + why_no_result(init, options_.connect_timeout)));
            return;
        }
        const Json& result = init.result;
        std::string revision =
            result.is_object() && result.contains("protocolVersion") && result["protocolVersion"].is_string()
                ? result["protocolVersion"].get<std::string>()
                : "";
        if (!kAcceptedRevisions.count(revision)) {
            give_up(fmt::format("speaks MCP revision '{}'; lfm speaks 2025-06-18 and 2025-11-25", revision));
            return;
        }
        std::string info;
        if (auto si = result.find("serverInfo"); si != result.end() && si->is_object()) {
            info = si->value("name", "");
            if (auto v = si->find("version"); v != si->end() && v->is_string())
                info += " " + v->get<std::string>();
        }
        {
            std::lock_guard lock(mutex_);
            protocol_ = revision;
            server_info_ = info;
        }
        transport_->set_protocol_version(revision);
        rpc_->notify("notifications/initialized", nullptr);

        std::vector<Tool> tools;
        std::string why;
        if (!fetch_tools(remaining(), tools, why)) {
            give_up("tools/list " + why);
            return;
        }
        std::lock_guard lock(mutex_);
        if (state_ != State::kConnecting) return;  // it exited meanwhile: on_closed said so
        tools_ = std::move(tools);
        state_ = State::kReady;
    }

    std::vector<Tool> list() {
        std::lock_guard list_lock(list_mutex_);  // one re-listing at a time
        {
            std::lock_guard lock(mutex_);
            if (state_ != State::kReady) return {};
            if (!tools_stale_) return tools_;
            tools_stale_ = false;  // a list_changed during the listing marks it stale again
        }
        std::vector<Tool> tools;
        std::string why;
        bool ok = fetch_tools(options_.connect_timeout, tools, why);
        std::lock_guard lock(mutex_);
        if (ok) {
            tools_ = std::move(tools);
        } else {
            tools_stale_ = true;
            log(fmt::format("could not re-read the changed tool list (tools/list {}); the old one stays",
                            why));
        }
        return tools_;
    }

    ToolResult run(const ToolCall& call, const std::atomic<bool>* cancel) {
        const std::string what = fmt::format("MCP server '{}': tool '{}'", config_.name, call.name);
        {
            std::lock_guard lock(mutex_);
            if (state_ == State::kClosed) return {what + ": the connection is closed", true};
            if (state_ != State::kReady)
                return {fmt::format("{} cannot run: {}", what,
                                    error_.empty() ? "the server is not connected" : error_),
                        true};
        }
        Json arguments =
            Json::parse(call.arguments.empty() ? std::string_view("{}") : std::string_view(call.arguments),
                        nullptr, /*allow_exceptions=*/false);
        if (arguments.is_discarded() || !arguments.is_object())
            return {fmt::format("{}: the arguments are not a JSON object: {}", what,
                                call.arguments.substr(0, 200)),
                    true};
        RpcOutcome outcome =
            rpc_->request("tools/call", {{"name", call.name}, {"arguments", std::move(arguments)}},
                          options_.call_timeout, cancel, /*progress=*/true);
        if (outcome.ok()) return mcp::tool_result_from_mcp(outcome.result);
        if (outcome.kind == RpcOutcome::Kind::kError)
            return {what + " failed: " + why_no_result(outcome, options_.call_timeout), true};
        return {what + ": " + why_no_result(outcome, options_.call_timeout), true};
    }

    void shut() {
        {
            std::lock_guard lock(mutex_);
            if (shut_) return;
            shut_ = true;
            if (state_ != State::kFailed) state_ = State::kClosed;  // a failure stays visible
        }
        if (rpc_) rpc_->fail_all("the connection was closed");
        if (transport_) transport_->close();
    }

    // Read by McpClient's accessors.
    McpServerConfig config_;
    McpOptions options_;
    mutable std::mutex mutex_;
    State state_ = State::kConnecting;
    std::string error_;
    std::string protocol_;
    std::string server_info_;

  private:
    mcp::RpcSession::Handlers handlers() {
        mcp::RpcSession::Handlers h;
        h.on_log = [this](const std::string& line) { log(line); };
        h.on_closed = [this](const std::string& why) {
            {
                std::lock_guard lock(mutex_);
                if (state_ == State::kFailed || state_ == State::kClosed) return;
                state_ = State::kFailed;
                error_ = fmt::format("MCP server '{}': {}", config_.name, why);
            }
            log(why);
        };
        h.on_notification = [this](const std::string& method, const Json& params) {
            notification(method, params);
        };
        return h;
    }

    void notification(const std::string& method, const Json& params) {
        if (method == "notifications/tools/list_changed") {
            std::lock_guard lock(mutex_);
            tools_stale_ = true;
        } else if (method == "notifications/message" && params.is_object()) {
            // Logging: {level, logger?, data}; data is any JSON.
            std::string text = fmt::format("[{}]", params.value("level", "info"));
            if (auto logger = params.find("logger"); logger != params.end() && logger->is_string())
                text += " " + logger->get<std::string>() + ":";
            if (auto data = params.find("data"); data != params.end())
                text +=
                    " " + (data->is_string() ? data->get<std::string>()
                                             : data->dump(-1, ' ', false, Json::error_handler_t::replace));
            log(text);
        }
    }

    bool fetch_tools(milliseconds budget, std::vector<Tool>& tools, std::string& why) {
        const auto deadline = Clock::now() + budget;
        std::set<std::string> cursors_seen;
        Json cursor;
        for (int page = 0; page < kMaxToolPages; ++page) {
            Json params = Json::object();
            if (!cursor.is_null()) params["cursor"] = cursor;
            auto left =
                std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
            RpcOutcome outcome = rpc_->request("tools/list", std::move(params), left);
            if (!outcome.ok()) {
                why = outcome.kind == RpcOutcome::Kind::kTimedOut
                          ? "got no answer within " + seconds(budget)
                          : "failed: " + why_no_result(outcome, budget);
                return false;
            }
            const Json& result = outcome.result;
            if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array()) {
                why = "failed: the result has no \"tools\" array";
                return false;
            }
            for (const Json& t : result["tools"]) {
                if (!t.is_object() || !t.contains("name") || !t["name"].is_string() ||
                    t["name"].get_ref<const std::string&>().empty()) {
                    log("ignored a tool without a name in tools/list");
                    continue;
                }
                tools.push_back(tool_from_mcp(t));
            }
            auto next = result.find("nextCursor");
            if (next == result.end() || next->is_null()) return true;
            if (!next->is_string() || !cursors_seen.insert(next->get<std::string>()).second) {
                why = "failed: its nextCursor repeats or is not a string";
                return false;
            }
            cursor = *next;
        }
        why = fmt::format("failed: more than {} pages", kMaxToolPages);
        return false;
    }

    void give_up(const std::string& why) {
        {
            std::lock_guard lock(mutex_);
            if (state_ != State::kFailed) {
                state_ = State::kFailed;
                error_ = fmt::format("MCP server '{}': {}", config_.name, why);
            }
        }
        log(why);
        if (rpc_) rpc_->fail_all(why);
        if (transport_) transport_->close();  // stops (and reaps) a server that hangs or lingers
    }

    void log(const std::string& line) const {
        if (options_.on_log) options_.on_log(config_.name, line);
    }

    std::unique_ptr<mcp::Transport> transport_;
    std::unique_ptr<mcp::RpcSession> rpc_;
    std::mutex list_mutex_;
    std::vector<Tool> tools_;
    bool tools_stale_ = false;
    bool shut_ = false;
};

const McpClientImpl& impl(const McpClient* client) {
    return *static_cast<const McpClientImpl*>(client);
}
McpClientImpl& impl(McpClient* client) {
    return *static_cast<McpClientImpl*>(client);
}

// A copy of a field that the client's threads write, read under its lock.
template <typename T>
T locked(const McpClient* client, T McpClientImpl::*field) {
    std::lock_guard lock(impl(client).mutex_);
    return impl(client).*field;
}

}  // namespace

std::unique_ptr<McpClient> McpClient::connect(const McpServerConfig& config, const McpOptions& options) {
    auto client = std::make_unique<McpClientImpl>(config, options);
    client->connect();
    return client;
}

McpClient::~McpClient() = default;

const std::string& McpClient::name() const {
    return impl(this).config_.name;
}

McpClient::State McpClient::state() const {
    return locked(this, &McpClientImpl::state_);
}
std::string McpClient::error() const {
    return locked(this, &McpClientImpl::error_);
}
std::string McpClient::protocol_version() const {
    return locked(this, &McpClientImpl::protocol_);
}
std::string McpClient::server_info() const {
    return locked(this, &McpClientImpl::server_info_);
}

std::vector<Tool> McpClient::tools() {
    std::vector<Tool> tools = impl(this).list();
    std::erase_if(tools, [this](const Tool& t) { return !impl(this).config_.shows_tool(t.name); });
    return tools;
}

ToolResult McpClient::call(const ToolCall& call, const std::atomic<bool>* cancel) {
    if (!impl(this).config_.shows_tool(call.name))
        return {fmt::format("MCP server '{}': tool '{}' is not enabled (includeTools / excludeTools)", name(), call.name), true};
    return impl(this).run(call, cancel);
}

void McpClient::close() {
    impl(this).shut();
}

const char* to_string(McpClient::State state) {
    switch (state) {
        case McpClient::State::kConnecting:
            return "connecting";
        case McpClient::State::kReady:
            return "ready";
        case McpClient::State::kFailed:
            return "failed";
        case McpClient::State::kClosed:
            return "closed";
    }
    return "unknown";
}

}  // namespace lfm
