// `lfm serve -m MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [--cache-ram MiB] [--api-key KEY] [--cors ORIGIN]
//            [--log-format text|json] [-c N] [-t N] [sampling flags]`
// Parses flags and starts lfm::Server (include/lfm/serve.h); Ctrl-C or SIGTERM stops it.

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "commands.h"
#include "common_flags.h"
#include "lfm/serve.h"

namespace lfm::cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }
}  // namespace

Command add_serve(CLI::App& app) {
    struct Opts {
        ModelFlags model;
        SamplingFlags sampling;
        ServerOptions server;
        std::string log_format = "text";
        size_t max_body_mib = 8;
        size_t cache_ram_mib = 2048;
    };
    auto o = std::make_shared<Opts>();
    add_model_flags(app, o->model);
    add_sampling_flags(app, o->sampling);
    app.add_option("--host", o->server.host, "address to listen on (default 127.0.0.1: this machine only)");
    app.add_option("--port", o->server.port, "port (default 8080; 0: any free port)")->check(CLI::Range(0, 65535));
    app.add_option("--parallel", o->server.parallel, "requests decoded together, each in its own slot of -c tokens")
        ->check(CLI::Range(1, 64));
    app.add_option("--queue", o->server.max_queue, "requests that may wait for a slot; more get 503")->check(CLI::Range(0, 4096));
    app.add_option("--cache-ram", o->cache_ram_mib,
                   "MiB for conversations no slot holds any more, so their next turn reuses its prefix (0: off)")
        ->check(CLI::Range(0, 1 << 20));
    app.add_option("--api-key", o->server.api_key, "require this key (Authorization: Bearer KEY or x-api-key)");
    app.add_option("--cors", o->server.cors_origin, "allow browser pages from this origin to call the API");
    app.add_option("--log-format", o->log_format, "one line per request: text or json")->check(CLI::IsMember({"text", "json"}));
    app.add_option("--alias", o->server.model_name, "model id that /v1/models reports (default: the file name)");
    app.add_option("--max-body-mib", o->max_body_mib, "largest request body (MiB)")->check(CLI::Range(1, 1024));
    return [o] {
        ServerOptions so = o->server;
        const ModelFlags mf = o->model;
        so.log_json = o->log_format == "json";
        so.max_body_bytes = o->max_body_mib << 20;
        so.cache_ram_bytes = o->cache_ram_mib << 20;
        so.defaults = generate_options(o->sampling);
        so.session.n_ctx = mf.ctx;
        so.session.n_batch = mf.batch;
        so.session.kv_type = kv_type_named(mf.kv_type);
        so.session.n_threads = mf.threads;
        if (!mf.chat_template_file.empty()) so.template_source = read_file(mf.chat_template_file, "chat template");
        Server server(so, [mf] { return load_model(mf).model; });

        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);
        std::atomic<bool> done{false};
        std::thread watcher([&] {  // a signal handler may not stop the server itself
            while (!done && !g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            server.stop();
        });
        std::string load_error;
        try {
            server.run([&](int port) { fmt::print(stderr, "lfm serve: listening on http://{}:{} (loading the model)\n", so.host, port); },
                       [&](const std::string& e) { load_error = e; });
        } catch (...) {
            done = true;
            watcher.join();
            throw;
        }
        done = true;
        watcher.join();
        if (!load_error.empty()) throw Error(ErrorCode::kInvalidFile, load_error);
        return 0;
    };
}

}  // namespace lfm::cli
