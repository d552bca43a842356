#include "types.h"

#include <array>
#include <stdexcept>
#include <vector>

namespace lfm {
namespace {

constexpr std::array kTraits = {
    DTypeTraits{DType::kF32, "F32", 1, 4, DType::kF32, true},
    DTypeTraits{DType::kF16, "F16", 1, 2, DType::kF16, true},
    DTypeTraits{DType::kBF16, "BF16", 1, 2, DType::kBF16, true},
    DTypeTraits{DType::kQ4_0, "Q4_0", QK, 18, DType::kQ8_0, true},
    DTypeTraits{DType::kQ4_1, "Q4_1", QK, 20, DType::kQ8_1, true},
    DTypeTraits{DType::kQ5_0, "Q5_0", QK, 22, DType::kQ8_0, true},
    DTypeTraits{DType::kQ5_1, "Q5_1", QK, 24, DType::kQ8_1, true},
    DTypeTraits{DType::kQ8_0, "Q8_0", QK, 34, DType::kQ8_0, true},
    DTypeTraits{DType::kQ8_1, "Q8_1", QK, 36, DType::kQ8_1, false},
    DTypeTraits{DType::kQ2_K, "Q2_K", QK_K, 84, DType::kQ8_K, true},
    DTypeTraits{DType::kQ3_K, "Q3_K", QK_K, 110, DType::kQ8_K, true},
    DTypeTraits{DType::kQ4_K, "Q4_K", QK_K, 144, DType::kQ8_K, true},
    DTypeTraits{DType::kQ5_K, "Q5_K", QK_K, 176, DType::kQ8_K, true},
    DTypeTraits{DType::kQ6_K, "Q6_K", QK_K, 210, DType::kQ8_K, true},
    DTypeTraits{DType::kQ8_K, "Q8_K", QK_K, 292, DType::kQ8_K, false},
    DTypeTraits{DType::kIQ4_NL, "IQ4_NL", QK, 18, DType::kQ8_0, true},
    DTypeTraits{DType::kIQ4_XS, "IQ4_XS", QK_K, 136, DType::kQ8_K, true},
    DTypeTraits{DType::kMXFP4, "MXFP4", QK, 17, DType::kQ8_0, true},
};

// Names of every ggml type id (../shared/spec/gguf.md §4), including the ones we do not implement.
constexpr std::array<std::string_view, 43> kGgmlNames = {
    "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",   "Q5_0",  "Q5_1",   "Q8_0",
    "Q8_1",    "Q2_K",   "Q3_K",    "Q4_K",  "Q5_K",   "Q6_K",   "Q8_K",  "IQ2_XXS", "IQ2_XS",
    "IQ3_XXS", "IQ1_S",  "IQ4_NL",  "IQ3_S", "IQ2_S",  "IQ4_XS", "I8",    "I16",    "I32",
    "I64",     "F64",    "IQ1_M",   "BF16",  "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0",
    "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4", "NVFP4", "Q1_0", "Q2_0"};

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
    for (const DTypeTraits& t : kTraits)
        if (static_cast<uint32_t>(t.type) == id) return t;
    return std::nullopt;
}

static_assert([] {
    for (const DTypeTraits& t : kTraits)
        if (static_cast<uint32_t>(t.type) >= kDTypeIdLimit) return false;
    return true;
}(), "every supported type id must index the kernel tables (raise kDTypeIdLimit)");

const DTypeTraits& traits(DType t) {
    for (const DTypeTraits& tr : kTraits)
        if (tr.type == t) return tr;
    throw std::logic_error("traits(): unknown DType");
}

const char* dtype_name(DType t) { return traits(t).name; }

std::string_view ggml_type_name(uint32_t id) {
    return id < kGgmlNames.size() ? kGgmlNames[id] : std::string_view("unknown");
}

const float* f16_table() {
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (uint32_t h = 0; h < 65536; ++h) t[h] = f16_to_f32(static_cast<f16_t>(h));
        return t;
    }();
    return table.data();
}

f16_t f32_to_f16(float f) {
    const uint32_t u = f32_to_bits(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t abs = u & 0x7FFFFFFFu;
    if (abs > 0x7F800000u) return static_cast<f16_t>(sign | 0x7E00u);  // NaN
    if (abs >= 0x477FF000u) return static_cast<f16_t>(sign | 0x7C00u);  // rounds to >= 65520: inf
    if (abs < 0x38800000u) {
        // result is subnormal (or zero): value / 2^-24, rounded to nearest even
        if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
        const uint32_t exp = abs >> 23;
        const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
        const uint32_t shift = 126 - exp;  // 14 + (113 - exp) - 1 ... yields mant >> (126-exp)
        uint32_t h = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1);
        const uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) ++h;
        return static_cast<f16_t>(sign | h);
    }
    uint32_t h = ((abs >> 13) - (112u << 10));
    const uint32_t rem = abs & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry into the exponent is correct
    return static_cast<f16_t>(sign | h);
}

}  // namespace lfm
