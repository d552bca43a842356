// Kernels against independent computations: every dot product against dequantize-then-multiply
// in double, the activation quantizers against their definitions, the float ops against plain
// formulas, and hand-worked blocks from ../shared/spec/gguf.md §4.

#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

#include "cpu_features.h"
#include "kernels.h"
#if defined(__x86_64__)
#include "x86/lowbit_k_x8_avx512.h"
#endif

namespace lfm {
namespace {

const KernelTable& K() { return kernels(); }

// The types with an 8-row repacked layout (types.h: Block*x8); a table repacks those it has a
// gemv8 for.
constexpr DType kRepackedTypes[] = {DType::kQ4_0, DType::kQ4_K,   DType::kQ8_0,   DType::kQ6_K, DType::kQ2_K,
                                    DType::kQ3_K, DType::kIQ4_NL, DType::kIQ4_XS, DType::kMXFP4};

// Random bytes for n elements of type t, with every f16 scale set to a finite value in
// [0.001, 0.05] so results stay well scaled.
std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng) {
    std::vector<uint8_t> w(row_bytes(t, n));
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    std::uniform_real_distribution<float> scale(0.001f, 0.05f), value(-1.0f, 1.0f);
    auto set_f16 = [&](size_t at, float v) {
        const f16_t h = f32_to_f16(v);
        std::memcpy(w.data() + at, &h, 2);
    };
    const DTypeTraits& tr = traits(t);
    const size_t blocks = static_cast<size_t>(n / tr.block_elems);
    for (size_t b = 0; b < blocks; ++b) {
        const size_t base = b * static_cast<size_t>(tr.block_bytes);
        switch (t) {
            case DType::kF32: {
                const float v = value(rng);
                std::memcpy(w.data() + base, &v, 4);
                break;
            }
            case DType::kF16: set_f16(base, value(rng)); break;
            case DType::kBF16: {
                const bf16_t h = f32_to_bf16(value(rng));
                std::memcpy(w.data() + base, &h, 2);
                break;
            }
            case DType::kQ4_0: case DType::kQ5_0: case DType::kQ8_0: set_f16(base, scale(rng)); break;
            case DType::kQ4_1: case DType::kQ5_1: case DType::kQ4_K: case DType::kQ5_K:
                set_f16(base, scale(rng));
                set_f16(base + 2, scale(rng));
                break;
            case DType::kQ6_K: set_f16(base + 208, scale(rng)); break;
            case DType::kQ2_K:
                set_f16(base + 80, scale(rng));
                set_f16(base + 82, scale(rng));
                break;
            case DType::kQ3_K:  // values up to 4·32
                set_f16(base + 108, scale(rng) / 32.0f);
                break;
            case DType::kIQ4_NL: case DType::kIQ4_XS: set_f16(base, scale(rng) / 32.0f); break;  // values up to 127
            case DType::kMXFP4:
                w[base] = static_cast<uint8_t>(118 + rng() % 7);  // 2^-10 .. 2^-4 times values up to 12
                break;
            default: ADD_FAILURE() << "no generator for " << dtype_name(t);
        }
    }
    return w;
}

// The activation as the dot product sees it, back in floats.
std::vector<double> activation_values(DType a, const std::vector<uint8_t>& q, int64_t n) {
    std::vector<double> out(static_cast<size_t>(n));
    if (a == DType::kQ8_1) {
        const auto* b = reinterpret_cast<const BlockQ8_1*>(q.data());
        for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = f16_to_f32(b[i / QK].d) * b[i / QK].qs[i % QK];
    } else if (a == DType::kQ8_K) {
        const auto* b = reinterpret_cast<const BlockQ8_K*>(q.data());
        for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<double>(b[i / QK_K].d) * b[i / QK_K].qs[i % QK_K];
    } else {
        std::vector<float> f(static_cast<size_t>(n));
        scalar_kernel_table().dequantize_row[static_cast<uint32_t>(a)](q.data(), f.data(), n);
        for (size_t i = 0; i < f.size(); ++i) out[i] = f[i];
    }
    return out;
}

class DotProduct : public ::testing::TestWithParam<DType> {};

TEST_P(DotProduct, EqualsDequantizedProduct) {
    const DType t = GetParam();
    const DType a = traits(t).vec_dot_type;
    std::mt19937 rng(42 + static_cast<unsigned>(t));
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (int64_t n : {256, 512, 2048}) {
        const auto w = random_weights(t, n, rng);
        std::vector<float> x(static_cast<size_t>(n));
        for (auto& v : x) v = gauss(rng);
        std::vector<uint8_t> xq(activation_bytes(t, n));
        quantize_activation(K(), t, x.data(), xq.data(), n);
        std::vector<float> wf(static_cast<size_t>(n));
        K().dequantize_row[static_cast<uint32_t>(t)](w.data(), wf.data(), n);
        const auto xa = activation_values(a, xq, n);
        double expect = 0, scale = 0;
        for (size_t i = 0; i < wf.size(); ++i) {
            expect += static_cast<double>(wf[i]) * xa[i];
            scale += std::fabs(static_cast<double>(wf[i]) * xa[i]);
        }
        const float got = K().vec_dot[static_cast<uint32_t>(t)](w.data(), xq.data(), n);
        EXPECT_NEAR(got, expect, 1e-5 * scale + 1e-6) << dtype_name(t) << " n=" << n;
    }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, DotProduct,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                                           DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ4_K,
                                           DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS,
                                           DType::kMXFP4, DType::kQ2_K, DType::kQ3_K),
                         [](const auto& param_info) { return std::string(dtype_name(param_info.param)); });

TEST(Dequantize, Q4_0HandWorkedBlock) {
    BlockQ4_0 b{};
    b.d = f32_to_f16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    K().dequantize_row[static_cast<uint32_t>(DType::kQ4_0)](&b, y, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 8));        // low nibbles: first half
        EXPECT_EQ(y[j + 16], 0.5f * static_cast<float>(7 - j));   // high nibbles: second half
    }
}

TEST(Dequantize, Q5_0FifthBitFromQh) {
    BlockQ5_0 b{};
    b.d = f32_to_f16(1.0f);
    const uint32_t h = 0x80000001u;  // element 0 and element 31 get their 5th bit
    std::memcpy(b.qh, &h, 4);
    float y[32];
    K().dequantize_row[static_cast<uint32_t>(DType::kQ5_0)](&b, y, 32);
    EXPECT_EQ(y[0], 0.0f);     // 16 - 16
    EXPECT_EQ(y[1], -16.0f);
    EXPECT_EQ(y[31], 0.0f);
}

TEST(Dequantize, Q4_KScalesAndMins) {
    BlockQ4_K b{};
    b.d = f32_to_f16(1.0f);
    b.dmin = f32_to_f16(0.5f);
    // sub-block 0: scale 3, min 2; sub-block 5: scale 0x2A (high bits from scales[1]), min 0x15
    b.scales[0] = 3;
    b.scales[4] = 2;
    b.scales[1] = static_cast<uint8_t>(2 << 6);  // top bits of sc[5] = 2
    b.scales[5] = static_cast<uint8_t>(1 << 6);  // top bits of mn[5] = 1
    b.scales[9] = static_cast<uint8_t>(0x0A | (0x05 << 4));
    for (auto& q : b.qs) q = 0x71;  // low nibble 1, high nibble 7
    float y[256];
    K().dequantize_row[static_cast<uint32_t>(DType::kQ4_K)](&b, y, 256);
    EXPECT_EQ(y[0], 3.0f * 1 - 0.5f * 2);
    EXPECT_EQ(y[32 * 5], 0x2A * 7.0f - 0.5f * 0x15);  // sub-block 5 = chunk 2, high nibbles
}

