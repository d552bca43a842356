// Runtime (threads and scratch shared by sessions) and Session (one sequence: tokens, caches,
// checkpoints), and run_batch, which advances several sessions in one forward pass.

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "../runtime/platform.h"
#include "session_file.h"
#include "session_impl.h"

namespace lfm {

// ---- Runtime ----------------------------------------------------------------------------------

namespace {

int resolve_threads(int n_threads) {
    if (n_threads < 0 || n_threads > 1024)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("thread count {} is out of range (0 = one per core)", n_threads));
    return n_threads > 0 ? n_threads : default_thread_count();
}

}  // namespace

Runtime::Runtime(int n_threads) : impl_(std::make_unique<Impl>(resolve_threads(n_threads))) {}
Runtime::~Runtime() = default;
int Runtime::n_threads() const { return impl_->pool.size(); }

std::shared_ptr<Runtime> Runtime::shared(int n_threads) {
    static std::mutex mutex;
    static std::map<int, std::weak_ptr<Runtime>> runtimes;
    const int n = resolve_threads(n_threads);
    std::lock_guard lock(mutex);
    std::weak_ptr<Runtime>& slot = runtimes[n];
    std::shared_ptr<Runtime> r = slot.lock();
    if (!r) {
        r = std::make_shared<Runtime>(n);
        slot = r;
    }
    return r;
}

Workspace& Runtime::Impl::workspace_for(const Model::Impl& m, int64_t n_rows, int64_t n_ctx) {
    if (!workspace || workspace->model != &m || workspace->n_rows < n_rows || workspace->n_ctx < n_ctx) {
        const bool same_model = workspace && workspace->model == &m;
        const int64_t rows = same_model ? std::max(n_rows, workspace->n_rows) : n_rows;
        const int64_t ctx = same_model ? std::max(n_ctx, workspace->n_ctx) : n_ctx;
        workspace.reset();  // the old scratch goes before the new one is made
        workspace = std::make_unique<Workspace>(m, rows, ctx, pool.size());
    }
    return *workspace;
}

// ---- Session ----------------------------------------------------------------------------------

namespace {

void check_options(const Model& m, const SessionOptions& o) {
    const ModelInfo& info = m.info();
    if (o.n_ctx < 1 || o.n_ctx > info.n_ctx_train) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("context size {} is out of range: this model supports 1 to {} tokens", o.n_ctx,
                                info.n_ctx_train));
    }
    if (o.n_batch < 1) throw Error(ErrorCode::kInvalidArgument, fmt::format("batch size {} must be at least 1", o.n_batch));
    resolve_threads(o.n_threads);
    if (o.checkpoint_interval < 0 || o.max_checkpoints < 0)
        throw Error(ErrorCode::kInvalidArgument, "checkpoint interval and count must be >= 0");
    if (o.kv_type == KvType::kQ8_0 && info.head_dim % 32 != 0)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("a q8_0 KV cache needs a head width that is a multiple of 32; this model's is {}", info.head_dim));
    const uint64_t kv_bytes = kv_cache_bytes(m.impl(), o.kv_type, o.n_ctx);
    const uint64_t avail = available_memory_bytes();
    if (avail != 0 && kv_bytes > avail) {
        throw Error(ErrorCode::kOutOfMemory,
                    fmt::format("the KV cache for {} tokens needs {:.2f} GiB but only {:.2f} GiB of memory is available; "
                                "use a smaller context",
                                o.n_ctx, static_cast<double>(kv_bytes) / (1 << 30), static_cast<double>(avail) / (1 << 30)));
    }
}

SessionOptions resolved(const SessionOptions& o) {
    SessionOptions r = o;
    r.n_batch = std::min(o.n_batch, o.n_ctx);
    if (!r.runtime) r.runtime = Runtime::shared(o.n_threads);
    return r;
}

}  // namespace

Session::Impl::Impl(std::shared_ptr<const Model> m, const SessionOptions& o)
    : model(std::move(m)), runtime(o.runtime), options(o), state(model->impl(), o.n_ctx, o.kv_type) {
    logits.resize(static_cast<size_t>(model->info().n_vocab));
}

void Session::Impl::check_ids(std::span<const int32_t> tokens) const {
    const int64_t V = model->info().n_vocab;
    for (int32_t id : tokens)
        if (id < 0 || id >= V)
            throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} is out of range (vocabulary has {} tokens)", id, V));
}

