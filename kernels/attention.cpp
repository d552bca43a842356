// Tiled causal attention for prompt batches, built on the table's attend_block and row
// dequantizers (no ISA code of its own): the cache rows are widened to floats one block at a time
// and shared by the whole tile of queries, instead of read once per query head group.

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels.h"

namespace lfm {

size_t attend_scratch_floats(int64_t d) {
    const auto n = static_cast<size_t>(d);
    return 2 * kAttendTile * n + 2 * static_cast<size_t>(kAttendBlock) * n + 2 * kAttendTile;
}

void attend_tile(const KernelTable& k, DType kv, const float* const* q, int n_q, const int64_t* n_keys,
                 const uint8_t* keys, const uint8_t* values, size_t row_stride, int64_t d, float scale,
                 float* const* out, float* scratch) {
    if (n_q < 1 || n_q > kAttendTile) throw std::invalid_argument("attend_tile: 1..kAttendTile queries");
    const DequantizeRowFn widen = k.dequantize_row[static_cast<uint32_t>(kv)];
    const auto n = static_cast<size_t>(d);
    float* qt = scratch;                                          // [d][kAttendTile]
    float* o = qt + kAttendTile * n;                              // [kAttendTile][d]
    float* kb = o + kAttendTile * n;                              // [kAttendBlock][d]
    float* vb = kb + static_cast<size_t>(kAttendBlock) * n;       // [kAttendBlock][d]
    float* mx = vb + static_cast<size_t>(kAttendBlock) * n;       // [kAttendTile]
    float* sum = mx + kAttendTile;                                // [kAttendTile]
    int64_t longest = 0;
    for (int m = 0; m < kAttendTile; ++m) {
        // unused lanes: zero queries that see nothing, so their sums stay 0 and are never read
        for (int64_t i = 0; i < d; ++i) qt[static_cast<size_t>(i) * kAttendTile + static_cast<size_t>(m)] = m < n_q ? scale * q[m][i] : 0.0f;
        if (m >= n_q) continue;
        if (n_keys[m] < 1) throw std::invalid_argument("attend_tile: every query sees at least one key");
        longest = std::max(longest, n_keys[m]);
    }
    std::fill(o, o + kAttendTile * n, 0.0f);
    std::fill(mx, mx + kAttendTile, -INFINITY);
    std::fill(sum, sum + kAttendTile, 0.0f);
    int32_t visible[kAttendTile];
    for (int64_t r0 = 0; r0 < longest; r0 += kAttendBlock) {
        const int64_t rows = std::min(kAttendBlock, longest - r0);
        for (int64_t r = 0; r < rows; ++r) {
            const size_t at = static_cast<size_t>(r0 + r) * row_stride;
            widen(keys + at, kb + static_cast<size_t>(r) * n, d);
            widen(values + at, vb + static_cast<size_t>(r) * n, d);
        }
        for (int m = 0; m < kAttendTile; ++m)
            visible[m] = m < n_q ? static_cast<int32_t>(std::clamp<int64_t>(n_keys[m] - r0, 0, rows)) : 0;
        k.attend_block(qt, d, kb, vb, rows, visible, mx, sum, o);
    }
    for (int m = 0; m < n_q; ++m) {
        const float inv = 1.0f / sum[m];  // ≥ 1: the largest score contributes exp(0)
        for (int64_t i = 0; i < d; ++i) out[m][i] = o[static_cast<size_t>(m) * n + static_cast<size_t>(i)] * inv;
    }
}

}  // namespace lfm
