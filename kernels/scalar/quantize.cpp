// Activation quantizers and weight dequantizers, one block at a time (gguf.md §4 and §5).

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../kquant.h"
#include "../types.h"
#include "scalar.h"

namespace lfm::scalar {

// ---- activations ------------------------------------------------------------------------------

void quantize_row_f32(const float* x, void* out, int64_t n) { std::memcpy(out, x, sizeof(float) * n); }

void quantize_row_f16(const float* x, void* out, int64_t n) {
    auto* y = static_cast<f16_t*>(out);
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_f16(x[i]);
}

void quantize_row_bf16(const float* x, void* out, int64_t n) {
    auto* y = static_cast<bf16_t*>(out);
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

namespace {

// Q8_0 and Q8_1 share the quantization of one 32-block: d = max|x| / 127, q = round(x · 127/max|x|),
// ties to even, as llama.cpp's x86 and ARM quantizers do (its portable reference rounds ties away
// from zero and multiplies by 1/d; the two differ only on exact ties and in the last ulp).
// Returns the float d (before it is stored as f16) and the sum of the q's.
float quantize_block_q8(const float* x, int8_t* qs, int& qsum) {
    float amax = 0.0f;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qsum = 0;
    for (int j = 0; j < QK; ++j) {
        qs[j] = static_cast<int8_t>(std::round(x[j] * id));
        qsum += qs[j];
    }
    return d;
}

}  // namespace

void quantize_row_q8_0(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(out);
    for (int64_t b = 0; b < n / QK; ++b) {
        int qsum;
        y[b].d = f32_to_f16(quantize_block_q8(x + b * QK, y[b].qs, qsum));
    }
}

void quantize_row_q8_1(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_1*>(out);
    for (int64_t b = 0; b < n / QK; ++b) {
        int qsum;
        const float d = quantize_block_q8(x + b * QK, y[b].qs, qsum);
        y[b].d = f32_to_f16(d);
        y[b].s = f32_to_f16(d * static_cast<float>(qsum));
    }
}

void quantize_row_q8_k(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(out);
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        // the signed value of largest magnitude sets the scale, so it maps to exactly -127
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK_K; ++j) {
            if (std::fabs(x[j]) > amax) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof(BlockQ8_K));
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; ++j) {
            const long v = std::lrint(iscale * x[j]);  // nearest, ties to even
            y[b].qs[j] = static_cast<int8_t>(std::min(127L, v));
        }
        for (int g = 0; g < QK_K / 16; ++g) {
            int s = 0;
            for (int j = 0; j < 16; ++j) s += y[b].qs[g * 16 + j];
            y[b].bsums[g] = static_cast<int16_t>(s);
        }
        y[b].d = 1.0f / iscale;
    }
}

// ---- weights ----------------------------------------------------------------------------------

void dequantize_row_f32(const void* row, float* y, int64_t n) { std::memcpy(y, row, sizeof(float) * n); }

void dequantize_row_f16(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const f16_t*>(row);
    for (int64_t i = 0; i < n; ++i) y[i] = f16_to_f32(x[i]);
}

void dequantize_row_bf16(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const bf16_t*>(row);
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(x[i]);
}

void dequantize_row_q4_0(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ4_0*>(row);
    for (int64_t b = 0; b < n / QK; ++b, y += QK) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK / 2; ++j) {
            y[j] = d * static_cast<float>((x[b].qs[j] & 0xF) - 8);
            y[j + QK / 2] = d * static_cast<float>((x[b].qs[j] >> 4) - 8);
        }
    }
}

void dequantize_row_q4_1(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ4_1*>(row);
    for (int64_t b = 0; b < n / QK; ++b, y += QK) {
        const float d = f16_to_f32(x[b].d), m = f16_to_f32(x[b].m);
        for (int j = 0; j < QK / 2; ++j) {
            y[j] = d * static_cast<float>(x[b].qs[j] & 0xF) + m;
            y[j + QK / 2] = d * static_cast<float>(x[b].qs[j] >> 4) + m;
        }
    }
}

