// `lfm perplexity -m MODEL -f TEXT [-c CTX] [--save-logits FILE] [--kl-divergence-base FILE]`
// Perplexity as llama.cpp computes it: the text (BOS + tokens) cut into chunks of CTX tokens,
// each evaluated from an empty context, the second half of each chunk scored (so every scored
// token sees at least CTX/2 tokens before it). --save-logits writes the scored positions'
// log-probabilities; --kl-divergence-base reads such a file (of another quant of the same model,
// same text and -c) and reports KL(base || this) and how often the top token agrees.

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "commands.h"
#include "common_flags.h"

namespace lfm::cli {
namespace {

constexpr char kMagic[8] = {'L', 'F', 'M', 'L', 'O', 'G', 'P', '1'};

struct LogitsHeader {
    uint32_t n_vocab, n_ctx, n_chunks, first;
};

void log_softmax(std::span<const float> logits, std::vector<double>& out) {
    out.resize(logits.size());
    const float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float x : logits) sum += std::exp(static_cast<double>(x - mx));
    const double log_sum = std::log(sum) + mx;
    for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - log_sum;
}

void progress(size_t done, size_t total, double ppl, bool tty) {
    if (!tty) return;
    const int width = 30;
    const int filled = static_cast<int>(width * done / std::max<size_t>(total, 1));
    fmt::print(stderr, "\r[{}{}] {}/{} chunks  ppl {:.4f}", std::string(static_cast<size_t>(filled), '#'),
               std::string(static_cast<size_t>(width - filled), ' '), done, total, ppl);
    std::fflush(stderr);
}

}  // namespace