// Q2_K and Q3_K blocks worked by hand from ggml's layout (ggml-common.h, dequantize_row_q2_K /
// _q3_K): element e of the super-block is in half h = e / 128, group j = (e % 128) / 32, byte
// l = e % 32: bits 2j..2j+1 of qs[32h + l], Q3_K's third bit in bit 4h + j of hmask[l]; the
// sub-block scale is the one of e / 16.
TEST(Dequantize, Q2_KScalesMinsAndBitPairs) {
    BlockQ2_K b{};
    b.d = f32_to_f16(0.5f);
    b.dmin = f32_to_f16(0.25f);
    b.scales[5] = 0x3A;   // sub-block 5 (elements 80..95): scale 10, min 3
    b.scales[12] = 0x21;  // sub-block 12 (elements 192..207): scale 1, min 2
    b.qs[16] = 0x20;      // element 80: half 0, group 2, byte 16 -> bits 4..5 = 2
    b.qs[40] = 0x30;      // element 200: half 1, group 2, byte 8 -> qs[32 + 8] bits 4..5 = 3
    float y[256];
    K().dequantize_row[static_cast<uint32_t>(DType::kQ2_K)](&b, y, 256);
    EXPECT_EQ(y[80], 0.5f * 10 * 2 - 0.25f * 3);
    EXPECT_EQ(y[81], -0.75f);  // value 0: the min alone
    EXPECT_EQ(y[16], 0.0f);    // bits 0..1 of the same byte: sub-block 1, scale and min 0
    EXPECT_EQ(y[200], 0.5f * 1 * 3 - 0.25f * 2);
    EXPECT_EQ(y[201], -0.5f);
}

TEST(Dequantize, Q3_KSixBitScalesAndThirdBit) {
    BlockQ3_K b{};
    b.d = f32_to_f16(0.5f);
    // sub-block 5: stored 0x2B (scale 11): low nibble in scales[5], top bits 2 in scales[9] bits 2..3;
    // sub-block 13: stored 0x05 (scale -27): low nibble in the high nibble of scales[5], top bits 0
    // (scales[9] bits 6..7); every other sub-block stored 0 (scale -32)
    b.scales[5] = 0x5B;
    b.scales[9] = 0x08;
    b.qs[16] = 0x10;     // element 80 (sub-block 5): half 0, group 2, byte 16 -> 1
    b.hmask[16] = 0x04;  // its third bit (bit 2 of hmask[16]) set: value 1
    b.qs[48] = 0x30;     // element 208 (sub-block 13): half 1, group 2, byte 16 -> 3, bit 6 clear: -1
    float y[256];
    K().dequantize_row[static_cast<uint32_t>(DType::kQ3_K)](&b, y, 256);
    EXPECT_EQ(y[80], 0.5f * 11 * 1);
    EXPECT_EQ(y[81], 0.5f * 11 * -4);  // 2-bit value 0, third bit clear
    EXPECT_EQ(y[208], 0.5f * -27 * -1);
    EXPECT_EQ(y[0], 0.5f * -32 * -4);
}

// The non-linear types' tables as llama.cpp's ggml-common.h defines them (kvalues_iq4nl, and
// kvalues_mxfp4: the OCP E2M1 values doubled), written out here apart from types.h.
constexpr float kIQ4NLTable[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
constexpr float kE2M1Table[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};

TEST(Dequantize, IQ4_NLLooksUpTheNibbles) {
    BlockIQ4_NL b{};
    b.d = f32_to_f16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    K().dequantize_row[static_cast<uint32_t>(DType::kIQ4_NL)](&b, y, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], 0.5f * kIQ4NLTable[j]);            // low nibbles: first half
        EXPECT_EQ(y[j + 16], 0.5f * kIQ4NLTable[15 - j]);  // high nibbles: second half
    }
    EXPECT_EQ(y[0], -63.5f);
    EXPECT_EQ(y[16], 56.5f);
}

TEST(Dequantize, IQ4_XSSixBitSubScales) {
    BlockIQ4_XS b{};
    b.d = f32_to_f16(0.25f);
    // sub-block 0: ls = 32 (scale 0); sub-block 3: ls = 0x2B (scale 11): low 4 bits in the high
    // nibble of scales_l[1], top 2 bits in bits 6..7 of scales_h; the others ls = 0 (scale -32)
    b.scales_h = static_cast<uint16_t>(2 | 2 << 6);
    b.scales_l[1] = 0xB0;
    for (auto& q : b.qs) q = 0x70;  // low nibble 0 (-127), high nibble 7 (-10)
    float y[256];
    K().dequantize_row[static_cast<uint32_t>(DType::kIQ4_XS)](&b, y, 256);
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_EQ(y[32], 0.25f * -32 * -127);  // sub-block 1, low nibble
    EXPECT_EQ(y[48], 0.25f * -32 * -10);   // sub-block 1, high nibble
    EXPECT_EQ(y[96], 0.25f * 11 * -127);   // sub-block 3
    EXPECT_EQ(y[127], 0.25f * 11 * -10);
}

TEST(Dequantize, MXFP4IsE2M1TimesAPowerOfTwo) {
    BlockMXFP4 b{};
    b.e = 127;  // 2^0: the values are the E2M1 values themselves
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    K().dequantize_row[static_cast<uint32_t>(DType::kMXFP4)](&b, y, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], kE2M1Table[j]) << j;
        EXPECT_EQ(y[j + 16], kE2M1Table[15 - j]) << j;
    }
    b.e = 130;  // 2^3
    K().dequantize_row[static_cast<uint32_t>(DType::kMXFP4)](&b, y, 32);
    EXPECT_EQ(y[7], 48.0f);
    b.e = 0;  // the smallest scale, 2^-127, is a subnormal float (and so is half of it)
    K().dequantize_row[static_cast<uint32_t>(DType::kMXFP4)](&b, y, 32);
    EXPECT_EQ(y[1], std::ldexp(1.0f, -128));
    EXPECT_EQ(y[7], 6 * std::ldexp(1.0f, -127));
}

TEST(Quantize, Q8_0RoundsToHalfAStep) {
    std::mt19937 rng(1);
    std::normal_distribution<float> g(0.0f, 3.0f);
    std::vector<float> x(256);
    for (auto& v : x) v = g(rng);
    x[5] = 0.0f;
    std::vector<BlockQ8_0> q(8);
    K().quantize_row[static_cast<uint32_t>(DType::kQ8_0)](x.data(), q.data(), 256);
    for (size_t i = 0; i < x.size(); ++i) {
        const BlockQ8_0& b = q[i / 32];
        float amax = 0;
        for (size_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) amax = std::max(amax, std::fabs(x[j]));
        EXPECT_NEAR(f16_to_f32(b.d), amax / 127, amax / 127 * 1e-3);
        // half a step, plus up to 127 × the f16 rounding of d (2^-11 relative)
        EXPECT_LE(std::fabs(f16_to_f32(b.d) * b.qs[i % 32] - x[i]), amax / 127 * (0.5f + 127.0f / 2048));
    }
    EXPECT_EQ(q[0].qs[5], 0);
}

TEST(Quantize, Q8_KSignedMaxMapsToMinus127AndBsums) {
    std::vector<float> x(256);
    for (int i = 0; i < 256; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 17) - 8.0f;
    x[100] = 20.0f;  // largest magnitude, positive: iscale = -127/20, so it maps to -127
    BlockQ8_K b{};
    K().quantize_row[static_cast<uint32_t>(DType::kQ8_K)](x.data(), &b, 256);
    EXPECT_EQ(b.qs[100], -127);
    EXPECT_FLOAT_EQ(b.d, -20.0f / 127);
    for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int j = 0; j < 16; ++j) s += b.qs[g * 16 + j];
        EXPECT_EQ(b.bsums[g], s);
    }
    for (int i = 0; i < 256; ++i) EXPECT_NEAR(b.d * b.qs[i], x[static_cast<size_t>(i)], std::fabs(b.d) * 0.51f);
    std::vector<float> zeros(256, 0.0f);
    K().quantize_row[static_cast<uint32_t>(DType::kQ8_K)](zeros.data(), &b, 256);
    EXPECT_EQ(b.d, 0.0f);
    EXPECT_EQ(b.bsums[3], 0);
}

