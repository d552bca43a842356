// The forward pass, one function per block, in the order of ../shared/spec/architecture.md §3.
// Activations are f32 rows [n][width] for the n rows of a pass (the tokens of one or several
// sequences, end to end); weights stay in their stored type and every product goes through the
// kernel table, split across the runtime's threads. Matrix products run once over all rows;
// the conv state and attention are per sequence.

#include "lfm2.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "finite.h"
#include "lfm/error.h"
#include "parallel_matmul.h"

namespace lfm {

namespace {

// What one pass works with: the model, the scratch, the threads, and its rows' sequences.
struct Pass {
    const Model::Impl& m;
    const Config& c;
    const KernelTable& kt;
    Workspace& ws;
    ThreadPool& pool;
    std::span<const SequenceChunk> chunks;
    int64_t n;  // rows: the chunks' tokens end to end
};

// One matrix over the rows: Y[t] = W · X[t], X [n][W.n_in], Y [n][W.n_out].
void matmul(const Pass& p, const Matrix& W, const float* X, int64_t n, float* Y) {
    quantize_rows(p.kt, p.pool, W.type, X, W.n_in, W.n_in, n, p.ws.act.data(), p.ws.act_stride);
    const MatJob job{&W, p.ws.act.data(), p.ws.act_stride, Y, W.n_out};
    run_jobs(p.kt, p.pool, {&job, 1}, n);
}

// Two matrices of the same input in one section (gate and up): the input is converted once per
// distinct activation type.
void matmul_pair(const Pass& p, const Matrix& A, const Matrix& B, const float* X, float* YA, float* YB) {
    Workspace& ws = p.ws;
    quantize_rows(p.kt, p.pool, A.type, X, A.n_in, A.n_in, p.n, ws.act.data(), ws.act_stride);
    const bool same = traits(A.type).vec_dot_type == traits(B.type).vec_dot_type;
    if (!same) quantize_rows(p.kt, p.pool, B.type, X, B.n_in, B.n_in, p.n, ws.act2.data(), ws.act_stride);
    const MatJob jobs[2] = {{&A, ws.act.data(), ws.act_stride, YA, A.n_out},
                            {&B, same ? ws.act.data() : ws.act2.data(), ws.act_stride, YB, B.n_out}};
    run_jobs(p.kt, p.pool, jobs, p.n);
}

// h[t] = Emb[token_t]: one row of the [V, H] table, no scaling.
void embed(const Pass& p, const int32_t* tokens, int64_t n, float* h) {
    const Matrix& E = p.m.weights.token_embd;
    const DequantizeRowFn dequantize = p.kt.dequantize_row[static_cast<uint32_t>(E.type)];
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
void short_conv(const Pass& p, const LayerWeights& L, int slot, float* out) {
    const int64_t H = p.c.n_embd;
    Workspace& ws = p.ws;
    matmul(p, L.in_proj, ws.u.data(), p.n, ws.bcx.data());
    int64_t t = 0;
    for (const SequenceChunk& chunk : p.chunks) {
        float* state = chunk.seq->conv_state_of(slot);
        for (int64_t end = t + chunk.n; t < end; ++t) {  // in order: each step reads the state the previous one left
            float* B = ws.bcx.data() + t * 3 * H;
            const float* C = B + H;
            const float* x = B + 2 * H;
            float* g = ws.mix.data() + t * H;
            for (int64_t i = 0; i < H; ++i) g[i] = B[i] * x[i];                                  // s_t = B ⊙ x
            p.kt.short_conv_step(g, L.conv, state, B, H, static_cast<int>(p.c.conv_kernel));  // y_t into B
            for (int64_t i = 0; i < H; ++i) g[i] = C[i] * B[i];                                  // C ⊙ y_t
        }
    }
    matmul(p, L.out_proj, ws.mix.data(), p.n, out);
}

// cos/sin pairs of the NeoX rotation at position pos (§3.2.1), angles in double precision.
void rope_table(const Model::Impl& m, int64_t pos, float* cos_sin) {
    for (size_t i = 0; i < m.rope_inv_freq.size(); ++i) {
        const double a = static_cast<double>(pos) * m.rope_inv_freq[i];
        cos_sin[2 * i] = static_cast<float>(std::cos(a));
        cos_sin[2 * i + 1] = static_cast<float>(std::sin(a));
    }
}

// A row that attends on its own: its sequence, and its index among the pass's rows.
struct AttendRow {
    SequenceState* seq;
    int64_t row;
};

// Decode (and prompts whose groups are too large for a tile): every (row, head) pair is
// independent, whichever sequence the row is of. A job is a row's whole KV group (its heads read
// each key and value row once, together), or a single head when there are fewer groups than
// threads (decode on many cores).
void attend_rows(const Pass& p, int slot, std::span<const AttendRow> rows) {
    const Config& c = p.c;
    Workspace& ws = p.ws;
    const int64_t d = c.head_dim, n_head = c.n_head, n_kv = c.n_head_kv, group = n_head / n_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const auto n = static_cast<int64_t>(rows.size());
    const int64_t heads_per_job = n * n_kv >= p.pool.size() ? group : 1;
    const auto cap = static_cast<size_t>(ws.n_ctx);  // scores per head
    p.pool.run([&](int th, int n_threads) {
        float* scores = ws.scores.data() + static_cast<size_t>(th) * static_cast<size_t>(group) * cap;  // [heads][cap]
        // this thread's query heads, converted to the KV type: [heads][d]
        uint8_t* qh = ws.act_q.data() + static_cast<size_t>(th) * static_cast<size_t>(group * d) * sizeof(float);
        int64_t begin, end;
        ThreadPool::share(n * n_head / heads_per_job, th, n_threads, 1, begin, end);
        for (int64_t job = begin; job < end; ++job) {
            const AttendRow& r = rows[static_cast<size_t>(job * heads_per_job / n_head)];
            SequenceState& s = *r.seq;
            const uint32_t kv_id = static_cast<uint32_t>(s.kv_type);
            const size_t head_bytes = s.head_bytes;
            const int64_t i0 = job * heads_per_job % n_head;
            const int64_t n_past = ws.row_pos[static_cast<size_t>(r.row)] + 1;  // causal: positions 0..pos
            const int64_t g = i0 / group;  // kv head of query heads i0..i0+heads_per_job-1
            const auto nq = static_cast<int>(heads_per_job);
            for (int j = 0; j < nq; ++j)
                p.kt.quantize_row[kv_id](ws.q.data() + (r.row * n_head + i0 + j) * d, qh + static_cast<size_t>(j) * head_bytes, d);
            const size_t head_offset = static_cast<size_t>(g) * static_cast<size_t>(s.n_ctx) * head_bytes;
            p.kt.dot_rows[kv_id](s.k_rows(slot) + head_offset, head_bytes, n_past, qh, head_bytes, nq, d, scale, scores, cap);
            for (int j = 0; j < nq; ++j) p.kt.softmax(scores + static_cast<size_t>(j) * cap, n_past);
            float* o = ws.attn.data() + (r.row * n_head + i0) * d;  // the heads' outputs are consecutive
            std::fill(o, o + nq * d, 0.0f);
            p.kt.axpy_rows[kv_id](s.v_rows(slot) + head_offset, head_bytes, n_past, scores, cap, nq, o, static_cast<size_t>(d), d);
        }
    });
}

// A prompt chunk: a job is a tile of consecutive tokens' query heads of one KV group (up to
// kAttendTile queries) meeting the cache rows a block at a time (kernels/attention.cpp), so a
// block is widened once for the tile, not once per token. Jobs are dealt round-robin: later
// tokens see more rows, and every thread gets early and late tiles alike.
void attend_chunk(const Pass& p, int slot, SequenceState& s, int64_t row0, int64_t n) {
    const Config& c = p.c;
    Workspace& ws = p.ws;
    const int64_t d = c.head_dim, n_head = c.n_head, n_kv = c.n_head_kv, group = n_head / n_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int64_t tile_tokens = kAttendTile / group;
    const int64_t n_tiles = (n + tile_tokens - 1) / tile_tokens;
    const uint8_t* K = s.k_rows(slot);
    const uint8_t* V = s.v_rows(slot);
    p.pool.run([&](int th, int n_threads) {
        float* scratch = ws.attend_scratch.data() + static_cast<size_t>(th) * attend_scratch_floats(d);
        for (int64_t job = th; job < n_tiles * n_kv; job += n_threads) {
            const int64_t tile = job / n_kv, g = job % n_kv;
            const int64_t t0 = row0 + tile * tile_tokens, t1 = std::min(row0 + n, t0 + tile_tokens);
            const float* q[kAttendTile];
            float* o[kAttendTile];
            int64_t n_keys[kAttendTile];
            int n_q = 0;
            for (int64_t t = t0; t < t1; ++t)
                for (int64_t j = 0; j < group; ++j, ++n_q) {
                    const int64_t head = g * group + j;
                    q[n_q] = ws.q.data() + (t * n_head + head) * d;
                    o[n_q] = ws.attn.data() + (t * n_head + head) * d;
                    n_keys[n_q] = ws.row_pos[static_cast<size_t>(t)] + 1;  // causal: positions 0..pos
                }
            const size_t head_offset = static_cast<size_t>(g) * static_cast<size_t>(s.n_ctx) * s.head_bytes;
            attend_tile(p.kt, s.kv_type, q, n_q, n_keys, K + head_offset, V + head_offset, s.head_bytes, d, scale, o, scratch);
        }
    });
}

// §3.2: GQA with per-head q/k RMSNorm, NeoX RoPE after the norms, causal softmax in f32.
void attention(const Pass& p, const LayerWeights& L, int slot, float* out) {
    const Config& c = p.c;
    Workspace& ws = p.ws;
    const int64_t d = c.head_dim, n_head = c.n_head, n_kv = c.n_head_kv, kv_dim = n_kv * d;
    const int64_t group = n_head / n_kv;

    // q, k and v in one section (same input, same activation type when the types agree)
    const bool kv_same = traits(L.wk.type).vec_dot_type == traits(L.wq.type).vec_dot_type &&
                         traits(L.wv.type).vec_dot_type == traits(L.wq.type).vec_dot_type;
    if (!kv_same) {
        // rare mixes (e.g. Q6_K v with Q4_K q/k): each converted on its own
        matmul(p, L.wq, ws.u.data(), p.n, ws.q.data());
        matmul(p, L.wk, ws.u.data(), p.n, ws.k.data());
        matmul(p, L.wv, ws.u.data(), p.n, ws.v.data());
    } else {
        quantize_rows(p.kt, p.pool, L.wq.type, ws.u.data(), c.n_embd, c.n_embd, p.n, ws.act.data(), ws.act_stride);
        const MatJob jobs[3] = {{&L.wq, ws.act.data(), ws.act_stride, ws.q.data(), L.wq.n_out},
                                {&L.wk, ws.act.data(), ws.act_stride, ws.k.data(), L.wk.n_out},
                                {&L.wv, ws.act.data(), ws.act_stride, ws.v.data(), L.wv.n_out}};
        run_jobs(p.kt, p.pool, jobs, p.n);
    }
    int64_t t = 0;
    for (const SequenceChunk& chunk : p.chunks) {
        SequenceState& s = *chunk.seq;
        const uint32_t kv_id = static_cast<uint32_t>(s.kv_type);
        uint8_t* K = s.k_rows(slot);
        uint8_t* V = s.v_rows(slot);
        for (int64_t end = t + chunk.n; t < end; ++t) {
            float* q = ws.q.data() + t * n_head * d;
            float* k = ws.k.data() + t * kv_dim;
            for (int64_t i = 0; i < n_head; ++i) p.kt.rmsnorm(q + i * d, L.q_norm, q + i * d, d, c.norm_eps);
            for (int64_t j = 0; j < n_kv; ++j) p.kt.rmsnorm(k + j * d, L.k_norm, k + j * d, d, c.norm_eps);
            const float* cs = ws.cos_sin.data() + t * d;  // filled once per pass by forward()
            p.kt.rope_neox(q, static_cast<int>(n_head), static_cast<int>(d), cs);
            p.kt.rope_neox(k, static_cast<int>(n_kv), static_cast<int>(d), cs);
            // head-major cache: head j's rows are contiguous, [n_kv][n_ctx][d]
            const auto pos = static_cast<size_t>(ws.row_pos[static_cast<size_t>(t)]);
            for (int64_t j = 0; j < n_kv; ++j) {
                const size_t row = (static_cast<size_t>(j) * static_cast<size_t>(s.n_ctx) + pos) * s.head_bytes;
                p.kt.quantize_row[kv_id](k + j * d, K + row, d);
                p.kt.quantize_row[kv_id](ws.v.data() + t * kv_dim + j * d, V + row, d);
            }
        }
    }
    // Prompt chunks attend tile by tile, each on its own; single rows (decode steps of any
    // number of sequences) together, in one section.
    std::vector<AttendRow> single;
    t = 0;
    for (const SequenceChunk& chunk : p.chunks) {
        if (chunk.n > 1 && group <= kAttendTile) attend_chunk(p, slot, *chunk.seq, t, chunk.n);
        else
            for (int64_t i = 0; i < chunk.n; ++i) single.push_back({chunk.seq, t + i});
        t += chunk.n;
    }
    if (!single.empty()) attend_rows(p, slot, single);
    matmul(p, L.wo, ws.attn.data(), p.n, out);
}

// §3.3: W2 · (silu(W1·v) ⊙ W3·v)
void dense_ffn(const Pass& p, const LayerWeights& L, float* out) {
    Workspace& ws = p.ws;
    const int64_t F = p.c.n_ff;
    matmul_pair(p, L.ffn_gate, L.ffn_up, ws.u.data(), ws.gate.data(), ws.up.data());
    for (int64_t t = 0; t < p.n; ++t) p.kt.silu_mul(ws.gate.data() + t * F, ws.up.data() + t * F, F);
    matmul(p, L.ffn_down, ws.gate.data(), p.n, out);
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

// §3.4 routing: sigmoid router, expert bias for selection only, renormalised top-k.
void route(const Pass& p, int64_t layer, const LayerWeights& L) {
    const Config& c = p.c;
    Workspace& ws = p.ws;
    const int64_t H = c.n_embd, E = c.n_expert, K = c.n_expert_used;
    std::vector<float>& prob = ws.router_prob;
    std::vector<float>& biased = ws.router_biased;
    for (int64_t t = 0; t < p.n; ++t) {
        const float* v = ws.u.data() + t * H;
        int* sel = ws.expert_sel.data() + t * K;
        float* weight = ws.expert_weight.data() + t * K;
        matvec_rows(p.kt, DType::kF32, L.router.data, L.router.row_bytes, v, H, prob.data(), 0, E);
        RoutingRecord* record = nullptr;
        if (ws.routing_trace != nullptr) {
            record = &ws.routing_trace->emplace_back();
            record->layer = layer;
            record->pos = ws.row_pos[static_cast<size_t>(t)];
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
}

// §3.4: SwiGLU experts. The pass's (row, expert) pairs — of every sequence — are grouped by
// expert, so each selected expert runs once over all its rows: one section for every expert's
// gate and up rows, one for the down rows.
void moe_ffn(const Pass& p, int64_t layer, const LayerWeights& L, float* out) {
    const Config& c = p.c;
    Workspace& ws = p.ws;
    const int64_t H = c.n_embd, E = c.n_expert, K = c.n_expert_used, F = c.n_ff_exp, n = p.n;
    route(p, layer, L);

    // group the (row, slot) pairs by expert (a counting sort)
    std::fill(ws.expert_start.begin(), ws.expert_start.end(), 0);
    for (int64_t i = 0; i < n * K; ++i) ++ws.expert_start[static_cast<size_t>(ws.expert_sel[static_cast<size_t>(i)]) + 1];
    for (int64_t e = 0; e < E; ++e) ws.expert_start[static_cast<size_t>(e + 1)] += ws.expert_start[static_cast<size_t>(e)];
    std::copy(ws.expert_start.begin(), ws.expert_start.end() - 1, ws.expert_fill.begin());
    for (int64_t i = 0; i < n * K; ++i)
        ws.expert_order[static_cast<size_t>(ws.expert_fill[static_cast<size_t>(ws.expert_sel[static_cast<size_t>(i)])]++)] = static_cast<int32_t>(i);

    // gate and up: every row's input converted once, gathered per expert, one section
    const DType gate_type = L.exp_gate[0].type, up_type = L.exp_up[0].type, down_type = L.exp_down[0].type;
    const bool same = traits(gate_type).vec_dot_type == traits(up_type).vec_dot_type;
    const size_t in_bytes = activation_bytes(gate_type, H), up_bytes = activation_bytes(up_type, H);
    quantize_rows(p.kt, p.pool, gate_type, ws.u.data(), H, H, n, ws.act.data(), ws.act_stride);
    if (!same) quantize_rows(p.kt, p.pool, up_type, ws.u.data(), H, H, n, ws.act2.data(), ws.act_stride);
    for (int64_t i = 0; i < n * K; ++i) {
        const int64_t t = ws.expert_order[static_cast<size_t>(i)] / K;
        std::memcpy(ws.moe_act_gate.data() + static_cast<size_t>(i) * ws.moe_in_stride, ws.act.data() + static_cast<size_t>(t) * ws.act_stride, in_bytes);
        if (!same)
            std::memcpy(ws.moe_act_up.data() + static_cast<size_t>(i) * ws.moe_in_stride, ws.act2.data() + static_cast<size_t>(t) * ws.act_stride, up_bytes);
    }
    std::vector<MatJob>& jobs = ws.moe_jobs;
    jobs.clear();
    for (int64_t e = 0; e < E; ++e) {
        const int64_t first = ws.expert_start[static_cast<size_t>(e)], count = ws.expert_start[static_cast<size_t>(e + 1)] - first;
        if (count == 0) continue;
        const auto ue = static_cast<size_t>(e);
        const uint8_t* in_gate = ws.moe_act_gate.data() + static_cast<size_t>(first) * ws.moe_in_stride;
        const uint8_t* in_up = (same ? ws.moe_act_gate.data() : ws.moe_act_up.data()) + static_cast<size_t>(first) * ws.moe_in_stride;
        jobs.push_back({&L.exp_gate[ue], in_gate, ws.moe_in_stride, ws.gate.data() + first * F, F, count});
        jobs.push_back({&L.exp_up[ue], in_up, ws.moe_in_stride, ws.up.data() + first * F, F, count});
    }
    run_jobs(p.kt, p.pool, jobs, 0);

    // SwiGLU, then the down rows of every expert in one section
    for (int64_t i = 0; i < n * K; ++i) {
        p.kt.silu_mul(ws.gate.data() + i * F, ws.up.data() + i * F, F);
        quantize_activation(p.kt, down_type, ws.gate.data() + i * F, ws.moe_act_down.data() + static_cast<size_t>(i) * ws.moe_down_stride, F);
    }
    jobs.clear();
    for (int64_t e = 0; e < E; ++e) {
        const int64_t first = ws.expert_start[static_cast<size_t>(e)], count = ws.expert_start[static_cast<size_t>(e + 1)] - first;
        if (count == 0) continue;
        jobs.push_back({&L.exp_down[static_cast<size_t>(e)], ws.moe_act_down.data() + static_cast<size_t>(first) * ws.moe_down_stride,
                        ws.moe_down_stride, ws.moe.data() + first * H, H, count});
    }
    run_jobs(p.kt, p.pool, jobs, 0);

    // each row's output: its experts' rows, weighted
    std::fill(out, out + n * H, 0.0f);
    for (int64_t i = 0; i < n * K; ++i) {
        const int32_t pair = ws.expert_order[static_cast<size_t>(i)];
        const float w = ws.expert_weight[static_cast<size_t>(pair)];
        float* y = out + (pair / K) * H;
        const float* mo = ws.moe.data() + i * H;
        for (int64_t h = 0; h < H; ++h) y[h] += w * mo[h];
    }
}

void add_rows(float* h, const float* x, int64_t count) {
    for (int64_t i = 0; i < count; ++i) h[i] += x[i];
}

[[noreturn]] void throw_corrupt(const Model::Impl& m, const char* where) {
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: the model computed NaN or Inf ({}): its weights are probably corrupt "
                                                     "(check the file's checksum, or download it again)",
                                                     m.files.path, where));
}

// The final norm and the head, for the rows whose logits a chunk asked for (all its rows, or its
// last), gathered so the head's weights (a fifth of the bytes read per token) are read once for
// the whole pass. Several chunks' rows go through one product into scratch and are copied out:
// one product per chunk would stream the head once per sequence.
void head(const Pass& p) {
    const Config& c = p.c;
    const Weights& w = p.m.weights;
    Workspace& ws = p.ws;
    const int64_t H = c.n_embd, V = w.output.n_out;
    struct Out {
        float* logits;
        int64_t first_row, n;  // among the gathered rows
    };
    std::vector<Out> outs;
    int64_t row = 0, n_out = 0;
    for (const SequenceChunk& chunk : p.chunks) {
        if (chunk.logits != nullptr) {
            const int64_t first = chunk.all_logits ? 0 : chunk.n - 1;
            for (int64_t t = first; t < chunk.n; ++t)
                p.kt.rmsnorm(ws.h.data() + (row + t) * H, w.output_norm, ws.u.data() + (n_out + t - first) * H, H, c.norm_eps);
            outs.push_back({chunk.logits, n_out, chunk.n - first});
            n_out += chunk.n - first;
        }
        row += chunk.n;
    }
    if (n_out == 0) return;
    // NaN or Inf reaching the residual stream (from a corrupt scale, norm or embedding row) would
    // be hidden from the logits by the head's activation quantization: checked here, on H floats
    // per row; the logits below, for non-finite head rows.
    if (!all_finite({ws.u.data(), static_cast<size_t>(n_out * H)})) throw_corrupt(p.m, "hidden state");
    quantize_rows(p.kt, p.pool, w.output.type, ws.u.data(), H, H, n_out, ws.act.data(), ws.act_stride);
    const bool direct = outs.size() == 1;  // one chunk (a session's prompt or step): straight into its buffer
    if (!direct) ws.logits.resize(static_cast<size_t>(n_out * V));
    const MatJob job{&w.output, ws.act.data(), ws.act_stride, direct ? outs[0].logits : ws.logits.data(), V};
    run_jobs(p.kt, p.pool, {&job, 1}, n_out);
    if (!all_finite({direct ? outs[0].logits : ws.logits.data(), static_cast<size_t>(n_out * V)})) throw_corrupt(p.m, "logits");
    if (!direct)
        for (const Out& o : outs) std::copy_n(ws.logits.data() + o.first_row * V, o.n * V, o.logits);
}

}  // namespace

void forward(const Model::Impl& m, Workspace& ws, ThreadPool& pool, std::span<const SequenceChunk> chunks) {
    const Config& c = m.config();
    const Weights& w = m.weights;
    const int64_t H = c.n_embd;
    int64_t n = 0;
    for (const SequenceChunk& chunk : chunks) {
        for (int64_t t = 0; t < chunk.n; ++t) {
            if (chunk.tokens[t] < 0 || chunk.tokens[t] >= w.token_embd.n_out) {
                throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} is out of range (vocabulary has {} tokens)",
                                                                     chunk.tokens[t], w.token_embd.n_out));
            }
        }
        if (chunk.seq->pos + chunk.n > chunk.seq->n_ctx || chunk.seq->n_ctx > ws.n_ctx)
            throw Error(ErrorCode::kContextOverflow, "forward: a chunk does not fit its sequence's context");
        n += chunk.n;
    }
    if (n > ws.n_rows) throw Error(ErrorCode::kInvalidArgument, "forward: more rows than the workspace holds");
    const Pass p{m, c, kernels(), ws, pool, chunks, n};
    float* h = ws.h.data();

