#pragma once
// The attention row kernels' plain loops, over any row type's dot product or axpy: the scalar
// table's kernels, and the fallbacks of ISA kernels for shapes their register tiles do not
// cover. Header-only so each ISA instantiates it with its own per-row function.

#include <cstddef>
#include <cstdint>

namespace lfm::row_loops {

inline const uint8_t* row_at(const void* rows, size_t stride, int64_t r) {
    return static_cast<const uint8_t*>(rows) + static_cast<size_t>(r) * stride;
}

// out[j·out_stride + r] = scale · Dot(row r, q_j) for n_q queries q_j = q + j·q_stride.
template <float (*Dot)(const void*, const void*, int64_t)>
void dot_rows_by(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q, int64_t n,
                 float scale, float* out, size_t out_stride) {
    for (int j = 0; j < n_q; ++j)
        for (int64_t r = 0; r < n_rows; ++r)
            out[static_cast<size_t>(j) * out_stride + static_cast<size_t>(r)] =
                scale * Dot(row_at(rows, stride, r), static_cast<const uint8_t*>(q) + static_cast<size_t>(j) * q_stride, n);
}

// y_j += Σ_r w_j[r]·row r through Axpy, for n_q weight rows w_j = w + j·w_stride, y_j = y + j·y_stride.
template <void (*Axpy)(float, const void*, float*, int64_t)>
void axpy_rows_by(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q, float* y,
                  size_t y_stride, int64_t n) {
    for (int j = 0; j < n_q; ++j)
        for (int64_t r = 0; r < n_rows; ++r)
            Axpy(w[static_cast<size_t>(j) * w_stride + static_cast<size_t>(r)], row_at(rows, stride, r),
                 y + static_cast<size_t>(j) * y_stride, n);
}

}  // namespace lfm::row_loops
