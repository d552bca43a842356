#pragma once
// `lfm serve`: an HTTP server with OpenAI's chat completions, completions and Responses APIs and
// Anthropic's Messages API, for the programs (agents, IDE plugins, SDKs, Codex, Claude Code)
// that talk to a local model that way.
//   POST /v1/chat/completions   POST /v1/completions   POST /v1/responses   POST /v1/messages
//   GET /v1/models   GET /health   POST /tokenize   POST /detokenize   POST /apply-template
//   GET /metrics   GET / (a chat page)
// --parallel slots run in one forward pass per step; a request that shares a prefix with what
// a slot holds reuses it. Listens on 127.0.0.1 unless told otherwise.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "lfm/generate.h"
#include "lfm/model.h"

namespace lfm {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;            // 0: any free port (on_listening says which)
    int parallel = 1;           // slots decoded together
    size_t max_queue = 32;      // requests waiting for a slot; beyond: 503 with Retry-After
    // Memory for conversations that no slot holds any more (their KV rows and conv state), so
    // that their next turn reuses its prefix; 0: only what the slots hold.
    size_t cache_ram_bytes = size_t{2048} << 20;
    std::string api_key;        // when set: "Authorization: Bearer KEY" or "x-api-key: KEY", else 401
    std::string cors_origin;    // when set: that origin may call the API from a browser
    bool log_json = false;      // one JSON object per request on stderr, instead of a text line
    size_t max_body_bytes = size_t{8} << 20;
    size_t max_json_depth = 64;
    std::string model_name;     // the id /v1/models reports (default: the file's name)
    SessionOptions session;     // per slot: context, batch, KV type, threads
    GenerateOptions defaults;   // sampling defaults for requests that do not set them
    std::string template_source;  // empty: the model's own chat template
};

class Server {
public:
    // load runs on a thread of its own once run() has bound the port: /health answers 503
    // until it returns.
    using Loader = std::function<std::shared_ptr<const Model>()>;
    Server(ServerOptions options, Loader load);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds (throws lfm::Error when it cannot), calls on_listening with the port, and serves
    // until stop(). A model that fails to load is reported by on_error; the server then stops.
    void run(const std::function<void(int port)>& on_listening = {},
             const std::function<void(const std::string&)>& on_error = {});
    void stop();  // from any thread, not from a signal handler

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace lfm
