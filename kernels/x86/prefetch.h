#pragma once
// Software prefetch for the decode kernels, which read every weight byte once per token straight
// from memory. The hardware prefetcher follows these streams, but a single core keeps too few
// misses in flight to reach the machine's read bandwidth while it also computes; asking for the
// lines a few KiB ahead into L2 lets the kernel's reads hit there. Internal linkage: included by
// the AVX2 and AVX-512 translation units.

#include <immintrin.h>

#include <cstddef>

namespace lfm::x86 {
namespace {

// Bytes ahead of the block being read: about one memory latency's worth of streaming at one
// core's bandwidth (≈ 100 ns × 30 GB/s = 3 KB), with margin. Tried on the Q4_0 gemv8 (one core,
// cold weights): into L1 1 KiB ahead was slower than none and 4 KiB about the same; into L2
// 8 KiB ahead was ~9 % faster (noisy host).
constexpr size_t kPrefetchAhead = 8192;

// Asks for the cache lines of [p + kPrefetchAhead, p + kPrefetchAhead + bytes) in L2. A prefetch
// past the end of a matrix is harmless: it never faults.
inline void prefetch_ahead(const void* p, size_t bytes) {
    const char* q = static_cast<const char*>(p) + kPrefetchAhead;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(q + o, _MM_HINT_T1);
}

// The lines of [p + kPrefetchNear, p + kPrefetchNear + bytes) into L1, on top of prefetch_ahead:
// the L2 prefetches bring the stream close, these keep a couple of KiB of it in L1 ahead of the
// loads. Used by the AVX-512 Q4_K gemv8 only (1152-byte blocks, the most arithmetic per byte):
// 1.07-1.17x there (one core, cold weights, alternating runs); the AVX-512 Q4_0 gemv8 (144-byte
// blocks, one prefetch per 2.25 lines) and the AVX2 Q4_K gemv8 were slower or no faster.
constexpr size_t kPrefetchNear = 2048;
inline void prefetch_near(const void* p, size_t bytes) {
    const char* q = static_cast<const char*>(p) + kPrefetchNear;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(q + o, _MM_HINT_T0);
}

}  // namespace
}  // namespace lfm::x86
