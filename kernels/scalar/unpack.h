#pragma once
// Integer values of a block, shared by the scalar dequantizers and dot products so the bit
// layouts of gguf.md §4 are written out once.

#include <cstdint>

#include "../types.h"

namespace lfm::scalar {

// The 5-bit values (0..31) of a Q5_0/Q5_1 block, element j in 0..31.
inline void q5_values(const uint8_t* qh, const uint8_t* qs, int* v) {
    const uint32_t h = static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
                       static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
    for (int j = 0; j < QK / 2; ++j) {
        v[j] = (qs[j] & 0xF) | static_cast<int>(((h >> j) & 1u) << 4);
        v[j + QK / 2] = (qs[j] >> 4) | static_cast<int>(((h >> (j + 16)) & 1u) << 4);
    }
}

// The 256 signed 6-bit values (-32..31) of a Q6_K block, in element order.
inline void q6_k_values(const BlockQ6_K& b, int* v) {
    for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = b.ql + 64 * half;
        const uint8_t* qh = b.qh + 32 * half;
        int* out = v + 128 * half;
        for (int l = 0; l < 32; ++l) {
            out[l] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            out[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            out[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            out[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        }
    }
}

// The inverse of q6_k_values: v (-32..31, element order) into b's ql and qh.
inline void q6_k_store_values(const int* v, BlockQ6_K& b) {
    for (int half = 0; half < 2; ++half) {
        uint8_t* ql = b.ql + 64 * half;
        uint8_t* qh = b.qh + 32 * half;
        const int* in = v + 128 * half;
        for (int l = 0; l < 32; ++l) {
            const int q0 = in[l] + 32, q1 = in[l + 32] + 32, q2 = in[l + 64] + 32, q3 = in[l + 96] + 32;
            ql[l] = static_cast<uint8_t>((q0 & 15) | (q2 & 15) << 4);
            ql[l + 32] = static_cast<uint8_t>((q1 & 15) | (q3 & 15) << 4);
            qh[l] = static_cast<uint8_t>((q0 >> 4) | (q1 >> 4) << 2 | (q2 >> 4) << 4 | (q3 >> 4) << 6);
        }
    }
}

}  // namespace lfm::scalar
