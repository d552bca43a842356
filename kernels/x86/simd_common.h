#pragma once
// Small helpers shared by the x86 kernel files: loads, broadcasts and activation-row addressing.
// Internal linkage: each translation unit compiles its own copy with its own ISA flags (AVX2 or
// AVX-512), so no copy built for one ISA can be picked by the linker for another.

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lfm::x86 {
namespace {

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Four bytes at p in every 32-bit lane: one vpbroadcastd from memory. (Copying a block to a
// stack array first and broadcasting from there stalls on store forwarding.)
inline __m256i bcast4(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Activation row j of a batch whose rows are `stride` bytes apart, as blocks of type Block.
template <class Block>
const Block* act_row(const void* act, size_t stride, int j) {
    return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(act) + static_cast<size_t>(j) * stride);
}

}  // namespace
}  // namespace lfm::x86
