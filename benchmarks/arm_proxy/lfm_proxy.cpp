// The lfm side of the ARM proxy (benchmarks/arm_proxy.sh): a small program, cross-built for
// AArch64 and run under qemu with the insn_count plugin, that marks where the prompt and the
// decode steps begin and end, so the plugin reports the instructions of each phase alone.
// It links only the library's model code (not the CLI, whose HTTP and download parts would need
// AArch64 builds of cpp-httplib, OpenSSL and libcurl).
//
//   lfm_proxy bench MODEL [--prompt 512] [--gen 16] [--threads 1]
//       load (repacked as lfm loads), prefill `prompt` random tokens into an empty session (between
//       marks 1 and 2), then decode `gen` tokens one at a time into a fresh session, the last
//       gen - 1 of them between marks 3 and 4.
//   lfm_proxy eval MODEL --ids 1,2,3 [--batch 512] [--kv-type f16|f32|q8_0] [--logits-out FILE]
//                 [--routing-out FILE]
//       what `lfm eval` does (one prefill per batch, every position's logits written as float32
//       [n][n_vocab]), to compare the AArch64 kernels' results with the x86 build's. The routing
//       file: one JSON line per MoE layer and position (router logits, experts chosen), written
//       by a second pass of the ids as one chunk (as tests/test_forward.cpp's routing test runs).

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "lfm/error.h"
#include "lfm/model.h"
#include "model/lfm2.h"
#include "runtime/thread_pool.h"

namespace {

// The insn_count plugin's mark: a syscall number nothing uses (qemu answers ENOSYS); without the
// plugin, or natively, it does nothing either.
constexpr long kMarkSyscall = 0x4c464d;
void mark(long label) {
    syscall(kMarkSyscall, label);
}

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(
        stderr,
        "lfm_proxy: %s\nusage: lfm_proxy bench MODEL [--prompt N] [--gen N] [--threads N]\n"
        "       lfm_proxy eval MODEL --ids 1,2,3 [--batch N] [--kv-type f16|f32|q8_0] [--logits-out FILE]\n",
        why.c_str());
    std::exit(2);
}

long parse_count(const std::string& flag, const char* text, long min) {
    char* end = nullptr;
    const long v = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < min)
        usage(flag + " needs a whole number >= " + std::to_string(min));
    return v;
}

std::vector<int32_t> parse_ids(const std::string& spec) {
    std::vector<int32_t> ids;
    size_t start = 0;
    while (start <= spec.size()) {
        const size_t comma = std::min(spec.find(',', start), spec.size());
        ids.push_back(
            static_cast<int32_t>(parse_count("--ids", spec.substr(start, comma - start).c_str(), 0)));
        start = comma + 1;
    }
    return ids;
}

lfm::KvType kv_type_named(const std::string& name) {
    if (name == "f16") return lfm::KvType::kF16;
    if (name == "f32") return lfm::KvType::kF32;
    if (name == "q8_0") return lfm::KvType::kQ8_0;
    usage("--kv-type must be f16, f32 or q8_0, not " + name);
}

struct Options {
    std::string mode, model, ids, kv_type = "f16", logits_out, routing_out;
    long prompt = 512, gen = 16, threads = 1, batch = 512;
};

Options parse(int argc, char** argv) {
    if (argc < 3) usage("a mode (bench or eval) and a model are needed");
    Options o;
    o.mode = argv[1];
    o.model = argv[2];
    if (o.mode != "bench" && o.mode != "eval") usage("unknown mode " + o.mode);
    for (int i = 3; i < argc; i += 2) {
        const std::string flag = argv[i];
        if (i + 1 >= argc) usage(flag + " needs a value");
        const char* value = argv[i + 1];
        if (flag == "--prompt")
            o.prompt = parse_count(flag, value, 1);
        else if (flag == "--gen")
            o.gen = parse_count(flag, value, 2);
        else if (flag == "--threads")
            o.threads = parse_count(flag, value, 1);
        else if (flag == "--batch")
            o.batch = parse_count(flag, value, 1);
        else if (flag == "--ids")
            o.ids = value;
        else if (flag == "--kv-type")
            o.kv_type = value;
        else if (flag == "--logits-out")
            o.logits_out = value;
        else if (flag == "--routing-out")
            o.routing_out = value;
        else
            usage("unknown flag " + flag);
    }
    if (o.mode == "eval" && o.ids.empty()) usage("eval needs --ids");
    return o;
}

std::vector<int32_t> random_tokens(long n, int64_t vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> out(static_cast<size_t>(n));
    for (auto& t : out) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    return out;
}

