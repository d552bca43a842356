// The HTTP binding (cpp-httplib, Debian's libcpp-httplib-dev): routes, authentication, CORS,
// limits, one log line per request, and the streaming of a job's events as server-sent events.
// What a request means is decided in openai.cpp; who runs it, in scheduler.cpp.

#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <thread>

#include "lfm/serve.h"
#include "dialect.h"
#include "fields.h"
#include "scheduler.h"
#include "web_page.h"

namespace lfm {

using serve::ApiError;
using serve::Event;
using serve::Job;
using serve::json;
using Clock = std::chrono::steady_clock;

struct Server::Impl {
    ServerOptions options;
    Loader loader;
    httplib::Server http;
    std::atomic<bool> ready{false};
    std::shared_ptr<const Model> model;
    std::unique_ptr<ChatTemplate> chat_template;
    serve::ApiContext ctx;
    std::unique_ptr<serve::Scheduler> scheduler;
    std::mutex lifetime;  // guards scheduler's creation and end against stop() from another thread
    std::atomic<int64_t> next_id{1};
    std::atomic<int64_t> http_requests{0}, http_errors{0};
    Clock::time_point started = Clock::now();

    void routes();
    void log(const std::string& method, const std::string& path, int status, int64_t prompt, int64_t cached, int64_t generated,
             Clock::time_point t0) const;
    void log(const httplib::Request& req, int status, Clock::time_point t0) const { log(req.method, req.path, status, 0, 0, 0, t0); }
    void warn(const std::string& message) const;
    enum class Api { kChat, kCompletion, kAnthropic, kResponses };
    void generation_endpoint(const httplib::Request& req, httplib::Response& res, Api api);
    void require_ready() const {
        if (!ready) throw ApiError(503, "the model is loading", "", "server_loading");
    }
};

namespace {

json error_body(const ApiError& e) { return serve::openai_error(e); }

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(serve::to_text(body), "application/json");
}

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

bool write(httplib::DataSink& sink, const std::string& s) { return s.empty() || sink.write(s.data(), s.size()); }

}  // namespace

void Server::Impl::log(const std::string& method, const std::string& path, int status, int64_t prompt, int64_t cached,
                       int64_t generated, Clock::time_point t0) const {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (options.log_json) {
        fmt::print(stderr, "{}\n", serve::to_text(json{{"method", method}, {"path", path}, {"status", status}, {"prompt_tokens", prompt},
                                                        {"cached_tokens", cached}, {"generated_tokens", generated},
                                                        {"ms", std::round(ms * 10) / 10}}));
    } else {
        fmt::print(stderr, "{} {} {} prompt={} cached={} generated={} {:.1f} ms\n", method, path, status, prompt, cached,
                   generated, ms);
    }
}

void Server::Impl::warn(const std::string& message) const {
    if (options.log_json) fmt::print(stderr, "{}\n", serve::to_text(json{{"level", "warning"}, {"message", message}}));
    else fmt::print(stderr, "warning: {}\n", message);
}

