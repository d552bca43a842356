// Float operations of the forward pass (architecture.md §2, §3).

#include <algorithm>
#include <cmath>

#include "../kernels.h"
#include "../row_loops.h"
#include "scalar.h"
#include "../types.h"

namespace lfm::scalar {

void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
    for (int64_t i = 0; i < n; ++i) y[i] = w[i] * (x[i] * r);
}

void rope_neox(float* x, int n_heads, int head_dim, const float* cos_sin) {
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; ++h, x += head_dim) {
        for (int m = 0; m < half; ++m) {
            const float c = cos_sin[2 * m], s = cos_sin[2 * m + 1];
            const float a = x[m], b = x[m + half];
            x[m] = a * c - b * s;
            x[m + half] = b * c + a * s;
        }
    }
}

void softmax(float* x, int64_t n) {
    float max = x[0];
    for (int64_t i = 1; i < n; ++i) max = std::max(max, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

// The plain loops of the flash-attention step (kernels.h): scores, masked running max, the
// rescale of the old sums and outputs, then the block's weighted values.
void attend_block(const float* qt, int64_t d, const float* k, const float* v, int64_t n_rows,
                  const int32_t* n_visible, float* mx, float* sum, float* o) {
    constexpr float kNone = -INFINITY;
    float p[kAttendBlock];
    for (int m = 0; m < kAttendTile; ++m) {
        float block_max = kNone;
        for (int64_t r = 0; r < n_rows; ++r) {
            float s = 0.0f;
            for (int64_t i = 0; i < d; ++i) s += qt[i * kAttendTile + m] * k[r * d + i];
            p[r] = r < n_visible[m] ? s : kNone;
            block_max = std::max(block_max, p[r]);
        }
        const float new_max = std::max(mx[m], block_max);
        const float shift = new_max == kNone ? 0.0f : new_max;  // nothing seen yet: every weight is 0
        const float alpha = std::exp(mx[m] - shift);
        float* om = o + m * d;
        for (int64_t i = 0; i < d; ++i) om[i] *= alpha;
        float block_sum = 0.0f;
        for (int64_t r = 0; r < n_rows; ++r) {
            const float w = std::exp(p[r] - shift);
            block_sum += w;
            for (int64_t i = 0; i < d; ++i) om[i] += w * v[r * d + i];
        }
        sum[m] = sum[m] * alpha + block_sum;
        mx[m] = new_max;
    }
}

void silu_mul(float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void short_conv_step(const float* s, const float* w, float* state, float* y, int64_t n, int k) {
    for (int64_t c = 0; c < n; ++c) {
        const float* wc = w + c * k;
        float acc = wc[k - 1] * s[c];
        for (int j = 0; j < k - 1; ++j) acc += wc[j] * state[j * n + c];
        y[c] = acc;
        for (int j = 0; j + 1 < k - 1; ++j) state[j * n + c] = state[(j + 1) * n + c];
        if (k > 1) state[(k - 2) * n + c] = s[c];
    }
}

void axpy_f32(float a, const void* x, float* y, int64_t n) {
    const auto* v = static_cast<const float*>(x);
    for (int64_t i = 0; i < n; ++i) y[i] += a * v[i];
}

void axpy_f16(float a, const void* x, float* y, int64_t n) {
    const auto* v = static_cast<const f16_t*>(x);
    for (int64_t i = 0; i < n; ++i) y[i] += a * f16_to_f32(v[i]);
}

using row_loops::axpy_rows_by;
using row_loops::dot_rows_by;
using row_loops::row_at;

void dot_rows_f32(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q, int64_t n,
                  float scale, float* out, size_t out_stride) {
    dot_rows_by<vec_dot_f32>(rows, stride, n_rows, q, q_stride, n_q, n, scale, out, out_stride);
}

void dot_rows_f16(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q, int64_t n,
                  float scale, float* out, size_t out_stride) {
    dot_rows_by<vec_dot_f16>(rows, stride, n_rows, q, q_stride, n_q, n, scale, out, out_stride);
}

void axpy_rows_f32(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q, float* y,
                   size_t y_stride, int64_t n) {
    axpy_rows_by<axpy_f32>(rows, stride, n_rows, w, w_stride, n_q, y, y_stride, n);
}

void axpy_rows_f16(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q, float* y,
                   size_t y_stride, int64_t n) {
    axpy_rows_by<axpy_f16>(rows, stride, n_rows, w, w_stride, n_q, y, y_stride, n);
}

// Q8_0 cache rows (--kv-type q8_0): the query is a Q8_0 row too, so a score is the Q8_0 dot
// product; a value row adds its int8 elements times its block scale.
void dot_rows_q8_0(const void* rows, size_t stride, int64_t n_rows, const void* q, size_t q_stride, int n_q, int64_t n,
                   float scale, float* out, size_t out_stride) {
    dot_rows_by<vec_dot_q8_0>(rows, stride, n_rows, q, q_stride, n_q, n, scale, out, out_stride);
}

void axpy_rows_q8_0(const void* rows, size_t stride, int64_t n_rows, const float* w, size_t w_stride, int n_q, float* y,
                    size_t y_stride, int64_t n) {
    for (int j = 0; j < n_q; ++j) {
        float* yj = y + static_cast<size_t>(j) * y_stride;
        for (int64_t r = 0; r < n_rows; ++r) {
            const auto* x = reinterpret_cast<const BlockQ8_0*>(row_at(rows, stride, r));
            const float a = w[static_cast<size_t>(j) * w_stride + static_cast<size_t>(r)];
            for (int64_t b = 0; b < n / QK; ++b) {
                const float ad = a * f16_to_f32(x[b].d);
                for (int i = 0; i < QK; ++i) yj[b * QK + i] += ad * static_cast<float>(x[b].qs[i]);
            }
        }
    }
}

uint64_t read_sum(const uint64_t* p, int64_t n) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // independent sums
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    for (; i < n; ++i) s0 += p[i];
    return s0 + s1 + s2 + s3;
}

}  // namespace lfm::scalar
