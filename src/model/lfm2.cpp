// The forward pass, one function per block, in the order of ../shared/spec/architecture.md §3.
// Activations are f32 rows [n][width] for the n tokens of a batch; weights stay in their stored
// type and every product goes through the kernel table, split across the session's threads.

#include "lfm2.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lfm/error.h"
#include "parallel_matmul.h"

namespace lfm {

// ---- state ------------------------------------------------------------------------------------

SequenceState::SequenceState(const Model::Impl& model, int64_t ctx, int64_t batch, KvType kv_cache_type, int n_threads)
    : n_ctx(ctx),
      n_batch(batch),
      pool(std::make_unique<ThreadPool>(n_threads)),
      kv_type(kv_cache_type == KvType::kF16 ? DType::kF16 : kv_cache_type == KvType::kQ8_0 ? DType::kQ8_0 : DType::kF32) {
    const Config& c = model.config();
    const int64_t H = c.n_embd, d = c.head_dim, kv_dim = c.n_head_kv * d;
    int n_attn = 0, n_conv = 0;
    for (int64_t l = 0; l < c.n_layer; ++l) {
        attn_slot.push_back(c.is_attention(l) ? n_attn++ : -1);
        conv_slot.push_back(c.is_attention(l) ? -1 : n_conv++);
    }
    kv_row_bytes = row_bytes(kv_type, kv_dim);
    // fresh anonymous pages: memory is committed as positions fill, not for the whole n_ctx
    kv = HugeBuffer(static_cast<size_t>(n_attn) * 2 * static_cast<size_t>(n_ctx) * kv_row_bytes);
    conv_slot_floats = static_cast<size_t>((c.conv_kernel - 1) * H);
    conv_state.assign(static_cast<size_t>(n_conv) * conv_slot_floats, 0.0f);

    const auto rows = [&](int64_t width) { return std::vector<float>(static_cast<size_t>(n_batch * width)); };
    // the dense FFN runs on the batch; the experts on the batch's k·n (token, expert) rows
    const int64_t ff_rows = std::max(n_batch * c.n_ff, n_batch * c.n_expert_used * c.n_ff_exp);
    h = rows(H);
    u = rows(H);
    bcx = rows(3 * H);
    mix = rows(H);
    q = rows(c.n_head * d);
    k = rows(kv_dim);
    v = rows(kv_dim);
    attn = rows(c.n_head * d);
    gate.resize(static_cast<size_t>(ff_rows));
    up.resize(static_cast<size_t>(ff_rows));
    ffn_out = rows(H);
    const auto moe_rows = static_cast<size_t>(n_batch * c.n_expert_used);
    moe.resize(moe_rows * static_cast<size_t>(H));
    // Activation rows are sized for the weight types this model has (a Q8_K row of H is a
    // quarter of its f32 row): at a 512-token batch that is ~60 MB less scratch for Q4_K_M.
    const Weights& w = model.weights;
    const auto widest = [](size_t& bytes, const Matrix& m) {
        if (m.data != nullptr) bytes = std::max(bytes, activation_bytes(m.type, m.n_in));
    };
    size_t act_bytes = 0;
    for (const LayerWeights& L : w.layers) {
        for (const Matrix* m : {&L.in_proj, &L.out_proj, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down})
            widest(act_bytes, *m);
        for (const Matrix& m : L.exp_gate) widest(moe_in_stride, m);
        for (const Matrix& m : L.exp_up) widest(moe_in_stride, m);
        for (const Matrix& m : L.exp_down) widest(moe_down_stride, m);
    }
    widest(act_bytes, w.output);
    act_bytes = std::max(act_bytes, moe_in_stride);  // the experts' input is converted into act first
    if (c.is_moe()) {
        moe_act_gate.resize(moe_rows * moe_in_stride);
        moe_act_up.resize(moe_rows * moe_in_stride);
        moe_act_down.resize(moe_rows * moe_down_stride);
        expert_order.resize(moe_rows);
        expert_start.resize(static_cast<size_t>(c.n_expert + 1));
        expert_fill.resize(static_cast<size_t>(c.n_expert));
    }
    cos_sin = rows(d);
    act_stride = (act_bytes + 63) / 64 * 64;  // rows on cache lines
    act.resize(static_cast<size_t>(n_batch) * act_stride);
    act2.resize(act.size());
    const auto n_thr = static_cast<size_t>(pool->size());
    const auto group = static_cast<size_t>(c.n_head_kv > 0 ? c.n_head / c.n_head_kv : 1);
    scores.resize(n_thr * group * static_cast<size_t>(n_ctx));
    act_q.resize(n_thr * group * static_cast<size_t>(d) * sizeof(float));
    attend_scratch.resize(n_thr * attend_scratch_floats(d));
    router_prob.resize(static_cast<size_t>(c.n_expert));
    router_biased.resize(static_cast<size_t>(c.n_expert));
    expert_sel.resize(moe_rows);
    expert_weight.resize(moe_rows);
}

uint8_t* SequenceState::k_rows(int slot) {
    return kv.data() + static_cast<size_t>(slot) * 2 * static_cast<size_t>(n_ctx) * kv_row_bytes;
}
uint8_t* SequenceState::v_rows(int slot) { return k_rows(slot) + static_cast<size_t>(n_ctx) * kv_row_bytes; }
float* SequenceState::conv_state_of(int slot) { return conv_state.data() + static_cast<size_t>(slot) * conv_slot_floats; }

void SequenceState::reset() {
    pos = 0;
    std::fill(conv_state.begin(), conv_state.end(), 0.0f);
    // the KV cache needs no clearing: positions >= pos are never read
}

namespace {

// One matrix over the batch: Y[t] = W · X[t], X [n][W.n_in], Y [n][W.n_out].
void matmul(const KernelTable& kt, SequenceState& s, const Matrix& W, const float* X, int64_t n, float* Y) {
    quantize_rows(kt, *s.pool, W.type, X, W.n_in, W.n_in, n, s.act.data(), s.act_stride);
    const MatJob job{&W, s.act.data(), s.act_stride, Y, W.n_out};
    run_jobs(kt, *s.pool, {&job, 1}, n);
}

// Two matrices of the same input in one section (gate and up): the input is converted once per
// distinct activation type.
void matmul_pair(const KernelTable& kt, SequenceState& s, const Matrix& A, const Matrix& B, const float* X, int64_t n,
                 float* YA, float* YB) {
    quantize_rows(kt, *s.pool, A.type, X, A.n_in, A.n_in, n, s.act.data(), s.act_stride);
    const bool same = traits(A.type).vec_dot_type == traits(B.type).vec_dot_type;
    if (!same) quantize_rows(kt, *s.pool, B.type, X, B.n_in, B.n_in, n, s.act2.data(), s.act_stride);
    const MatJob jobs[2] = {{&A, s.act.data(), s.act_stride, YA, A.n_out},
                            {&B, same ? s.act.data() : s.act2.data(), s.act_stride, YB, B.n_out}};
    run_jobs(kt, *s.pool, jobs, n);
}

// h[t] = Emb[token_t]: one row of the [V, H] table, no scaling.
void embed(const Model::Impl& m, const KernelTable& kt, const int32_t* tokens, int64_t n, float* h) {
    const Matrix& E = m.weights.token_embd;
    for (int64_t t = 0; t < n; ++t) {
        if (tokens[t] < 0 || tokens[t] >= E.n_out) {
            throw Error(ErrorCode::kInvalidArgument,
                        fmt::format("token id {} is out of range (vocabulary has {} tokens)", tokens[t], E.n_out));
        }
    }
    const DequantizeRowFn dequantize = kt.dequantize_row[static_cast<uint32_t>(E.type)];
    if (!E.packed8) {
        for (int64_t t = 0; t < n; ++t) dequantize(E.row(tokens[t]), h + t * E.n_in, E.n_in);
        return;
    }
    std::vector<uint8_t> row(E.row_bytes);  // the tied head's table is interleaved 8 rows at a time
    for (int64_t t = 0; t < n; ++t) {
        unpack_row8(E.type, E.group(tokens[t]), tokens[t] % 8, row.data(), E.n_in);
        dequantize(row.data(), h + t * E.n_in, E.n_in);
    }
}

// §3.1: BCx = W_in·u; s = B⊙x; y = causal depthwise conv of s; out = W_out·(C⊙y).
void short_conv(const Config& c, const LayerWeights& L, const KernelTable& kt, SequenceState& s, float* state,
                int64_t n, float* out) {
    const int64_t H = c.n_embd;
    matmul(kt, s, L.in_proj, s.u.data(), n, s.bcx.data());
    for (int64_t t = 0; t < n; ++t) {  // in order: each step reads the state the previous one left
        float* B = s.bcx.data() + t * 3 * H;
        const float* C = B + H;
        const float* x = B + 2 * H;
        float* g = s.mix.data() + t * H;
        for (int64_t i = 0; i < H; ++i) g[i] = B[i] * x[i];                                // s_t = B ⊙ x
        kt.short_conv_step(g, L.conv, state, B, H, static_cast<int>(c.conv_kernel));  // y_t into B
        for (int64_t i = 0; i < H; ++i) g[i] = C[i] * B[i];                                // C ⊙ y_t
    }
    matmul(kt, s, L.out_proj, s.mix.data(), n, out);
}

// cos/sin pairs of the NeoX rotation at position pos (§3.2.1), angles in double precision.
void rope_table(const Model::Impl& m, int64_t pos, float* cos_sin) {
    for (size_t i = 0; i < m.rope_inv_freq.size(); ++i) {
        const double a = static_cast<double>(pos) * m.rope_inv_freq[i];
        cos_sin[2 * i] = static_cast<float>(std::cos(a));
        cos_sin[2 * i + 1] = static_cast<float>(std::sin(a));
    }
}

// Decode (and prompts whose groups are too large for a tile): every (token, head) pair is
// independent. A job is a token's whole KV group (its heads read each key and value row once,
// together), or a single head when there are fewer groups than threads (decode on many cores).
void attend_decode(const Config& c, const KernelTable& kt, SequenceState& s, const uint8_t* K, const uint8_t* V,
                   size_t head_bytes, int64_t n) {
    const int64_t d = c.head_dim, n_head = c.n_head, n_kv = c.n_head_kv, group = n_head / n_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const uint32_t kv_id = static_cast<uint32_t>(s.kv_type);
    const int64_t heads_per_job = n * n_kv >= s.pool->size() ? group : 1;
    s.pool->run([&](int th, int n_threads) {
        const auto cap = static_cast<size_t>(s.n_ctx);
        float* scores = s.scores.data() + static_cast<size_t>(th) * static_cast<size_t>(group) * cap;  // [heads][n_ctx]
        uint8_t* qh = s.act_q.data() + static_cast<size_t>(th) * static_cast<size_t>(group) * head_bytes;  // [heads][d] in kv type
        int64_t begin, end;
        ThreadPool::share(n * n_head / heads_per_job, th, n_threads, 1, begin, end);
        for (int64_t job = begin; job < end; ++job) {
            const int64_t t = job * heads_per_job / n_head, i0 = job * heads_per_job % n_head;
            const int64_t n_past = s.pos + t + 1;  // causal: positions 0..pos+t
            const int64_t g = i0 / group;          // kv head of query heads i0..i0+heads_per_job-1
            const auto nq = static_cast<int>(heads_per_job);
            for (int j = 0; j < nq; ++j)
                kt.quantize_row[kv_id](s.q.data() + (t * n_head + i0 + j) * d, qh + static_cast<size_t>(j) * head_bytes, d);
            const size_t head_offset = static_cast<size_t>(g) * cap * head_bytes;
            kt.dot_rows[kv_id](K + head_offset, head_bytes, n_past, qh, head_bytes, nq, d, scale, scores, cap);
            for (int j = 0; j < nq; ++j) kt.softmax(scores + static_cast<size_t>(j) * cap, n_past);
            float* o = s.attn.data() + (t * n_head + i0) * d;  // the heads' outputs are consecutive
            std::fill(o, o + nq * d, 0.0f);
            kt.axpy_rows[kv_id](V + head_offset, head_bytes, n_past, scores, cap, nq, o, static_cast<size_t>(d), d);
        }
    });
}

// Prompt batches: a job is a tile of consecutive tokens' query heads of one KV group (up to
// kAttendTile queries) meeting the cache rows a block at a time (kernels/attention.cpp), so a
// block is widened once for the tile, not once per token. Jobs are dealt round-robin: later
// tokens see more rows, and every thread gets early and late tiles alike.
void attend_prompt(const Config& c, const KernelTable& kt, SequenceState& s, const uint8_t* K, const uint8_t* V,
                   size_t head_bytes, int64_t n) {
    const int64_t d = c.head_dim, n_head = c.n_head, n_kv = c.n_head_kv, group = n_head / n_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int64_t tile_tokens = kAttendTile / group;
    const int64_t n_tiles = (n + tile_tokens - 1) / tile_tokens;
    const auto cap = static_cast<size_t>(s.n_ctx);
    s.pool->run([&](int th, int n_threads) {
        float* scratch = s.attend_scratch.data() + static_cast<size_t>(th) * attend_scratch_floats(d);
        for (int64_t job = th; job < n_tiles * n_kv; job += n_threads) {
            const int64_t tile = job / n_kv, g = job % n_kv;
            const int64_t t0 = tile * tile_tokens, t1 = std::min(n, t0 + tile_tokens);
            const float* q[kAttendTile];
            float* o[kAttendTile];
            int64_t n_keys[kAttendTile];
            int n_q = 0;
            for (int64_t t = t0; t < t1; ++t)
                for (int64_t j = 0; j < group; ++j, ++n_q) {
                    const int64_t head = g * group + j;
                    q[n_q] = s.q.data() + (t * n_head + head) * d;
                    o[n_q] = s.attn.data() + (t * n_head + head) * d;
                    n_keys[n_q] = s.pos + t + 1;  // causal: positions 0..pos+t
                }
            const size_t head_offset = static_cast<size_t>(g) * cap * head_bytes;
            attend_tile(kt, s.kv_type, q, n_q, n_keys, K + head_offset, V + head_offset, head_bytes, d, scale, o, scratch);
        }
    });
}

// §3.2: GQA with per-head q/k RMSNorm, NeoX RoPE after the norms, causal softmax in f32.
void attention(const Model::Impl& m, const LayerWeights& L, const KernelTable& kt, SequenceState& s, int slot,
               int64_t n, float* out) {
    const Config& c = m.config();
    const int64_t d = c.head_dim, n_head = c.n_head, n_kv = c.n_head_kv, kv_dim = n_kv * d;
    const int64_t group = n_head / n_kv;
    const uint32_t kv_id = static_cast<uint32_t>(s.kv_type);
    const size_t head_bytes = row_bytes(s.kv_type, d);
    uint8_t* K = s.k_rows(slot);
    uint8_t* V = s.v_rows(slot);

    // q, k and v in one section (same input, same activation type when the types agree)
    quantize_rows(kt, *s.pool, L.wq.type, s.u.data(), c.n_embd, c.n_embd, n, s.act.data(), s.act_stride);
    const bool kv_same = traits(L.wk.type).vec_dot_type == traits(L.wq.type).vec_dot_type &&
                         traits(L.wv.type).vec_dot_type == traits(L.wq.type).vec_dot_type;
    if (!kv_same) {
        // rare mixes (e.g. Q6_K v with Q4_K q/k): each converted on its own
        matmul(kt, s, L.wq, s.u.data(), n, s.q.data());
        matmul(kt, s, L.wk, s.u.data(), n, s.k.data());
        matmul(kt, s, L.wv, s.u.data(), n, s.v.data());
    } else {
        const MatJob jobs[3] = {{&L.wq, s.act.data(), s.act_stride, s.q.data(), L.wq.n_out},
                                {&L.wk, s.act.data(), s.act_stride, s.k.data(), L.wk.n_out},
                                {&L.wv, s.act.data(), s.act_stride, s.v.data(), L.wv.n_out}};
        run_jobs(kt, *s.pool, jobs, n);
    }
    for (int64_t t = 0; t < n; ++t) {
        float* q = s.q.data() + t * n_head * d;
        float* k = s.k.data() + t * kv_dim;
        for (int64_t i = 0; i < n_head; ++i) kt.rmsnorm(q + i * d, L.q_norm, q + i * d, d, c.norm_eps);
        for (int64_t j = 0; j < n_kv; ++j) kt.rmsnorm(k + j * d, L.k_norm, k + j * d, d, c.norm_eps);
        const float* cs = s.cos_sin.data() + t * d;  // filled once per batch by forward()
        kt.rope_neox(q, static_cast<int>(n_head), static_cast<int>(d), cs);
        kt.rope_neox(k, static_cast<int>(n_kv), static_cast<int>(d), cs);
        // head-major cache: head j's rows are contiguous, [n_kv][n_ctx][d]
        for (int64_t j = 0; j < n_kv; ++j) {
            const size_t row = (static_cast<size_t>(j) * static_cast<size_t>(s.n_ctx) + static_cast<size_t>(s.pos + t)) * head_bytes;
            kt.quantize_row[kv_id](k + j * d, K + row, d);
            kt.quantize_row[kv_id](s.v.data() + t * kv_dim + j * d, V + row, d);
        }
    }
    if (n > 1 && group <= kAttendTile) attend_prompt(c, kt, s, K, V, head_bytes, n);
    else attend_decode(c, kt, s, K, V, head_bytes, n);
    matmul(kt, s, L.wo, s.attn.data(), n, out);
}

// §3.3: W2 · (silu(W1·v) ⊙ W3·v)
void dense_ffn(const Config& c, const LayerWeights& L, const KernelTable& kt, SequenceState& s, int64_t n,
               float* out) {
    matmul_pair(kt, s, L.ffn_gate, L.ffn_up, s.u.data(), n, s.gate.data(), s.up.data());
    for (int64_t t = 0; t < n; ++t) kt.silu_mul(s.gate.data() + t * c.n_ff, s.up.data() + t * c.n_ff, c.n_ff);
    matmul(kt, s, L.ffn_down, s.gate.data(), n, out);
}

// Top-k of score by value, larger first; on equal values the lower index wins.
void select_top_k(const float* score, int64_t n, int64_t k, int* sel) {
    for (int64_t j = 0; j < k; ++j) {
        int best = -1;
        for (int64_t e = 0; e < n; ++e) {
            if (std::find(sel, sel + j, static_cast<int>(e)) != sel + j) continue;
            if (best < 0 || score[e] > score[best]) best = static_cast<int>(e);
        }
        sel[j] = best;
    }
}

// §3.4: sigmoid router, expert bias for selection only, renormalised top-k, SwiGLU experts.
// The batch's (token, expert) pairs are grouped by expert, so each selected expert runs once over
// all its tokens: one section for every expert's gate and up rows, one for the down rows.
void moe_ffn(const Config& c, int64_t layer, const LayerWeights& L, const KernelTable& kt, SequenceState& s,
             int64_t n, float* out) {
    const int64_t H = c.n_embd, E = c.n_expert, K = c.n_expert_used, F = c.n_ff_exp;
    std::vector<float>& prob = s.router_prob;
    std::vector<float>& biased = s.router_biased;

    // 1. route every token
    for (int64_t t = 0; t < n; ++t) {
        const float* v = s.u.data() + t * H;
        int* sel = s.expert_sel.data() + t * K;
        float* weight = s.expert_weight.data() + t * K;
        matvec_rows(kt, DType::kF32, L.router.data, L.router.row_bytes, v, H, prob.data(), 0, E);
        RoutingRecord* record = nullptr;
        if (s.routing_trace != nullptr) {
            record = &s.routing_trace->emplace_back();
            record->layer = layer;
            record->pos = s.pos + t;
            record->logits = prob;
        }
        for (int64_t e = 0; e < E; ++e) {
            prob[static_cast<size_t>(e)] = 1.0f / (1.0f + std::exp(-prob[static_cast<size_t>(e)]));
            biased[static_cast<size_t>(e)] = prob[static_cast<size_t>(e)] + L.expert_bias[e];
        }
        select_top_k(biased.data(), E, K, sel);
        float sum = 0.0f;
        for (int64_t j = 0; j < K; ++j) sum += weight[j] = prob[static_cast<size_t>(sel[j])];
        // llama.cpp clamps the denominator at the smallest normal f16; HF adds 1e-6. Same for sigmoid sums.
        const float norm = (c.norm_topk ? 1.0f / std::max(sum, 6.103515625e-5f) : 1.0f) * c.routed_scaling;
        for (int64_t j = 0; j < K; ++j) weight[j] *= norm;
        if (record != nullptr) {
            record->selected.assign(sel, sel + K);
            record->weights.assign(weight, weight + K);
        }
    }

    // 2. group the (token, slot) pairs by expert (a counting sort)
    std::fill(s.expert_start.begin(), s.expert_start.end(), 0);
    for (int64_t i = 0; i < n * K; ++i) ++s.expert_start[static_cast<size_t>(s.expert_sel[static_cast<size_t>(i)]) + 1];
    for (int64_t e = 0; e < E; ++e) s.expert_start[static_cast<size_t>(e + 1)] += s.expert_start[static_cast<size_t>(e)];
    std::copy(s.expert_start.begin(), s.expert_start.end() - 1, s.expert_fill.begin());
    for (int64_t i = 0; i < n * K; ++i)
        s.expert_order[static_cast<size_t>(s.expert_fill[static_cast<size_t>(s.expert_sel[static_cast<size_t>(i)])]++)] = static_cast<int32_t>(i);

    // 3. gate and up: every token's input converted once, gathered per expert, one section
    const DType gate_type = L.exp_gate[0].type, up_type = L.exp_up[0].type, down_type = L.exp_down[0].type;
    const bool same = traits(gate_type).vec_dot_type == traits(up_type).vec_dot_type;
    const size_t in_bytes = activation_bytes(gate_type, H), up_bytes = activation_bytes(up_type, H);
    quantize_rows(kt, *s.pool, gate_type, s.u.data(), H, H, n, s.act.data(), s.act_stride);
    if (!same) quantize_rows(kt, *s.pool, up_type, s.u.data(), H, H, n, s.act2.data(), s.act_stride);
    for (int64_t i = 0; i < n * K; ++i) {
        const int64_t t = s.expert_order[static_cast<size_t>(i)] / K;
        std::memcpy(s.moe_act_gate.data() + static_cast<size_t>(i) * s.moe_in_stride, s.act.data() + static_cast<size_t>(t) * s.act_stride, in_bytes);
        if (!same)
            std::memcpy(s.moe_act_up.data() + static_cast<size_t>(i) * s.moe_in_stride, s.act2.data() + static_cast<size_t>(t) * s.act_stride, up_bytes);
    }
    std::vector<MatJob>& jobs = s.moe_jobs;
    jobs.clear();
    for (int64_t e = 0; e < E; ++e) {
        const int64_t first = s.expert_start[static_cast<size_t>(e)], count = s.expert_start[static_cast<size_t>(e + 1)] - first;
        if (count == 0) continue;
        const auto ue = static_cast<size_t>(e);
        const uint8_t* in_gate = s.moe_act_gate.data() + static_cast<size_t>(first) * s.moe_in_stride;
        const uint8_t* in_up = (same ? s.moe_act_gate.data() : s.moe_act_up.data()) + static_cast<size_t>(first) * s.moe_in_stride;
        jobs.push_back({&L.exp_gate[ue], in_gate, s.moe_in_stride, s.gate.data() + first * F, F, count});
        jobs.push_back({&L.exp_up[ue], in_up, s.moe_in_stride, s.up.data() + first * F, F, count});
    }
    run_jobs(kt, *s.pool, jobs, 0);

    // 4. SwiGLU, then the down rows of every expert in one section
    for (int64_t i = 0; i < n * K; ++i) {
        kt.silu_mul(s.gate.data() + i * F, s.up.data() + i * F, F);
        quantize_activation(kt, down_type, s.gate.data() + i * F, s.moe_act_down.data() + static_cast<size_t>(i) * s.moe_down_stride, F);
    }
    jobs.clear();
    for (int64_t e = 0; e < E; ++e) {
        const int64_t first = s.expert_start[static_cast<size_t>(e)], count = s.expert_start[static_cast<size_t>(e + 1)] - first;
        if (count == 0) continue;
        jobs.push_back({&L.exp_down[static_cast<size_t>(e)], s.moe_act_down.data() + static_cast<size_t>(first) * s.moe_down_stride,
                        s.moe_down_stride, s.moe.data() + first * H, H, count});
    }
    run_jobs(kt, *s.pool, jobs, 0);

    // 5. each token's output: its experts' rows, weighted
    std::fill(out, out + n * H, 0.0f);
    for (int64_t i = 0; i < n * K; ++i) {
        const int32_t pair = s.expert_order[static_cast<size_t>(i)];
        const float w = s.expert_weight[static_cast<size_t>(pair)];
        float* y = out + (pair / K) * H;
        const float* m = s.moe.data() + i * H;
        for (int64_t h = 0; h < H; ++h) y[h] += w * m[h];
    }
}

void add_rows(float* h, const float* x, int64_t count) {
    for (int64_t i = 0; i < count; ++i) h[i] += x[i];
}

}  // namespace

void forward(const Model::Impl& m, SequenceState& s, const int32_t* tokens, int64_t n, float* logits,
             bool all_logits) {
    const Config& c = m.config();
    const Weights& w = m.weights;
    const KernelTable& kt = kernels();
    const int64_t H = c.n_embd;
    float* h = s.h.data();

    embed(m, kt, tokens, n, h);
    if (c.n_attention_layers() > 0) {  // the same rotation serves every attention layer
        for (int64_t t = 0; t < n; ++t) rope_table(m, s.pos + t, s.cos_sin.data() + t * c.head_dim);
    }
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = w.layers[static_cast<size_t>(l)];
        for (int64_t t = 0; t < n; ++t) kt.rmsnorm(h + t * H, L.attn_norm, s.u.data() + t * H, H, c.norm_eps);
        if (c.is_attention(l)) {
            attention(m, L, kt, s, s.attn_slot[static_cast<size_t>(l)], n, s.ffn_out.data());
        } else {
            short_conv(c, L, kt, s, s.conv_state_of(s.conv_slot[static_cast<size_t>(l)]), n, s.ffn_out.data());
        }
        add_rows(h, s.ffn_out.data(), n * H);  // residual 1

        for (int64_t t = 0; t < n; ++t) kt.rmsnorm(h + t * H, L.ffn_norm, s.u.data() + t * H, H, c.norm_eps);
        if (c.is_moe_layer(l)) {
            moe_ffn(c, l, L, kt, s, n, s.ffn_out.data());
        } else {
            dense_ffn(c, L, kt, s, n, s.ffn_out.data());
        }
        add_rows(h, s.ffn_out.data(), n * H);  // residual 2
    }

    s.pos += n;
    if (logits == nullptr) return;
    // final norm and head, for the rows the caller wants
    const int64_t first = all_logits ? 0 : n - 1;
    for (int64_t t = first; t < n; ++t) kt.rmsnorm(h + t * H, w.output_norm, s.u.data() + (t - first) * H, H, c.norm_eps);
    matmul(kt, s, w.output, s.u.data(), n - first, logits);
}

}  // namespace lfm