TEST(Ops, RmsNorm) {
    std::vector<float> x{1, -2, 3, -4}, w{1, 2, 0.5f, 1}, y(4);
    K().rmsnorm(x.data(), w.data(), y.data(), 4, 1e-5f);
    const double r = 1.0 / std::sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-5);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[static_cast<size_t>(i)], w[static_cast<size_t>(i)] * x[static_cast<size_t>(i)] * r, 1e-6);
}

TEST(Ops, SoftmaxIsStableForLargeValues) {
    std::vector<float> x{1000.0f, 1001.0f, 999.0f};
    K().softmax(x.data(), 3);
    const double e0 = std::exp(-1.0), e2 = std::exp(-2.0), s = e0 + 1 + e2;
    EXPECT_NEAR(x[0], e0 / s, 1e-6);
    EXPECT_NEAR(x[1], 1 / s, 1e-6);
    EXPECT_NEAR(x[2], e2 / s, 1e-6);
}

TEST(Ops, SiluMul) {
    std::vector<float> g{-2, 0, 3}, u{1, 5, -2};
    K().silu_mul(g.data(), u.data(), 3);
    EXPECT_NEAR(g[0], -2 / (1 + std::exp(2.0)) * 1, 1e-6);
    EXPECT_EQ(g[1], 0.0f);
    EXPECT_NEAR(g[2], 3 / (1 + std::exp(-3.0)) * -2, 1e-5);
}

TEST(Ops, RopeNeoxPairsHalves) {
    // head_dim 4: element m pairs with m + 2
    std::vector<float> x{1, 2, 3, 4};
    const float a0 = 0.3f, a1 = 0.7f;
    std::vector<float> cs{std::cos(a0), std::sin(a0), std::cos(a1), std::sin(a1)};
    K().rope_neox(x.data(), 1, 4, cs.data());
    EXPECT_NEAR(x[0], 1 * std::cos(a0) - 3 * std::sin(a0), 1e-6);
    EXPECT_NEAR(x[2], 3 * std::cos(a0) + 1 * std::sin(a0), 1e-6);
    EXPECT_NEAR(x[1], 2 * std::cos(a1) - 4 * std::sin(a1), 1e-6);
    EXPECT_NEAR(x[3], 4 * std::cos(a1) + 2 * std::sin(a1), 1e-6);
}

TEST(Ops, ShortConvStepIsCausalAndRollsTheState) {
    // 2 channels, kernel width 3: y_t = w0·s_{t-2} + w1·s_{t-1} + w2·s_t
    const std::vector<float> w{1, 10, 100, 2, 20, 200};
    std::vector<float> state(2 * 2, 0.0f), y(2);
    const std::vector<std::vector<float>> s{{1, 2}, {3, 4}, {5, 6}};
    K().short_conv_step(s[0].data(), w.data(), state.data(), y.data(), 2, 3);
    EXPECT_EQ(y, (std::vector<float>{100, 400}));
    K().short_conv_step(s[1].data(), w.data(), state.data(), y.data(), 2, 3);
    EXPECT_EQ(y, (std::vector<float>{10 + 300, 40 + 800}));
    K().short_conv_step(s[2].data(), w.data(), state.data(), y.data(), 2, 3);
    EXPECT_EQ(y, (std::vector<float>{1 + 30 + 500, 4 + 80 + 1200}));
    EXPECT_EQ(state, (std::vector<float>{3, 4, 5, 6}));  // oldest column first
}

// ---- every ISA against the scalar reference ---------------------------------------------------

struct IsaType {
    std::string isa;
    DType type;
};

std::vector<IsaType> isa_types() {
    std::vector<IsaType> out;
    for (const std::string& isa : available_isas()) {
        if (isa == "scalar") continue;
        for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                        DType::kQ5_1, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL,
                        DType::kIQ4_XS, DType::kMXFP4, DType::kQ2_K, DType::kQ3_K})
            out.push_back({isa, t});
    }
    if (out.empty()) out.push_back({"scalar", DType::kF32});  // keeps the suite non-empty on plain CPUs
    return out;
}

class IsaVsScalar : public ::testing::TestWithParam<IsaType> {};

// Dot products over several rows (n rows = 1 and > 1) of several lengths (1, 3, 7 and 64 blocks:
// none a multiple of a tile), on normal data, all-zero weights or activations, and large values.
TEST_P(IsaVsScalar, MatvecMatchesScalar) {
    const auto [isa, t] = GetParam();
    const KernelTable* k = kernel_table(isa);
    ASSERT_NE(k, nullptr);
    const KernelTable& ref = scalar_kernel_table();
    const int64_t block = traits(t).block_elems == 1 ? 32 : traits(t).block_elems;
    std::mt19937 rng(3);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (int64_t blocks : {1, 3, 7, 64}) {
        const int64_t n = blocks * block;
        for (int rows : {1, 5}) {
            for (int stress = 0; stress < 4; ++stress) {
                std::vector<uint8_t> w;
                for (int r = 0; r < rows; ++r) {
                    auto row = random_weights(t, n, rng);
                    if (stress == 1) std::fill(row.begin(), row.end(), 0);
                    w.insert(w.end(), row.begin(), row.end());
                }
                std::vector<float> x(static_cast<size_t>(n));
                for (auto& v : x) v = stress == 2 ? 0.0f : stress == 3 ? gauss(rng) * 300.0f : gauss(rng);
                // large magnitudes, kept where Q8_1's f16 block sum d·Σq (up to 32·max|x|) stays finite
                if (stress == 3) x[0] = 1500.0f;
                std::vector<uint8_t> xq(activation_bytes(t, n));
                quantize_activation(*k, t, x.data(), xq.data(), n);
                std::vector<uint8_t> xq_ref(activation_bytes(t, n));
                quantize_activation(ref, t, x.data(), xq_ref.data(), n);
                ASSERT_EQ(xq, xq_ref) << isa << " quantizes activations differently";
                std::vector<float> y(static_cast<size_t>(rows)), y_ref(static_cast<size_t>(rows));
                const size_t rb = row_bytes(t, n);
                matvec_rows(*k, t, w.data(), rb, xq.data(), n, y.data(), 0, rows);
                matvec_rows(ref, t, w.data(), rb, xq.data(), n, y_ref.data(), 0, rows);
                for (int r = 0; r < rows; ++r) {
                    // bound: f32 rounding of the sum of |terms|, from the dequantized product
                    std::vector<float> wf(static_cast<size_t>(n));
                    ref.dequantize_row[static_cast<uint32_t>(t)](w.data() + static_cast<size_t>(r) * rb, wf.data(), n);
                    double mag = 0;
                    for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(wf[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)]);
                    ASSERT_NEAR(y[static_cast<size_t>(r)], y_ref[static_cast<size_t>(r)], 2e-5 * mag + 1e-6)
                        << isa << " " << dtype_name(t) << " n=" << n << " row " << r << " stress " << stress;
                    if (stress == 1 || stress == 2) {
                        ASSERT_EQ(y[static_cast<size_t>(r)], 0.0f);
                    }
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, IsaVsScalar, ::testing::ValuesIn(isa_types()), [](const auto& param_info) {
    // built also in the cross build, which has no test_util.h dependencies (nlohmann, ../shared)
    std::string name = param_info.param.isa + "_" + dtype_name(param_info.param.type);
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
});

// The four-activation kernels against four single dot products of the scalar table.
TEST(IsaVsScalarOps, DotX4MatchesFourDots) {
    const KernelTable& ref = scalar_kernel_table();
    std::mt19937 rng(9);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    int checked = 0;
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K, DType::kIQ4_NL,
                        DType::kIQ4_XS, DType::kMXFP4, DType::kQ2_K, DType::kQ3_K}) {
            if (k.vec_dot_x4[static_cast<uint32_t>(t)] == nullptr) continue;
            for (int64_t n : {256, 768, 2048}) {
                const auto w = random_weights(t, n, rng);
                const size_t stride = activation_bytes(t, n) + 8;  // rows need not be packed tight
                std::vector<uint8_t> act(4 * stride);
                std::vector<float> x(static_cast<size_t>(n));
                for (int j = 0; j < 4; ++j) {
                    for (auto& v : x) v = gauss(rng) * (j == 3 ? 100.0f : 1.0f);
                    quantize_activation(k, t, x.data(), act.data() + static_cast<size_t>(j) * stride, n);
                }
                float out[4];
                k.vec_dot_x4[static_cast<uint32_t>(t)](w.data(), act.data(), stride, n, out);
                for (int j = 0; j < 4; ++j) {
                    const float want = ref.vec_dot[static_cast<uint32_t>(t)](w.data(), act.data() + static_cast<size_t>(j) * stride, n);
                    ASSERT_NEAR(out[j], want, 1e-4f * (1 + std::fabs(want)) * (j == 3 ? 100 : 1)) << isa << " " << dtype_name(t) << " n=" << n;
                }
                ++checked;
            }
        }
    }
    if (checked == 0) GTEST_SKIP() << "no ISA with four-activation kernels on this CPU";
}

