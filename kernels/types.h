#pragma once
// Weight and activation storage types (the ggml type ids that GGUF files carry), their block
// layouts, and exact half-precision conversions. Layouts: ../shared/spec/gguf.md §4.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace lfm {

// Values are the ggml enum, so a GGUF tensor's type field casts straight to this.
enum class DType : uint32_t {
    kF32 = 0,
    kF16 = 1,
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ5_0 = 6,
    kQ5_1 = 7,
    kQ8_0 = 8,
    kQ8_1 = 9,  // activation only
    kQ2_K = 10,
    kQ3_K = 11,
    kQ4_K = 12,
    kQ5_K = 13,
    kQ6_K = 14,
    kQ8_K = 15,  // activation only
    kIQ4_NL = 20,
    kIQ4_XS = 23,
    kBF16 = 30,
    kMXFP4 = 39,
};
// Every supported id is below this; the kernel tables hold one entry per id below it.
inline constexpr uint32_t kDTypeIdLimit = 40;

struct DTypeTraits {
    DType type;
    const char* name;
    int block_elems;   // elements per block
    int block_bytes;   // bytes per block
    DType vec_dot_type;  // what the activation is converted to for dot products with this type
    bool weight_type;  // may appear as a weight in a model file
};

// Traits of a supported type, or nullopt for an id this build does not implement.
std::optional<DTypeTraits> dtype_traits(uint32_t ggml_type_id);
const DTypeTraits& traits(DType t);
const char* dtype_name(DType t);
// Name of any ggml type id, supported or not ("IQ2_XXS", ...), for error messages.
std::string_view ggml_type_name(uint32_t ggml_type_id);

// Bytes of one row of n elements; n must be a multiple of the block size.
inline size_t row_bytes(DType t, int64_t n) {
    const DTypeTraits& tr = traits(t);
    return static_cast<size_t>(n / tr.block_elems) * static_cast<size_t>(tr.block_bytes);
}

// ---- half precision ---------------------------------------------------------------------------
using f16_t = uint16_t;
using bf16_t = uint16_t;

inline float bits_to_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint32_t f32_to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// IEEE binary16 -> binary32, exact for every input including subnormals, inf and NaN.
inline float f16_to_f32(f16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) return bits_to_f32(sign | 0x7F800000u | (mant << 13));
    if (exp != 0) return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return bits_to_f32(sign);
    // subnormal: normalise
    int e = -1;
    do {
        ++e;
        mant <<= 1;
    } while ((mant & 0x400u) == 0);
    return bits_to_f32(sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3FFu) << 13));
}

// All 65536 halves as floats (256 KiB, built on first use): a load is cheaper than converting
// a scalar half in the kernels' per-block scale arithmetic.
const float* f16_table();

// binary32 -> binary16, round to nearest even; overflow gives inf, NaN stays NaN.
f16_t f32_to_f16(float f);

inline float bf16_to_f32(bf16_t h) { return bits_to_f32(static_cast<uint32_t>(h) << 16); }
inline bf16_t f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<bf16_t>((u >> 16) | 0x40);  // quiet NaN
    u += 0x7FFFu + ((u >> 16) & 1u);
    return static_cast<bf16_t>(u >> 16);
}

// ---- block layouts (byte-exact with ggml) ------------------------------------------------------
inline constexpr int QK = 32;    // elements per block of the legacy quants
inline constexpr int QK_K = 256;  // elements per super-block of the k-quants

