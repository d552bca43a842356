// Dot products of a weight row with an activation row in the weight's vec_dot_type (gguf.md §5).
// Integer sums stay exact in int32; scales are applied per block in f32, as llama.cpp does.

#include "../kquant.h"
#include "../types.h"
#include "scalar.h"
#include "unpack.h"

namespace lfm::scalar {

float vec_dot_f32(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * y[i];
    return static_cast<float>(sum);
}

float vec_dot_f16(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const f16_t*>(w);
    const auto* y = static_cast<const f16_t*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(f16_to_f32(x[i])) * f16_to_f32(y[i]);
    return static_cast<float>(sum);
}

float vec_dot_bf16(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const bf16_t*>(w);
    const auto* y = static_cast<const bf16_t*>(a);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(bf16_to_f32(x[i])) * bf16_to_f32(y[i]);
    return static_cast<float>(sum);
}

float vec_dot_q8_0(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ8_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK; ++b) {
        int sumi = 0;
        for (int j = 0; j < QK; ++j) sumi += x[b].qs[j] * y[b].qs[j];
        sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
    }
    return sum;
}

float vec_dot_q4_0(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ4_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK; ++b) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; ++j) {
            sumi += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
            sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK / 2];
        }
        sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
    }
    return sum;
}

float vec_dot_q4_1(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ4_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK; ++b) {
        int sumi = 0;
        for (int j = 0; j < QK / 2; ++j) {
            sumi += (x[b].qs[j] & 0xF) * y[b].qs[j];
            sumi += (x[b].qs[j] >> 4) * y[b].qs[j + QK / 2];
        }
        // Σ (d·q + m)·y = d·dy·Σ q·qy + m·(dy·Σ qy), and the activation carries dy·Σ qy as s
        sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) +
               f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
    }
    return sum;
}

namespace {
// Σ (v - offset)·y over a Q5 block (offset 16 for Q5_0, 0 for Q5_1).
int q5_block_dot(const uint8_t* qh, const uint8_t* qs, const int8_t* y, int offset) {
    int v[QK];
    q5_values(qh, qs, v);
    int sumi = 0;
    for (int j = 0; j < QK; ++j) sumi += (v[j] - offset) * y[j];
    return sumi;
}
}  // namespace

float vec_dot_q5_0(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ5_0*>(w);
    const auto* y = static_cast<const BlockQ8_0*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK; ++b) {
        const int sumi = q5_block_dot(x[b].qh, x[b].qs, y[b].qs, 16);
        sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
    }
    return sum;
}

float vec_dot_q5_1(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ5_1*>(w);
    const auto* y = static_cast<const BlockQ8_1*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK; ++b) {
        const int sumi = q5_block_dot(x[b].qh, x[b].qs, y[b].qs, 0);
        sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) +
               f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
    }
    return sum;
}

// Q4_K and Q5_K: Σ_sub d·sc·dy·Σ(q·qy) − dmin·mn·dy·Σ qy(sub); the activation's bsums give Σ qy
// per 16 elements, so the min term needs no pass over the data.
namespace {
template <bool kFifthBit>
float vec_dot_k45(const uint8_t* scales, const uint8_t* qs, const uint8_t* qh, float d, float dmin,
                  const BlockQ8_K& y) {
    int isum = 0, msum = 0;
    for (int sub = 0; sub < 8; ++sub) {
        uint8_t sc, mn;
        kquant_scale_min(sub, scales, sc, mn);
        const int c = sub / 2;
        const uint8_t* q = qs + 32 * c;
        const int shift = (sub & 1) ? 4 : 0;
        int s = 0;
        for (int l = 0; l < 32; ++l) {
            int v = (q[l] >> shift) & 0xF;
            if constexpr (kFifthBit) v += ((qh[l] >> sub) & 1) << 4;
            s += v * y.qs[32 * sub + l];
        }
        isum += sc * s;
        msum += mn * (y.bsums[2 * sub] + y.bsums[2 * sub + 1]);
    }
    return d * y.d * static_cast<float>(isum) - dmin * y.d * static_cast<float>(msum);
}
}  // namespace

float vec_dot_q4_k(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ4_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        sum += vec_dot_k45<false>(x[b].scales, x[b].qs, nullptr, f16_to_f32(x[b].d), f16_to_f32(x[b].dmin),
                                  y[b]);
    }
    return sum;
}

float vec_dot_q5_k(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ5_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QK_K; ++b) {
        sum += vec_dot_k45<true>(x[b].scales, x[b].qs, x[b].qh, f16_to_f32(x[b].d), f16_to_f32(x[b].dmin),
                                 y[b]);
    }
    return sum;
}

float vec_dot_q6_k(const void* w, const void* a, int64_t n) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const auto* y = static_cast<const BlockQ8_K*>(a);
    float sum = 0.0f;
    int v[QK_K];
    for (int64_t b = 0; b < n / QK_K; ++b) {
        q6_k_values(x[b], v);
        int isum = 0;
        for (int g = 0; g < QK_K / 16; ++g) {  // one signed scale per 16 elements
            int s = 0;
            for (int j = 0; j < 16; ++j) s += v[16 * g + j] * y[b].qs[16 * g + j];
            isum += x[b].scales[g] * s;
        }
        sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(isum);
    }
    return sum;
}

}  // namespace lfm::scalar
