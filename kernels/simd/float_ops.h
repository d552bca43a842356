#pragma once
// Float kernels (and the memory-read probe) written once on xsimd and instantiated per ISA (the
// including translation unit is compiled with that ISA's flags). Same formulas as
// kernels/scalar/ops.cpp; the sums run in f32 lanes instead of double, so results differ from
// scalar in the last bits only.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <xsimd/xsimd.hpp>

#include "../kernels.h"

namespace lfm::simd {

template <class Arch>
float vec_dot_f32(const void* w, const void* a, int64_t n) {
    using B = xsimd::batch<float, Arch>;
    constexpr int64_t W = static_cast<int64_t>(B::size);
    const auto* x = static_cast<const float*>(w);
    const auto* y = static_cast<const float*>(a);
    B acc0(0.0f), acc1(0.0f);
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        acc0 = xsimd::fma(B::load_unaligned(x + i), B::load_unaligned(y + i), acc0);
        acc1 = xsimd::fma(B::load_unaligned(x + i + W), B::load_unaligned(y + i + W), acc1);
    }
    float sum = xsimd::hadd(acc0 + acc1);
    for (; i < n; ++i) sum += x[i] * y[i];
    return sum;
}

template <class Arch>
void rmsnorm(const float* x, const float* w, float* y, int64_t n, float eps) {
    using B = xsimd::batch<float, Arch>;
    constexpr int64_t W = static_cast<int64_t>(B::size);
    B acc(0.0f);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const B v = B::load_unaligned(x + i);
        acc = xsimd::fma(v, v, acc);
    }
    double ss = xsimd::hadd(acc);
    for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
    const B rb(r);
    for (i = 0; i + W <= n; i += W) (B::load_unaligned(w + i) * (B::load_unaligned(x + i) * rb)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = w[i] * (x[i] * r);
}

template <class Arch>
void silu_mul(float* gate, const float* up, int64_t n) {
    using B = xsimd::batch<float, Arch>;
    constexpr int64_t W = static_cast<int64_t>(B::size);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const B g = B::load_unaligned(gate + i);
        (g / (B(1.0f) + xsimd::exp(-g)) * B::load_unaligned(up + i)).store_unaligned(gate + i);
    }
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

template <class Arch>
void softmax(float* x, int64_t n) {
    using B = xsimd::batch<float, Arch>;
    constexpr int64_t W = static_cast<int64_t>(B::size);
    float max = x[0];
    for (int64_t i = 1; i < n; ++i) max = std::max(max, x[i]);
    B acc(0.0f);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        const B e = xsimd::exp(B::load_unaligned(x + i) - B(max));
        e.store_unaligned(x + i);
        acc += e;
    }
    double sum = xsimd::hadd(acc);
    for (; i < n; ++i) {
        x[i] = std::exp(x[i] - max);
        sum += x[i];
    }
    const B inv(static_cast<float>(1.0 / sum));
    for (i = 0; i + W <= n; i += W) (B::load_unaligned(x + i) * inv).store_unaligned(x + i);
    for (; i < n; ++i) x[i] *= static_cast<float>(1.0 / sum);
}

