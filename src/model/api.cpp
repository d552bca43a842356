// The public Model (a shell over Model::Impl), error names and the kernel path queries.
// Sessions and runtimes are in session.cpp.

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "../runtime/platform.h"
#include "../runtime/thread_pool.h"
#include "lfm/model.h"
#include "cpu_features.h"
#include "info.h"
#include "lfm2.h"
#include "session_file.h"
#include "text/tokenizer_impl.h"

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
    impl->fingerprint = model_fingerprint(impl->files.config, impl->weights);  // before repacking rewrites the bytes
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

std::shared_ptr<const Tokenizer> Model::tokenizer() const {
    Impl& m = *impl_;
    if (!m.info.has_tokenizer) return nullptr;
    // Read on first use (eval and bench never need it), from the file already parsed.
    std::call_once(m.tokenizer_once, [&m] {
        if (m.files.gguf) {
            m.tokenizer = tokenizer_from_gguf(*m.files.gguf);
        } else {
            const std::string dir = m.files.hf_dir;
            m.tokenizer = tokenizer_from_hf(dir + "/tokenizer.json", dir);
        }
    });
    return m.tokenizer;
}

std::string kernel_isa() { return kernels().isa; }
std::string cpu_description() { return cpu_features().describe(); }
std::vector<std::string> kernel_isas() { return available_isas(); }
int default_thread_count() { return default_threads().threads; }
std::string default_thread_count_reason() { return default_threads().reason; }

}  // namespace lfm