void Server::Impl::generation_endpoint(const httplib::Request& req, httplib::Response& res, Api api) {
    const auto t0 = Clock::now();
    require_ready();
    const json body = serve::parse_body(req.body, options.max_json_depth);
    serve::Request request = api == Api::kChat         ? serve::parse_chat_request(body, ctx)
                             : api == Api::kCompletion ? serve::parse_completion_request(body, ctx)
                             : api == Api::kAnthropic  ? serve::parse_anthropic_request(body, ctx)
                                                       : serve::parse_responses_request(body, ctx);
    for (const std::string& w : request.warnings) warn(w);
    auto job = std::make_shared<Job>(std::move(request));
    if (!scheduler->submit(job)) {
        res.set_header("Retry-After", "1");
        throw ApiError(503, "all slots are busy and the queue is full; retry shortly", "", "server_overloaded");
    }
    auto reply = std::make_shared<serve::Reply>();
    reply->id = fmt::format("{}-{}", api == Api::kChat ? "chatcmpl" : api == Api::kCompletion ? "cmpl" : api == Api::kAnthropic ? "msg" : "r", next_id++);
    reply->model = ctx.model_name;
    reply->created = unix_now();
    const bool stream = job->request.stream;
    if (api == Api::kCompletion && job->request.echo) reply->content = job->request.prompt_text;
    std::shared_ptr<serve::Dialect> dialect = api == Api::kChat         ? serve::openai_chat_dialect(job->request.include_usage)
                                              : api == Api::kCompletion ? serve::openai_completion_dialect(job->request.include_usage)
                                              : api == Api::kAnthropic  ? serve::anthropic_dialect()
                                                                        : serve::responses_dialect();
    const Tokenizer* tok = ctx.tokenizer.get();
    // Adds one event to the reply (numbering tool calls); the dialect formats it afterwards.
    auto apply = [reply, tok](Event& e) {
        switch (e.kind) {
            case Event::Kind::kReasoning: reply->reasoning += e.text; break;
            case Event::Kind::kContent: reply->content += e.text; break;
            case Event::Kind::kToolCall:
                // ids unique across requests: a client matches results to calls by them over a whole conversation
                e.call.id = fmt::format("call_{}_{}", reply->id.substr(reply->id.find('-') + 1), reply->calls.size());
                reply->calls.push_back(e.call);
                break;
            case Event::Kind::kLogprob: reply->logprobs.push_back(serve::logprob_json(e.logprob, *tok)); break;
            case Event::Kind::kDone: reply->done = e; break;
            case Event::Kind::kError: reply->error = e.text; break;
            case Event::Kind::kPromptProgress: break;
        }
    };
    auto log_done = [this, reply, t0, method = req.method, path = req.path](int status) {
        const bool ok = reply->done.has_value();
        log(method, path, status, ok ? reply->done->prompt_tokens : 0, ok ? reply->done->cached_tokens : 0,
            ok ? reply->done->result.timings.generated_tokens : 0, t0);
    };

    if (stream) {
        res.set_header("Cache-Control", "no-cache");
        res.set_chunked_content_provider(
            "text/event-stream",
            [job, reply, dialect, apply, log_done](size_t, httplib::DataSink& sink) {
                if (!write(sink, dialect->stream_start(*reply))) {
                    job->cancelled = true;
                    return false;
                }
                while (!reply->done && reply->error.empty()) {
                    std::optional<Event> e = job->pop(std::chrono::milliseconds(250));
                    bool alive;
                    if (e) {
                        apply(*e);
                        alive = write(sink, dialect->stream_event(*reply, *e));
                    } else {
                        alive = write(sink, ": keep-alive\n\n");
                    }
                    if (!alive) {  // the client went away: stop within a token and free the slot
                        job->cancelled = true;
                        log_done(499);
                        return false;
                    }
                }
                if (!reply->error.empty()) write(sink, dialect->stream_error(ApiError(500, reply->error)));
                else write(sink, dialect->stream_end(*reply));
                sink.done();
                log_done(reply->error.empty() ? 200 : 500);
                return true;
            },
            [job](bool) { job->cancelled = true; });  // finished or not: nothing more to generate
        return;
    }
    // Not streaming: the answer is one JSON object, but it is sent as a chunked body so that a
    // client that gives up is noticed: after a second without an event, a space (white space
    // before JSON is valid) is written, and a failed write cancels the job.
    res.set_chunked_content_provider(
        "application/json",
        [job, reply, dialect, apply, log_done](size_t, httplib::DataSink& sink) {
            auto last = Clock::now();
            while (!reply->done && reply->error.empty()) {
                std::optional<Event> e = job->pop(std::chrono::milliseconds(250));
                if (e) {
                    apply(*e);
                    last = Clock::now();
                } else if (Clock::now() - last > std::chrono::seconds(1)) {
                    if (!write(sink, " ")) {
                        job->cancelled = true;
                        log_done(499);
                        return false;
                    }
                    last = Clock::now();
                }
            }
            if (!reply->error.empty()) write(sink, serve::to_text(dialect->error_body(ApiError(500, reply->error))));
            else write(sink, serve::to_text(dialect->body(*reply)));
            sink.done();
            log_done(reply->error.empty() ? 200 : 500);
            return true;
        },
        [job](bool) { job->cancelled = true; });
}