// The flash-attention step (kernels.h) with the tile's queries across the lanes: W queries per
// register, so the running max, the sums and the rescale are plain lane-wise operations.
// Scores: for eight keys at a time (eight independent sums keep both FMA pipes busy), each
// element of a key row is broadcast to meet a register of W queries. Outputs: four queries ×
// up to four registers of d held while the block's value rows pass.
template <class Arch>
void attend_block(const float* qt, int64_t d, const float* k, const float* v, int64_t n_rows,
                  const int32_t* n_visible, float* mx, float* sum, float* o) {
    using B = xsimd::batch<float, Arch>;
    constexpr int W = static_cast<int>(B::size);
    constexpr int kKeys = 8;
    static_assert(kAttendTile % W == 0 && kAttendTile % 4 == 0);
    const B none(-INFINITY);
    alignas(64) float p[kAttendBlock][kAttendTile];  // scores, then weights: [row][query]
    alignas(64) float alpha[kAttendTile];
    for (int c = 0; c < kAttendTile; c += W) {
        for (int64_t r0 = 0; r0 < n_rows; r0 += kKeys) {
            const float* kr[kKeys];
            for (int u = 0; u < kKeys; ++u) kr[u] = k + std::min(r0 + u, n_rows - 1) * d;  // tail: repeat the last row
            B acc[kKeys];
            for (auto& a : acc) a = B(0.0f);
            for (int64_t i = 0; i < d; ++i) {
                const B q = B::load_unaligned(qt + i * kAttendTile + c);
                for (int u = 0; u < kKeys; ++u) acc[u] = xsimd::fma(B(kr[u][i]), q, acc[u]);
            }
            for (int u = 0; u < kKeys && r0 + u < n_rows; ++u) acc[u].store_aligned(p[r0 + u] + c);
        }
        const B visible_to = xsimd::to_float(xsimd::batch<int32_t, Arch>::load_unaligned(n_visible + c));
        B block_max = none;
        for (int64_t r = 0; r < n_rows; ++r) {
            const B s = xsimd::select(B(static_cast<float>(r)) < visible_to, B::load_aligned(p[r] + c), none);
            s.store_aligned(p[r] + c);
            block_max = xsimd::max(block_max, s);
        }
        const B old_max = B::load_unaligned(mx + c);
        const B new_max = xsimd::max(old_max, block_max);
        const B shift = xsimd::select(new_max == none, B(0.0f), new_max);  // nothing seen yet: weights 0
        const B a = xsimd::exp(old_max - shift);
        B total = B::load_unaligned(sum + c) * a;
        for (int64_t r = 0; r < n_rows; ++r) {
            const B w = xsimd::exp(B::load_aligned(p[r] + c) - shift);
            w.store_aligned(p[r] + c);
            total += w;
        }
        total.store_unaligned(sum + c);
        new_max.store_unaligned(mx + c);
        a.store_aligned(alpha + c);
    }
    for (int m0 = 0; m0 < kAttendTile; m0 += 4) {
        int64_t i0 = 0;
        for (; i0 + 4 * W <= d; i0 += 4 * W) {
            B acc[4][4];
            for (int j = 0; j < 4; ++j)
                for (int u = 0; u < 4; ++u) acc[j][u] = B::load_unaligned(o + (m0 + j) * d + i0 + u * W) * B(alpha[m0 + j]);
            for (int64_t r = 0; r < n_rows; ++r) {
                B vr[4];
                for (int u = 0; u < 4; ++u) vr[u] = B::load_unaligned(v + r * d + i0 + u * W);
                for (int j = 0; j < 4; ++j) {
                    const B w(p[r][m0 + j]);
                    for (int u = 0; u < 4; ++u) acc[j][u] = xsimd::fma(w, vr[u], acc[j][u]);
                }
            }
            for (int j = 0; j < 4; ++j)
                for (int u = 0; u < 4; ++u) acc[j][u].store_unaligned(o + (m0 + j) * d + i0 + u * W);
        }
        for (; i0 + W <= d; i0 += W) {  // d not a multiple of 4 registers: one at a time
            B acc[4];
            for (int j = 0; j < 4; ++j) acc[j] = B::load_unaligned(o + (m0 + j) * d + i0) * B(alpha[m0 + j]);
            for (int64_t r = 0; r < n_rows; ++r) {
                const B vr = B::load_unaligned(v + r * d + i0);
                for (int j = 0; j < 4; ++j) acc[j] = xsimd::fma(B(p[r][m0 + j]), vr, acc[j]);
            }
            for (int j = 0; j < 4; ++j) acc[j].store_unaligned(o + (m0 + j) * d + i0);
        }
        for (; i0 < d; ++i0)  // and the last elements of an odd d one at a time
            for (int j = 0; j < 4; ++j) {
                float acc = o[(m0 + j) * d + i0] * alpha[m0 + j];
                for (int64_t r = 0; r < n_rows; ++r) acc += p[r][m0 + j] * v[r * d + i0];
                o[(m0 + j) * d + i0] = acc;
            }
    }
}

// Four independent accumulators so the adds never wait on each other: the loop is bound by loads.
template <class Arch>
uint64_t read_sum(const uint64_t* p, int64_t n) {
    using B = xsimd::batch<uint64_t, Arch>;
    constexpr int64_t W = static_cast<int64_t>(B::size);
    B s0(uint64_t{0}), s1(uint64_t{0}), s2(uint64_t{0}), s3(uint64_t{0});
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 += B::load_unaligned(p + i);
        s1 += B::load_unaligned(p + i + W);
        s2 += B::load_unaligned(p + i + 2 * W);
        s3 += B::load_unaligned(p + i + 3 * W);
    }
    alignas(64) uint64_t lanes[W];
    ((s0 + s1) + (s2 + s3)).store_aligned(lanes);
    uint64_t sum = 0;
    for (int64_t l = 0; l < W; ++l) sum += lanes[l];
    for (; i < n; ++i) sum += p[i];
    return sum;
}

}  // namespace lfm::simd
