#pragma once
// What the CPU and the operating system allow: CPUID feature bits and, for AVX and AVX-512,
// the XCR0 bits saying the OS saves that register state (a CPU flag alone is not enough).

#include <string>

namespace lfm {

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
    bool gfni = false;  // GF2P8AFFINEQB: used by one AVX-512 kernel where present, required by none
    bool os_avx = false, os_avx512 = false;  // XCR0 says YMM / ZMM+opmask state is enabled
    bool neon = false, dotprod = false, i8mm = false;

    bool can_avx2() const { return avx2 && fma && f16c && os_avx; }
    bool can_avx512() const { return can_avx2() && avx512f && avx512bw && avx512vl && avx512dq && avx512vnni && os_avx512; }
    std::string describe() const;  // "avx2 fma f16c avx512f ... (os: avx avx512)"
};

const CpuFeatures& cpu_features();

}  // namespace lfm
