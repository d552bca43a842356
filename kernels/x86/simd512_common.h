#pragma once
// Small helpers of the 512-bit kernel files, included only by translation units compiled with
// the AVX-512 flags. Internal linkage, as simd_common.h.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace lfm::x86 {
namespace {

// Lane index vector for vpermd: lanes 0..7 pick dword a, lanes 8..15 dword a + 1 (two
// consecutive 4-element steps of 8 rows in one register).
inline __m512i step_pair(int a) {
    return _mm512_add_epi32(_mm512_set1_epi32(a), _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0));
}

// 8 bytes at p in every 64-bit lane: one vpbroadcastq from memory.
inline __m512i bcast8(const void* p) {
    int64_t v;
    std::memcpy(&v, p, 8);
    return _mm512_set1_epi64(v);
}

}  // namespace
}  // namespace lfm::x86
