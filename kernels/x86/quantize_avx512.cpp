// Activation quantizers with 512-bit registers, bit-identical to the scalar ones (so every ISA
// feeds its dot products the same bytes). A prompt batch quantizes every token before each
// matrix; the scalar loops were ~6 % (Q8_K, Q4_K_M files) and ~14 % (Q8_0, Q4_0 files) of
// the prefill's compute samples. Compiled with the AVX-512 flags only (kernels/CMakeLists.txt).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../types.h"
#include "quantize_avx512.h"

namespace lfm::avx512 {

namespace {
inline __m512 abs16(__m512 v) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff))); }
}  // namespace

// Q8_0 (the partner of Q4_0, Q5_0 and Q8_0 weights), one 32-element block in two registers:
// d = max|x| / 127, q = round(x · (1/d)) with ties away from zero (std::round: truncate, then
// step away from zero where the exact remainder is at least one half), d stored as f16.
void quantize_row_q8_0_512(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(out);
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    for (int64_t b = 0; b < n / QK; ++b, x += QK) {
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        // |x| as the first operand: a NaN element is skipped, as std::max(amax, NaN) skips it
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs16(v1), _mm512_max_ps(abs16(v0), _mm512_setzero_ps())));
        const float d = amax / 127.0f;
        const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        for (int h = 0; h < 2; ++h) {
            const __m512 v = _mm512_mul_ps(h == 0 ? v0 : v1, id);
            __m512 r = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __mmask16 away = _mm512_cmp_ps_mask(abs16(_mm512_sub_ps(v, r)), half, _CMP_GE_OQ);
            const __m512 step = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(one),
                                                                    _mm512_and_si512(_mm512_castps_si512(v), sign_bit)));
            r = _mm512_mask_add_ps(r, away, r, step);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * h), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r)));
        }
        y[b].d = f32_to_f16(d);
    }
}

// Q8_K (the partner of Q4_K and Q6_K weights), one register per 16-element bsum group: the
// first element of largest magnitude maps to -127, the same float products, round to nearest
// with ties to even (vcvtps2dq under the default rounding mode, as std::lrint), the same clamp
// at 127 and truncation to bytes.
void quantize_row_q8_k_512(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(out);
    constexpr int kGroups = QK_K / 16;
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        // |x| as the second operand of max: a NaN element is skipped, as the scalar's `>` skips it
        __m512 vmax = _mm512_setzero_ps();
        for (int g = 0; g < kGroups; ++g) vmax = _mm512_max_ps(abs16(_mm512_loadu_ps(x + 16 * g)), vmax);
        const float amax = _mm512_reduce_max_ps(vmax);
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof(BlockQ8_K));
            continue;
        }
        // the first element whose magnitude is amax gives the sign (scalar: the first strict >)
        float max = amax;
        for (int g = 0; g < kGroups; ++g) {
            const __mmask16 hit = _mm512_cmpeq_ps_mask(abs16(_mm512_loadu_ps(x + 16 * g)), _mm512_set1_ps(amax));
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
