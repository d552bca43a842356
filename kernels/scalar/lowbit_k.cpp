// The 2- and 3-bit K-quants (types.h: Q2_K, Q3_K). Dequantization follows llama.cpp's arithmetic
// exactly (the sub-block's float scale first, then times the value, minus the float min), so the
// floats are bit-identical to its dequantize_row_q2_K / _q3_K; the dot products sum values times
// activation bytes per 16-element sub-block in int32 and scale per super-block, as it does.

#include "../kquant.h"
#include "../types.h"
#include "scalar.h"

namespace lfm::scalar {

namespace {
// The 2-bit value (0..3) of element e (0..255) of a super-block's qs.
int q2_value(const uint8_t* qs, int e) {
    const int half = e / 128, j = (e % 128) / 32, l = e % 32;
    return (qs[32 * half + l] >> (2 * j)) & 3;
}

// Q3_K's value (-4..3) of element e: the 2-bit value, minus 4 where its hmask bit is clear.
int q3_value(const BlockQ3_K& b, int e) {
    const int half = e / 128, j = (e % 128) / 32, l = e % 32;
    const bool high = (b.hmask[l] >> (4 * half + j)) & 1;
    return q2_value(b.qs, e) - (high ? 0 : 4);
}
}  // namespace

void dequantize_row_q2_k(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ2_K*>(row);
    for (int64_t b = 0; b < n / QK_K; ++b, y += QK_K) {
        const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
        for (int sub = 0; sub < QK_K / 16; ++sub) {
            const float dl = d * static_cast<float>(x[b].scales[sub] & 0xF);
            const float ml = dmin * static_cast<float>(x[b].scales[sub] >> 4);
            for (int e = 16 * sub; e < 16 * sub + 16; ++e)
                y[e] = dl * static_cast<float>(q2_value(x[b].qs, e)) - ml;
        }
    }
}

void dequantize_row_q3_k(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ3_K*>(row);
    for (int64_t b = 0; b < n / QK_K; ++b, y += QK_K) {
        const float d = f16_to_f32(x[b].d);
        for (int sub = 0; sub < QK_K / 16; ++sub) {
            const float dl = d * static_cast<float>(q3_k_scale(x[b].scales, sub));
            for (int e = 16 * sub; e < 16 * sub + 16; ++e) y[e] = dl * static_cast<float>(q3_value(x[b], e));
        }
    }
}

// Σ (d·sc·q - dmin·mn)·dy·qy = d·dy·Σ_sub sc·Σ q·qy - dmin·dy·Σ_sub mn·bsum(sub): the activation's
// bsums are exactly the 16-element sub-blocks.
float vec_dot_q2_k(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ2_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        int isum = 0, msum = 0;
        for (int sub = 0; sub < QK_K / 16; ++sub) {
            int s = 0;
            for (int e = 16 * sub; e < 16 * sub + 16; ++e) s += q2_value(x[b].qs, e) * y[b].qs[e];
            isum += (x[b].scales[sub] & 0xF) * s;
            msum += (x[b].scales[sub] >> 4) * y[b].bsums[sub];
        }
        sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(isum) -
               f16_to_f32(x[b].dmin) * y[b].d * static_cast<float>(msum);
    }
    return sum;
}

// Exact in int32: |Σ q·qy| ≤ 16·4·127 per sub-block, times |sc - 32| ≤ 32, sixteen times < 2^23.
float vec_dot_q3_k(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ3_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        int isum = 0;
        for (int sub = 0; sub < QK_K / 16; ++sub) {
            int s = 0;
            for (int e = 16 * sub; e < 16 * sub + 16; ++e) s += q3_value(x[b], e) * y[b].qs[e];
            isum += q3_k_scale(x[b].scales, sub) * s;
        }
        sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(isum);
    }
    return sum;
}

}  // namespace lfm::scalar
