#pragma once
// Software prefetch for the plain-row Q6_K dot products (Q6_K matrices loaded with --no-repack;
// a loaded model's are repacked for the gemv8 kernels) and the repacked Q2_K kernel, which read
// every weight byte once per token straight from memory: asking for the lines a few KiB ahead
// into L2 lets the kernel's reads hit there.
//
// The other repacked 8-row kernels (gemv8) do not use it. On a Zen 4 (EPYC Genoa) VM, measured with
// bench_kernels' BM_MatvecShareOfProbe (one core, cold weights in huge pages, the probe
// interleaved), they stream 88-97 % of the probe without it and 67-88 % with it (AVX-512 Q8_0
// 67-70 %, Q4_0 and Q4_K 78-88 %); one-thread decode of a Q8_0 file went 12.3-12.9 -> 15.4-17.9
// t/s. On their long contiguous 8-row streams the hardware prefetcher does better alone. Earlier
// sessions on a Zen 5 VM had measured these prefetches +7-17 % (separate runs of kernel and
// probe, a noisier comparison): re-measure with BM_MatvecShareOfProbe there before reading
// more into either. For the Q6_K dot the Zen 4 comparison came out 0.78-0.84 with it against
// 0.69-0.79 without, and 4 KiB ahead or into L1 was worse than none, so it stays, at 8 KiB.
// The repacked Q2_K kernel (lowbit_k_x8_avx512.inc) uses it too: on the Zen 5 VM, 4 alternating
// rounds of 2-thread decode of the synthetic Q2_K file went 50.0/50.9/49.2/50.9 -> 54.8/54.6/
// 52.2/53.3 t/s with it. The same line in the repacked Q6_K kernel made the Q4_K_M file's decode
// 2-6 % slower there (3 rounds), so that one has none.
// Internal linkage: included by the AVX2 and AVX-512 translation units.

#include <immintrin.h>

#include <cstddef>

namespace lfm::x86 {
namespace {

// Bytes ahead of the block being read: about one memory latency's worth of streaming at one
// core's bandwidth (≈ 100 ns × 30 GB/s = 3 KB), with margin.
constexpr size_t kPrefetchAhead = 8192;

// Asks for the cache lines of [p + kPrefetchAhead, p + kPrefetchAhead + bytes) in L2. A prefetch
// past the end of a matrix is harmless: it never faults.
inline void prefetch_ahead(const void* p, size_t bytes) {
    const char* q = static_cast<const char*>(p) + kPrefetchAhead;
    for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(q + o, _MM_HINT_T1);
}

}  // namespace
}  // namespace lfm::x86