struct BlockQ4_0 { f16_t d; uint8_t qs[QK / 2]; };
struct BlockQ4_1 { f16_t d; f16_t m; uint8_t qs[QK / 2]; };
struct BlockQ5_0 { f16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct BlockQ5_1 { f16_t d; f16_t m; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct BlockQ8_0 { f16_t d; int8_t qs[QK]; };
struct BlockQ8_1 { f16_t d; f16_t s; int8_t qs[QK]; };  // s = d * sum(qs)

// An activation row converted for weights whose vec_dot type is Q8_0 (activation_bytes) is n/32
// BlockQ8_0 followed by each block's -Σqs as int32 (q8_0_neg_sums): the x86 repacked Q4_0/Q8_0
// kernels take unsigned weight bytes (u = w + zero point) and need Σ w·y = Σ u·y - zero point·Σ y
// per block and token; summed once per row here instead of once per 8 or 16 rows in a kernel.
// The sums start at the first 4-byte boundary after the 34-byte blocks, and activation_bytes is
// a multiple of 4, so in rows that start 4-aligned (at that stride or wider) they are aligned.
inline size_t q8_0_sums_offset(int64_t n) { return (static_cast<size_t>(n / QK) * sizeof(BlockQ8_0) + 3) & ~size_t{3}; }
inline int32_t* q8_0_neg_sums(void* act_row, int64_t n) {
    return reinterpret_cast<int32_t*>(static_cast<uint8_t*>(act_row) + q8_0_sums_offset(n));
}
inline const int32_t* q8_0_neg_sums(const void* act_row, int64_t n) {
    return q8_0_neg_sums(const_cast<void*>(act_row), n);
}
// Q2_K and Q3_K (gguf.md §4; llama.cpp's ggml-common.h): 2-bit values in qs, four to a byte. In
// each 128-element half h of the super-block, element 32j + l (j = 0..3, l = 0..31) sits in bits
// 2j..2j+1 of qs[32h + l]; each 16 consecutive elements (e / 16) share one sub-block scale.
// Q2_K: scales[e / 16] holds the 4-bit scale (low nibble) and 4-bit min (high nibble);
// value = (d · sc) · q - dmin · mn, q in 0..3.
struct BlockQ2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; f16_t d; f16_t dmin; };
// Q3_K: a third bit per element in hmask: element 32j + l of half h in bit 4h + j of hmask[l]; a
// clear bit subtracts 4, so q is -4..3. Sixteen 6-bit scales (stored + 32) packed in 12 bytes:
// sub-block i has its low 4 bits in scales[i % 8] (nibble i / 8) and its top 2 bits in bits
// 2(i / 4)..2(i / 4) + 1 of scales[8 + i % 4] (kquant.h: q3_k_scale); value = (d · (sc - 32)) · q.
struct BlockQ3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; f16_t d; };
struct BlockQ4_K { f16_t d; f16_t dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; };
struct BlockQ5_K { f16_t d; f16_t dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct BlockQ6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; f16_t d; };
struct BlockQ8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

// Q4_0 repacked 8 rows at a time (same bytes as 8 BlockQ4_0): the 8 rows' scales together, then
// 4 groups of 32 bytes; group g holds bytes qs[4g..4g+3] of rows 0..7 in turn, so the low
// nibbles of one 32-byte load are elements 4g..4g+3 and the high nibbles elements 16+4g.. of
// every row: one broadcast of 4 activation bytes then serves all 8 rows.
struct BlockQ4_0x8 { f16_t d[8]; uint8_t qs[128]; };
static_assert(sizeof(BlockQ4_0x8) == 8 * 18);

// Q8_0 repacked 8 rows at a time (same bytes as 8 BlockQ8_0): the 8 rows' scales, then 8 steps
// of 32 bytes; step s holds bytes qs[4s..4s+3] of rows 0..7 in turn.
struct BlockQ8_0x8 { f16_t d[8]; int8_t qs[256]; };
static_assert(sizeof(BlockQ8_0x8) == 8 * 34);

// Q4_K repacked 8 rows at a time: the same bytes as 8 BlockQ4_K. The nibbles are interleaved
// like BlockQ4_0x8 (chunk c, step k: bytes qs[32c+4k..+3] of rows 0..7). The 6-bit scales and
// mins of the 64 (sub-block, row) entries e = 8·sub + row, repacked so that one vector pass
// unpacks them (kernels/x86/q4_k_x8_scales.h):
//   lo[e]          = (sc & 15) | (mn & 15) << 4
//   hi[e % 32]     holds entry e's (sc >> 4) | (mn >> 4) << 2 in its low nibble for e < 32,
//                  in its high nibble for e >= 32.
struct BlockQ4_Kx8 { f16_t d[8]; f16_t dmin[8]; uint8_t lo[64]; uint8_t hi[32]; uint8_t qs[8 * 128]; };
static_assert(sizeof(BlockQ4_Kx8) == 8 * 144);