int64_t Session::Impl::chunk_limit(int64_t pos) const {
    const int64_t k = options.checkpoint_interval;
    const int64_t to_checkpoint = k > 0 && options.max_checkpoints > 0 ? k - pos % k : INT64_MAX;
    return std::min(options.n_batch, to_checkpoint);
}

void Session::Impl::checkpoint_if_due() {
    const int64_t k = options.checkpoint_interval;
    if (k > 0 && state.pos % k == 0) state.take_checkpoint(static_cast<size_t>(options.max_checkpoints));
}

void Session::Impl::run(const int32_t* tokens, int64_t n, float* out, bool all) {
    Runtime::Impl& rt = runtime->impl();
    std::lock_guard lock(rt.mutex);
    Workspace& ws = rt.workspace_for(model->impl(), options.n_batch, state.n_ctx);
    const SequenceChunk chunk{&state, tokens, n, out, all};
    forward(model->impl(), ws, rt.pool, {&chunk, 1});
}

void Session::Impl::clear() {
    state.reset();
    logits_valid = false;
}

void Session::Impl::append(std::span<const int32_t> tokens, Logits want) {
    const auto n = static_cast<int64_t>(tokens.size());
    if (n == 0) return;
    if (state.pos + n > state.n_ctx) {
        throw Error(ErrorCode::kContextOverflow,
                    fmt::format("context overflow: {} tokens in the session + {} new would exceed the context size {}",
                                state.pos, n, state.n_ctx));
    }
    check_ids(tokens);
    const int64_t V = model->info().n_vocab;
    if (want == Logits::kAll) all_logits.resize(static_cast<size_t>(n * V));
    logits_valid = false;
    try {
        for (int64_t start = 0; start < n;) {
            const int64_t count = std::min(chunk_limit(state.pos), n - start);
            const bool last = start + count == n;
            float* out = want == Logits::kAll ? all_logits.data() + start * V
                         : want == Logits::kLast && last ? logits.data()
                                                         : nullptr;
            run(tokens.data() + start, count, out, want == Logits::kAll);
            checkpoint_if_due();
            start += count;
        }
    } catch (...) {
        clear();  // a pass that failed half way leaves caches no one can trust
        throw;
    }
    if (want == Logits::kAll) std::copy_n(all_logits.data() + (n - 1) * V, V, logits.data());
    logits_valid = want != Logits::kNone;
}

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
    if (!model) throw Error(ErrorCode::kInvalidArgument, "Session needs a loaded model");
    check_options(*model, options);
    impl_ = std::make_unique<Impl>(std::move(model), resolved(options));
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::prefill(std::span<const int32_t> tokens, bool all_logits) {
    if (tokens.empty()) throw Error(ErrorCode::kInvalidArgument, "prefill needs at least one token");
    impl_->append(tokens, all_logits ? Impl::Logits::kAll : Impl::Logits::kLast);
}

void Session::decode(int32_t token) { prefill(std::span<const int32_t>(&token, 1)); }

void Session::reset() { impl_->clear(); }

Session::PrefixReuse Session::reuse_prefix(std::span<const int32_t> tokens) {
    Impl& s = *impl_;
    if (tokens.empty()) {
        s.clear();
        return {};
    }
    const std::vector<int32_t>& held = s.state.tokens;
    const auto common = static_cast<int64_t>(
        std::mismatch(held.begin(), held.end(), tokens.begin(), tokens.end()).first - held.begin());
    const int64_t target = std::min(common, static_cast<int64_t>(tokens.size()) - 1);
    if (target == s.state.pos) return {target, 0};
    const std::vector<int32_t> replay(held.begin(), held.begin() + target);  // restore cuts held
    const int64_t from = s.state.restore_checkpoint(target);
    s.logits_valid = false;
    s.append(std::span<const int32_t>(replay).subspan(static_cast<size_t>(from)), Impl::Logits::kNone);
    return {target, target - from};
}

int64_t Session::sync(std::span<const int32_t> tokens) {
    Impl& s = *impl_;
    if (tokens.empty()) {
        s.clear();
        return 0;
    }
    if (s.logits_valid && std::equal(tokens.begin(), tokens.end(), s.state.tokens.begin(), s.state.tokens.end()))
        return s.state.pos;
    if (static_cast<int64_t>(tokens.size()) > s.state.n_ctx) {
        throw Error(ErrorCode::kContextOverflow, fmt::format("context overflow: {} tokens exceed the context size {}",
                                                             tokens.size(), s.state.n_ctx));
    }
    s.check_ids(tokens);
    const int64_t kept = reuse_prefix(tokens).kept;
    s.append(tokens.subspan(static_cast<size_t>(kept)), Impl::Logits::kLast);
    return kept;
}

