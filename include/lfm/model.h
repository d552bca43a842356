#pragma once
// Loading a model and running it: lfm::Model (immutable weights, shareable between threads and
// sessions) and lfm::Session (one sequence's state: KV cache, conv state, position).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lfm/error.h"

namespace lfm {

// The KV cache's element type. kQ8_0 (blocks of 32 int8 with an f16 scale, 1.06 bytes per
// element) halves the cache against kF16: a full 128K context of LFM2.5-8B-A1B takes 0.85 GB
// instead of 1.6 GB; it needs a head width that is a multiple of 32.
enum class KvType { kF16, kF32, kQ8_0 };

struct ModelOptions {
    // Move the weights at load into huge-page memory, Q4_0 / Q4_K (and on AVX-512 Q8_0) matrices
    // rewritten into the 8-row layout the SIMD kernels stream fastest; the mapped file's pages
    // are released, so memory is not doubled. false: run straight from the mapped file.
    bool repack = true;
    // Threads that move the weights at load (0: one per physical core, as sessions default to).
    int n_threads = 0;
};

// What a loaded model is, for `lfm info` and for callers that size their buffers.
struct ModelInfo {
    std::string path;
    std::string format;        // "gguf" or "huggingface"
    std::string architecture;  // "lfm2moe" or "lfm2"
    std::string file_type;     // "Q4_K - Medium", "Q8_0", ... (llama.cpp's names)
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_ctx_train = 0;
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
    int64_t n_ff = 0, n_ff_exp = 0, n_expert = 0, n_expert_used = 0, n_dense_layers = 0;
    int64_t conv_kernel = 0;
    float norm_eps = 0.0f, rope_theta = 0.0f;
    std::vector<std::string> layer_types;  // "conv" / "attention" per layer
    bool tied_head = true;
    uint64_t file_bytes = 0;
    uint64_t n_params = 0;           // every weight element
    uint64_t n_params_active = 0;    // read per token: k of E experts, the full head, one embedding row
    uint64_t weight_bytes = 0;       // all weight tensors as stored
    uint64_t bytes_per_token = 0;    // weight bytes read per decoded token
    uint64_t repacked_bytes = 0;     // weights moved/rewritten at load (ModelOptions::repack)
    std::vector<std::pair<std::string, uint64_t>> bytes_by_type;  // stored type -> bytes
    std::vector<std::pair<std::string, int>> tensors_by_type;     // stored type -> count
    std::vector<std::string> unused_tensors;

    struct SpecialToken {
        std::string role;  // "bos", "eos", "pad", ...
        int64_t id;
        std::string text;
    };
    std::vector<SpecialToken> special_tokens;
    bool has_tokenizer = false;
    bool has_chat_template = false;
};

// The kernel path this process uses ("avx512", "avx2", "neon", "scalar"; LFM_ISA overrides).
std::string kernel_isa();
// The CPU features lfm looked for and found ("avx2 fma f16c avx512f ...; os state: ...") and
// the kernel paths usable here, best first.
std::string cpu_description();
std::vector<std::string> kernel_isas();
// Threads a session uses when SessionOptions::n_threads is 0: one per physical core.
int default_thread_count();
// How fast n_threads cores read memory, in bytes per second (best of a few passes over a buffer
// larger than the caches): the limit of decode speed, since every token reads the active weights.
double measure_read_bandwidth(int n_threads, uint64_t buffer_bytes = uint64_t{1} << 30);

class Model {
public:
    // Loads a GGUF file or a Hugging Face directory; throws lfm::Error.
    static std::shared_ptr<const Model> load(const std::string& path, const ModelOptions& options = {});
    ~Model();

    const ModelInfo& info() const;

    struct Impl;
    const Impl& impl() const { return *impl_; }

private:
    explicit Model(std::unique_ptr<Impl> impl);
    friend std::shared_ptr<const Model> make_model(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

struct SessionOptions {
    int64_t n_ctx = 4096;   // tokens the session can hold; at most the model's context length
    int64_t n_batch = 512;  // prompt tokens processed per forward pass
    KvType kv_type = KvType::kF16;
    int n_threads = 0;      // 0: one per physical core
};

// One sequence. Not thread-safe: use one Session per thread (they may share a Model).
class Session {
public:
    explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
    ~Session();
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    // Appends tokens to the sequence. With all_logits, logits() afterwards holds one row per
    // token of this call ([n][n_vocab]); otherwise the last token's row only.
    void prefill(std::span<const int32_t> tokens, bool all_logits = false);
    void decode(int32_t token);
    void reset();

    std::span<const float> logits() const;  // last token, n_vocab values
    std::span<const float> all_logits() const;  // rows of the last call with all_logits
    int64_t position() const;  // tokens in the sequence so far
    int64_t n_ctx() const;
    const Model& model() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace lfm