void Server::Impl::routes() {
    // Every handler's ApiError becomes its status and the API's error object (Anthropic's on
    // /v1/messages, OpenAI's elsewhere).
    auto guarded_as = [this](auto handler, bool anthropic) {
        return [this, handler, anthropic](const httplib::Request& req, httplib::Response& res) {
            ++http_requests;
            const auto t0 = Clock::now();
            auto fail = [&](const ApiError& e) {
                ++http_errors;
                send_json(res, e.status, anthropic ? serve::anthropic_dialect()->error_body(e) : error_body(e));
                log(req, e.status, t0);
            };
            try {
                handler(req, res);
            } catch (const ApiError& e) {
                fail(e);
            } catch (const Error& e) {
                const int status = e.code() == ErrorCode::kInvalidArgument || e.code() == ErrorCode::kContextOverflow ? 400 : 500;
                fail(ApiError(status, e.what()));
            }
        };
    };
    auto guarded = [guarded_as](auto handler) { return guarded_as(handler, false); };
    auto endpoint = [this, guarded_as](Api api) {
        return guarded_as([this, api](const httplib::Request& req, httplib::Response& res) { generation_endpoint(req, res, api); },
                          api == Api::kAnthropic);
    };
    auto simple = [this](const httplib::Request& req, int status, Clock::time_point t0) { log(req, status, t0); };

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!options.cors_origin.empty()) {
            res.set_header("Access-Control-Allow-Origin", options.cors_origin);
            res.set_header("Vary", "Origin");
            if (req.method == "OPTIONS") {
                res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
                res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, x-api-key, anthropic-version");
                res.status = 204;
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        if (options.api_key.empty() || req.path == "/health" || req.path == "/") return httplib::Server::HandlerResponse::Unhandled;
        std::string given = req.get_header_value("x-api-key");
        const std::string auth = req.get_header_value("Authorization");
        if (auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
        if (given != options.api_key) {
            send_json(res, 401, error_body(ApiError(401, given.empty() ? "an API key is required (Authorization: Bearer KEY)"
                                                                       : "the API key is not valid")));
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (res.status == 404) send_json(res, 404, error_body(ApiError(404, fmt::format("no such endpoint: {} {}", req.method, req.path))));
        else if (res.status == 413) send_json(res, 413, error_body(ApiError(413, "the request body is too large")));
        else if (res.status == 405) send_json(res, 405, error_body(ApiError(405, "method not allowed")));
        else if (res.status == 400) send_json(res, 400, error_body(ApiError(400, "malformed HTTP request")));
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        send_json(res, 500, error_body(ApiError(500, what)));
    });

    http.Get("/health", [this, simple](const httplib::Request& req, httplib::Response& res) {
        const auto t0 = Clock::now();
        if (ready) send_json(res, 200, json{{"status", "ok"}});
        else send_json(res, 503, json{{"status", "loading"}, {"error", {{"message", "the model is loading"}, {"type", "server_loading"}}}});
        simple(req, res.status, t0);
    });
    http.Get("/v1/models", guarded([this, simple](const httplib::Request& req, httplib::Response& res) {
        require_ready();
        const ModelInfo& info = model->info();
        send_json(res, 200, json{{"object", "list"},
                                 {"data", json::array({{{"id", ctx.model_name},
                                                        {"object", "model"},
                                                        {"created", unix_now()},
                                                        {"owned_by", "lfm"},
                                                        {"meta", {{"architecture", info.architecture}, {"file_type", info.file_type},
                                                                  {"n_params", info.n_params}, {"n_ctx_train", info.n_ctx_train},
                                                                  {"n_ctx", ctx.n_ctx}}}}})}});
        simple(req, 200, Clock::now());
    }));
    http.Post("/v1/chat/completions", endpoint(Api::kChat));
    http.Post("/v1/completions", endpoint(Api::kCompletion));
    http.Post("/v1/messages", endpoint(Api::kAnthropic));
    http.Post("/v1/responses", endpoint(Api::kResponses));
    http.Post("/tokenize", guarded([this, simple](const httplib::Request& req, httplib::Response& res) {
        const auto t0 = Clock::now();
        require_ready();
        const json body = serve::parse_body(req.body, options.max_json_depth);
        if (!body.contains("content") || !body["content"].is_string()) throw ApiError(400, "'content' must be a string", "content");
        const bool add_special = serve::fields::boolean(body, "add_special", false);
        const bool parse_special = serve::fields::boolean(body, "parse_special", true);
        send_json(res, 200, json{{"tokens", ctx.tokenizer->encode(body["content"].get<std::string>(), add_special, parse_special)}});
        simple(req, 200, t0);
    }));
    http.Post("/detokenize", guarded([this, simple](const httplib::Request& req, httplib::Response& res) {
        const auto t0 = Clock::now();
        require_ready();
        const json body = serve::parse_body(req.body, options.max_json_depth);
        if (!body.contains("tokens") || !body["tokens"].is_array()) throw ApiError(400, "'tokens' must be a list of ids", "tokens");
        std::vector<int32_t> ids;
        for (const json& t : body["tokens"]) {
            if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= ctx.tokenizer->n_vocab())
                throw ApiError(400, "'tokens' must hold ids of the vocabulary", "tokens");
            ids.push_back(t.get<int32_t>());
        }
        send_json(res, 200, json{{"content", ctx.tokenizer->decode(ids)}});
        simple(req, 200, t0);
    }));
    http.Post("/apply-template", guarded([this, simple](const httplib::Request& req, httplib::Response& res) {
        const auto t0 = Clock::now();
        require_ready();
        send_json(res, 200, json{{"prompt", serve::apply_template(serve::parse_body(req.body, options.max_json_depth), ctx)}});
        simple(req, 200, t0);
    }));
    http.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
        const serve::SchedulerStats s = scheduler ? scheduler->stats() : serve::SchedulerStats{};
        const double up = std::chrono::duration<double>(Clock::now() - started).count();
        std::string m;
        auto metric = [&m](const char* name, const char* type, const char* help, double value) {
            m += fmt::format("# HELP lfm_{0} {1}\n# TYPE lfm_{0} {2}\nlfm_{0} {3}\n", name, help, type, value);
        };
        metric("http_requests_total", "counter", "HTTP requests received", static_cast<double>(http_requests.load()));
        metric("http_errors_total", "counter", "HTTP requests answered with an error", static_cast<double>(http_errors.load()));
        metric("requests_total", "counter", "generation requests completed", static_cast<double>(s.requests));
        metric("requests_rejected_total", "counter", "requests refused with 503 (queue full)", static_cast<double>(s.rejected));
        metric("prompt_tokens_total", "counter", "prompt tokens processed", static_cast<double>(s.prompt_tokens));
        metric("prompt_tokens_cached_total", "counter", "prompt tokens reused from a slot's cache", static_cast<double>(s.cached_tokens));
        metric("tokens_predicted_total", "counter", "tokens generated", static_cast<double>(s.generated_tokens));
        metric("prompt_tokens_seconds", "gauge", "average prompt throughput (tokens/s)",
               s.prompt_ms > 0 ? static_cast<double>(s.prompt_tokens) * 1000.0 / s.prompt_ms : 0.0);
        metric("predicted_tokens_seconds", "gauge", "average generation throughput per request (tokens/s)",
               s.generate_ms > 0 ? static_cast<double>(s.generated_tokens) * 1000.0 / s.generate_ms : 0.0);
        metric("requests_processing", "gauge", "slots busy", s.busy_slots);
        metric("requests_deferred", "gauge", "requests waiting for a slot", s.queued);
        metric("prompt_cache_entries", "gauge", "conversations kept in the prompt cache (--cache-ram)", static_cast<double>(s.cache.entries));
        metric("prompt_cache_bytes", "gauge", "memory the prompt cache holds", static_cast<double>(s.cache.bytes));
        metric("prompt_cache_limit_bytes", "gauge", "the prompt cache's bound (--cache-ram)", static_cast<double>(s.cache.max_bytes));
        metric("prompt_cache_hits_total", "counter", "requests that continued a conversation from the prompt cache", static_cast<double>(s.cache.hits));
        metric("prompt_cache_evictions_total", "counter", "conversations dropped from the prompt cache to stay in its bound", static_cast<double>(s.cache.evicted));
        metric("uptime_seconds", "gauge", "seconds since the server started", up);
        res.set_content(m, "text/plain; version=0.0.4");
    }));
    http.Get("/", [simple](const httplib::Request& req, httplib::Response& res) {
        res.set_content(serve::kWebPage, "text/html; charset=utf-8");
        simple(req, 200, Clock::now());
    });
}

