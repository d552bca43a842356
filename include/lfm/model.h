#pragma once
// Loading a model and running it: lfm::Model (immutable weights, shareable between threads and
// sessions) and lfm::Session (one sequence's state: KV cache, conv state, position).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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
// Threads a session uses when SessionOptions::n_threads is 0: the performance cores where the
// OS tells them apart from efficiency cores (a forward pass waits for its slowest thread at every
// barrier), else one per physical core; and why, in words (`lfm system` prints it).
int default_thread_count();
std::string default_thread_count_reason();
// How fast n_threads cores read memory, in bytes per second (best of a few passes over a buffer
// larger than the caches): the limit of decode speed, since every token reads the active weights.
double measure_read_bandwidth(int n_threads, uint64_t buffer_bytes = uint64_t{1} << 30);

class Tokenizer;

class Model {
public:
    // Loads a GGUF file or a Hugging Face directory; throws lfm::Error.
    static std::shared_ptr<const Model> load(const std::string& path, const ModelOptions& options = {});
    ~Model();

    const ModelInfo& info() const;
    // The tokenizer in the same file (GGUF) or directory (Hugging Face), read in the same load;
    // null when the model has none (ModelInfo::has_tokenizer).
    std::shared_ptr<const Tokenizer> tokenizer() const;

    struct Impl;
    const Impl& impl() const { return *impl_; }

private:
    explicit Model(std::unique_ptr<Impl> impl);
    friend std::shared_ptr<const Model> make_model(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The threads and scratch memory that sessions run on. By default every session of a process
// with the same thread count shares one (Runtime::shared), so N conversations do not mean N
// thread pools fighting for the same cores, nor N copies of the scratch. A forward pass holds its
// runtime for its duration: sessions on one runtime may be used from several threads at once
// (one session per thread), and their passes take turns.
class Runtime {
public:
    explicit Runtime(int n_threads = 0);  // 0: one per physical core
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // The process's runtime for n_threads (0: one per physical core), made on first use and
    // kept while any session holds it.
    static std::shared_ptr<Runtime> shared(int n_threads = 0);
    int n_threads() const;

    struct Impl;
    Impl& impl() const { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

struct SessionOptions {
    int64_t n_ctx = 4096;   // tokens the session can hold; at most the model's context length
    int64_t n_batch = 512;  // prompt tokens processed per forward pass
    KvType kv_type = KvType::kF16;
    int n_threads = 0;      // 0: one per physical core; used when runtime is null
    std::shared_ptr<Runtime> runtime;  // null: Runtime::shared(n_threads)
    // The conv layers' state is recurrent: to go back to an earlier position (rewind, a shared
    // prefix) a session restores the nearest checkpoint before it and re-runs the tokens since.
    // One is taken every checkpoint_interval positions (0: never automatically) and on request;
    // at most max_checkpoints are kept, spread over the sequence (each is the conv state:
    // 288 KiB for LFM2.5-8B-A1B).
    int64_t checkpoint_interval = 512;
    int max_checkpoints = 32;
};

// A copy of a session's state in memory: its tokens, KV rows up to its position, conv state,
// checkpoints and last logits (what Session::save writes, without the file). A server keeps
// conversations that no slot holds any more this way. Immutable; cheap to copy (shared).
class SessionSnapshot {
public:
    SessionSnapshot() = default;
    std::span<const int32_t> tokens() const;
    size_t bytes() const;  // the memory it holds
    bool empty() const { return data_ == nullptr; }

private:
    friend class Session;
    struct Data;
    explicit SessionSnapshot(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
    std::shared_ptr<const Data> data_;
};

// One sequence: its tokens, KV cache, conv state and checkpoints. Not thread-safe: one thread
// uses a session at a time; sessions on other threads may share its Model and Runtime.
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

    // Makes the session hold exactly `tokens`, keeping the longest prefix it shares with what it
    // holds (a next turn, an edited message, a regenerated reply, another branch) and running
    // the rest; logits() are then the last token's. Returns the tokens kept. Going back costs the
    // tokens between the nearest checkpoint and the end of the shared prefix.
    int64_t sync(std::span<const int32_t> tokens);
    // The first half of sync: goes back to the longest prefix shared with `tokens`, short of the
    // last token of `tokens` (which must run again for its logits); the caller then prefills
    // tokens[kept..].
    struct PrefixReuse {
        int64_t kept = 0;      // the position now: tokens of `tokens` the session holds
        int64_t replayed = 0;  // of those, re-run from the checkpoint before them (not reused)
    };
    PrefixReuse reuse_prefix(std::span<const int32_t> tokens);
    // Goes back to `position` (<= position()); logits() are then those of the token before it.
    void rewind(int64_t position);
    // Remembers the conv state here, so that going back to this position later re-runs nothing.
    void checkpoint();
    std::vector<int64_t> checkpoint_positions() const;

    // The state (tokens, KV rows up to the position, conv state, checkpoints, last logits) in a
    // versioned file that names the model it was made with; load refuses another model or
    // quantization, another KV type, and a truncated or corrupt file, leaving the session empty.
    // app_data: bytes the application keeps with the state (Chat stores its conversation);
    // load returns them.
    void save(const std::string& path, std::string_view app_data = {}) const;
    std::string load(const std::string& path);
    // The same state in memory; restore makes this session hold it (the snapshot must come from
    // a session of the same model and KV type whose position fits this one's context; otherwise
    // lfm::Error, and the session is left empty).
    SessionSnapshot snapshot() const;
    size_t snapshot_bytes() const;  // what snapshot() would hold, without making it
    void restore(const SessionSnapshot& snapshot);

    std::span<const float> logits() const;  // last token, n_vocab values
    std::span<const float> all_logits() const;  // rows of the last call with all_logits
    std::span<const int32_t> tokens() const;     // the sequence held, position() ids
    int64_t position() const;  // tokens in the sequence so far
    int64_t n_ctx() const;
    const Model& model() const;
    const std::shared_ptr<Runtime>& runtime() const;

    struct Impl;
    Impl& impl() const { return *impl_; }

private:
    std::unique_ptr<Impl> impl_;
};

// One session's part of a batched step: tokens to append to it.
struct BatchStep {
    Session* session;
    std::span<const int32_t> tokens;
};

// Advances several sessions (distinct, of one model and one runtime) together: each forward pass
// takes rows of every session up to the largest n_batch, so the weights are read once for all
// of them (decoding B conversations at once, or a prompt beside others' decode steps);
// attention and conv state stay per session. Afterwards each session's logits() are its last
// token's.
void run_batch(std::span<const BatchStep> steps);

}  // namespace lfm
