#pragma once
// The 6-bit scales and mins of a BlockQ4_Kx8 (96 bytes, packed as types.h describes), unpacked
// to one byte per (sub-block, row) in a few AVX2 instructions, so the repacked weights keep
// Q4_K's size (8 × 144 bytes per block) and the kernels still read sc[sub][row] bytes. Included
// by the AVX2 and AVX-512 translation units only; internal linkage, so that the AVX2 table never
// links a copy compiled with AVX-512 flags.

#include <immintrin.h>

#include <cstdint>

#include "../types.h"

namespace lfm::x86 {
namespace {

struct Q4KScales8 {
    alignas(32) uint8_t sc[8][8];  // [sub-block][row]
    alignas(32) uint8_t mn[8][8];
};

inline Q4KScales8 unpack_q4_k_x8_scales(const BlockQ4_Kx8& x) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30), low2 = _mm256_set1_epi8(0x03);
    const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.hi));
    const __m256i nib[2] = {_mm256_and_si256(hi, low4), _mm256_and_si256(_mm256_srli_epi16(hi, 4), low4)};
    Q4KScales8 s;
    for (int half = 0; half < 2; ++half) {  // entries 32·half .. 32·half + 31: sub-blocks 4·half ..
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.lo + 32 * half));
        const __m256i n = nib[half];
        // byte-wise shifts through 16-bit ones: every value stays inside its byte once masked
        const __m256i sc = _mm256_or_si256(_mm256_and_si256(lo, low4), _mm256_slli_epi16(_mm256_and_si256(n, low2), 4));
        const __m256i mn = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo, 4), low4),
                                           _mm256_and_si256(_mm256_slli_epi16(n, 2), bits45));
        _mm256_store_si256(reinterpret_cast<__m256i*>(s.sc[4 * half]), sc);
        _mm256_store_si256(reinterpret_cast<__m256i*>(s.mn[4 * half]), mn);
    }
    return s;
}

}  // namespace
}  // namespace lfm::x86