// Repacked 8-row kernels against the scalar dot product of each original row.
TEST(IsaVsScalarOps, Gemv8OnRepackedRowsMatchesEachRow) {
    const KernelTable& ref = scalar_kernel_table();
    std::mt19937 rng(12);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    int checked = 0;
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
      for (DType t : kRepackedTypes) {
        if (k.gemv8[static_cast<uint32_t>(t)] == nullptr) continue;
        for (int64_t n : {96, 256, 768, 2048}) {  // 96: an odd count of 32-element blocks
            if (n % traits(t).block_elems != 0) continue;
            for (int64_t rows : {8, 24}) {
                std::vector<uint8_t> w;
                for (int64_t r = 0; r < rows; ++r) {
                    const auto row = random_weights(t, n, rng);
                    w.insert(w.end(), row.begin(), row.end());
                }
                const size_t group = packed8_group_bytes(t, n);
                std::vector<uint8_t> packed(static_cast<size_t>(rows / 8) * group);
                repack_rows8(t, w.data(), packed.data(), rows, n);
                std::vector<float> x(static_cast<size_t>(n));
                for (auto& v : x) v = gauss(rng);
                std::vector<uint8_t> xq(activation_bytes(t, n));
                quantize_activation(k, t, x.data(), xq.data(), n);
                const size_t rb = row_bytes(t, n);
                for (int64_t g = 0; g < rows / 8; ++g) {
                    float out[8];
                    k.gemv8[static_cast<uint32_t>(t)](packed.data() + static_cast<size_t>(g) * group, xq.data(), n, out);
                    for (int r = 0; r < 8; ++r) {
                        const float want = ref.vec_dot[static_cast<uint32_t>(t)](w.data() + static_cast<size_t>(g * 8 + r) * rb, xq.data(), n);
                        ASSERT_NEAR(out[r], want, 1e-4f * (1 + std::fabs(want))) << isa << " " << dtype_name(t) << " n=" << n << " row " << g * 8 + r;
                    }
                }
                ++checked;
            }
        }
      }
    }
    if (checked == 0) GTEST_SKIP() << "no ISA with repacked kernels on this CPU";
}

// The 8-row x 4-token kernels of prompt batches against the scalar dot product of each row and
// token; one of the tokens is all zeros and one has a large scale.
// Rows of random weights repacked 8 at a time, and activation rows for them (token 1 all
// zeros, token 3 large), for the batched kernels on repacked rows.
struct RepackedBatch {
    std::vector<uint8_t> rows, packed, act;
    size_t row_bytes, group_bytes, act_bytes;
};

RepackedBatch make_repacked_batch(const KernelTable& k, DType t, int64_t rows, int64_t n, int tokens, std::mt19937& rng) {
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    RepackedBatch c;
    for (int64_t r = 0; r < rows; ++r) {
        const auto row = random_weights(t, n, rng);
        c.rows.insert(c.rows.end(), row.begin(), row.end());
    }
    c.row_bytes = row_bytes(t, n);
    c.group_bytes = packed8_group_bytes(t, n);
    c.packed.resize(static_cast<size_t>(rows / 8) * c.group_bytes);
    repack_rows8(t, c.rows.data(), c.packed.data(), rows, n);
    c.act_bytes = activation_bytes(t, n);
    c.act.resize(static_cast<size_t>(tokens) * c.act_bytes);
    for (int j = 0; j < tokens; ++j) {
        std::vector<float> x(static_cast<size_t>(n));
        for (auto& v : x) v = j == 1 ? 0.0f : gauss(rng) * (j == 3 ? 1000.0f : 1.0f);
        quantize_activation(k, t, x.data(), c.act.data() + static_cast<size_t>(j) * c.act_bytes, n);
    }
    return c;
}

// out[j * out_stride + r] against the scalar dot product of row r and token j.
void expect_matches_scalar(const RepackedBatch& c, DType t, int64_t n, int rows, int tokens, const float* out,
                           size_t out_stride, int64_t first_row, const std::string& what) {
    const KernelTable& ref = scalar_kernel_table();
    for (int j = 0; j < tokens; ++j)
        for (int r = 0; r < rows; ++r) {
            const float want = ref.vec_dot[static_cast<uint32_t>(t)](
                c.rows.data() + static_cast<size_t>(first_row + r) * c.row_bytes, c.act.data() + static_cast<size_t>(j) * c.act_bytes, n);
            ASSERT_NEAR(out[static_cast<size_t>(j) * out_stride + static_cast<size_t>(r)], want, 1e-4f * (1 + std::fabs(want)))
                << what << " " << dtype_name(t) << " n=" << n << " token " << j << " row " << first_row + r;
        }
}

TEST(IsaVsScalarOps, Gemm8x4OnRepackedRowsMatchesEachRowAndToken) {
    std::mt19937 rng(13);
    int checked = 0;
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : kRepackedTypes) {
            if (k.gemm8x4[static_cast<uint32_t>(t)] == nullptr) continue;
            for (int64_t n : {256, 768, 2048}) {
                const RepackedBatch c = make_repacked_batch(k, t, 16, n, 4, rng);
                for (int64_t g = 0; g < 2; ++g) {
                    float out[4 * 8];
                    k.gemm8x4[static_cast<uint32_t>(t)](c.packed.data() + static_cast<size_t>(g) * c.group_bytes, c.act.data(),
                                                        c.act_bytes, n, out, 8);
                    expect_matches_scalar(c, t, n, 8, 4, out, 8, g * 8, isa);
                }
                ++checked;
            }
        }
    }
    if (checked == 0) GTEST_SKIP() << "no ISA with repacked kernels on this CPU";
}

