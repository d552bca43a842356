// The forward pass, one function per block, in the order of ../shared/spec/architecture.md §3.
// Activations are f32 rows [n][width] for the n tokens of a batch; weights stay in their stored
// type and every product goes through the kernel table.

#include "lfm2.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lfm/error.h"

namespace lfm {

// ---- state ------------------------------------------------------------------------------------

SequenceState::SequenceState(const Model::Impl& model, int64_t ctx, int64_t batch, KvType kv_cache_type)
    : n_ctx(ctx), n_batch(batch), kv_type(kv_cache_type == KvType::kF16 ? DType::kF16 : DType::kF32) {
    const Config& c = model.config();
    const int64_t H = c.n_embd, d = c.head_dim, kv_dim = c.n_head_kv * d;
    int n_attn = 0, n_conv = 0;
    for (int64_t l = 0; l < c.n_layer; ++l) {
        attn_slot.push_back(c.is_attention(l) ? n_attn++ : -1);
        conv_slot.push_back(c.is_attention(l) ? -1 : n_conv++);
    }
    kv_row_bytes = row_bytes(kv_type, kv_dim);
    kv.assign(static_cast<size_t>(n_attn) * 2 * static_cast<size_t>(n_ctx) * kv_row_bytes, 0);
    conv_slot_floats = static_cast<size_t>((c.conv_kernel - 1) * H);
    conv_state.assign(static_cast<size_t>(n_conv) * conv_slot_floats, 0.0f);

    const auto rows = [&](int64_t width) { return std::vector<float>(static_cast<size_t>(n_batch * width)); };
    const int64_t ff = std::max(c.n_ff, c.n_ff_exp);
    h = rows(H);
    u = rows(H);
    bcx = rows(3 * H);
    mix = rows(H);
    q = rows(c.n_head * d);
    k = rows(kv_dim);
    v = rows(kv_dim);
    attn = rows(c.n_head * d);
    gate = rows(ff);
    up = rows(ff);
    moe = rows(H);
    ffn_out = rows(H);
    scores.resize(static_cast<size_t>(n_ctx));
    cos_sin.resize(static_cast<size_t>(d));
    v_row.resize(static_cast<size_t>(d));
    // the widest activation row in the widest vec_dot format (f32: 4 bytes per element)
    act.resize(static_cast<size_t>(std::max({H, ff, c.n_head * d})) * sizeof(float) + 64);
    act_q.resize(static_cast<size_t>(d) * sizeof(float));
    router_prob.resize(static_cast<size_t>(c.n_expert));
    router_biased.resize(static_cast<size_t>(c.n_expert));
    expert_sel.resize(static_cast<size_t>(c.n_expert_used));
    expert_weight.resize(static_cast<size_t>(c.n_expert_used));
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

// Y[t] = W · X[t] for t in [0, n). X: [n][W.n_in], Y: [n][W.n_out].
void matmul(const KernelTable& kt, const Matrix& W, const float* X, int64_t n, float* Y, uint8_t* act) {
    for (int64_t t = 0; t < n; ++t) {
        quantize_activation(kt, W.type, X + t * W.n_in, act, W.n_in);
        matvec_rows(kt, W.type, W.data, W.row_bytes, act, W.n_in, Y + t * W.n_out, 0, W.n_out);
    }
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
    for (int64_t t = 0; t < n; ++t)
        kt.dequantize_row[static_cast<uint32_t>(E.type)](E.row(tokens[t]), h + t * E.n_in, E.n_in);
}

// §3.1: BCx = W_in·u; s = B⊙x; y = causal depthwise conv of s; out = W_out·(C⊙y).
void short_conv(const Config& c, const LayerWeights& L, const KernelTable& kt, SequenceState& s, float* state,
                int64_t n, float* out) {
    const int64_t H = c.n_embd;
    matmul(kt, L.in_proj, s.u.data(), n, s.bcx.data(), s.act.data());
    for (int64_t t = 0; t < n; ++t) {  // in order: each step reads the state the previous one left
        float* B = s.bcx.data() + t * 3 * H;
        const float* C = B + H;
        const float* x = B + 2 * H;
        float* g = s.mix.data() + t * H;
        for (int64_t i = 0; i < H; ++i) g[i] = B[i] * x[i];                                // s_t = B ⊙ x
        kt.short_conv_step(g, L.conv, state, B, H, static_cast<int>(c.conv_kernel));  // y_t into B
        for (int64_t i = 0; i < H; ++i) g[i] = C[i] * B[i];                                // C ⊙ y_t
    }
    matmul(kt, L.out_proj, s.mix.data(), n, out, s.act.data());
}

// cos/sin pairs of the NeoX rotation at position pos (§3.2.1), angles in double precision.
void rope_table(const Model::Impl& m, int64_t pos, float* cos_sin) {
    for (size_t i = 0; i < m.rope_inv_freq.size(); ++i) {
        const double a = static_cast<double>(pos) * m.rope_inv_freq[i];
        cos_sin[2 * i] = static_cast<float>(std::cos(a));
        cos_sin[2 * i + 1] = static_cast<float>(std::sin(a));
    }
}

// §3.2: GQA with per-head q/k RMSNorm, NeoX RoPE after the norms, causal softmax in f32.
void attention(const Model::Impl& m, const LayerWeights& L, const KernelTable& kt, SequenceState& s, int slot,
               int64_t n, float* out) {
    const Config& c = m.config();
    const int64_t d = c.head_dim, n_head = c.n_head, n_kv = c.n_head_kv, kv_dim = n_kv * d;
    const int64_t group = n_head / n_kv;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const uint32_t kv_id = static_cast<uint32_t>(s.kv_type);
    const size_t head_bytes = row_bytes(s.kv_type, d);
    uint8_t* K = s.k_rows(slot);
    uint8_t* V = s.v_rows(slot);

    matmul(kt, L.wq, s.u.data(), n, s.q.data(), s.act.data());
    matmul(kt, L.wk, s.u.data(), n, s.k.data(), s.act.data());
    matmul(kt, L.wv, s.u.data(), n, s.v.data(), s.act.data());
    for (int64_t t = 0; t < n; ++t) {
        float* q = s.q.data() + t * n_head * d;
        float* k = s.k.data() + t * kv_dim;
        for (int64_t i = 0; i < n_head; ++i) kt.rmsnorm(q + i * d, L.q_norm, q + i * d, d, c.norm_eps);
        for (int64_t j = 0; j < n_kv; ++j) kt.rmsnorm(k + j * d, L.k_norm, k + j * d, d, c.norm_eps);
        rope_table(m, s.pos + t, s.cos_sin.data());
        kt.rope_neox(q, static_cast<int>(n_head), static_cast<int>(d), s.cos_sin.data());
        kt.rope_neox(k, static_cast<int>(n_kv), static_cast<int>(d), s.cos_sin.data());
        const size_t row = static_cast<size_t>(s.pos + t) * s.kv_row_bytes;
        kt.quantize_row[kv_id](k, K + row, kv_dim);
        kt.quantize_row[kv_id](s.v.data() + t * kv_dim, V + row, kv_dim);
    }
    for (int64_t t = 0; t < n; ++t) {
        const int64_t n_past = s.pos + t + 1;  // causal: positions 0..pos+t
        for (int64_t i = 0; i < n_head; ++i) {
            const int64_t g = i / group;  // kv head of query head i
            kt.quantize_row[kv_id](s.q.data() + (t * n_head + i) * d, s.act_q.data(), d);
            for (int64_t tau = 0; tau < n_past; ++tau) {
                const uint8_t* krow = K + static_cast<size_t>(tau) * s.kv_row_bytes + static_cast<size_t>(g) * head_bytes;
                s.scores[static_cast<size_t>(tau)] = kt.vec_dot[kv_id](krow, s.act_q.data(), d) * scale;
            }
            kt.softmax(s.scores.data(), n_past);
            float* o = s.attn.data() + (t * n_head + i) * d;
            std::fill(o, o + d, 0.0f);
            for (int64_t tau = 0; tau < n_past; ++tau) {
                const uint8_t* vrow = V + static_cast<size_t>(tau) * s.kv_row_bytes + static_cast<size_t>(g) * head_bytes;
                kt.dequantize_row[kv_id](vrow, s.v_row.data(), d);
                const float a = s.scores[static_cast<size_t>(tau)];
                for (int64_t e = 0; e < d; ++e) o[e] += a * s.v_row[static_cast<size_t>(e)];
            }
        }
    }
    matmul(kt, L.wo, s.attn.data(), n, out, s.act.data());
}

// §3.3: W2 · (silu(W1·v) ⊙ W3·v)
void dense_ffn(const Config& c, const LayerWeights& L, const KernelTable& kt, SequenceState& s, int64_t n,
               float* out) {
    matmul(kt, L.ffn_gate, s.u.data(), n, s.gate.data(), s.act.data());
    matmul(kt, L.ffn_up, s.u.data(), n, s.up.data(), s.act.data());
    for (int64_t t = 0; t < n; ++t) kt.silu_mul(s.gate.data() + t * c.n_ff, s.up.data() + t * c.n_ff, c.n_ff);
    matmul(kt, L.ffn_down, s.gate.data(), n, out, s.act.data());
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
void moe_ffn(const Config& c, int64_t layer, const LayerWeights& L, const KernelTable& kt, SequenceState& s,
             int64_t n, float* out) {
    const int64_t H = c.n_embd, E = c.n_expert, K = c.n_expert_used, F = c.n_ff_exp;
    std::vector<float>& prob = s.router_prob;
    std::vector<float>& biased = s.router_biased;
    std::vector<int>& sel = s.expert_sel;
    std::vector<float>& weight = s.expert_weight;
    for (int64_t t = 0; t < n; ++t) {
        const float* v = s.u.data() + t * H;
        float* y = out + t * H;
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
        select_top_k(biased.data(), E, K, sel.data());
        float sum = 0.0f;
        for (int64_t j = 0; j < K; ++j) sum += weight[static_cast<size_t>(j)] = prob[static_cast<size_t>(sel[j])];
        // llama.cpp clamps the denominator at the smallest normal f16; HF adds 1e-6. Same for sigmoid sums.
        const float norm = c.norm_topk ? 1.0f / std::max(sum, 6.103515625e-5f) : 1.0f;
        if (record != nullptr) {
            record->selected = sel;
            for (float x : weight) record->weights.push_back(x * norm * c.routed_scaling);
        }
        std::fill(y, y + H, 0.0f);
        for (int64_t j = 0; j < K; ++j) {
            const auto e = static_cast<size_t>(sel[static_cast<size_t>(j)]);
            const Matrix &W1 = L.exp_gate[e], &W3 = L.exp_up[e], &W2 = L.exp_down[e];
            matmul(kt, W1, v, 1, s.gate.data(), s.act.data());
            matmul(kt, W3, v, 1, s.up.data(), s.act.data());
            kt.silu_mul(s.gate.data(), s.up.data(), F);
            matmul(kt, W2, s.gate.data(), 1, s.moe.data(), s.act.data());
            const float w = weight[static_cast<size_t>(j)] * norm * c.routed_scaling;
            for (int64_t i = 0; i < H; ++i) y[i] += w * s.moe[static_cast<size_t>(i)];
        }
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
    for (int64_t t = first; t < n; ++t) {
        kt.rmsnorm(h + t * H, w.output_norm, s.u.data(), H, c.norm_eps);
        matmul(kt, w.output, s.u.data(), 1, logits + (t - first) * c.n_vocab, s.act.data());
    }
}

}  // namespace lfm
