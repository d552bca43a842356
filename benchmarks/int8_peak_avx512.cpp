// One core's int8 multiply-add throughput with AVX-512 VNNI (vpdpbusd on zmm registers): the
// ceiling the batched prompt kernels are read against, as BM_ReadBandwidth is for decode.
// Compiled with AVX-512 flags (benchmarks/CMakeLists.txt); bench_kernels calls it only where the
// avx512 kernel table is usable.

#include <immintrin.h>

#include <cstdint>

#include "int8_peak.h"

uint64_t int8_peak_avx512(int64_t iterations) {
    // 16 independent accumulators: more than the instruction's latency times its throughput,
    // so the loop runs at the throughput limit.
    constexpr int kChains = 16;
    __m512i acc[kChains];
    for (int k = 0; k < kChains; ++k) acc[k] = _mm512_set1_epi32(k);
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-5);
    for (int64_t i = 0; i < iterations; ++i)
        for (int k = 0; k < kChains; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
    __m512i sum = acc[0];
    for (int k = 1; k < kChains; ++k) sum = _mm512_add_epi32(sum, acc[k]);
    alignas(64) uint32_t lanes[16];
    _mm512_store_si512(lanes, sum);
    uint64_t total = 0;
    for (uint32_t v : lanes) total += v;
    return total;
}

int64_t int8_peak_macs_per_iteration() { return 16 * 64; }