// Repacking is lossless: every row comes back from its group byte for byte (the tied embedding
// table's lookup relies on it), and the packed group differs from the plain rows.
// The AVX-512 table takes the GFNI Q2_K / Q3_K kernels where the CPU has GFNI, the shift-and-mask
// ones elsewhere: both must give the same floats bit for bit (their integer sums are exact and
// the float steps the same), so a model's output does not depend on which the CPU picked.
TEST(IsaVsScalarOps, LowBitKernelsWithAndWithoutGfniAgreeBitForBit) {
#if defined(__x86_64__)
    const CpuFeatures& cpu = cpu_features();
    if (!cpu.can_avx512() || !cpu.gfni) GTEST_SKIP() << "needs AVX-512 and GFNI to run both kinds of kernel";
    struct Pair {
        DType t;
        Gemv8Fn gemv8[2];
        Gemm8x4Fn gemm8x4[2];
    };
    const Pair kernels[] = {
        {DType::kQ2_K, {avx512::gemv8_q2_k_512, avx512::gemv8_q2_k_512_gfni}, {avx512::gemm8x4_q2_k_512, avx512::gemm8x4_q2_k_512_gfni}},
        {DType::kQ3_K, {avx512::gemv8_q3_k_512, avx512::gemv8_q3_k_512_gfni}, {avx512::gemm8x4_q3_k_512, avx512::gemm8x4_q3_k_512_gfni}}};
    std::mt19937 rng(23);
    const KernelTable& k = *kernel_table("avx512");
    for (const Pair& kp : kernels) {
        for (int64_t n : {256, 2048}) {
            const RepackedBatch c = make_repacked_batch(k, kp.t, 8, n, 4, rng);
            float out[2][32];
            for (int v = 0; v < 2; ++v) kp.gemm8x4[v](c.packed.data(), c.act.data(), c.act_bytes, n, out[v], 8);
            EXPECT_EQ(std::memcmp(out[0], out[1], sizeof(out[0])), 0) << dtype_name(kp.t) << " gemm8x4 n=" << n;
            expect_matches_scalar(c, kp.t, n, 8, 4, out[0], 8, 0, "avx512 without GFNI");
            for (int v = 0; v < 2; ++v)
                for (int j = 0; j < 4; ++j) kp.gemv8[v](c.packed.data(), c.act.data() + static_cast<size_t>(j) * c.act_bytes, n, out[v] + 8 * j);
            EXPECT_EQ(std::memcmp(out[0], out[1], sizeof(out[0])), 0) << dtype_name(kp.t) << " gemv8 n=" << n;
            expect_matches_scalar(c, kp.t, n, 8, 4, out[0], 8, 0, "avx512 gemv8 without GFNI");
        }
    }
#else
    GTEST_SKIP() << "x86 kernels only";
#endif
}

TEST(Repack, EveryRowComesBackFromItsGroup) {
    std::mt19937 rng(16);
    for (DType t : kRepackedTypes) {
        constexpr int64_t n = 512, rows = 16;
        std::vector<uint8_t> w;
        for (int64_t r = 0; r < rows; ++r) {
            const auto row = random_weights(t, n, rng);
            w.insert(w.end(), row.begin(), row.end());
        }
        const size_t group = packed8_group_bytes(t, n), rb = row_bytes(t, n);
        ASSERT_EQ(group, 8 * rb) << dtype_name(t);
        std::vector<uint8_t> packed(2 * group);
        repack_rows8(t, w.data(), packed.data(), rows, n);
        EXPECT_NE(packed, w) << dtype_name(t) << ": the layout is not the plain rows'";
        for (int64_t r = 0; r < rows; ++r) {
            std::vector<uint8_t> back(rb);
            unpack_row8(t, packed.data() + static_cast<size_t>(r / 8) * group, static_cast<int>(r % 8), back.data(), n);
            ASSERT_TRUE(std::equal(back.begin(), back.end(), w.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(r) * rb)))
                << dtype_name(t) << " row " << r;
        }
    }
    EXPECT_THROW(repack_rows8(DType::kQ5_K, nullptr, nullptr, 8, 256), std::logic_error);
}

// The largest products the repacked kernels meet: every quant at its largest (nibbles 15, Q6_K's
// 63 with scales of -128) against activations of ±127 (the quantizers' largest magnitude), so
// that a kernel summing its int16 pair sums over more steps than fit (AVX2 without VNNI adds up
// to 8) or its int32 sub-block sums too long wraps and fails here.
TEST(IsaVsScalarOps, RepackedKernelsAreExactAtTheLargestProducts) {
    std::mt19937 rng(17);
    int checked = 0;
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : {DType::kQ4_0, DType::kQ4_K, DType::kQ6_K, DType::kQ2_K, DType::kQ3_K, DType::kIQ4_NL, DType::kIQ4_XS,
                        DType::kMXFP4}) {
            const auto id = static_cast<uint32_t>(t);
            if (k.gemv8[id] == nullptr || k.gemm8x4[id] == nullptr) continue;
            constexpr int64_t n = 512;
            RepackedBatch c = make_repacked_batch(k, t, 8, n, 4, rng);
            const size_t block = static_cast<size_t>(traits(t).block_bytes);
            for (size_t b = 0; b < c.rows.size() / block; ++b) {
                const auto at = c.rows.begin() + static_cast<std::ptrdiff_t>(b * block);
                if (t == DType::kQ6_K) {  // ql, qh: all ones (q = 63); scales -128; d as it was
                    std::fill_n(at, offsetof(BlockQ6_K, scales), uint8_t{0xFF});
                    std::fill_n(at + offsetof(BlockQ6_K, scales), sizeof(BlockQ6_K::scales), uint8_t{0x80});
                } else if (t == DType::kQ2_K) {  // scales and mins 15, every q 3; d, dmin as they were
                    std::fill_n(at, offsetof(BlockQ2_K, d), uint8_t{0xFF});
                } else if (t == DType::kQ3_K) {  // every value -4 (no third bits, q 0), every scale -32
                    std::fill_n(at, offsetof(BlockQ3_K, d), uint8_t{0});
                } else if (t == DType::kIQ4_NL) {  // every nibble 0: the table's -127; d as it was
                    std::fill_n(at + offsetof(BlockIQ4_NL, qs), sizeof(BlockIQ4_NL::qs), uint8_t{0});
                } else if (t == DType::kIQ4_XS) {  // nibbles 0 (-127), sub-scales -32 (all 6 bits 0)
                    std::fill_n(at + offsetof(BlockIQ4_XS, scales_h), block - offsetof(BlockIQ4_XS, scales_h), uint8_t{0});
                } else if (t == DType::kMXFP4) {  // every nibble 15: -12 (doubled E2M1 -6); e as it was
                    std::fill_n(at + offsetof(BlockMXFP4, qs), sizeof(BlockMXFP4::qs), uint8_t{0xFF});
                } else {  // the nibbles, after d (and dmin, scales for Q4_K)
                    const size_t qs_at = t == DType::kQ4_0 ? 2 : 16;
                    std::fill_n(at + static_cast<std::ptrdiff_t>(qs_at), block - qs_at, uint8_t{0xFF});
                }
            }
            repack_rows8(t, c.rows.data(), c.packed.data(), 8, n);
            for (int j = 0; j < 4; ++j) {  // all -1, all +1, then alternating signs
                std::vector<float> x(static_cast<size_t>(n));
                for (size_t i = 0; i < x.size(); ++i) x[i] = j == 0 ? -1.0f : j == 1 ? 1.0f : ((i + static_cast<size_t>(j)) % 2 ? -1.0f : 1.0f);
                quantize_activation(k, t, x.data(), c.act.data() + static_cast<size_t>(j) * c.act_bytes, n);
            }
            // token 0's first quant (after the block's scale: f16 for Q8_0, float for Q8_K): both
            // quantizers map the largest magnitude to -127
            ASSERT_EQ(static_cast<int8_t>(c.act[traits(t).vec_dot_type == DType::kQ8_0 ? 2 : 4]), -127) << isa;
            float out[4 * 8];
            k.gemm8x4[id](c.packed.data(), c.act.data(), c.act_bytes, n, out, 8);
            expect_matches_scalar(c, t, n, 8, 4, out, 8, 0, isa + " gemm8x4");
            for (int j = 0; j < 4; ++j) k.gemv8[id](c.packed.data(), c.act.data() + static_cast<size_t>(j) * c.act_bytes, n, out + 8 * j);
            expect_matches_scalar(c, t, n, 8, 4, out, 8, 0, isa + " gemv8");
            ++checked;
        }
    }
    if (checked == 0) GTEST_SKIP() << "no ISA with repacked kernels on this CPU";
}

