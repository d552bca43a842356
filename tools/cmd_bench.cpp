// `lfm bench -m FILE | --synthetic TYPE  [-p 512] [-n 128] [-t 2] [-r 3] [-d DEPTH] [--parallel 1,2,4]
//            [--kv-type f16|q8_0] [-o md|json]`
// Prompt processing (pp) and generation (tg) speed, reported the way llama-bench does: the same
// table columns, and with -o json the same field names, so scripts written for one read the other.
// --parallel B runs B sequences together (one forward pass per step for all of them, as a server
// with B slots does) and reports their aggregate tokens per second, with an n_parallel column.

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "commands.h"
#include "common_flags.h"
#include "lfm/model.h"
#include "lfm/synth.h"
#include "lfm/version.h"

namespace lfm::cli {

namespace {

struct Result {
    std::string test;
    int threads;
    int64_t n_prompt, n_gen, n_depth;
    int parallel;
    std::vector<double> samples_ns;
};

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> out(static_cast<size_t>(n));
    for (auto& t : out) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    return out;
}

// One timed run of `parallel` sequences (sharing one runtime): fill each context to `depth`
// (untimed), then prompt `n_prompt` tokens into each or generate `n_gen` tokens one at a time in
// each, all sequences advancing together. Returns nanoseconds.
double run_once(const std::shared_ptr<const Model>& model, const SessionOptions& so, int64_t depth, int64_t n_prompt,
                int64_t n_gen, uint32_t seed, int parallel) {
    const int64_t V = model->info().n_vocab;
    std::vector<Session> sessions;
    std::vector<std::vector<int32_t>> prompts;
    for (int b = 0; b < parallel; ++b) {
        Session& s = sessions.emplace_back(model, so);
        if (depth > 0) s.prefill(random_tokens(depth, V, seed + 1 + 1000 * b));
        prompts.push_back(random_tokens(std::max<int64_t>(n_prompt, n_gen), V, seed + 1000 * b));
    }
    std::vector<BatchStep> steps(static_cast<size_t>(parallel));
    const auto start = std::chrono::steady_clock::now();
    if (parallel == 1) {  // the plain single-sequence calls
        if (n_prompt > 0) {
            sessions[0].prefill(std::span<const int32_t>(prompts[0].data(), static_cast<size_t>(n_prompt)));
        } else {
            for (int64_t k = 0; k < n_gen; ++k) sessions[0].decode(prompts[0][static_cast<size_t>(k)]);
        }
    } else if (n_prompt > 0) {
        for (int b = 0; b < parallel; ++b) steps[b] = {&sessions[b], std::span<const int32_t>(prompts[b].data(), static_cast<size_t>(n_prompt))};
        run_batch(steps);
    } else {
        for (int64_t k = 0; k < n_gen; ++k) {
            for (int b = 0; b < parallel; ++b) steps[b] = {&sessions[b], std::span<const int32_t>(&prompts[b][static_cast<size_t>(k)], 1)};
            run_batch(steps);
        }
    }
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
}

std::pair<double, double> mean_sd(const std::vector<double>& v) {
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    return {mean, v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0};
}

std::vector<double> tokens_per_second(const Result& r) {
    const double tokens = static_cast<double>((r.n_prompt > 0 ? r.n_prompt : r.n_gen) * r.parallel);
    std::vector<double> ts;
    for (double ns : r.samples_ns) ts.push_back(tokens * 1e9 / ns);
    return ts;
}

}  // namespace