Server::Server(ServerOptions options, Loader load) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->loader = std::move(load);
    if (impl_->options.parallel < 1 || impl_->options.parallel > 64)
        throw Error(ErrorCode::kInvalidArgument, "--parallel must be 1 to 64");
}

Server::~Server() { stop(); }

void Server::stop() {
    // In-flight replies end at their next token, so that their HTTP threads (which the server's
    // shutdown joins) finish instead of generating to the end.
    {
        std::lock_guard lock(impl_->lifetime);
        if (impl_->scheduler) impl_->scheduler->cancel_all();
    }
    impl_->http.stop();
}

void Server::run(const std::function<void(int)>& on_listening, const std::function<void(const std::string&)>& on_error) {
    Impl& s = *impl_;
    const ServerOptions& o = s.options;
    // Each streaming request holds an HTTP thread while it waits: enough for every slot and the
    // whole queue, and a few more for /health and /metrics.
    const size_t threads = static_cast<size_t>(o.parallel) + o.max_queue + 4;
    s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    s.http.set_payload_max_length(o.max_body_bytes);
    s.http.set_read_timeout(60);
    s.http.set_write_timeout(60);
    s.routes();
    int port = o.port;
    if (port == 0) {
        port = s.http.bind_to_any_port(o.host);
        if (port < 0) throw Error(ErrorCode::kIo, fmt::format("cannot listen on {}: no free port", o.host));
    } else if (!s.http.bind_to_port(o.host, port)) {
        throw Error(ErrorCode::kIo, fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", o.host, port));
    }
    std::thread loader([&s, on_error] {
        try {
            s.model = s.loader();
            auto tokenizer = s.model->tokenizer();
            if (!tokenizer) throw Error(ErrorCode::kInvalidFile, s.model->info().path + ": the model has no tokenizer");
            s.chat_template = std::make_unique<ChatTemplate>(ChatTemplate::for_tokenizer(*tokenizer, s.options.template_source));
            s.ctx.tokenizer = tokenizer;
            s.ctx.chat_template = s.chat_template.get();
            s.ctx.defaults = s.options.defaults;
            s.ctx.n_ctx = s.options.session.n_ctx;
            s.ctx.max_json_depth = s.options.max_json_depth;
            s.ctx.constraints = std::make_shared<serve::ConstraintCache>();
            s.ctx.model_name = s.options.model_name;
            if (s.ctx.model_name.empty()) {
                const std::string& path = s.model->info().path;
                s.ctx.model_name = path.substr(path.find_last_of('/') + 1);
            }
            auto scheduler = std::make_unique<serve::Scheduler>(s.model, tokenizer, s.options.session, s.options.parallel,
                                                                s.options.max_queue, s.options.cache_ram_bytes);
            std::lock_guard lock(s.lifetime);
            s.scheduler = std::move(scheduler);
            s.ready = true;
        } catch (const std::exception& e) {
            if (on_error) on_error(e.what());
            s.http.stop();
        }
    });
    if (on_listening) on_listening(port);
    s.http.listen_after_bind();
    loader.join();
    s.ready = false;
    std::lock_guard lock(s.lifetime);
    s.scheduler.reset();  // ends the slots' jobs
}

}  // namespace lfm