// A 512-bit batched kernel (Gemm16x8Fn's signature) of kRows rows x kTokens tokens, from the
// table's field `kernel`, on two row tiles of random weights, against the scalar dot products.
template <int kRows, int kTokens>
void expect_wide_kernel_matches_scalar(Gemm16x8Fn (KernelTable::*kernel)[kDTypeIdLimit], unsigned seed,
                                       std::initializer_list<int64_t> sizes) {
    std::mt19937 rng(seed);
    int checked = 0;
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : kRepackedTypes) {
            const Gemm16x8Fn fn = (k.*kernel)[static_cast<uint32_t>(t)];
            if (fn == nullptr) continue;
            for (int64_t n : sizes) {
                if (n % traits(t).block_elems != 0) continue;  // e.g. 96 for Q4_K
                const RepackedBatch c = make_repacked_batch(k, t, 2 * kRows, n, kTokens, rng);
                for (int64_t g = 0; g < 2; ++g) {  // rows 0..kRows-1, then the next kRows
                    constexpr size_t kStride = kRows + 4;  // an output stride wider than the rows written
                    float out[kTokens * kStride];
                    fn(c.packed.data() + static_cast<size_t>(g * kRows / 8) * c.group_bytes, c.group_bytes, c.act.data(),
                       c.act_bytes, n, out, kStride);
                    expect_matches_scalar(c, t, n, kRows, kTokens, out, kStride, g * kRows, isa);
                }
                ++checked;
            }
        }
    }
    if (checked == 0) GTEST_SKIP() << "no ISA with " << kRows << "-row batched kernels on this CPU (AVX-512 only)";
}

TEST(IsaVsScalarOps, Gemm16x8OnRepackedRowsMatchesEachRowAndToken) {
    expect_wide_kernel_matches_scalar<16, 8>(&KernelTable::gemm16x8, 17, {256, 768, 2048});
}

TEST(IsaVsScalarOps, Gemm32x4OnRepackedRowsMatchesEachRowAndToken) {
    expect_wide_kernel_matches_scalar<32, 4>(&KernelTable::gemm32x4, 18, {32, 96, 256, 768, 2048});
}

// The forward pass's batched path: 32x4 tiles (56 rows) or 16x8 tiles (24 rows), the 16 or 8
// rows left over, then 4-token and single-token tails (13 tokens), on every ISA with repacked
// kernels.
TEST(IsaVsScalarOps, MatmulPackedRowsCoversTilesAndTails) {
    std::mt19937 rng(19);
    int checked = 0;
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : kRepackedTypes) {
            if (k.gemv8[static_cast<uint32_t>(t)] == nullptr) continue;
            for (int64_t rows : {24, 56}) {
                const int64_t n = 512;
                const int tokens = 13;
                const RepackedBatch c = make_repacked_batch(k, t, rows, n, tokens, rng);
                std::vector<float> y(static_cast<size_t>(tokens * rows), NAN);
                matmul_packed_rows(k, t, c.packed.data(), c.group_bytes, c.act.data(), c.act_bytes, tokens, n, y.data(), rows,
                                   0, rows);
                expect_matches_scalar(c, t, n, static_cast<int>(rows), tokens, y.data(), rows, 0, isa);
                ++checked;
            }
        }
    }
    if (checked == 0) GTEST_SKIP() << "no ISA with repacked kernels on this CPU";
}

// y += a·x over KV-cache rows (F32, F16), lengths that are not a multiple of a vector.
TEST(IsaVsScalarOps, AxpyMatchesScalar) {
    const KernelTable& ref = scalar_kernel_table();
    std::mt19937 rng(21);
    std::normal_distribution<float> gauss(0.0f, 3.0f);
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : {DType::kF32, DType::kF16}) {
            for (int64_t n : {1, 7, 64, 131}) {
                std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
                for (auto& v : x) v = gauss(rng);
                for (auto& v : y) v = gauss(rng);
                std::vector<uint8_t> row(row_bytes(t, n));
                ref.quantize_row[static_cast<uint32_t>(t)](x.data(), row.data(), n);
                std::vector<float> want = y, got = y;
                ref.axpy[static_cast<uint32_t>(t)](0.37f, row.data(), want.data(), n);
                k.axpy[static_cast<uint32_t>(t)](0.37f, row.data(), got.data(), n);
                for (int64_t i = 0; i < n; ++i)
                    ASSERT_NEAR(got[static_cast<size_t>(i)], want[static_cast<size_t>(i)], 1e-5f * (1 + std::fabs(want[static_cast<size_t>(i)])))
                        << isa << " " << dtype_name(t) << " n=" << n << " i=" << i;
            }
        }
    }
}

// Attention's many-row kernels: scores of a group of query heads against key rows, and the
// weighted sums of value rows; head widths below, at and above the register tile, rows with a
// gap (stride > width), groups of 1 to 5 heads (the kernels take 4 at a time).
TEST(IsaVsScalarOps, AttentionRowKernelsMatchScalar) {
    const KernelTable& ref = scalar_kernel_table();
    std::mt19937 rng(22);
    std::normal_distribution<float> gauss(0.0f, 2.0f);
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0}) {
            for (int64_t d : {8, 24, 32, 64, 128, 136, 300}) {
                if (t == DType::kQ8_0 && d % 32 != 0) continue;  // whole blocks only
                for (int n_q : {1, 3, 4, 5}) {
                    const int64_t n_rows = 37;
                    const size_t stride = row_bytes(t, d) + 16, q_stride = row_bytes(t, d) + 8;
                    const size_t out_stride = 41, y_stride = static_cast<size_t>(d) + 3;
                    std::vector<uint8_t> rows(stride * static_cast<size_t>(n_rows));
                    std::vector<float> x(static_cast<size_t>(d));
                    for (int64_t r = 0; r < n_rows; ++r) {
                        for (auto& v : x) v = gauss(rng);
                        ref.quantize_row[static_cast<uint32_t>(t)](x.data(), rows.data() + static_cast<size_t>(r) * stride, d);
                    }
                    std::vector<uint8_t> q(q_stride * static_cast<size_t>(n_q));
                    for (int j = 0; j < n_q; ++j) {
                        for (auto& v : x) v = gauss(rng);
                        ref.quantize_row[static_cast<uint32_t>(t)](x.data(), q.data() + static_cast<size_t>(j) * q_stride, d);
                    }
                    const size_t n_out = out_stride * static_cast<size_t>(n_q);
                    std::vector<float> want(n_out, -7.0f), got(n_out, -7.0f);
                    ref.dot_rows[static_cast<uint32_t>(t)](rows.data(), stride, n_rows, q.data(), q_stride, n_q, d, 0.125f, want.data(), out_stride);
                    k.dot_rows[static_cast<uint32_t>(t)](rows.data(), stride, n_rows, q.data(), q_stride, n_q, d, 0.125f, got.data(), out_stride);
                    for (size_t i = 0; i < n_out; ++i)
                        ASSERT_NEAR(got[i], want[i], 1e-4f * (1 + std::fabs(want[i])))
                            << isa << " " << dtype_name(t) << " d=" << d << " n_q=" << n_q << " entry " << i;
                    std::vector<float> yw(y_stride * static_cast<size_t>(n_q), 0.5f), yg = yw;
                    ref.axpy_rows[static_cast<uint32_t>(t)](rows.data(), stride, n_rows, want.data(), out_stride, n_q, yw.data(), y_stride, d);
                    k.axpy_rows[static_cast<uint32_t>(t)](rows.data(), stride, n_rows, want.data(), out_stride, n_q, yg.data(), y_stride, d);
                    for (size_t i = 0; i < yw.size(); ++i)
                        ASSERT_NEAR(yg[i], yw[i], 1e-4f * (1 + std::fabs(yw[i])))
                            << isa << " " << dtype_name(t) << " d=" << d << " n_q=" << n_q << " i=" << i;
                }
            }
        }
    }
}

