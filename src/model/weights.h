#pragma once
// The model's weights bound by role, per layer (llama2.c's TransformerWeights). Matrices are
// views into the mapped file in their stored type; small vectors (norms, conv kernels, router,
// expert bias) are always f32, converted once at load when the file stores them otherwise.
// Shapes in comments are [rows (out), cols (in)], PyTorch order.

#include <deque>
#include <string>
#include <vector>

#include "model_files.h"
#include "../runtime/huge_buffer.h"
#include "kernels.h"
#include "types.h"

namespace lfm {

struct Matrix {
    DType type = DType::kF32;
    int64_t n_in = 0;    // columns: the dot-product length
    int64_t n_out = 0;   // rows
    size_t row_bytes = 0;
    const uint8_t* data = nullptr;
    bool packed8 = false;  // rows repacked 8 at a time for the kernel table's gemv8 (see repack_weights)
    size_t group_bytes = 0;  // packed8: bytes of each group of 8 rows

    // the group of 8 packed rows that holds row r
    const uint8_t* group(int64_t r) const { return data + static_cast<size_t>(r / 8) * group_bytes; }

    // row r of a plain (not packed8) matrix; a packed one gives its rows back with unpack_row8
    const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
    size_t bytes() const { return static_cast<size_t>(n_out) * row_bytes; }
};

struct LayerWeights {
    const float* attn_norm = nullptr;  // [H] "operator_norm"
    const float* ffn_norm = nullptr;   // [H]

    // short-conv layers
    Matrix in_proj;                  // [3H, H], rows B | C | x
    const float* conv = nullptr;     // [H][K_c], tap K_c-1 multiplies the current token
    Matrix out_proj;                 // [H, H]

    // attention layers
    Matrix wq;                       // [n_head·d, H]
    Matrix wk, wv;                   // [n_kv·d, H]
    Matrix wo;                       // [H, n_head·d]
    const float* q_norm = nullptr;   // [d]
    const float* k_norm = nullptr;   // [d]

    // dense SwiGLU layers
    Matrix ffn_gate, ffn_up;         // [F_d, H]
    Matrix ffn_down;                 // [H, F_d]

    // MoE layers
    Matrix router;                   // [E, H], always F32
    const float* expert_bias = nullptr;  // [E], selection only
    std::vector<Matrix> exp_gate, exp_up;  // E × [F_e, H]
    std::vector<Matrix> exp_down;          // E × [H, F_e]
};

struct Weights {
    Matrix token_embd;                   // [V, H]
    const float* output_norm = nullptr;  // [H] the final norm ("embedding_norm")
    Matrix output;                       // [V, H] the head: token_embd when tied
    bool tied_head = true;
    std::vector<LayerWeights> layers;
    std::vector<std::string> unused_tensors;  // present in the file, not part of the model

    std::deque<std::vector<float>> owned;  // f32 copies behind the pointers above, where needed
    std::deque<HugeBuffer> repacked;  // the arena holding the moved matrices (the mapped originals are released)
};

// Binds every tensor the config calls for, checking presence, shape and type; throws
// lfm::Error naming the file and tensor.
Weights bind_weights(const ModelFiles& files);

// Moves every weight matrix into huge-page memory (streaming gigabytes through 4 KiB file pages
// costs TLB misses), rewriting those the kernel table has an 8-row kernel for (Q4_0, Q4_K; Q8_0
// on AVX-512) into that layout, and tells the OS it may drop the mapped original pages: memory
// is replaced, not doubled. The token embedding keeps its layout (its rows are looked up one at
// a time). n_threads move matrices in parallel (page faults and zeroing dominate: one thread
// took ~5 s for a 5 GB file). Returns the bytes moved.
size_t repack_weights(Weights& w, const KernelTable& kt, int n_threads);

}  // namespace lfm
