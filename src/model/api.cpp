// The public Model and Session: thin shells over Model::Impl (weights) and SequenceState.

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "../runtime/memory.h"
#include "../runtime/thread_pool.h"
#include "lfm/model.h"
#include "cpu_features.h"
#include "info.h"
#include "lfm2.h"

namespace lfm {

const char* to_string(ErrorCode code) {
    switch (code) {
        case ErrorCode::kInvalidArgument: return "invalid argument";
        case ErrorCode::kIo: return "i/o error";
        case ErrorCode::kInvalidFile: return "invalid file";
        case ErrorCode::kUnsupported: return "unsupported";
        case ErrorCode::kOutOfMemory: return "out of memory";
        case ErrorCode::kContextOverflow: return "context overflow";
    }
    return "error";
}


Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string& path, const ModelOptions& options) {
    return make_model(open_model_files(path), options);
}

std::shared_ptr<const Model> make_model(ModelFiles files, const ModelOptions& options) {
    auto impl = std::make_unique<Model::Impl>();
    impl->files = std::move(files);
    impl->weights = bind_weights(impl->files);
    impl->info = make_info(impl->files, impl->weights);
    if (options.repack) {
        const int threads = options.n_threads > 0 ? options.n_threads : default_thread_count();
        impl->info.repacked_bytes = repack_weights(impl->weights, kernels(), threads);
    }
    const Config& c = impl->config();
    for (int64_t m = 0; m < c.head_dim / 2; ++m) {
        impl->rope_inv_freq.push_back(
            std::pow(static_cast<double>(c.rope_theta), -2.0 * static_cast<double>(m) / static_cast<double>(c.head_dim)));
    }
    return make_model(std::move(impl));
}

std::shared_ptr<const Model> make_model(std::unique_ptr<Model::Impl> impl) {
    return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

const ModelInfo& Model::info() const { return impl_->info; }

// ---- Session ----------------------------------------------------------------------------------

struct Session::Impl {
    std::shared_ptr<const Model> model;
    SequenceState state;
    std::vector<float> logits;      // [V]
    std::vector<float> all_logits;  // [n][V]

    Impl(std::shared_ptr<const Model> m, const SessionOptions& o)
        : model(std::move(m)),
          state(model->impl(), o.n_ctx, std::min(o.n_batch, o.n_ctx), o.kv_type,
                o.n_threads > 0 ? o.n_threads : default_thread_count()) {}
};

std::string kernel_isa() { return kernels().isa; }
std::string cpu_description() { return cpu_features().describe(); }
std::vector<std::string> kernel_isas() { return available_isas(); }
int default_thread_count() { return physical_core_count(); }

namespace {

void check_options(const Model& m, const SessionOptions& o) {
    const ModelInfo& info = m.info();
    if (o.n_ctx < 1 || o.n_ctx > info.n_ctx_train) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("context size {} is out of range: this model supports 1 to {} tokens", o.n_ctx,
                                info.n_ctx_train));
    }
    if (o.n_batch < 1) throw Error(ErrorCode::kInvalidArgument, fmt::format("batch size {} must be at least 1", o.n_batch));
    if (o.n_threads < 0 || o.n_threads > 1024)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("thread count {} is out of range (0 = one per core)", o.n_threads));
    if (o.kv_type == KvType::kQ8_0 && info.head_dim % 32 != 0)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("a q8_0 KV cache needs a head width that is a multiple of 32; this model's is {}", info.head_dim));
    // bytes per 32 elements: f16 64, f32 128, q8_0 34 (32 int8 and an f16 scale)
    const uint64_t per32 = o.kv_type == KvType::kF16 ? 64 : o.kv_type == KvType::kQ8_0 ? 34 : 128;
    int64_t n_attn = 0;
    for (const auto& t : info.layer_types) n_attn += t == "attention";
    const uint64_t kv_bytes = static_cast<uint64_t>(n_attn) * 2 * static_cast<uint64_t>(o.n_ctx) *
                              static_cast<uint64_t>(info.n_head_kv * info.head_dim) * per32 / 32;
    const uint64_t avail = available_memory_bytes();
    if (avail != 0 && kv_bytes > avail) {
        throw Error(ErrorCode::kOutOfMemory,
                    fmt::format("the KV cache for {} tokens needs {:.2f} GiB but only {:.2f} GiB of memory is available; "
                                "use a smaller context",
                                o.n_ctx, static_cast<double>(kv_bytes) / (1 << 30), static_cast<double>(avail) / (1 << 30)));
    }
}

}  // namespace

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options) {
    if (!model) throw Error(ErrorCode::kInvalidArgument, "Session needs a loaded model");
    check_options(*model, options);
    impl_ = std::make_unique<Impl>(std::move(model), options);
    impl_->logits.resize(static_cast<size_t>(impl_->model->info().n_vocab));
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::prefill(std::span<const int32_t> tokens, bool all_logits) {
    SequenceState& s = impl_->state;
    const auto n = static_cast<int64_t>(tokens.size());
    if (n == 0) throw Error(ErrorCode::kInvalidArgument, "prefill needs at least one token");
    if (s.pos + n > s.n_ctx) {
        throw Error(ErrorCode::kContextOverflow,
                    fmt::format("context overflow: {} tokens in the session + {} new would exceed the context size {}",
                                s.pos, n, s.n_ctx));
    }
    const int64_t V = impl_->model->info().n_vocab;
    if (all_logits) impl_->all_logits.resize(static_cast<size_t>(n * V));
    for (int64_t start = 0; start < n; start += s.n_batch) {
        const int64_t count = std::min(s.n_batch, n - start);
        const bool last = start + count == n;
        float* out = all_logits ? impl_->all_logits.data() + start * V : (last ? impl_->logits.data() : nullptr);
        forward(impl_->model->impl(), s, tokens.data() + start, count, out, all_logits);
    }
    if (all_logits) std::copy_n(impl_->all_logits.data() + (n - 1) * V, V, impl_->logits.data());
}

void Session::decode(int32_t token) { prefill(std::span<const int32_t>(&token, 1)); }

void Session::reset() { impl_->state.reset(); }

std::span<const float> Session::logits() const { return impl_->logits; }
std::span<const float> Session::all_logits() const { return impl_->all_logits; }
int64_t Session::position() const { return impl_->state.pos; }
int64_t Session::n_ctx() const { return impl_->state.n_ctx; }
const Model& Session::model() const { return *impl_->model; }

}  // namespace lfm
