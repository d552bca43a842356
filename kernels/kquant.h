#pragma once
// Unpacking of the 6-bit sub-block scales and mins shared by Q4_K and Q5_K (gguf.md §4).

#include <cstdint>

namespace lfm {

// Sub-block j (0..7) of a Q4_K/Q5_K super-block: scale sc and min mn, 6 bits each.
inline void kquant_scale_min(int j, const uint8_t* q, uint8_t& sc, uint8_t& mn) {
    if (j < 4) {
        sc = q[j] & 63;
        mn = q[j + 4] & 63;
    } else {
        sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        mn = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// The inverse: the 8 sub-blocks' scales and mins (6 bits each) into the 12 bytes q.
inline void kquant_pack_scale_min(const uint8_t* sc, const uint8_t* mn, uint8_t* q) {
    for (int j = 0; j < 4; ++j) {
        q[j] = static_cast<uint8_t>((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        q[j + 4] = static_cast<uint8_t>((mn[j] & 63) | (mn[j + 4] >> 4) << 6);
        q[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
}

}  // namespace lfm
