#pragma once
// The kernel table: every numeric operation of the forward pass, as plain functions over
// pointers and lengths. Kernels know nothing of models, tensors' names or layers, and never
// allocate. One table per ISA; dispatch.cpp picks one at start-up (LFM_ISA forces a choice).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "types.h"

namespace lfm {

// Converts n floats to the activation format `t` (F32, F16, BF16, Q8_0, Q8_1 or Q8_K);
// n is a multiple of that format's block size. Output: row_bytes(t, n) bytes.
using QuantizeRowFn = void (*)(const float* x, void* out, int64_t n);
// Dot product of one weight row (type W) with an activation row already in W's vec_dot_type.
using VecDotFn = float (*)(const void* w_row, const void* act_row, int64_t n);
// One weight row against 4 activation rows act, act + act_stride, ...: out[j] = W·act_j. Prompt
// batches use it so each weight block is unpacked once for 4 tokens. Null where an ISA has none.
using VecDotX4Fn = void (*)(const void* w_row, const void* act, size_t act_stride, int64_t n, float* out);
// Eight rows repacked together (e.g. BlockQ4_0x8) against one activation row: out[0..7].
using Gemv8Fn = void (*)(const void* packed_rows, const void* act, int64_t n, float* out);
// Eight repacked rows against 4 activation rows act + j * act_stride (a prompt batch): the
// weights are unpacked once for four tokens. out[j * out_stride + r] for token j, row r.
using Gemm8x4Fn = void (*)(const void* packed_rows, const void* act, size_t act_stride, int64_t n, float* out,
                           size_t out_stride);
// Sixteen repacked rows (the 8-row groups at packed_rows and packed_rows + group_bytes) against
// 8 activation rows act + j * act_stride (as quantize_activation writes them, block sums
// included): out[j * out_stride + r] for token j, row r (0..15).
using Gemm16x8Fn = void (*)(const void* packed_rows, size_t group_bytes, const void* act, size_t act_stride, int64_t n,
                            float* out, size_t out_stride);
// Thirty-two repacked rows (the four 8-row groups at packed_rows + i * group_bytes) against 4
// activation rows, otherwise as Gemm16x8Fn: out[j * out_stride + r], r = 0..31.
using Gemm32x4Fn = Gemm16x8Fn;
// y[i] += a * x[i] over a row x of type F32 or F16 (the KV cache's V rows, weighted by attention).
using AxpyFn = void (*)(float a, const void* x, float* y, int64_t n);
// Attention over the KV cache for n_q query heads that share one KV head (grouped-query
// attention): each key or value row is read once for all of them. Rows of type t (F32, F16, Q8_0),
// `stride` bytes apart; q_stride in bytes, the other strides in floats.
//   dot_rows:  out[j·out_stride + r] = scale · (row r · q_j),  q_j = q + j·q_stride, already in t
//   axpy_rows: y_j += Σ_r w_j[r] · row r,  w_j = w + j·w_stride,  y_j = y + j·y_stride
using DotRowsFn = void (*)(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q,
                           int64_t n, float scale, float* out, size_t out_stride);
using AxpyRowsFn = void (*)(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q,
                            float* y, size_t y_stride, int64_t n);
// Expands n elements of a weight row to floats.
using DequantizeRowFn = void (*)(const void* row, float* out, int64_t n);

// Flash attention (prompt batches): a tile of kAttendTile queries meets the keys and values a
// block of at most kAttendBlock rows at a time, with a running (online) softmax, so each block
// of cache rows is converted to floats once for the whole tile and the scores never leave L1.
constexpr int kAttendTile = 16;
constexpr int64_t kAttendBlock = 64;
// One block: qt holds the tile's queries already scaled, transposed: qt[i·kAttendTile + m] is
// element i of query m. k and v: n_rows (≤ kAttendBlock) rows of d floats. Query m sees rows
// r < n_visible[m] only (≤ 0: none of them). Per query the running max mx[m] and sum of
// exponentials sum[m] are updated, and its unnormalised output o[m·d .. m·d+d) is rescaled to
// the new max and the block's weighted values added. Start with mx = -inf, sum = o = 0.
using AttendBlockFn = void (*)(const float* qt, int64_t d, const float* k, const float* v, int64_t n_rows,
                               const int32_t* n_visible, float* mx, float* sum, float* o);

struct KernelTable {
    const char* isa;  // "scalar", "avx2", ...

    // Indexed by ggml type id; null where a type is not handled.
    QuantizeRowFn quantize_row[kDTypeIdLimit];
    VecDotFn vec_dot[kDTypeIdLimit];
    VecDotX4Fn vec_dot_x4[kDTypeIdLimit];
    Gemv8Fn gemv8[kDTypeIdLimit];  // for weights repacked with repack_rows8; null: no repacking
    Gemm8x4Fn gemm8x4[kDTypeIdLimit];  // the same weights, four tokens at a time; may be null
    Gemm16x8Fn gemm16x8[kDTypeIdLimit];  // the same weights, 16 rows x 8 tokens (512-bit ISAs); may be null
    Gemm32x4Fn gemm32x4[kDTypeIdLimit];  // the same weights, 32 rows x 4 tokens (512-bit ISAs); may be null
    DequantizeRowFn dequantize_row[kDTypeIdLimit];
    AxpyFn axpy[kDTypeIdLimit];  // F32 and F16
    DotRowsFn dot_rows[kDTypeIdLimit];    // F32, F16 and Q8_0 (the KV cache types)
    AxpyRowsFn axpy_rows[kDTypeIdLimit];  // F32, F16 and Q8_0

