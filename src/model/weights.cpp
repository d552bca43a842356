#include "weights.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>

#include "../runtime/platform.h"
#include "../runtime/thread_pool.h"
#include "finite.h"
#include "kernels.h"
#include "lfm/error.h"

namespace lfm {

namespace {

class Binder {
public:
    Binder(const ModelFiles& files, Weights& w) : files_(files), w_(w) {}

    const TensorInfo& get(const std::string& name, std::initializer_list<int64_t> shape) {
        const TensorInfo* t = files_.find(name);
        if (t == nullptr)
            throw Error(ErrorCode::kInvalidFile, fmt::format("{}: required tensor '{}' is missing", files_.path, name));
        check_shape(*t, shape);
        used_.insert(name);
        return *t;
    }

    Matrix matrix(const std::string& name, int64_t n_out, int64_t n_in) {
        return to_matrix(get(name, {n_in, n_out}));
    }

    // A vector of n floats (1-D, or any shape with n elements when `shape` is given).
    const float* floats(const std::string& name, std::initializer_list<int64_t> shape) {
        return as_f32(get(name, shape));
    }

    // E expert matrices, from a stacked [in, out, E] GGUF tensor or per-expert tensors.
    std::vector<Matrix> experts(const std::string& name, int64_t n_expert, int64_t n_out, int64_t n_in) {
        std::vector<Matrix> out;
        if (files_.find(name) != nullptr) {
            const Matrix all = to_matrix(get(name, {n_in, n_out, n_expert}));
            for (int64_t e = 0; e < n_expert; ++e) {
                Matrix m = all;
                m.n_out = n_out;
                m.data = all.data + static_cast<size_t>(e * n_out) * all.row_bytes;
                out.push_back(m);
            }
            return out;
        }
        for (int64_t e = 0; e < n_expert; ++e) out.push_back(matrix(name + "." + std::to_string(e), n_out, n_in));
        return out;
    }

    // Router weights are used in f32 whatever the file stores.
    Matrix f32_matrix(const std::string& name, int64_t n_out, int64_t n_in) {
        const TensorInfo& t = get(name, {n_in, n_out});
        Matrix m = to_matrix(t);
        m.type = DType::kF32;
        m.row_bytes = sizeof(float) * static_cast<size_t>(n_in);
        m.data = reinterpret_cast<const uint8_t*>(as_f32(t));
        return m;
    }

    void collect_unused() {
        for (const TensorInfo& t : files_.tensors)
            if (!used_.count(t.name)) w_.unused_tensors.push_back(t.name);
    }

private:
    void check_shape(const TensorInfo& t, std::initializer_list<int64_t> shape) const {
        std::array<int64_t, 4> want{1, 1, 1, 1};
        size_t d = 0;
        for (int64_t v : shape) want[d++] = v;
        if (want != t.ne) {
            std::string w = "[";
            for (size_t k = 0; k < shape.size(); ++k) w += (k ? ", " : "") + std::to_string(want[k]);
            throw Error(ErrorCode::kInvalidFile, fmt::format("{}: tensor '{}' has shape {}, expected {} (ggml order)",
                                                             files_.path, t.name, t.shape_string(), w + "]"));
        }
    }

    Matrix to_matrix(const TensorInfo& t) const {
        Matrix m;
        m.type = t.type;
        m.n_in = t.ne[0];
        m.n_out = t.ne[1];
        m.row_bytes = row_bytes(t.type, t.ne[0]);
        m.data = t.data;
        return m;
    }

    // Norms, conv kernels, router and expert bias: small, so checked for NaN and Inf here (a NaN
    // norm weight would pass unseen through the next matmul's activation quantization).
    const float* as_f32(const TensorInfo& t) {
        const float* out = nullptr;
        if (t.type == DType::kF32) {
            if (reinterpret_cast<uintptr_t>(t.data) % alignof(float) != 0)
                throw Error(ErrorCode::kInvalidFile, files_.path + ": tensor '" + t.name + "' is misaligned");
            out = reinterpret_cast<const float*>(t.data);
        } else {
            std::vector<float>& v = w_.owned.emplace_back(static_cast<size_t>(t.n_elements()));
            const DequantizeRowFn deq = kernels().dequantize_row[static_cast<uint32_t>(t.type)];
            const int64_t n_rows = t.n_elements() / t.ne[0];
            const size_t rb = row_bytes(t.type, t.ne[0]);
            for (int64_t r = 0; r < n_rows; ++r) deq(t.data + static_cast<size_t>(r) * rb, v.data() + r * t.ne[0], t.ne[0]);
            out = v.data();
        }
        if (!all_finite({out, static_cast<size_t>(t.n_elements())}))
            throw Error(ErrorCode::kInvalidFile, fmt::format("{}: tensor '{}' holds NaN or Inf: the file is probably corrupt "
                                                             "(check its checksum, or download it again)",
                                                             files_.path, t.name));
        return out;
    }

