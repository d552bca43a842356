#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "lfm/error.h"
#include "lfm/version.h"
#include "runtime/huge_buffer.h"
#include "types.h"

namespace lfm {
namespace {

TEST(Version, StringMatchesNumbers) {
    const std::string expected =
        std::to_string(kVersionMajor) + "." + std::to_string(kVersionMinor) + "." + std::to_string(kVersionPatch);
    EXPECT_EQ(expected, kVersionString);
}

TEST(Error, CarriesCodeAndMessage) {
    try {
        throw Error(ErrorCode::kContextOverflow, "too many tokens");
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "too many tokens");
        EXPECT_EQ(dynamic_cast<const Error&>(e).code(), ErrorCode::kContextOverflow);
    }
    EXPECT_STREQ(to_string(ErrorCode::kUnsupported), "unsupported");
}

// Weight memory starts on a 2 MiB boundary (the kernel backs only aligned 2 MiB ranges with huge
// pages), is zero-filled and writable to its last byte, whatever its size.
TEST(HugeBuffer, AlignedZeroedAndWritableToTheEnd) {
    for (size_t bytes : {size_t{1}, size_t{4095}, size_t{2 << 20} + 17, size_t{7} << 20}) {
        HugeBuffer b(bytes);
        ASSERT_EQ(b.size(), bytes);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (size_t{2} << 20), 0u) << bytes;
        EXPECT_EQ(b.data()[0], 0);
        EXPECT_EQ(b.data()[bytes - 1], 0);
        std::memset(b.data(), 0xAB, bytes);
        EXPECT_EQ(b.data()[bytes - 1], 0xAB);
        HugeBuffer moved = std::move(b);
        EXPECT_EQ(moved.data()[bytes / 2], 0xAB);
    }
    EXPECT_EQ(HugeBuffer(0).data(), nullptr);
}

// Every finite half value converts to f32 and back to itself; NaNs stay NaN.
TEST(Half, F16RoundTripsEveryValue) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const float f = f16_to_f32(static_cast<f16_t>(h));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
            continue;
        }
        ASSERT_EQ(f32_to_f16(f), h) << "h=" << h << " f=" << f;
    }
}

TEST(Half, F16KnownValuesAndRounding) {
    EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
    EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // rounds up to inf
    EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);
    // 1 + 2^-11 is halfway between 1 and the next half: ties to even -> 1
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
    EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // half the smallest subnormal: to even (0)
    EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
}

TEST(Half, Bf16RoundsToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1+2^-7: ties to even
    EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
    EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(Types, TraitsMatchSpecTable) {
    EXPECT_EQ(traits(DType::kQ4_K).block_bytes, 144);
    EXPECT_EQ(traits(DType::kQ6_K).block_elems, 256);
    EXPECT_EQ(traits(DType::kQ4_1).vec_dot_type, DType::kQ8_1);
    EXPECT_EQ(row_bytes(DType::kQ8_0, 2048), 2048u / 32 * 34);
    EXPECT_FALSE(dtype_traits(16).has_value());  // IQ2_XXS
    EXPECT_EQ(ggml_type_name(16), "IQ2_XXS");
}

}  // namespace
}  // namespace lfm