int bench(const Options& o) {
    const auto model = lfm::Model::load(o.model);
    lfm::SessionOptions so;
    so.n_ctx = std::max(o.prompt, o.gen);
    so.n_threads = static_cast<int>(o.threads);
    const int64_t V = model->info().n_vocab;
    {
        lfm::Session session(model, so);
        const auto prompt = random_tokens(o.prompt, V, 1);
        mark(1);
        session.prefill(prompt);
        mark(2);
    }
    lfm::Session session(model, so);
    const auto tokens = random_tokens(o.gen, V, 2);
    session.decode(tokens[0]);  // the first step outside the marks: one-time set-up is not per token
    mark(3);
    for (size_t k = 1; k < tokens.size(); ++k) session.decode(tokens[k]);
    mark(4);
    std::printf("lfm_proxy: %s, isa %s, prompt %ld, gen %ld, threads %ld\n", model->info().file_type.c_str(),
                lfm::kernel_isa().c_str(), o.prompt, o.gen, o.threads);
    return 0;
}

// The ids as one chunk through the forward pass with a routing trace (the library's internals,
// as the routing test uses them), one JSON line per record.
void write_routing(const lfm::Model& model, const std::vector<int32_t>& ids, lfm::KvType kv, const std::string& path) {
    const auto n = static_cast<int64_t>(ids.size());
    lfm::SequenceState st(model.impl(), n, kv);
    lfm::Workspace ws(model.impl(), n, n, 1);
    lfm::ThreadPool pool(1);
    std::vector<lfm::RoutingRecord> trace;
    ws.routing_trace = &trace;
    const lfm::SequenceChunk chunk{&st, ids.data(), n};
    lfm::forward(model.impl(), ws, pool, {&chunk, 1});
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) throw lfm::Error(lfm::ErrorCode::kIo, path + ": cannot open for writing");
    for (const lfm::RoutingRecord& r : trace) {
        std::fprintf(f, "{\"layer\": %lld, \"pos\": %lld, \"logits\": [", static_cast<long long>(r.layer),
                     static_cast<long long>(r.pos));
        for (size_t e = 0; e < r.logits.size(); ++e) std::fprintf(f, "%s%.9g", e ? ", " : "", r.logits[e]);
        std::fprintf(f, "], \"selected\": [");
        for (size_t j = 0; j < r.selected.size(); ++j) std::fprintf(f, "%s%d", j ? ", " : "", r.selected[j]);
        std::fprintf(f, "]}\n");
    }
    if (std::fclose(f) != 0) throw lfm::Error(lfm::ErrorCode::kIo, path + ": write failed");
}

int eval(const Options& o) {
    const std::vector<int32_t> ids = parse_ids(o.ids);
    const auto model = lfm::Model::load(o.model);
    lfm::SessionOptions so;
    so.n_ctx = static_cast<int64_t>(ids.size());
    so.n_batch = o.batch;
    so.kv_type = kv_type_named(o.kv_type);
    so.n_threads = static_cast<int>(o.threads);
    lfm::Session session(model, so);
    std::FILE* out = o.logits_out.empty() ? nullptr : std::fopen(o.logits_out.c_str(), "wb");
    if (!o.logits_out.empty() && out == nullptr)
        throw lfm::Error(lfm::ErrorCode::kIo, o.logits_out + ": cannot open for writing");
    const auto V = static_cast<size_t>(model->info().n_vocab);
    std::string line = "argmax:";
    bool write_ok = true;
    for (size_t first = 0; first < ids.size(); first += static_cast<size_t>(o.batch)) {
        const size_t n = std::min(static_cast<size_t>(o.batch), ids.size() - first);
        session.prefill(std::span<const int32_t>(ids).subspan(first, n), /*all_logits=*/true);
        const auto logits = session.all_logits();
        if (out != nullptr)
            write_ok =
                write_ok && std::fwrite(logits.data(), sizeof(float), logits.size(), out) == logits.size();
        for (size_t t = 0; t < n; ++t) {
            const float* row = logits.data() + t * V;
            line += " " + std::to_string(std::max_element(row, row + V) - row);
        }
    }
    if (out != nullptr && (std::fclose(out) != 0 || !write_ok))
        throw lfm::Error(lfm::ErrorCode::kIo, o.logits_out + ": write failed");
    std::printf("%s\n", line.c_str());
    if (!o.routing_out.empty()) write_routing(*model, ids, kv_type_named(o.kv_type), o.routing_out);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        return o.mode == "bench" ? bench(o) : eval(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lfm_proxy: %s\n", e.what());
        return 1;
    }
}