    const ModelFiles& files_;
    Weights& w_;
    std::set<std::string> used_;
};

}  // namespace

Weights bind_weights(const ModelFiles& files) {
    const Config& c = files.config;
    Weights w;
    Binder b(files, w);
    const int64_t H = c.n_embd, d = c.head_dim;

    w.token_embd = b.matrix("token_embd.weight", c.n_vocab, H);
    w.output_norm = b.floats(files.find("token_embd_norm.weight") ? "token_embd_norm.weight" : "output_norm.weight", {H});
    if (files.find("output.weight") != nullptr) {
        w.output = b.matrix("output.weight", c.n_vocab, H);
        w.tied_head = false;
    } else {
        w.output = w.token_embd;
    }

    w.layers.resize(static_cast<size_t>(c.n_layer));
    for (int64_t l = 0; l < c.n_layer; ++l) {
        LayerWeights& L = w.layers[static_cast<size_t>(l)];
        const std::string p = fmt::format("blk.{}.", l);
        L.attn_norm = b.floats(p + "attn_norm.weight", {H});
        L.ffn_norm = b.floats(p + "ffn_norm.weight", {H});
        if (c.is_attention(l)) {
            L.wq = b.matrix(p + "attn_q.weight", c.n_head * d, H);
            L.wk = b.matrix(p + "attn_k.weight", c.n_head_kv * d, H);
            L.wv = b.matrix(p + "attn_v.weight", c.n_head_kv * d, H);
            L.wo = b.matrix(p + "attn_output.weight", H, c.n_head * d);
            L.q_norm = b.floats(p + "attn_q_norm.weight", {d});
            L.k_norm = b.floats(p + "attn_k_norm.weight", {d});
        } else {
            L.in_proj = b.matrix(p + "shortconv.in_proj.weight", 3 * H, H);
            L.conv = b.floats(p + "shortconv.conv.weight", {c.conv_kernel, H});
            L.out_proj = b.matrix(p + "shortconv.out_proj.weight", H, H);
        }
        if (c.is_moe_layer(l)) {
            L.router = b.f32_matrix(p + "ffn_gate_inp.weight", c.n_expert, H);
            L.expert_bias = b.floats(p + "exp_probs_b.bias", {c.n_expert});
            L.exp_gate = b.experts(p + "ffn_gate_exps.weight", c.n_expert, c.n_ff_exp, H);
            L.exp_up = b.experts(p + "ffn_up_exps.weight", c.n_expert, c.n_ff_exp, H);
            L.exp_down = b.experts(p + "ffn_down_exps.weight", c.n_expert, H, c.n_ff_exp);
        } else {
            L.ffn_gate = b.matrix(p + "ffn_gate.weight", c.n_ff, H);
            L.ffn_up = b.matrix(p + "ffn_up.weight", c.n_ff, H);
            L.ffn_down = b.matrix(p + "ffn_down.weight", H, c.n_ff);
        }
    }
    b.collect_unused();
    return w;
}

namespace {

// The whole pages inside [p, p + n): given back to the OS (a read-only file mapping re-reads
// them if ever touched again, which the repacked model never does). Returns how far from p they
// reach (0 if none), where the next release of the same range should start.
size_t release_pages(const uint8_t* p, size_t n) {
    const uintptr_t page = page_size();
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (end <= begin) return 0;
    discard_pages(reinterpret_cast<void*>(begin), end - begin);
    return end - reinterpret_cast<uintptr_t>(p);
}

}  // namespace

size_t repack_weights(Weights& w, const KernelTable& kt, int n_threads) {
    // Every matrix, and whether its rows are interleaved for the 8-row kernels. The embedding's
    // rows are looked up one at a time: same layout, new memory, unless it is also the output
    // head, which reads all its rows for every token (a fifth of Q4_K_M's bytes per token): then
    // it is interleaved too, and the lookup restores its rows one at a time (unpack_row8).
    std::vector<std::pair<Matrix*, bool>> todo;
    for (LayerWeights& L : w.layers) {
        for (Matrix* m : {&L.in_proj, &L.out_proj, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down})
            todo.emplace_back(m, true);
        for (auto* experts : {&L.exp_gate, &L.exp_up, &L.exp_down})
            for (Matrix& m : *experts) todo.emplace_back(&m, true);
    }
    todo.emplace_back(&w.token_embd, w.tied_head);
    if (!w.tied_head) todo.emplace_back(&w.output, true);
    auto pack8 = [&](const Matrix& m, bool interleave) {
        return interleave && m.n_out % 8 == 0 && kt.gemv8[static_cast<uint32_t>(m.type)] != nullptr;
    };
    auto new_bytes = [&](const Matrix& m, bool interleave) {
        const size_t bytes = pack8(m, interleave) ? static_cast<size_t>(m.n_out / 8) * packed8_group_bytes(m.type, m.n_in)
                                                  : m.bytes();
        return (bytes + 63) / 64 * 64;  // each matrix on a cache line
    };
    // One huge-page arena for all of them: a matrix of its own (an expert's is ~2 MiB) would
    // rarely cover an aligned 2 MiB page, and decode would stream it through 4 KiB pages.
    size_t total = 0;
    for (const auto& [m, interleave] : todo)
        if (m->data != nullptr && !m->packed8) total += new_bytes(*m, interleave);
    HugeBuffer& arena = w.repacked.emplace_back(total);
    // Each matrix's place in the arena, in the order above; then the moves in parallel, largest
    // first, each thread taking the next matrix left: the 215 MB embedding must not be last
    // behind a thread that is done. Most of a move is the kernel zeroing the arena's fresh
    // pages and faulting in the file's, which parallelizes like the copy itself.
    struct Move {
        Matrix* m;
        bool packed;
        uint8_t* to;
    };
    std::vector<Move> moves;
    uint8_t* at = arena.data();
    for (const auto& [m, interleave] : todo) {
        if (m->data == nullptr || m->packed8) continue;
        moves.push_back({m, pack8(*m, interleave), at});
        at += new_bytes(*m, interleave);
    }
    std::stable_sort(moves.begin(), moves.end(), [](const Move& a, const Move& b) { return a.m->bytes() > b.m->bytes(); });
    auto move = [](const Move& mv) {
        Matrix* m = mv.m;
        // In slices of ~16 MiB, each slice's file pages given back once moved: the 215 MB head
        // moved whole kept its file pages and their copy resident together (peak RSS +200 MB).
        const int64_t slice = std::max<int64_t>(8, static_cast<int64_t>((size_t{16} << 20) / m->row_bytes) / 8 * 8);
        size_t released = 0;  // bytes from m->data whose pages are given back
        for (int64_t r = 0; r < m->n_out; r += slice) {
            const int64_t rows = std::min(slice, m->n_out - r);
            const uint8_t* src = m->row(r);
            if (mv.packed) repack_rows8(m->type, src, mv.to + static_cast<size_t>(r / 8) * packed8_group_bytes(m->type, m->n_in), rows, m->n_in);
            else std::memcpy(mv.to + static_cast<size_t>(r) * m->row_bytes, src, static_cast<size_t>(rows) * m->row_bytes);
            released += release_pages(m->data + released, static_cast<size_t>(r + rows) * m->row_bytes - released);
        }
        m->data = mv.to;
        m->packed8 = mv.packed;
        if (mv.packed) m->group_bytes = packed8_group_bytes(m->type, m->n_in);
    };
    std::atomic<size_t> next{0};
    std::mutex failed_lock;
    std::exception_ptr failed;  // the pool's sections must not throw: the first error, rethrown here
    ThreadPool pool(std::max(1, std::min<int>(n_threads, static_cast<int>(moves.size()))));
    pool.run([&](int, int) {
        try {
            for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < moves.size();) move(moves[i]);
        } catch (...) {
            next = moves.size();
            const std::lock_guard<std::mutex> hold(failed_lock);
            if (!failed) failed = std::current_exception();
        }
    });
    if (failed) std::rethrow_exception(failed);
    if (w.tied_head) w.output = w.token_embd;
    return total;
}

}  // namespace lfm