Command add_bench(CLI::App& app) {
    struct Opts {
        std::string model, synthetic, shape = "lfm2.5-8b-a1b", output = "md", kv_type = "f16";
        std::vector<int64_t> prompt{512}, gen{128}, depth{0};
        std::vector<int> threads, parallel{1};
        int reps = 3;
        int64_t batch = 512;
        bool no_repack = false;
    };
    auto o = std::make_shared<Opts>();
    app.add_option("-m,--model", o->model, "GGUF file or Hugging Face directory");
    app.add_option("--synthetic", o->synthetic, "bench a full-shape model with random weights built in memory: "
                                                "Q4_0, Q4_K_M, Q5_K_M, Q6_K, Q8_0, F16, BF16");
    app.add_option("--shape", o->shape, "shape for --synthetic (lfm2.5-8b-a1b, lfm2-8b-a1b or a JSON config)");
    app.add_option("-p,--n-prompt", o->prompt, "prompt lengths (comma-separated; 0 skips)")->delimiter(',');
    app.add_option("-n,--n-gen", o->gen, "generated lengths (comma-separated; 0 skips)")->delimiter(',');
    app.add_option("-d,--n-depth", o->depth, "tokens already in the context (comma-separated)")->delimiter(',');
    app.add_option("-t,--threads", o->threads, "thread counts (comma-separated; default: physical cores)")->delimiter(',');
    app.add_option("--parallel", o->parallel, "sequences run together (comma-separated; aggregate t/s)")
        ->delimiter(',')
        ->check(CLI::Range(1, 256));
    app.add_option("-r,--repetitions", o->reps, "repetitions of each test")->check(CLI::Range(1, 1000));
    app.add_option("-b,--batch-size", o->batch, "prompt tokens per forward pass")->check(CLI::Range(1, 1 << 20));
    app.add_option("-o,--output", o->output, "md or json")->check(CLI::IsMember({"md", "json"}));
    app.add_option("--kv-type", o->kv_type, "KV cache type: f16 (default), f32 or q8_0")
        ->check(CLI::IsMember({"f16", "f32", "q8_0"}));
    app.add_flag("--no-repack", o->no_repack, "use the weights as stored (no 8-row repacking at load)");
    return [o] {
        if (o->model.empty() == o->synthetic.empty())
            throw Error(ErrorCode::kInvalidArgument, "bench needs exactly one of -m FILE and --synthetic TYPE");
        std::shared_ptr<const Model> model;
        ModelOptions mo;
        mo.repack = !o->no_repack;
        if (!o->threads.empty()) mo.n_threads = *std::max_element(o->threads.begin(), o->threads.end());
        if (!o->synthetic.empty()) {
            SynthOptions so;
            so.type = o->synthetic;
            so.shape = o->shape;
            model = synthetic_model(so, mo);
        } else {
            model = Model::load(o->model, mo);
        }
        const ModelInfo& info = model->info();
        if (o->threads.empty()) o->threads.push_back(0);
        std::vector<Result> results;
        for (int threads : o->threads) {
            for (int64_t depth : o->depth) {
                std::vector<std::pair<int64_t, int64_t>> tests;
                for (int64_t p : o->prompt)
                    if (p > 0) tests.emplace_back(p, 0);
                for (int64_t n : o->gen)
                    if (n > 0) tests.emplace_back(0, n);
                for (const auto& [p, n] : tests)
                for (int parallel : o->parallel) {
                    SessionOptions so;
                    so.n_ctx = std::min<int64_t>(info.n_ctx_train, depth + p + n + 1);
                    so.n_batch = o->batch;
                    so.n_threads = threads;
                    so.kv_type = kv_type_named(o->kv_type);
                    Result r{(p > 0 ? fmt::format("pp{}", p) : fmt::format("tg{}", n)) + (depth > 0 ? fmt::format(" @ d{}", depth) : ""),
                             threads, p, n, depth, parallel, {}};
                    run_once(model, so, 0, std::min<int64_t>(p, 16), p > 0 ? 0 : std::min<int64_t>(n, 4), 7, parallel);  // warm-up
                    for (int rep = 0; rep < o->reps; ++rep)
                        r.samples_ns.push_back(run_once(model, so, depth, p, n, 100 + rep, parallel));
                    results.push_back(r);
                }
            }
        }
        const std::string name = o->synthetic.empty() ? o->model : "synthetic " + o->synthetic + " " + o->shape;
        const std::string type = fmt::format("{} {:.0f}B.A{:.0f}B {}", info.architecture, std::floor(info.n_params / 1e9),
                                             std::floor(info.n_params_active / 1e9), info.file_type);
        const std::string isa = kernel_isa();
        if (o->output == "json") {
            nlohmann::json out = nlohmann::json::array();
            for (const Result& r : results) {
                const auto ts = tokens_per_second(r);
                const auto [avg_ns, sd_ns] = mean_sd(r.samples_ns);
                const auto [avg_ts, sd_ts] = mean_sd(ts);
                char when[32];
                const std::time_t now = std::time(nullptr);
                std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
                out.push_back({{"build_commit", std::string("lfm ") + kVersionString},
                               {"cpu_info", isa},
                               {"backends", "CPU"},
                               {"model_filename", name},
                               {"model_type", type},
                               {"model_size", info.weight_bytes},
                               {"model_n_params", info.n_params},
                               {"n_batch", o->batch},
                               {"n_ubatch", o->batch},
                               {"n_threads", r.threads > 0 ? r.threads : default_thread_count()},
                               {"type_k", o->kv_type},
                               {"type_v", o->kv_type},
                               {"n_prompt", r.n_prompt},
                               {"n_gen", r.n_gen},
                               {"n_depth", r.n_depth},
                               {"n_parallel", r.parallel},
                               {"test_time", when},
                               {"avg_ns", static_cast<uint64_t>(avg_ns)},
                               {"stddev_ns", static_cast<uint64_t>(sd_ns)},
                               {"avg_ts", avg_ts},
                               {"stddev_ts", sd_ts},
                               {"samples_ns", r.samples_ns},
                               {"samples_ts", ts}});
            }
            fmt::print("{}\n", out.dump(1));
            return 0;
        }
        // as llama-bench does, the cache type columns appear only when they are not the default
        const bool kv_columns = o->kv_type != "f16";
        const bool parallel_column = o->parallel != std::vector<int>{1};
        fmt::print("| model | size | params | backend | threads |{}{} test | t/s |\n", kv_columns ? " type_k | type_v |" : "",
                   parallel_column ? " n_parallel |" : "");
        fmt::print("| --- | ---: | ---: | --- | ---: |{}{} ---: | ---: |\n", kv_columns ? " ---: | ---: |" : "",
                   parallel_column ? " ---: |" : "");
        const std::string kv_cells = kv_columns ? fmt::format(" {} | {} |", o->kv_type, o->kv_type) : "";
        for (const Result& r : results) {
            const auto [avg, sd] = mean_sd(tokens_per_second(r));
            fmt::print("| {} | {:.2f} GiB | {:.2f} B | CPU ({}) | {} |{}{} {} | {:.2f} ± {:.2f} |\n", type,
                       static_cast<double>(info.weight_bytes) / (1 << 30), static_cast<double>(info.n_params) / 1e9, isa,
                       r.threads > 0 ? r.threads : default_thread_count(), kv_cells,
                       parallel_column ? fmt::format(" {} |", r.parallel) : "", r.test, avg, sd);
        }
        return 0;
    };
}

}  // namespace lfm::cli
