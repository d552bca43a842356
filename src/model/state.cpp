// The state a forward pass works on: a sequence's caches and checkpoints (SequenceState), and the
// scratch shared by all sequences of a runtime (Workspace). Shapes in lfm2.h.

#include <algorithm>
#include <cstdint>

#include "lfm2.h"

namespace lfm {

// ---- sequence state ---------------------------------------------------------------------------

DType kv_dtype(KvType type) {
    return type == KvType::kF16 ? DType::kF16 : type == KvType::kQ8_0 ? DType::kQ8_0 : DType::kF32;
}

uint64_t kv_cache_bytes(const Model::Impl& model, KvType type, int64_t n_ctx) {
    const Config& c = model.config();
    return static_cast<uint64_t>(c.n_attention_layers()) * 2 * static_cast<uint64_t>(n_ctx) *
           row_bytes(kv_dtype(type), c.n_head_kv * c.head_dim);
}

SequenceState::SequenceState(const Model::Impl& model, int64_t ctx, KvType kv_cache_type)
    : n_ctx(ctx), kv_type(kv_dtype(kv_cache_type)) {
    const Config& c = model.config();
    const int64_t H = c.n_embd, d = c.head_dim, kv_dim = c.n_head_kv * d;
    int n_conv = 0, n_attn = 0;
    for (int64_t l = 0; l < c.n_layer; ++l) {
        attn_slot.push_back(c.is_attention(l) ? n_attn++ : -1);
        conv_slot.push_back(c.is_attention(l) ? -1 : n_conv++);
    }
    n_kv_head = c.n_head_kv;
    kv_row_bytes = row_bytes(kv_type, kv_dim);
    head_bytes = row_bytes(kv_type, d);
    // fresh anonymous pages: memory is committed as positions fill, not for the whole n_ctx
    kv = HugeBuffer(kv_cache_bytes(model, kv_cache_type, n_ctx));
    conv_slot_floats = static_cast<size_t>((c.conv_kernel - 1) * H);
    conv_state.assign(static_cast<size_t>(n_conv) * conv_slot_floats, 0.0f);
}

uint8_t* SequenceState::k_rows(int slot) {
    return kv.data() + static_cast<size_t>(slot) * 2 * static_cast<size_t>(n_ctx) * kv_row_bytes;
}
uint8_t* SequenceState::v_rows(int slot) { return k_rows(slot) + static_cast<size_t>(n_ctx) * kv_row_bytes; }
int SequenceState::n_attn_slots() const {
    return static_cast<int>(std::count_if(attn_slot.begin(), attn_slot.end(), [](int s) { return s >= 0; }));
}
float* SequenceState::conv_state_of(int slot) { return conv_state.data() + static_cast<size_t>(slot) * conv_slot_floats; }

void SequenceState::take_checkpoint(size_t max_count) {
    if (pos == 0 || max_count == 0) return;  // position 0 is the zero state: always there
    if (!checkpoints.empty() && checkpoints.back().pos >= pos) {
        if (checkpoints.back().pos == pos) return;
        restore_checkpoint(pos);  // unreachable by the callers; keeps the list ascending regardless
    }
    checkpoints.push_back({pos, conv_state});
    trim_checkpoints(max_count);
}

void SequenceState::trim_checkpoints(size_t max_count) {
    // Over the bound: drop the checkpoint whose loss leaves the smallest gap, never the newest
    // (the next turn starts from it), so the rest stay spread over the whole sequence.
    while (checkpoints.size() > max_count) {
        size_t drop = 0;
        int64_t best = INT64_MAX;
        for (size_t i = 0; i + 1 < checkpoints.size(); ++i) {
            const int64_t gap = checkpoints[i + 1].pos - (i > 0 ? checkpoints[i - 1].pos : 0);
            if (gap < best) best = gap, drop = i;
        }
        checkpoints.erase(checkpoints.begin() + static_cast<std::ptrdiff_t>(drop));
    }
}

int64_t SequenceState::restore_checkpoint(int64_t position) {
    while (!checkpoints.empty() && checkpoints.back().pos > position) checkpoints.pop_back();
    if (checkpoints.empty()) {
        std::fill(conv_state.begin(), conv_state.end(), 0.0f);
        pos = 0;
    } else {
        conv_state = checkpoints.back().conv_state;
        pos = checkpoints.back().pos;
    }
    tokens.resize(static_cast<size_t>(pos));
    return pos;  // the KV rows before pos are still valid; the later ones are overwritten as it goes on
}

void SequenceState::reset() {
    pos = 0;
    tokens.clear();
    checkpoints.clear();
    std::fill(conv_state.begin(), conv_state.end(), 0.0f);
    // the KV cache needs no clearing: positions >= pos are never read
}

// ---- workspace --------------------------------------------------------------------------------

Workspace::Workspace(const Model::Impl& m, int64_t rows_, int64_t ctx, int n_threads)
    : model(&m), n_rows(rows_), n_ctx(ctx) {
    const Config& c = m.config();
    const int64_t H = c.n_embd, d = c.head_dim, kv_dim = c.n_head_kv * d;
    const auto rows = [&](int64_t width) { return std::vector<float>(static_cast<size_t>(n_rows * width)); };
    // the dense FFN runs on the batch; the experts on the batch's k·n (row, expert) pairs
    const int64_t ff_rows = std::max(n_rows * c.n_ff, n_rows * c.n_expert_used * c.n_ff_exp);
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
    const auto moe_rows = static_cast<size_t>(n_rows * c.n_expert_used);
    moe.resize(moe_rows * static_cast<size_t>(H));
    // Activation rows are sized for the weight types this model has (a Q8_K row of H is a
    // quarter of its f32 row): at a 512-token batch that is ~60 MB less scratch for Q4_K_M.
    const Weights& w = m.weights;
    const auto widest = [](size_t& bytes, const Matrix& mat) {
        if (mat.data != nullptr) bytes = std::max(bytes, activation_bytes(mat.type, mat.n_in));
    };
    size_t act_bytes = 0;
    for (const LayerWeights& L : w.layers) {
        for (const Matrix* mat : {&L.in_proj, &L.out_proj, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down})
            widest(act_bytes, *mat);
        for (const Matrix& mat : L.exp_gate) widest(moe_in_stride, mat);
        for (const Matrix& mat : L.exp_up) widest(moe_in_stride, mat);
        for (const Matrix& mat : L.exp_down) widest(moe_down_stride, mat);
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
    act.resize(static_cast<size_t>(n_rows) * act_stride);
    act2.resize(act.size());
    const auto n_thr = static_cast<size_t>(n_threads);
    const auto group = static_cast<size_t>(c.n_head_kv > 0 ? c.n_head / c.n_head_kv : 1);
    scores.resize(n_thr * group * static_cast<size_t>(n_ctx));
    act_q.resize(n_thr * group * static_cast<size_t>(d) * sizeof(float));
    attend_scratch.resize(n_thr * attend_scratch_floats(d));
    router_prob.resize(static_cast<size_t>(c.n_expert));
    router_biased.resize(static_cast<size_t>(c.n_expert));
    expert_sel.resize(moe_rows);
    expert_weight.resize(moe_rows);
    row_pos.resize(static_cast<size_t>(n_rows));
}

}  // namespace lfm
