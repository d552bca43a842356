#pragma once
// Float kernels (and the memory-read probe) written once on xsimd and instantiated per ISA (the
// including translation unit is compiled with that ISA's flags). Same formulas as
// kernels/scalar/ops.cpp; the sums run in f32 lanes instead of double, so results differ from
// scalar in the last bits only.

#include <cmath>
#include <cstdint>
#include <xsimd/xsimd.hpp>

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
