// `lfm eval -m MODEL --ids 1,2,3|@FILE [--batch N] [--ctx N] [--kv-type f16|f32|q8_0] [--logits-out FILE]
//           [--load-session FILE] [--save-session FILE]`
// Evaluates token ids, prints the argmax per position, and can save every position's logits as
// raw little-endian float32 [n_tokens][n_vocab] (the layout of ../shared/reference). With a
// session loaded first, the ids continue it: evaluating A, saving, then loading and evaluating B
// gives the logits of evaluating A then B in one session.

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <span>
#include <sstream>

#include "commands.h"
#include "common_flags.h"
#include "lfm/model.h"

namespace lfm::cli {


Command add_eval(CLI::App& app) {
    struct Opts {
        std::string model, ids, logits_out, kv_type = "f16", load_session, save_session;
        int64_t batch = 512, ctx = 0;
        int threads = 0;
        bool no_repack = false;
    };
    auto o = std::make_shared<Opts>();
    app.add_option("-m,--model", o->model, "GGUF file or Hugging Face model directory")->required();
    app.add_option("--ids", o->ids, "token ids: 1,2,3 or @FILE")->required();
    app.add_option("-b,--batch", o->batch, "tokens per forward pass (default 512)");
    app.add_option("-c,--ctx", o->ctx, "context size (default: the number of ids)");
    app.add_option("-t,--threads", o->threads, "threads (default: one per physical core)");
    app.add_flag("--no-repack", o->no_repack, "use the weights as stored (no 8-row repacking at load)");
    app.add_option("--kv-type", o->kv_type, "KV cache type: f16, f32 or q8_0")->check(CLI::IsMember({"f16", "f32", "q8_0"}));
    app.add_option("--logits-out", o->logits_out, "write every position's logits as float32 [n][n_vocab]");
    app.add_option("--load-session", o->load_session, "continue the session saved in FILE (same model and --kv-type)");
    app.add_option("--save-session", o->save_session, "save the session (all tokens so far) to FILE at the end");
    return [o] {
        const std::vector<int32_t> ids = parse_ids(o->ids);
        ModelOptions mo;
        mo.repack = !o->no_repack;
        const auto model = Model::load(o->model, mo);
        SessionOptions so;
        // Without -c: room for the ids, and 4096 more when they continue a loaded session.
        so.n_ctx = o->ctx > 0 ? o->ctx
                              : std::min(model->info().n_ctx_train,
                                         static_cast<int64_t>(ids.size()) + (o->load_session.empty() ? 0 : 4096));
        so.n_batch = o->batch;
        so.kv_type = kv_type_named(o->kv_type);
        so.n_threads = o->threads;
        Session session(model, so);
        if (!o->load_session.empty()) session.load(o->load_session);
        // One batch at a time, so memory holds one batch's logits (512 × 128K floats is 262 MB;
        // a whole 16K-token file would be 8 GB); the forward pass splits prompts into the same
        // batches, so the logits are those of one prefill of every id.
        std::FILE* out = nullptr;
        if (!o->logits_out.empty()) {
            out = std::fopen(o->logits_out.c_str(), "wb");
            if (out == nullptr) throw Error(ErrorCode::kIo, o->logits_out + ": cannot open for writing");
        }
        const auto V = static_cast<size_t>(model->info().n_vocab);
        const auto step = static_cast<size_t>(o->batch);  // >= 1: Session rejects anything less
        std::string line = "argmax:";
        bool write_ok = true;
        try {
            for (size_t first = 0; first < ids.size(); first += step) {
                const size_t n = std::min(step, ids.size() - first);
                session.prefill(std::span<const int32_t>(ids).subspan(first, n), /*all_logits=*/true);
                const auto logits = session.all_logits();
                if (out != nullptr)
                    write_ok = write_ok && std::fwrite(logits.data(), sizeof(float), logits.size(), out) == logits.size();
                for (size_t t = 0; t < n; ++t) {
                    const float* row = logits.data() + t * V;
                    line += fmt::format(" {}", std::max_element(row, row + V) - row);
                }
            }
        } catch (...) {  // a bad id or a full context in a later batch: no partial logits file
            if (out != nullptr) {
                std::fclose(out);
                std::remove(o->logits_out.c_str());
            }
            throw;
        }
        if (out != nullptr && (std::fclose(out) != 0 || !write_ok)) throw Error(ErrorCode::kIo, o->logits_out + ": write failed");
        if (!o->save_session.empty()) session.save(o->save_session);
        fmt::print("{}\n", line);
        return 0;
    };
}

}  // namespace lfm::cli