Command add_perplexity(CLI::App& app) {
    struct Opts {
        ModelFlags model;
        std::string file, save, base;
        int64_t chunks = -1;
    };
    auto o = std::make_shared<Opts>();
    add_model_flags(app, o->model);
    o->model.ctx = 512;
    app.get_option("--ctx-size")->description("tokens per chunk (default 512)");
    app.add_option("-f,--file", o->file, "the text to score")->required();
    app.add_option("--chunks", o->chunks, "score at most this many chunks (default: all)")->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
    app.add_option("--save-logits", o->save, "write the scored positions' log-probabilities to FILE (for KL divergence)");
    app.add_option("--kl-divergence-base", o->base, "compare with log-probabilities saved by --save-logits");
    return [o] {
        if (o->model.ctx < 4) throw Error(ErrorCode::kInvalidArgument, "-c must be at least 4 for perplexity");
        const std::string text = read_file(o->file, "text");
        LoadedModel m = load_model(o->model);
        const int64_t n_ctx = o->model.ctx;
        std::vector<int32_t> tokens = m.tokenizer->encode(text, m.tokenizer->add_bos(), false);
        size_t n_chunks = tokens.size() / static_cast<size_t>(n_ctx);
        if (o->chunks > 0) n_chunks = std::min(n_chunks, static_cast<size_t>(o->chunks));
        if (n_chunks == 0)
            throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: {} tokens is less than one chunk of -c {} tokens",
                                                                 o->file, tokens.size(), n_ctx));
        const auto V = static_cast<size_t>(m.model->info().n_vocab);
        const auto first = static_cast<size_t>(n_ctx / 2);
        LogitsHeader header{static_cast<uint32_t>(V), static_cast<uint32_t>(n_ctx), static_cast<uint32_t>(n_chunks),
                            static_cast<uint32_t>(first)};

        std::ofstream save;
        if (!o->save.empty()) {
            save.open(o->save, std::ios::binary);
            if (!save) throw Error(ErrorCode::kIo, o->save + ": cannot write");
            save.write(kMagic, sizeof kMagic);
            save.write(reinterpret_cast<const char*>(&header), sizeof header);
            save.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(n_chunks * static_cast<size_t>(n_ctx) * 4));
        }
        std::ifstream base;
        if (!o->base.empty()) {
            base.open(o->base, std::ios::binary);
            if (!base) throw Error(ErrorCode::kIo, o->base + ": cannot open");
            char magic[8];
            LogitsHeader bh{};
            base.read(magic, sizeof magic);
            base.read(reinterpret_cast<char*>(&bh), sizeof bh);
            if (!base || std::memcmp(magic, kMagic, sizeof magic) != 0)
                throw Error(ErrorCode::kInvalidFile, o->base + ": not a file written by lfm perplexity --save-logits");
            if (bh.n_vocab != header.n_vocab || bh.n_ctx != header.n_ctx || bh.n_chunks < header.n_chunks)
                throw Error(ErrorCode::kInvalidArgument,
                            fmt::format("{}: saved with n_vocab {}, -c {}, {} chunks; this run has {}, {}, {}", o->base,
                                        bh.n_vocab, bh.n_ctx, bh.n_chunks, V, n_ctx, n_chunks));
            std::vector<int32_t> base_tokens(static_cast<size_t>(bh.n_chunks) * bh.n_ctx);
            base.read(reinterpret_cast<char*>(base_tokens.data()), static_cast<std::streamsize>(base_tokens.size() * 4));
            if (!std::equal(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n_chunks * static_cast<size_t>(n_ctx)),
                            base_tokens.begin()))
                throw Error(ErrorCode::kInvalidArgument, o->base + ": saved for a different text or tokenizer");
        }

        SessionOptions so = m.session;
        so.n_ctx = n_ctx;
        Session session(m.model, so);
        const bool tty = ::isatty(STDERR_FILENO) != 0;
        double nll = 0, kl_sum = 0, kl_max = 0;
        size_t scored = 0, top_agree = 0;
        std::vector<double> lp;
        std::vector<float> base_lp(V), lp_f(V);
        for (size_t c = 0; c < n_chunks; ++c) {
            std::span<const int32_t> chunk(tokens.data() + c * static_cast<size_t>(n_ctx), static_cast<size_t>(n_ctx));
            session.reset();
            session.prefill(chunk, /*all_logits=*/true);
            const auto logits = session.all_logits();
            for (size_t i = first; i + 1 < chunk.size(); ++i) {
                log_softmax(logits.subspan(i * V, V), lp);
                nll -= lp[static_cast<size_t>(chunk[i + 1])];
                ++scored;
                if (save.is_open() || base.is_open())
                    for (size_t v = 0; v < V; ++v) lp_f[v] = static_cast<float>(lp[v]);
                if (save.is_open()) save.write(reinterpret_cast<const char*>(lp_f.data()), static_cast<std::streamsize>(V * 4));
                if (base.is_open()) {
                    base.read(reinterpret_cast<char*>(base_lp.data()), static_cast<std::streamsize>(V * 4));
                    if (!base) throw Error(ErrorCode::kInvalidFile, o->base + ": truncated");
                    double kl = 0;
                    for (size_t v = 0; v < V; ++v) kl += std::exp(static_cast<double>(base_lp[v])) * (base_lp[v] - lp_f[v]);
                    kl_sum += kl;
                    kl_max = std::max(kl_max, kl);
                    top_agree += std::max_element(base_lp.begin(), base_lp.end()) - base_lp.begin() ==
                                 std::max_element(lp_f.begin(), lp_f.end()) - lp_f.begin();
                }
            }
            progress(c + 1, n_chunks, std::exp(nll / static_cast<double>(scored)), tty);
        }
        if (tty) fmt::print(stderr, "\n");
        if (save.is_open() && !save.flush()) throw Error(ErrorCode::kIo, o->save + ": write failed");
        fmt::print("perplexity: {:.4f} over {} tokens ({} chunks of {})\n", std::exp(nll / static_cast<double>(scored)),
                   scored, n_chunks, n_ctx);
        if (base.is_open())
            fmt::print("KL divergence vs {}: mean {:.6f}, max {:.6f}; same top token {:.2f}%\n", o->base,
                       kl_sum / static_cast<double>(scored), kl_max, 100.0 * static_cast<double>(top_agree) / static_cast<double>(scored));
        return 0;
    };
}

}  // namespace lfm::cli
