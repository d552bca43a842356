#pragma once
// A connection to one MCP server that carries JSON-RPC messages both ways. The client above it
// knows nothing of processes or HTTP; the transports know nothing of MCP's methods.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "lfm/agent.h"

namespace lfm::mcp {

using Json = nlohmann::json;

// Called from the transport's own threads. After close() returns, none is called again.
struct TransportEvents {
    std::function<void(Json message)> on_message;  // one JSON-RPC message (or batch) from the server
    // A request that will get no answer (HTTP: the POST failed or its stream ended); `why` is a
    // sentence without the server's name.
    std::function<void(const Json& id, const std::string& why)> on_request_failed;
    std::function<void(const std::string& why)> on_closed;  // the connection is gone (the server exited, ...)
    std::function<void(const std::string& line)> on_log;    // the server's stderr, ignored lines
};

class Transport {
  public:
    virtual ~Transport() = default;
    // Starts the server or checks the URL; throws lfm::Error when it cannot.
    virtual void start(TransportEvents events) = 0;
    // Sends one message; throws lfm::Error when the connection is gone. Never blocks for long.
    virtual void send(const Json& message) = 0;
    // The revision agreed at initialize (HTTP sends it as MCP-Protocol-Version).
    virtual void set_protocol_version(const std::string&) {}
    // The client gave up waiting for this request (cancelled, timed out): stop reading its answer.
    virtual void abandon(const Json&) {}
    // Ends the connection within a few seconds, whatever the server does. Idempotent.
    virtual void close() = 0;
};

std::unique_ptr<Transport> make_stdio_transport(const McpServerConfig& config, const McpOptions& options);
std::unique_ptr<Transport> make_http_transport(const McpServerConfig& config, const McpOptions& options);

// The one line a message is on the wire (stdio) or the body of a POST: invalid UTF-8 in a
// string (a model's arguments, say) is replaced rather than thrown on.
std::string to_wire(const Json& message);

}  // namespace lfm::mcp