// The row wideners every ISA has its own of (the KV cache types) give exactly the scalar floats.
TEST(IsaVsScalarOps, DequantizeRowIsExact) {
    std::mt19937 rng(25);
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0}) {
            for (int64_t n : {32, 64, 96, 136}) {
                if (t == DType::kQ8_0 && n % 32 != 0) continue;
                const std::vector<uint8_t> row = random_weights(t, n, rng);
                std::vector<float> want(static_cast<size_t>(n)), got(want.size(), -1.0f);
                scalar_kernel_table().dequantize_row[static_cast<uint32_t>(t)](row.data(), want.data(), n);
                k.dequantize_row[static_cast<uint32_t>(t)](row.data(), got.data(), n);
                for (size_t i = 0; i < want.size(); ++i)
                    ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0) << isa << " " << dtype_name(t) << " n=" << n << " i=" << i;
            }
        }
    }
}

// Every ISA's activation quantizers write exactly the scalar bytes (table_x86.inc: the dot
// products of all ISAs then see the same activations). Inputs that stress the scale: a block of
// zeros, the largest magnitude twice with both signs (the first one sets the sign), huge and
// tiny values, NaNs, and a block whose scale is exactly 1 so that k + 1/2 are true rounding ties.
TEST(IsaVsScalarOps, QuantizeRowIsBitIdentical) {
    std::mt19937 rng(31);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    constexpr int64_t n = 3 * 256;
    std::vector<std::vector<float>> inputs;
    inputs.reserve(4);  // the references below stay valid
    auto& plain = inputs.emplace_back(n);
    for (auto& v : plain) v = gauss(rng);
    auto& stressed = inputs.emplace_back(plain);
    std::fill(stressed.begin(), stressed.begin() + 256, 0.0f);  // block 0: zeros
    stressed[300] = -4.0f;                                      // block 1: -max before +max
    stressed[301] = 4.0f;
    stressed[600] = 8.0f;  // block 2: +max before -max, and values that scale to about k + 1/2
    stressed[700] = -8.0f;
    for (int i = 0; i < 16; ++i) stressed[512 + i] = static_cast<float>(i) / 127.0f * 8.0f + 4.0f / 127.0f;
    auto& extreme = inputs.emplace_back(plain);
    for (int64_t i = 0; i < 256; ++i) extreme[static_cast<size_t>(i)] *= 1e30f;
    for (int64_t i = 256; i < 512; ++i) extreme[static_cast<size_t>(i)] *= 1e-38f;
    extreme[520] = extreme[767] = std::numeric_limits<float>::quiet_NaN();  // first and last group
    auto& ties = inputs.emplace_back(plain);  // max 127: scale 1, so every k + 0.5 is a tie
    ties[0] = 127.0f;
    for (int j = 1; j < 32; ++j) ties[static_cast<size_t>(j)] = static_cast<float>(j - 16) + 0.5f;
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ8_1, DType::kQ8_K}) {
            const auto id = static_cast<uint32_t>(t);
            for (size_t c = 0; c < inputs.size(); ++c) {
                std::vector<uint8_t> want(row_bytes(t, n)), got(want.size(), 0xAB);
                scalar_kernel_table().quantize_row[id](inputs[c].data(), want.data(), n);
                k.quantize_row[id](inputs[c].data(), got.data(), n);
                ASSERT_EQ(got, want) << isa << " " << dtype_name(t) << " input " << c;
            }
        }
    }
}

// The flash-attention step on every ISA against the scalar loops: masks that hide none, some or
// all of a block's rows from a query, a first block (max -inf) and a later one (running state).
TEST(IsaVsScalarOps, AttendBlockMatchesScalar) {
    const KernelTable& ref = scalar_kernel_table();
    std::mt19937 rng(23);
    std::normal_distribution<float> gauss(0.0f, 1.5f);
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (int64_t d : {8, 24, 64, 72, 136}) {
            for (int64_t n_rows : {int64_t{1}, int64_t{5}, kAttendBlock}) {
                for (bool first : {true, false}) {
                    const auto n = static_cast<size_t>(d);
                    std::vector<float> qt(n * kAttendTile), kr(n * static_cast<size_t>(n_rows)), vr(kr.size());
                    for (auto* vec : {&qt, &kr, &vr})
                        for (auto& x : *vec) x = gauss(rng);
                    int32_t visible[kAttendTile];
                    for (int m = 0; m < kAttendTile; ++m)
                        visible[m] = static_cast<int32_t>(m % 4 == 0 ? 0 : m % 4 == 1 ? n_rows + 3 : static_cast<int64_t>(rng() % static_cast<uint32_t>(n_rows + 1)));
                    visible[1] = 1;  // at least one query sees something even when n_rows is 1
                    std::vector<float> mx(kAttendTile, -INFINITY), sum(kAttendTile, 0.0f), o(n * kAttendTile, 0.0f);
                    if (!first)
                        for (int m = 0; m < kAttendTile; ++m) {
                            mx[static_cast<size_t>(m)] = gauss(rng);
                            sum[static_cast<size_t>(m)] = 1.0f + std::fabs(gauss(rng));
                            for (size_t i = 0; i < n; ++i) o[static_cast<size_t>(m) * n + i] = gauss(rng);
                        }
                    std::vector<float> mx2 = mx, sum2 = sum, o2 = o;
                    ref.attend_block(qt.data(), d, kr.data(), vr.data(), n_rows, visible, mx.data(), sum.data(), o.data());
                    k.attend_block(qt.data(), d, kr.data(), vr.data(), n_rows, visible, mx2.data(), sum2.data(), o2.data());
                    for (int m = 0; m < kAttendTile; ++m) {
                        const auto mi = static_cast<size_t>(m);
                        const std::string where = isa + " d=" + std::to_string(d) + " rows=" + std::to_string(n_rows) +
                                                  (first ? " first" : " later") + " query " + std::to_string(m);
                        if (std::isinf(mx[mi])) {
                            ASSERT_TRUE(std::isinf(mx2[mi]) && mx2[mi] < 0) << where;
                        } else {
                            ASSERT_NEAR(mx2[mi], mx[mi], 1e-4f * (1 + std::fabs(mx[mi]))) << where;
                        }
                        ASSERT_NEAR(sum2[mi], sum[mi], 1e-4f * (1 + std::fabs(sum[mi]))) << where;
                        for (size_t i = 0; i < n; ++i)
                            ASSERT_NEAR(o2[mi * n + i], o[mi * n + i], 1e-4f * (1 + std::fabs(o[mi * n + i]))) << where << " i=" << i;
                    }
                }
            }
        }
    }
}