    int64_t row = 0;
    for (const SequenceChunk& chunk : chunks) {
        embed(p, chunk.tokens, chunk.n, h + row * H);
        for (int64_t t = 0; t < chunk.n; ++t) ws.row_pos[static_cast<size_t>(row + t)] = chunk.seq->pos + t;
        row += chunk.n;
    }
    if (c.n_attention_layers() > 0) {  // the same rotation serves every attention layer
        for (int64_t t = 0; t < n; ++t) rope_table(m, ws.row_pos[static_cast<size_t>(t)], ws.cos_sin.data() + t * c.head_dim);
    }
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& L = w.layers[static_cast<size_t>(l)];
        const SequenceState& first = *chunks.front().seq;  // every sequence has the same slot layout
        for (int64_t t = 0; t < n; ++t) p.kt.rmsnorm(h + t * H, L.attn_norm, ws.u.data() + t * H, H, c.norm_eps);
        if (c.is_attention(l)) {
            attention(p, L, first.attn_slot[static_cast<size_t>(l)], ws.ffn_out.data());
        } else {
            short_conv(p, L, first.conv_slot[static_cast<size_t>(l)], ws.ffn_out.data());
        }
        add_rows(h, ws.ffn_out.data(), n * H);  // residual 1

        for (int64_t t = 0; t < n; ++t) p.kt.rmsnorm(h + t * H, L.ffn_norm, ws.u.data() + t * H, H, c.norm_eps);
        if (c.is_moe_layer(l)) {
            moe_ffn(p, l, L, ws.ffn_out.data());
        } else {
            dense_ffn(p, L, ws.ffn_out.data());
        }
        add_rows(h, ws.ffn_out.data(), n * H);  // residual 2
    }
    head(p);
    for (const SequenceChunk& chunk : chunks) {
        chunk.seq->tokens.insert(chunk.seq->tokens.end(), chunk.tokens, chunk.tokens + chunk.n);
        chunk.seq->pos += chunk.n;
    }
}

}  // namespace lfm
