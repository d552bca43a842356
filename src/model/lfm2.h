#pragma once
// The LFM2 / LFM2-MoE forward pass (../shared/spec/architecture.md §3) and the per-sequence
// state it reads and writes.

#include <cstdint>
#include <memory>
#include <vector>

#include "../runtime/huge_buffer.h"
#include "../runtime/thread_pool.h"

#include "config.h"
#include "kernels.h"
#include "lfm/model.h"
#include "model_files.h"
#include "parallel_matmul.h"
#include "weights.h"

namespace lfm {

struct Model::Impl {
    ModelFiles files;
    Weights weights;
    ModelInfo info;
    std::vector<double> rope_inv_freq;  // [head_dim/2]: theta^(-2m/d)

    const Config& config() const { return files.config; }
};

// A loaded model from opened files (weights bound, info computed); and from a ready Impl.
std::shared_ptr<const Model> make_model(ModelFiles files, const ModelOptions& options = {});
std::shared_ptr<const Model> make_model(std::unique_ptr<Model::Impl> impl);

// One MoE routing decision, recorded when SequenceState::routing_trace is set (tests compare
// these with llama.cpp's graph tensors in ../shared/reference/*.routing.json).
struct RoutingRecord {
    int64_t layer = 0, pos = 0;
    std::vector<float> logits;   // [E] router logits
    std::vector<int> selected;   // [k] expert ids, best first
    std::vector<float> weights;  // [k] mixing weights
};

// Everything one sequence owns: caches, position, and scratch sized once for n_batch tokens.
struct SequenceState {
    SequenceState(const Model::Impl& model, int64_t n_ctx, int64_t n_batch, KvType kv_type, int n_threads = 1);

    int64_t n_ctx, n_batch;
    std::unique_ptr<ThreadPool> pool;
    DType kv_type;
    int64_t pos = 0;

    // KV cache of attention layer slot a: k(a) / v(a) point to [n_kv][n_ctx][d] rows of kv_type,
    // head-major so that one head's keys over all positions are one contiguous stream.
    std::vector<int> attn_slot;  // layer -> slot, -1 for conv layers
    HugeBuffer kv;
    size_t kv_row_bytes = 0;
    uint8_t* k_rows(int slot);
    uint8_t* v_rows(int slot);

    // Conv state of conv layer slot c: (K_c - 1) columns of H floats, oldest first.
    std::vector<int> conv_slot;  // layer -> slot, -1 for attention layers
    std::vector<float> conv_state;
    size_t conv_slot_floats = 0;
    float* conv_state_of(int slot);

    // Scratch, [n_batch][width] unless noted.
    std::vector<float> h, u, bcx, mix, q, k, v, attn, ffn_out;
    std::vector<float> gate, up;     // [n_batch][F_d] for the dense FFN, [n_batch·k][F_e] for the experts
    std::vector<float> moe;          // [n_batch·k][H] each (token, expert) output, grouped by expert
    std::vector<float> cos_sin;      // [n_batch][head_dim]
    size_t act_stride = 0;           // bytes of one activation row in any vec_dot type
    std::vector<uint8_t> act, act2;  // [n_batch][act_stride]; act2 when gate and up differ in type
    // per thread: attention scores [group][n_ctx] and one KV group's query heads in the KV type
    std::vector<float> scores;
    std::vector<uint8_t> act_q;
    std::vector<float> attend_scratch;  // per thread, attend_scratch_floats(head_dim): prompt batches
    std::vector<float> router_prob, router_biased;  // [E]
    std::vector<int> expert_sel;                    // [n_batch][k]
    std::vector<float> expert_weight;               // [n_batch][k]
    // MoE rows grouped by expert: entry i of expert_order is token·k + slot; expert e owns
    // entries [expert_start[e], expert_start[e+1]).
    std::vector<int32_t> expert_order, expert_start;
    std::vector<int32_t> expert_fill;  // [E] next free entry per expert while grouping
    std::vector<uint8_t> moe_act_gate, moe_act_up, moe_act_down;  // gathered activation rows
    size_t moe_in_stride = 0, moe_down_stride = 0;
    std::vector<MatJob> moe_jobs;

    std::vector<RoutingRecord>* routing_trace = nullptr;  // debugging and tests only

    void reset();
};

// Runs tokens[0..n) (n <= n_batch) at positions pos..pos+n-1 and advances pos. Writes the
// logits of every token ([n][V]) when all_logits, else of the last token only ([V]);
// with logits == nullptr the head is skipped (a prompt chunk whose logits nobody reads).
void forward(const Model::Impl& model, SequenceState& s, const int32_t* tokens, int64_t n, float* logits,
             bool all_logits);

}  // namespace lfm
