#pragma once
// The LFM2 / LFM2-MoE forward pass (../shared/spec/architecture.md §3) over a batch of rows that
// may belong to several sequences, the per-sequence state it reads and writes, and the scratch
// workspace that all sequences of a runtime share.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <span>
#include <vector>

#include "../runtime/huge_buffer.h"
#include "../runtime/thread_pool.h"

#include "config.h"
#include "kernels.h"
#include "lfm/model.h"
#include "lfm/tokenizer.h"
#include "model_files.h"
#include "parallel_matmul.h"
#include "weights.h"

namespace lfm {

struct Model::Impl {
    ModelFiles files;
    Weights weights;
    ModelInfo info;
    std::vector<double> rope_inv_freq;  // [head_dim/2]: theta^(-2m/d)
    // from the same parsed file, on first use (Model::tokenizer)
    std::once_flag tokenizer_once;
    std::shared_ptr<const Tokenizer> tokenizer;
    // SHA-256 over the weights' types, shapes and sampled bytes (before repacking): session files
    // carry it, so a file saved with another model or quantization is refused.
    std::string fingerprint;

    const Config& config() const { return files.config; }
};

// A loaded model from opened files (weights bound, info computed); and from a ready Impl.
std::shared_ptr<const Model> make_model(ModelFiles files, const ModelOptions& options = {});
std::shared_ptr<const Model> make_model(std::unique_ptr<Model::Impl> impl);

// One MoE routing decision, recorded when Workspace::routing_trace is set (tests compare these
// with llama.cpp's graph tensors in ../shared/reference/*.routing.json).
struct RoutingRecord {
    int64_t layer = 0, pos = 0;
    std::vector<float> logits;   // [E] router logits
    std::vector<int> selected;   // [k] expert ids, best first
    std::vector<float> weights;  // [k] mixing weights
};

// The conv state at a position: what a sequence needs, with its KV cache cut there, to go on
// from that position (attention state is positional; conv state is not, so it is copied).
struct ConvCheckpoint {
    int64_t pos = 0;
    std::vector<float> conv_state;
};

// What one sequence owns: its tokens, caches and position. No scratch: that is the Workspace's.
struct SequenceState {
    SequenceState(const Model::Impl& model, int64_t n_ctx, KvType kv_type);

    int64_t n_ctx;
    DType kv_type;
    int64_t pos = 0;
    std::vector<int32_t> tokens;  // [pos] the ids the caches hold, in order

    // KV cache of attention layer slot a: k(a) / v(a) point to [n_kv][n_ctx][d] rows of kv_type,
    // head-major so that one head's keys over all positions are one contiguous stream.
    std::vector<int> attn_slot;  // layer -> slot, -1 for conv layers
    HugeBuffer kv;
    size_t kv_row_bytes = 0;     // all heads of one position
    size_t head_bytes = 0;       // one head of one position
    int64_t n_kv_head = 0;
    uint8_t* k_rows(int slot);
    uint8_t* v_rows(int slot);
    int n_attn_slots() const;

    // Conv state of conv layer slot c: (K_c - 1) columns of H floats, oldest first.
    std::vector<int> conv_slot;  // layer -> slot, -1 for attention layers
    std::vector<float> conv_state;
    size_t conv_slot_floats = 0;
    float* conv_state_of(int slot);

    // Checkpoints by position, ascending; position 0 (all zeros) is implicit.
    std::vector<ConvCheckpoint> checkpoints;
    void take_checkpoint(size_t max_count);
    void trim_checkpoints(size_t max_count);  // to at most max_count, spread over the sequence
    // Goes back to the latest checkpoint at or before `position` (0 if none): conv state restored,
    // tokens and position cut there, later checkpoints dropped. Returns the new position.
    int64_t restore_checkpoint(int64_t position);

    void reset();
};

// Bytes of a KV cache of n_ctx positions of the given type: what SequenceState allocates.
uint64_t kv_cache_bytes(const Model::Impl& model, KvType type, int64_t n_ctx);
DType kv_dtype(KvType type);

// Scratch for a batch of up to n_rows rows over sequences of up to n_ctx positions, shared by
// every sequence run on one runtime (it is as large as a 512-token batch needs: tens of MB).
struct Workspace {
    Workspace(const Model::Impl& model, int64_t n_rows, int64_t n_ctx, int n_threads);

    const Model::Impl* model;
    int64_t n_rows, n_ctx;

    // [n_rows][width] unless noted.
    std::vector<float> h, u, bcx, mix, q, k, v, attn, ffn_out;
    std::vector<float> gate, up;     // [n_rows][F_d] for the dense FFN, [n_rows·k][F_e] for the experts
    std::vector<float> moe;          // [n_rows·k][H] each (row, expert) output, grouped by expert
    std::vector<float> cos_sin;      // [n_rows][head_dim]
    size_t act_stride = 0;           // bytes of one activation row in any vec_dot type
    std::vector<uint8_t> act, act2;  // [n_rows][act_stride]; act2 when gate and up differ in type
    // per thread: attention scores [group][n_ctx] and one KV group's query heads in the KV type
    std::vector<float> scores;
    std::vector<uint8_t> act_q;
    std::vector<float> attend_scratch;  // per thread, attend_scratch_floats(head_dim): prompt batches
    std::vector<float> router_prob, router_biased;  // [E]
    std::vector<int> expert_sel;                    // [n_rows][k]
    std::vector<float> expert_weight;               // [n_rows][k]
    // MoE rows grouped by expert: entry i of expert_order is row·k + slot; expert e owns
    // entries [expert_start[e], expert_start[e+1]).
    std::vector<int32_t> expert_order, expert_start;
    std::vector<int32_t> expert_fill;  // [E] next free entry per expert while grouping
    std::vector<uint8_t> moe_act_gate, moe_act_up, moe_act_down;  // gathered activation rows
    size_t moe_in_stride = 0, moe_down_stride = 0;
    std::vector<MatJob> moe_jobs;
    std::vector<int64_t> row_pos;  // [n_rows] each row's position in its sequence
    std::vector<float> logits;     // [rows][V] the head's output when several chunks want logits (grown on use)

    std::vector<RoutingRecord>* routing_trace = nullptr;  // debugging and tests only
};

// One sequence's part of a batch: n tokens appended at its position. The logits of every token
// ([n][V]) go to `logits` when all_logits, else the last token's ([V]); nullptr: none.
struct SequenceChunk {
    SequenceState* seq;
    const int32_t* tokens;
    int64_t n;
    float* logits = nullptr;
    bool all_logits = false;
};

// Runs the chunks (distinct sequences, Σ n <= ws.n_rows) in one pass: every matrix product over
// all rows at once, attention and the conv state per sequence. Advances each sequence.
void forward(const Model::Impl& model, Workspace& ws, ThreadPool& pool, std::span<const SequenceChunk> chunks);

}  // namespace lfm
