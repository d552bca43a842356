// Q8_K activations (the partner of Q4_K and Q6_K weights) with 512-bit registers: one register
// per 16-element bsum group. Bit-identical to scalar::quantize_row_q8_k, so that every ISA feeds
// its dot products the same bytes: the same scale (the first element of largest magnitude maps
// to -127), the same float products, round to nearest with ties to even (vcvtps2dq under the
// default rounding mode, as std::lrint), clamped at 127 the same way. A prompt batch quantizes
// every token before each K-quant matrix; the scalar loop was ~6 % of Q4_K_M prefill.
// Compiled with the AVX-512 flags only (see kernels/CMakeLists.txt).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../types.h"
#include "quantize_avx512.h"

namespace lfm::avx512 {

void quantize_row_q8_k_512(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(out);
    constexpr int kGroups = QK_K / 16;
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        // |x| as the second operand of max: a NaN element is skipped, as the scalar's `>` skips it
        __m512 vmax = _mm512_setzero_ps();
        for (int g = 0; g < kGroups; ++g) vmax = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + 16 * g), abs_mask), vmax);
        const float amax = _mm512_reduce_max_ps(vmax);
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof(BlockQ8_K));
            continue;
        }
        // the first element whose magnitude is amax gives the sign (scalar: the first strict >)
        float max = amax;
        for (int g = 0; g < kGroups; ++g) {
            const __mmask16 hit = _mm512_cmpeq_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + 16 * g), abs_mask), _mm512_set1_ps(amax));
            if (hit != 0) {
                max = x[16 * g + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 vscale = _mm512_set1_ps(iscale);
        for (int g = 0; g < kGroups; ++g) {
            const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vscale, _mm512_loadu_ps(x + 16 * g))),
                                               _mm512_set1_epi32(127));
            const __m128i bytes = _mm512_cvtepi32_epi8(q);  // truncating, as the scalar's cast
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * g), bytes);
            y[b].bsums[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(bytes)));  // of the stored bytes
        }
        y[b].d = 1.0f / iscale;
    }
}

}  // namespace lfm::avx512