// Q2_K repacked 8 rows at a time (same bytes as 8 BlockQ2_K). Sub-blocks (16 elements = four
// 4-element steps) go in pairs p = 0..7 (sub-blocks 2p, 2p + 1), 64 bytes of quants each; in a
// vector of 16 dwords, lane L = 2r + t holds row r, and bits 2s..2s+1 of its 4 bytes (plane s)
// are the elements of step 2(s % 2) + t of sub-block 2p + s / 2. So plane s of all 8 rows meets
// the activation's 8 bytes at 32p + 8s, as they lie in the row: one broadcast per plane.
//   d[r], dmin[r]
//   qs[64p + 4L + i]     bits 2s..2s+1: element 4(2(s % 2) + t) + i of sub-block 2p + s / 2, row r
//   scales[16p + λ]      low nibble, λ = 4c + 2k + ρ (c = 0..3, k, ρ = 0, 1): the scale of
//                        sub-block 2p + k, row 2c + ρ (the order in which vpackssdw leaves the two
//                        sub-blocks' lane sums, so that one vpdpwssd takes all 16 scales)
//   scales[32g + 2λ + ε] high nibble (g = 0..3, ε = 0, 1): the min of sub-block 4g + 2k + ε, row
//                        2c + ρ: the mins of 32 bytes, widened to int16, meet the activation's
//                        bsums in one vpdpwssd, lane λ matching the scales' lanes
struct BlockQ2_Kx8 { f16_t d[8]; f16_t dmin[8]; uint8_t scales[128]; uint8_t qs[512]; };
static_assert(sizeof(BlockQ2_Kx8) == 8 * sizeof(BlockQ2_K));

// Q3_K repacked 8 rows at a time (same bytes as 8 BlockQ3_K): the low two bits of each element
// in qs exactly as BlockQ2_Kx8's, the third bits alongside, and the 128 scales (6 bits, stored
// + 32) numbered e = 16p + λ like BlockQ2_Kx8's low nibbles (scale of sub-block 2p + k, row 2c + ρ):
//   d[r]
//   scale_lo[e % 64]     nibble e / 64: the scale's low 4 bits
//   scale_hi[e % 32]     bits 2(e / 32)..+1: its top 2 bits
//   qs[64p + 4L + i]     as BlockQ2_Kx8
//   hmask[32p + m]       bit s: the third bit of plane s of qs byte 64p + m, bit 4 + s: of qs byte
//                        64p + 32 + m (m = 0..31), so one 32-byte load serves the pair's 64 bytes
struct BlockQ3_Kx8 { f16_t d[8]; uint8_t scale_lo[64]; uint8_t scale_hi[32]; uint8_t qs[512]; uint8_t hmask[256]; };
static_assert(sizeof(BlockQ3_Kx8) == 8 * sizeof(BlockQ3_K));

// Q6_K repacked 8 rows at a time: the same bytes as 8 BlockQ6_K, each 6-bit value q (stored
// q + 32, 0..63) split into its low nibble and its top two bits. Sub-blocks (16 elements) go in
// pairs p = 2c + j (c: the 64-element chunk, j = 0, 1), one 4-element step of each sub-block of
// the pair side by side, so that one zmm covers both with one row per lane:
//   scales[16p + 8h + r]                  scale of sub-block 2p + h, row r
//   chunk[c][64k + 32h + 4r + i]          low nibble: element 64c + 16h + 4k + i (pair 2c),
//                                         high nibble: the same element + 32 (pair 2c + 1)
//   chunk[c][256 + 64j + 32h + 4r + i]    bits 2k..2k+1: top bits of element 64c + 32j + 16h + 4k + i
// for rows r = 0..7, steps k = 0..3, h = 0, 1 (which sub-block of the pair), i = 0..3. Each
// chunk's nibbles and top bits lie together, so a kernel reads the block front to back: with
// all the nibbles before all the top bits (two streams 1 KiB apart) the hardware prefetcher
// fell behind and one core streamed a third of the read probe.
struct BlockQ6_Kx8 { f16_t d[8]; int8_t scales[128]; uint8_t chunk[4][384]; };
static_assert(sizeof(BlockQ6_Kx8) == 8 * 210);