    AttendBlockFn attend_block;

    // y = w ⊙ x / sqrt(mean(x²) + eps), in place allowed (y == x).
    void (*rmsnorm)(const float* x, const float* w, float* y, int64_t n, float eps);
    // NeoX rotary embedding of n_heads consecutive heads of head_dim at position pos; in place.
    // cos_sin holds head_dim/2 (cos, sin) pairs for that position.
    void (*rope_neox)(float* x, int n_heads, int head_dim, const float* cos_sin);
    // In-place softmax over n values (max-subtracted, f32).
    void (*softmax)(float* x, int64_t n);
    // gate[i] = silu(gate[i]) * up[i]
    void (*silu_mul)(float* gate, const float* up, int64_t n);
    // One short-conv step over channels: y[c] = Σ_j w[c*k+j]·window_j[c] where the window is the
    // k-1 state columns (oldest first, state[j*n + c]) followed by s[c]; then the state shifts
    // left and s is appended.
    void (*short_conv_step)(const float* s, const float* w, float* state, float* y, int64_t n, int k);
    // Σ of n 64-bit words (wrapping): a pure stream of reads with the ISA's vector loads, which is
    // how the memory-bandwidth figures that decode speed is judged against are measured.
    uint64_t (*read_sum)(const uint64_t* p, int64_t n);
};

// The table chosen for this process (detected once; LFM_ISA=scalar|avx2|avx512|neon|neon-dotprod|
// neon-nodot overrides; "neon" is the best NEON table the CPU runs).
const KernelTable& kernels();
// A specific table, or null when this build/CPU does not provide it.
const KernelTable* kernel_table(const std::string& isa);
// ISAs usable on this machine, best first.
std::vector<std::string> available_isas();

const KernelTable& scalar_kernel_table();
// Per-ISA tables, defined only in builds for that architecture; call through kernel_table(),
// which also checks that the CPU and OS support them.
const KernelTable& avx2_kernel_table();
const KernelTable& avx512_kernel_table();
const KernelTable& neon_kernel_table();
const KernelTable& neon_dotprod_kernel_table();
const KernelTable& neon_i8mm_kernel_table();

// ---- composite helpers built on a table (no ISA code of their own) ----------------------------

// Rearranges n_rows (a multiple of 8) rows of type t into the 8-row interleaved layout the
// table's gemv8[t] reads (Q4_0, Q8_0, Q4_K, Q6_K, Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4:
// types.h's Block*x8); dst and src do not overlap. A type without such a layout is a logic_error.
void repack_rows8(DType t, const uint8_t* src, uint8_t* dst, int64_t n_rows, int64_t n_cols);
// Bytes of one group of 8 repacked rows of n_cols: the same as 8 plain rows for every type.
size_t packed8_group_bytes(DType t, int64_t n_cols);
// The inverse for one row: row r (0..7) of the repacked group, byte for byte as it was before
// repack_rows8 (row_bytes(t, n_cols) bytes). For the tied embedding table, whose rows the
// output head reads 8 at a time and the token lookup one at a time.
void unpack_row8(DType t, const uint8_t* group, int r, uint8_t* row, int64_t n_cols);

// Bytes needed to hold one activation row of n floats converted for weights of type w (for a
// Q8_0 vec_dot type: the blocks, then their sums, see q8_0_neg_sums).
size_t activation_bytes(DType w, int64_t n);
// y[r] = W[r]·x for r in [r0, r1). `act` is x already converted by quantize_activation.
void matvec_rows(const KernelTable& k, DType w, const void* weights, size_t w_row_bytes,
                 const void* act, int64_t n, float* y, int64_t r0, int64_t r1);
void quantize_activation(const KernelTable& k, DType w, const float* x, void* out, int64_t n);
// Repacked weights (repack_rows8; group_bytes per 8 rows) times n_tok activation rows, act_stride
// bytes apart: y[t * y_stride + r] = W[r]·act_t for r in [r0, r1), multiples of 8. Uses the
// table's widest batched kernel (16 rows x 8 tokens, then 8 x 4) and gemv8 for the last tokens;
// keep r1 - r0 small enough for those rows to stay in cache while the tokens pass.
void matmul_packed_rows(const KernelTable& k, DType w, const uint8_t* packed, size_t group_bytes, const uint8_t* act,
                        size_t act_stride, int64_t n_tok, int64_t n, float* y, int64_t y_stride, int64_t r0, int64_t r1);

// Causal attention of n_q ≤ kAttendTile queries (q[m]: d floats) over rows of one KV head's cache
// (type kv: F32, F16 or Q8_0; `row_stride` bytes apart): query m attends to rows [0, n_keys[m]),
// n_keys[m] ≥ 1. out[m] = Σ_r softmax_r(scale · q_m·K_r) · V_r. scratch: attend_scratch_floats(d).
void attend_tile(const KernelTable& k, DType kv, const float* const* q, int n_q, const int64_t* n_keys,
                 const uint8_t* keys, const uint8_t* values, size_t row_stride, int64_t d, float scale,
                 float* const* out, float* scratch);
size_t attend_scratch_floats(int64_t d);

}  // namespace lfm
