#pragma once
// What stands behind the public Runtime and Session (include/lfm/model.h).

#include <memory>
#include <mutex>
#include <vector>

#include "../runtime/thread_pool.h"
#include "lfm/model.h"
#include "lfm2.h"

namespace lfm {

struct Runtime::Impl {
    explicit Impl(int n_threads) : pool(n_threads) {}
    ThreadPool pool;
    std::mutex mutex;  // held for a forward pass: the pool and the workspace serve one at a time
    std::unique_ptr<Workspace> workspace;

    // Scratch for at least n_rows rows of sequences of up to n_ctx positions on model m, grown
    // (never shrunk) as sessions need it. The caller holds mutex.
    Workspace& workspace_for(const Model::Impl& m, int64_t n_rows, int64_t n_ctx);
};

struct Session::Impl {
    Impl(std::shared_ptr<const Model> m, const SessionOptions& o);

    std::shared_ptr<const Model> model;
    std::shared_ptr<Runtime> runtime;
    SessionOptions options;
    SequenceState state;
    std::vector<float> logits;      // [V] the last token's, when logits_valid
    std::vector<float> all_logits;  // [n][V]
    bool logits_valid = false;

    enum class Logits { kNone, kLast, kAll };
    // Appends tokens in chunks of at most n_batch that end on checkpoint positions, taking the
    // checkpoints as it passes them.
    void append(std::span<const int32_t> tokens, Logits want);
    void check_ids(std::span<const int32_t> tokens) const;
    // Runs one chunk on the runtime (holding it for the pass).
    void run(const int32_t* tokens, int64_t n, float* out, bool all);
    // Tokens the next chunk from position pos may take: up to the next checkpoint position.
    int64_t chunk_limit(int64_t pos) const;
    void checkpoint_if_due();
    void clear();  // back to an empty sequence
};

}  // namespace lfm
