#pragma once
// Whether floats are all finite: no NaN or Inf (exponent bits all set). Integer tests, so that
// the loop vectorizes (a float comparison with NaN would not fold into one OR). Corrupt weights
// show up this way: a NaN scale in a quantized block, a NaN norm weight.

#include <cstdint>
#include <cstring>
#include <span>

namespace lfm {

inline bool all_finite(std::span<const float> v) {
    uint32_t bad = 0;
    for (float x : v) {
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        bad |= static_cast<uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
    }
    return bad == 0;
}

}  // namespace lfm
