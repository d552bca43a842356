// The activation quantizers of quantize_avx512.cpp on 256-bit registers, for AVX2-only CPUs (most
// laptops' x86 chips): bit-identical to the scalar ones by the same arguments (see there), with
// the truncation to bytes done by a byte shuffle, since AVX2's packs saturate. Compiled with the
// AVX2 flags only (see kernels/CMakeLists.txt).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../types.h"
#include "quantize_avx2.h"

namespace lfm::avx2 {

namespace {

inline __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// The largest of 8 floats (no NaN among them).
inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

// The low byte of each of 8 int32 lanes, stored as 8 bytes (a truncation, as a C++ cast).
inline void store_low_bytes(int8_t* dst, __m256i q) {
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(q, pick), _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), _mm256_castsi256_si128(bytes));
}

// Σ of 8 int32 lanes.
inline int hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

}  // namespace

void quantize_row_q8_0_256(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_0*>(out);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QK; ++b, x += QK) {
        __m256 v[4], vmax = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            vmax = _mm256_max_ps(abs8(v[k]), vmax);  // |x| first: a NaN is skipped
        }
        const float amax = hmax8(vmax);
        const float d = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        for (int k = 0; k < 4; ++k) {
            const __m256 s = _mm256_mul_ps(v[k], id);
            const __m256 r = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 away = _mm256_cmp_ps(abs8(_mm256_sub_ps(s, r)), half, _CMP_GE_OQ);
            const __m256 step = _mm256_or_ps(one, _mm256_and_ps(s, sign));
            store_low_bytes(y[b].qs + 8 * k, _mm256_cvttps_epi32(_mm256_add_ps(r, _mm256_and_ps(away, step))));
        }
        y[b].d = f32_to_f16(d);
    }
}

void quantize_row_q8_k_256(const float* x, void* out, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(out);
    constexpr int kVectors = QK_K / 8;
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K) {
        __m256 vmax = _mm256_setzero_ps();
        for (int k = 0; k < kVectors; ++k) vmax = _mm256_max_ps(abs8(_mm256_loadu_ps(x + 8 * k)), vmax);
        const float amax = hmax8(vmax);
        if (amax == 0.0f) {
            std::memset(&y[b], 0, sizeof(BlockQ8_K));
            continue;
        }
        float max = amax;  // the first element of that magnitude gives the sign
        for (int k = 0; k < kVectors; ++k) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs8(_mm256_loadu_ps(x + 8 * k)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit != 0) {
                max = x[8 * k + __builtin_ctz(static_cast<unsigned>(hit))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vscale = _mm256_set1_ps(iscale);
        for (int g = 0; g < QK_K / 16; ++g) {
            __m256i sum = _mm256_setzero_si256();
            for (int h = 0; h < 2; ++h) {
                const int k = 2 * g + h;
                const __m256i q = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vscale, _mm256_loadu_ps(x + 8 * k))),
                                                   _mm256_set1_epi32(127));
                store_low_bytes(y[b].qs + 8 * k, q);
                sum = _mm256_add_epi32(sum, _mm256_srai_epi32(_mm256_slli_epi32(q, 24), 24));  // the stored bytes
            }
            y[b].bsums[g] = static_cast<int16_t>(hsum8(sum));
        }
        y[b].d = 1.0f / iscale;
    }
}

}  // namespace lfm::avx2
