// The non-linear 4-bit weight types (types.h: IQ4_NL, IQ4_XS, MXFP4): each nibble indexes a table
// of 16 int8 values. Dequantization follows llama.cpp's arithmetic exactly (the same float
// products in the same order), so the floats are bit-identical to its dequantize_row_*; the dot
// products sum table values times activation bytes in int32 and scale per block, as it does.

#include "../types.h"
#include "scalar.h"

namespace lfm::scalar {

namespace {
// Σ table[nibble]·y over one 32-element block in Q4_0 order (low nibbles, then high nibbles).
int nibble_table_dot(const uint8_t* qs, const int8_t* table, const int8_t* y) {
    int sum = 0;
    for (int j = 0; j < QK / 2; ++j) {
        sum += table[qs[j] & 0xF] * y[j];
        sum += table[qs[j] >> 4] * y[j + QK / 2];
    }
    return sum;
}

void dequantize_nibbles(const uint8_t* qs, const int8_t* table, float d, float* y) {
    for (int j = 0; j < QK / 2; ++j) {
        y[j] = d * static_cast<float>(table[qs[j] & 0xF]);
        y[j + QK / 2] = d * static_cast<float>(table[qs[j] >> 4]);
    }
}

// The 6-bit sub-scale of sub-block ib (0..7) of an IQ4_XS block, minus its offset 32.
int iq4_xs_scale(const BlockIQ4_XS& b, int ib) {
    const int lo = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    const int hi = (b.scales_h >> (2 * ib)) & 3;
    return (lo | hi << 4) - 32;
}
}  // namespace

void dequantize_row_iq4_nl(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_NL*>(row);
    for (int64_t b = 0; b < n / QK; ++b, y += QK)
        dequantize_nibbles(x[b].qs, kIQ4NLValues, f16_to_f32(x[b].d), y);
}

void dequantize_row_iq4_xs(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_XS*>(row);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const float d = f16_to_f32(x[b].d);
        for (int ib = 0; ib < QK_K / QK; ++ib, y += QK) {
            const float dl =
                d * static_cast<float>(iq4_xs_scale(x[b], ib));  // rounded once, as llama.cpp does
            dequantize_nibbles(x[b].qs + 16 * ib, kIQ4NLValues, dl, y);
        }
    }
}

void dequantize_row_mxfp4(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockMXFP4*>(row);
    for (int64_t b = 0; b < n / QK; ++b, y += QK)
        dequantize_nibbles(x[b].qs, kMXFP4Values, e8m0_half_to_f32(x[b].e), y);
}

float vec_dot_iq4_nl(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_NL*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK; ++b) {
        const int sumi = nibble_table_dot(x[b].qs, kIQ4NLValues, y[b].qs);
        sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
    }
    return sum;
}

// Σ_sub (ls - 32)·Σ(v·qy) stays exact in int32: |Σ v·qy| ≤ 32·127·127, times 32, times 8 sub-blocks < 2^31.
float vec_dot_iq4_xs(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_XS*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        int isum = 0;
        for (int ib = 0; ib < QK_K / QK; ++ib)
            isum +=
                iq4_xs_scale(x[b], ib) * nibble_table_dot(x[b].qs + 16 * ib, kIQ4NLValues, y[b].qs + QK * ib);
        sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(isum);
    }
    return sum;
}

float vec_dot_mxfp4(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockMXFP4*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK; ++b) {
        const int sumi = nibble_table_dot(x[b].qs, kMXFP4Values, y[b].qs);
        sum += static_cast<float>(sumi) * (e8m0_half_to_f32(x[b].e) * f16_to_f32(y[b].d));
    }
    return sum;
}

}  // namespace lfm::scalar
