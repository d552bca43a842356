// Activation quantizers and weight dequantizers, one block at a time (gguf.md §4 and §5).

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../kquant.h"
#include "../types.h"
#include "scalar.h"
#include "unpack.h"

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

// x · (1/d) rounded, as int8. It is within ±127 but for inputs a sound model never makes: a NaN
// (x is NaN, or 0 · inf when a denormal max|x| makes 1/d overflow) or ±inf. Those convert as
// the SIMD quantizers convert them (float to int32 by the CPU's instruction, then the low byte),
// so that every ISA writes the same bytes; a plain cast of them is undefined behaviour.
int8_t round_to_int8(float v) {
    const float r = std::round(v);
    int32_t i;
    if (r >= -2147483648.0f && r < 2147483648.0f) {
        i = static_cast<int32_t>(r);
    } else {
#if defined(__aarch64__) || defined(_M_ARM64)
        i = std::isnan(r) ? 0 : r > 0 ? INT32_MAX : INT32_MIN;  // fcvtzs saturates; NaN is 0
#else
        i = INT32_MIN;  // cvtps2dq: NaN and anything out of range is 0x80000000
#endif
    }
    return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint32_t>(i) & 0xFFu));
}

// Q8_0 and Q8_1 share the quantization of one 32-block: d = max|x| / 127, q = round(x · (1/d)),
// ties away from zero (std::round), as llama.cpp's portable reference does (its x86 and ARM
// quantizers multiply by 127/max|x| and round ties to even; the two differ only on exact ties
// and in the last ulp).
// Returns the float d (before it is stored as f16) and the sum of the q's.
float quantize_block_q8(const float* x, int8_t* qs, int& qsum) {
    float amax = 0.0f;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qsum = 0;
    for (int j = 0; j < QK; ++j) {
        qs[j] = round_to_int8(x[j] * id);
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
    int v[QK_K];
    for (int64_t b = 0; b < n / QK_K; ++b, y += QK_K) {
        const float d = f16_to_f32(x[b].d);
        q6_k_values(x[b], v);
        for (int e = 0; e < QK_K; ++e) y[e] = d * x[b].scales[e / 16] * static_cast<float>(v[e]);
    }
}

}  // namespace lfm::scalar