// The non-linear 4-bit types (gguf.md §4; llama.cpp's ggml-common.h): each nibble indexes a table
// of 16 int8 values instead of being the value itself. The element order is Q4_0's: in each block
// of 32, byte j holds element j in its low nibble and element j + 16 in its high nibble.
// IQ4_NL: one f16 scale per 32 elements; value = d · kIQ4NLValues[nibble].
struct BlockIQ4_NL { f16_t d; uint8_t qs[QK / 2]; };
// IQ4_XS: a super-block of 256 with one f16 scale and eight 6-bit sub-scales (stored + 32): the
// low 4 bits of sub-block ib in scales_l[ib / 2] (nibble ib % 2), the top 2 bits in bits 2ib..2ib+1
// of scales_h; value = (d · (ls - 32)) · kIQ4NLValues[nibble], 32 elements per sub-block.
struct BlockIQ4_XS { f16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };
// MXFP4 (OCP microscaling): one E8M0 exponent e per 32 elements; the nibble is an E2M1 value,
// tabled doubled (kMXFP4Values), so value = kMXFP4Values[nibble] · 2^(e - 128).
struct BlockMXFP4 { uint8_t e; uint8_t qs[QK / 2]; };

// Rows repacked 8 at a time: IQ4_NL in BlockQ4_0x8 (its blocks have Q4_0's bytes: d, then the
// nibbles), MXFP4 in the same layout with the exponents in place of the scales (same bytes as 8
// BlockMXFP4).
struct BlockMXFP4x8 { uint8_t e[8]; uint8_t qs[128]; };
static_assert(sizeof(BlockMXFP4x8) == 8 * sizeof(BlockMXFP4));
// IQ4_XS repacked 8 rows at a time (same bytes as 8 BlockIQ4_XS): each 32-element sub-block ib
// of the 8 rows in 128 bytes, qs[128ib + 64g + 4L + i] = byte 4(2g + t) + i of row r's 16 (lane
// L = 2r + t, g = 0, 1), so that a zmm's lanes of parity t hold step 2g + t and the activation
// bytes of steps 2g, 2g + 1 (8g.. for the low nibbles, 16 + 8g.. for the high) come with one
// 8-byte broadcast; and the 6-bit sub-scales (stored + 32) of entry e = 8ib + r:
//   scales_l[e % 32]   nibble e / 32: the low 4 bits (so sub-blocks 0..3 in the low nibbles)
//   scales_h[e % 16]   bits 2(e / 16)..+1: the top 2 bits
struct BlockIQ4_XSx8 { f16_t d[8]; uint8_t scales_l[32]; uint8_t scales_h[16]; uint8_t qs[1024]; };
static_assert(sizeof(BlockIQ4_XSx8) == 8 * sizeof(BlockIQ4_XS));

inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
inline constexpr int8_t kMXFP4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Half of the E8M0 scale 2^(e - 127), i.e. 2^(e - 128), as llama.cpp computes it: e = 0 and 1
// are the subnormals 2^-128 and 2^-127; e = 255 is 2^127 (no NaN, as in llama.cpp).
inline float e8m0_half_to_f32(uint8_t e) {
    return bits_to_f32(e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23);
}

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockIQ4_XS) == 136);
static_assert(sizeof(BlockMXFP4) == 17);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace lfm
