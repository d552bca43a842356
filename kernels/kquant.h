#pragma once
// Unpacking of the K-quants' packed sub-block scales: the 6-bit scales and mins shared by Q4_K and
// Q5_K, and Q3_K's sixteen 6-bit scales (gguf.md §4).

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

// Q3_K's 6-bit scale of sub-block i (0..15), minus its offset 32 (types.h: BlockQ3_K).
inline int q3_k_scale(const uint8_t* scales, int i) {
    const int lo = (scales[i % 8] >> (4 * (i / 8))) & 0xF;
    const int hi = (scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (lo | hi << 4) - 32;
}

// The inverse: sixteen 6-bit scales as stored (+ 32, 0..63) into Q3_K's 12 bytes.
inline void q3_k_pack_scales(const int* sc, uint8_t* scales) {
    for (int j = 0; j < 12; ++j) scales[j] = 0;
    for (int i = 0; i < 16; ++i) {
        scales[i % 8] = static_cast<uint8_t>(scales[i % 8] | (sc[i] & 15) << (4 * (i / 8)));
        scales[8 + i % 4] = static_cast<uint8_t>(scales[8 + i % 4] | (sc[i] >> 4) << (2 * (i / 4)));
    }
}

}  // namespace lfm