void Session::rewind(int64_t position) {
    Impl& s = *impl_;
    if (position < 0 || position > s.state.pos)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("cannot rewind to position {}: the session holds {} tokens", position, s.state.pos));
    if (position == 0) {
        s.clear();
        return;
    }
    const std::vector<int32_t> keep(s.state.tokens.begin(), s.state.tokens.begin() + position);
    sync(keep);
}

void Session::checkpoint() { impl_->state.take_checkpoint(static_cast<size_t>(impl_->options.max_checkpoints)); }

std::vector<int64_t> Session::checkpoint_positions() const {
    std::vector<int64_t> out;
    for (const ConvCheckpoint& c : impl_->state.checkpoints) out.push_back(c.pos);
    return out;
}

void Session::save(const std::string& path, std::string_view app_data) const { save_session(*impl_, path, app_data); }

std::string Session::load(const std::string& path) {
    try {
        return load_session(*impl_, path);
    } catch (...) {
        impl_->clear();
        throw;
    }
}

std::span<const float> Session::logits() const { return impl_->logits; }
std::span<const float> Session::all_logits() const { return impl_->all_logits; }
std::span<const int32_t> Session::tokens() const { return impl_->state.tokens; }
int64_t Session::position() const { return impl_->state.pos; }
int64_t Session::n_ctx() const { return impl_->state.n_ctx; }
const Model& Session::model() const { return *impl_->model; }
const std::shared_ptr<Runtime>& Session::runtime() const { return impl_->runtime; }

// ---- several sessions in one pass -------------------------------------------------------------

void run_batch(std::span<const BatchStep> steps) {
    if (steps.empty()) return;
    Session::Impl& first = steps.front().session->impl();
    int64_t capacity = 0, max_ctx = 0;
    for (size_t i = 0; i < steps.size(); ++i) {
        if (steps[i].session == nullptr) throw Error(ErrorCode::kInvalidArgument, "run_batch: a step has no session");
        Session::Impl& s = steps[i].session->impl();
        if (s.model.get() != first.model.get() || s.runtime.get() != first.runtime.get())
            throw Error(ErrorCode::kInvalidArgument, "run_batch: every session must share one model and one runtime");
        for (size_t j = 0; j < i; ++j)
            if (steps[j].session == steps[i].session)
                throw Error(ErrorCode::kInvalidArgument, "run_batch: a session appears twice");
        if (s.state.pos + static_cast<int64_t>(steps[i].tokens.size()) > s.state.n_ctx)
            throw Error(ErrorCode::kContextOverflow,
                        fmt::format("context overflow: {} tokens in a session + {} new would exceed its context size {}",
                                    s.state.pos, steps[i].tokens.size(), s.state.n_ctx));
        s.check_ids(steps[i].tokens);
        capacity = std::max(capacity, s.options.n_batch);
        max_ctx = std::max(max_ctx, s.state.n_ctx);
    }
    std::vector<size_t> done(steps.size(), 0);
    std::vector<SequenceChunk> chunks;
    Runtime::Impl& rt = first.runtime->impl();
    try {
        for (;;) {
            chunks.clear();
            int64_t rows = 0;
            for (size_t i = 0; i < steps.size() && rows < capacity; ++i) {
                Session::Impl& s = steps[i].session->impl();
                const auto left = static_cast<int64_t>(steps[i].tokens.size() - done[i]);
                if (left == 0) continue;
                const int64_t n = std::min({left, capacity - rows, s.chunk_limit(s.state.pos)});
                const bool last = n == left;
                chunks.push_back({&s.state, steps[i].tokens.data() + done[i], n, last ? s.logits.data() : nullptr, false});
                s.logits_valid = false;
                done[i] += static_cast<size_t>(n);
                rows += n;
            }
            if (chunks.empty()) break;
            {
                std::lock_guard lock(rt.mutex);
                Workspace& ws = rt.workspace_for(first.model->impl(), capacity, max_ctx);
                forward(first.model->impl(), ws, rt.pool, chunks);
            }
            for (size_t i = 0; i < steps.size(); ++i) {
                Session::Impl& s = steps[i].session->impl();
                s.checkpoint_if_due();
                if (done[i] == steps[i].tokens.size() && !steps[i].tokens.empty()) s.logits_valid = true;
            }
        }
    } catch (...) {
        for (const BatchStep& step : steps) step.session->impl().clear();
        throw;
    }
}

}  // namespace lfm