namespace {
uint32_t load_u32_le(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}
// The 5-bit values of a Q5_0/Q5_1 block, element j in 0..31 (before the -16 offset of Q5_0).
void q5_values(const uint8_t* qh, const uint8_t* qs, int* v) {
    const uint32_t h = load_u32_le(qh);
    for (int j = 0; j < QK / 2; ++j) {
        v[j] = (qs[j] & 0xF) | static_cast<int>(((h >> j) & 1u) << 4);
        v[j + QK / 2] = (qs[j] >> 4) | static_cast<int>(((h >> (j + 16)) & 1u) << 4);
    }
}
}  // namespace

void dequantize_row_q5_0(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ5_0*>(row);
    int v[QK];
    for (int64_t b = 0; b < n / QK; ++b, y += QK) {
        const float d = f16_to_f32(x[b].d);
        q5_values(x[b].qh, x[b].qs, v);
        for (int j = 0; j < QK; ++j) y[j] = d * static_cast<float>(v[j] - 16);
    }
}

void dequantize_row_q5_1(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ5_1*>(row);
    int v[QK];
    for (int64_t b = 0; b < n / QK; ++b, y += QK) {
        const float d = f16_to_f32(x[b].d), m = f16_to_f32(x[b].m);
        q5_values(x[b].qh, x[b].qs, v);
        for (int j = 0; j < QK; ++j) y[j] = d * static_cast<float>(v[j]) + m;
    }
}

void dequantize_row_q8_0(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ8_0*>(row);
    for (int64_t b = 0; b < n / QK; ++b, y += QK) {
        const float d = f16_to_f32(x[b].d);
        for (int j = 0; j < QK; ++j) y[j] = d * static_cast<float>(x[b].qs[j]);
    }
}

void dequantize_row_q4_k(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ4_K*>(row);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
        for (int c = 0; c < 4; ++c) {
            const uint8_t* q = x[b].qs + 32 * c;
            uint8_t sc0, mn0, sc1, mn1;
            kquant_scale_min(2 * c, x[b].scales, sc0, mn0);
            kquant_scale_min(2 * c + 1, x[b].scales, sc1, mn1);
            for (int l = 0; l < 32; ++l) {
                *y++ = d * sc0 * static_cast<float>(q[l] & 0xF) - dmin * mn0;
            }
            for (int l = 0; l < 32; ++l) {
                *y++ = d * sc1 * static_cast<float>(q[l] >> 4) - dmin * mn1;
            }
        }
    }
}

void dequantize_row_q5_k(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ5_K*>(row);
    for (int64_t b = 0; b < n / QK_K; ++b) {
        const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
        for (int c = 0; c < 4; ++c) {
            const uint8_t* q = x[b].qs + 32 * c;
            uint8_t sc0, mn0, sc1, mn1;
            kquant_scale_min(2 * c, x[b].scales, sc0, mn0);
            kquant_scale_min(2 * c + 1, x[b].scales, sc1, mn1);
            for (int l = 0; l < 32; ++l) {
                const int v = (q[l] & 0xF) + (((x[b].qh[l] >> (2 * c)) & 1) << 4);
                *y++ = d * sc0 * static_cast<float>(v) - dmin * mn0;
            }
            for (int l = 0; l < 32; ++l) {
                const int v = (q[l] >> 4) + (((x[b].qh[l] >> (2 * c + 1)) & 1) << 4);
                *y++ = d * sc1 * static_cast<float>(v) - dmin * mn1;
            }
        }
    }
}

void dequantize_row_q6_k(const void* row, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ6_K*>(row);
    for (int64_t b = 0; b < n / QK_K; ++b, y += QK_K) {
        const float d = f16_to_f32(x[b].d);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = x[b].ql + 64 * half;
            const uint8_t* qh = x[b].qh + 32 * half;
            const int8_t* sc = x[b].scales + 8 * half;
            float* yy = y + 128 * half;
            for (int l = 0; l < 32; ++l) {
                const int s = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yy[l] = d * sc[s + 0] * static_cast<float>(q1);
                yy[l + 32] = d * sc[s + 2] * static_cast<float>(q2);
                yy[l + 64] = d * sc[s + 4] * static_cast<float>(q3);
                yy[l + 96] = d * sc[s + 6] * static_cast<float>(q4);
            }
        }
    }
}

}  // namespace lfm::scalar