// attend_tile against attention written out in doubles (scores, exact softmax, weighted sum) over
// the cache rows as stored: any tile size, keys spanning several blocks and ending mid-block.
TEST(Attention, TileEqualsExactSoftmaxAttention) {
    std::mt19937 rng(24);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0}) {
            for (int64_t d : {32, 64, 72}) {
                if (t == DType::kQ8_0 && d % 32 != 0) continue;
                for (int n_q : {1, 7, kAttendTile}) {
                    const auto n = static_cast<size_t>(d);
                    const int64_t n_rows = 200;
                    const size_t stride = row_bytes(t, d) + 4;
                    std::vector<uint8_t> keys(stride * static_cast<size_t>(n_rows)), values(keys.size());
                    std::vector<float> x(n);
                    for (auto* rows : {&keys, &values})
                        for (int64_t r = 0; r < n_rows; ++r) {
                            for (auto& v : x) v = 2.0f * gauss(rng);
                            k.quantize_row[static_cast<uint32_t>(t)](x.data(), rows->data() + static_cast<size_t>(r) * stride, d);
                        }
                    std::vector<float> q(n * static_cast<size_t>(n_q)), out(q.size(), -9.0f);
                    for (auto& v : q) v = gauss(rng);
                    const float* qp[kAttendTile];
                    float* op[kAttendTile];
                    int64_t n_keys[kAttendTile];
                    for (int m = 0; m < n_q; ++m) {
                        qp[m] = q.data() + static_cast<size_t>(m) * n;
                        op[m] = out.data() + static_cast<size_t>(m) * n;
                        n_keys[m] = m == 0 ? 1 : 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(n_rows));
                    }
                    if (n_q > 1) n_keys[n_q - 1] = n_rows;
                    std::vector<float> scratch(attend_scratch_floats(d));
                    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
                    attend_tile(k, t, qp, n_q, n_keys, keys.data(), values.data(), stride, d, scale, op, scratch.data());
                    // the reference sees the rows as the scalar dequantizer widens them
                    std::vector<float> kr(n), vr(n);
                    for (int m = 0; m < n_q; ++m) {
                        std::vector<double> s(static_cast<size_t>(n_keys[m]));
                        for (int64_t r = 0; r < n_keys[m]; ++r) {
                            scalar_kernel_table().dequantize_row[static_cast<uint32_t>(t)](keys.data() + static_cast<size_t>(r) * stride, kr.data(), d);
                            double dot = 0;
                            for (size_t i = 0; i < n; ++i) dot += static_cast<double>(qp[m][i]) * kr[i];
                            s[static_cast<size_t>(r)] = dot * scale;
                        }
                        const double top = *std::max_element(s.begin(), s.end());
                        double total = 0;
                        for (auto& v : s) total += (v = std::exp(v - top));
                        std::vector<double> want(n, 0.0);
                        for (int64_t r = 0; r < n_keys[m]; ++r) {
                            scalar_kernel_table().dequantize_row[static_cast<uint32_t>(t)](values.data() + static_cast<size_t>(r) * stride, vr.data(), d);
                            for (size_t i = 0; i < n; ++i) want[i] += s[static_cast<size_t>(r)] / total * vr[i];
                        }
                        for (size_t i = 0; i < n; ++i)
                            ASSERT_NEAR(op[m][i], want[i], 2e-5 * (1 + std::fabs(want[i])))
                                << isa << " " << dtype_name(t) << " d=" << d << " n_q=" << n_q << " query " << m << " keys " << n_keys[m] << " i=" << i;
                    }
                }
            }
        }
    }
}

TEST(Attention, TileRejectsBadShapes) {
    const KernelTable& k = scalar_kernel_table();
    std::vector<float> scratch(attend_scratch_floats(8)), q(8), o(8);
    const float* qp[1] = {q.data()};
    float* op[1] = {o.data()};
    const int64_t none[1] = {0};
    std::vector<uint8_t> rows(64);
    EXPECT_THROW(attend_tile(k, DType::kF32, qp, 1, none, rows.data(), rows.data(), 32, 8, 1.0f, op, scratch.data()),
                 std::invalid_argument);
    EXPECT_THROW(attend_tile(k, DType::kF32, qp, 0, none, rows.data(), rows.data(), 32, 8, 1.0f, op, scratch.data()),
                 std::invalid_argument);
}

// The bandwidth probe: a wrapping sum, so every ISA's result is exact and equal.
TEST(IsaVsScalarOps, ReadSumMatchesScalar) {
    std::mt19937_64 rng(21);
    std::vector<uint64_t> words(1000);
    for (auto& w : words) w = rng();
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        ASSERT_NE(k.read_sum, nullptr) << isa;
        for (int64_t n : {0, 1, 7, 31, 32, 33, 999, 1000}) {
            uint64_t want = 0;
            for (int64_t i = 0; i < n; ++i) want += words[static_cast<size_t>(i)];
            EXPECT_EQ(k.read_sum(words.data(), n), want) << isa << " n=" << n;
        }
    }
}

TEST(IsaVsScalarOps, FloatOpsMatchScalar) {
    const KernelTable& ref = scalar_kernel_table();
    std::mt19937 rng(5);
    std::normal_distribution<float> gauss(0.0f, 2.0f);
    for (const std::string& isa : available_isas()) {
        const KernelTable& k = *kernel_table(isa);
        for (int64_t n : {1, 7, 33, 1000, 2048}) {
            std::vector<float> x(static_cast<size_t>(n)), w(static_cast<size_t>(n));
            for (auto& v : x) v = gauss(rng);
            for (auto& v : w) v = gauss(rng);
            std::vector<float> a(x.size()), b(x.size());
            k.rmsnorm(x.data(), w.data(), a.data(), n, 1e-5f);
            ref.rmsnorm(x.data(), w.data(), b.data(), n, 1e-5f);
            for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(b[i]))) << isa << " rmsnorm";
            a = x;
            b = x;
            k.silu_mul(a.data(), w.data(), n);
            ref.silu_mul(b.data(), w.data(), n);
            for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(b[i]))) << isa << " silu_mul";
            a = x;
            b = x;
            a[0] = b[0] = 80.0f;  // large logits must not overflow
            k.softmax(a.data(), n);
            ref.softmax(b.data(), n);
            for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-6f + 1e-5f * b[i]) << isa << " softmax";
            std::vector<float> cs(static_cast<size_t>(n / 2 * 2 + 2));
            for (auto& v : cs) v = gauss(rng);
            if (n % 2 == 0) {
                a = x;
                b = x;
                k.rope_neox(a.data(), 1, static_cast<int>(n), cs.data());
                ref.rope_neox(b.data(), 1, static_cast<int>(n), cs.data());
                for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(b[i]))) << isa << " rope";
            }
        }
    }
}

TEST(Dispatch, ForcedIsaMustExist) {
    EXPECT_NE(kernel_table("scalar"), nullptr);
    EXPECT_EQ(kernel_table("sparc"), nullptr);
    EXPECT_FALSE(available_isas().empty());
}

// The NEON level from the OS's feature bits: "neon" is the best table the CPU runs, the others
// force a lower one. Under qemu-aarch64 the CPU model is known, so the detection itself is checked.
TEST(Dispatch, NeonLevelFollowsTheCpu) {
    const CpuFeatures& cpu = cpu_features();
    if (!cpu.neon) GTEST_SKIP() << "not an AArch64 CPU";
    if (const char* model = std::getenv("QEMU_CPU")) {
        const std::string m = model;
        if (m == "cortex-a53" || m == "cortex-a72") {
            EXPECT_FALSE(cpu.dotprod || cpu.i8mm) << m;
        }
        if (m == "neoverse-n1") {
            EXPECT_TRUE(cpu.dotprod && !cpu.i8mm) << m;
        }
        if (m == "max") {
            EXPECT_TRUE(cpu.dotprod && cpu.i8mm) << m;
        }
    }
    EXPECT_STREQ(kernel_table("neon")->isa, cpu.dotprod && cpu.i8mm ? "neon+i8mm" : cpu.dotprod ? "neon+dotprod" : "neon");
    ASSERT_EQ(kernel_table("neon-dotprod") != nullptr, cpu.dotprod);
    if (cpu.dotprod) {
        EXPECT_STREQ(kernel_table("neon-dotprod")->isa, "neon+dotprod");
    }
    EXPECT_STREQ(kernel_table("neon-nodot")->isa, "neon");
}

}  // namespace
}  // namespace lfm
