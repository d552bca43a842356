// Weight rows repacked 8 at a time for the gemv8 / gemm kernels (the Block*x8 layouts of
// types.h), and back: the repacking is lossless, so one row can be restored from its group (the
// tied embedding table is read both ways: 8 rows at a time as the output head, one row at a time
// as token embeddings).

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"
#include "kquant.h"
#include "scalar/unpack.h"

namespace lfm {

size_t packed8_group_bytes(DType t, int64_t n_cols) {
    static_assert(sizeof(BlockQ4_Kx8) == 8 * sizeof(BlockQ4_K) && sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0) &&
                  sizeof(BlockQ8_0x8) == 8 * sizeof(BlockQ8_0) && sizeof(BlockQ6_Kx8) == 8 * sizeof(BlockQ6_K) &&
                  sizeof(BlockQ2_Kx8) == 8 * sizeof(BlockQ2_K) && sizeof(BlockQ3_Kx8) == 8 * sizeof(BlockQ3_K));
    return 8 * row_bytes(t, n_cols);
}

namespace {

// Block b of row r (0..7) in a group of 8 plain rows of rb bytes each.
template <typename Block>
Block* plain_block(uint8_t* rows, size_t rb, int r, int64_t b) {
    return reinterpret_cast<Block*>(rows + static_cast<size_t>(r) * rb) + b;
}

// Q4_0, Q8_0, IQ4_NL and MXFP4: each row's quants in 4-byte steps, step s of the 8 rows side by
// side. `to_x8` picks the direction: plain rows into the group, or the group back into plain rows.
template <typename Block, typename Block8>
void interleave_group(uint8_t* rows, size_t rb, Block8* x8, int64_t nb, bool to_x8) {
    constexpr int kSteps = sizeof(Block::qs) / 4;
    for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < 8; ++r) {
            Block* in = plain_block<Block>(rows, rb, r, b);
            auto* packed = &x8[b].qs[0];
            if constexpr (requires(Block& blk) { blk.e; }) {  // MXFP4: an exponent where the others have d
                if (to_x8) x8[b].e[r] = in->e;
                else in->e = x8[b].e[r];
            } else {
                if (to_x8) x8[b].d[r] = in->d;
                else in->d = x8[b].d[r];
            }
            for (int step = 0; step < kSteps; ++step) {
                if (to_x8) std::memcpy(&packed[32 * step + 4 * r], &in->qs[4 * step], 4);
                else std::memcpy(&in->qs[4 * step], &packed[32 * step + 4 * r], 4);
            }
        }
    }
}

// A k-quant row's super-block scales d and dmin into slot r of its 8-row block, or back.
template <typename Block, typename Block8>
void move_scales(Block& in, Block8& out, int r, bool to_x8) {
    if (to_x8) {
        out.d[r] = in.d;
        out.dmin[r] = in.dmin;
    } else {
        in.d = out.d[r];
        in.dmin = out.dmin[r];
    }
}

// Q4_K: the nibbles like Q4_0 (chunk c, step k: bytes qs[32c+4k..+3] of rows 0..7), the scales
// and mins as BlockQ4_Kx8 describes.
void interleave_group_q4_k(uint8_t* rows, size_t rb, BlockQ4_Kx8* x8, int64_t nb, bool to_x8) {
    for (int64_t b = 0; b < nb; ++b) {
        BlockQ4_Kx8& out = x8[b];
        if (to_x8) std::memset(out.hi, 0, sizeof(out.hi));
        for (int r = 0; r < 8; ++r) {
            BlockQ4_K* in = plain_block<BlockQ4_K>(rows, rb, r, b);
            move_scales(*in, out, r, to_x8);
            uint8_t sc[8], mn[8];
            for (int sub = 0; sub < 8; ++sub) {
                const int e = 8 * sub + r;
                if (to_x8) {
                    kquant_scale_min(sub, in->scales, sc[sub], mn[sub]);
                    out.lo[e] = static_cast<uint8_t>((sc[sub] & 15) | (mn[sub] & 15) << 4);
                    const int high = (sc[sub] >> 4) | (mn[sub] >> 4) << 2;
                    out.hi[e % 32] = static_cast<uint8_t>(out.hi[e % 32] | (e < 32 ? high : high << 4));
                } else {
                    const int high = (e < 32 ? out.hi[e % 32] : out.hi[e % 32] >> 4) & 15;
                    sc[sub] = static_cast<uint8_t>((out.lo[e] & 15) | (high & 3) << 4);
                    mn[sub] = static_cast<uint8_t>((out.lo[e] >> 4) | (high >> 2) << 4);
                }
            }
            if (!to_x8) kquant_pack_scale_min(sc, mn, in->scales);
            for (int c = 0; c < 4; ++c) {
                for (int k = 0; k < 8; ++k) {
                    uint8_t* packed = &out.qs[256 * c + 32 * k + 4 * r];
                    if (to_x8) std::memcpy(packed, &in->qs[32 * c + 4 * k], 4);
                    else std::memcpy(&in->qs[32 * c + 4 * k], packed, 4);
                }
            }
        }
    }
}

// Q6_K into BlockQ6_Kx8, 4 bytes at a time: the 4 elements of a step are 4 consecutive bytes of
// ggml's ql and qh too (gguf.md §4: in half H, ql[64H + m] holds elements 128H + m (low nibble)
// and 128H + 64 + m (high); ql[64H + 32 + m] those + 32; qh[32H + m] the top bits of 128H + m,
// + 32, + 64, + 96 in bits 0..1, 2..3, 4..5, 6..7). Packing the ~1.2 GB of Q6_K of a Q4_K_M file
// is part of every load: word operations made it several times cheaper than going through each
// row's 256 values.
void pack_row_q6_k(const BlockQ6_K& in, BlockQ6_Kx8& out, int r) {
    auto word = [](const uint8_t* p) {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
    };
    constexpr uint32_t kLow = 0x0F0F0F0Fu, kTop = 0x03030303u;
    for (int c = 0; c < 4; ++c) {
        const int half = c / 2;                // elements 128·half.. of the block
        const bool high = c % 2 == 1;          // elements 64.. of that half: the high nibbles
        const uint8_t* ql = in.ql + 64 * half;
        const uint8_t* qh = in.qh + 32 * half;
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k) {  // elements 64c + 16h + 4k.. (j = 0) and + 32 (j = 1)
                const int m = 16 * h + 4 * k;
                const uint32_t a = word(ql + m), b = word(ql + 32 + m);
                const uint32_t low = high ? ((a >> 4) & kLow) | (b & ~kLow) : (a & kLow) | (b & kLow) << 4;
                std::memcpy(&out.chunk[c][64 * k + 32 * h + 4 * r], &low, 4);
            }
        for (int j = 0; j < 2; ++j)
            for (int h = 0; h < 2; ++h) {  // the top bits of steps k = 0..3 into bits 2k..2k+1
                const int shift = 2 * (2 * (c % 2) + j);
                uint32_t top = 0;
                for (int k = 0; k < 4; ++k) top |= ((word(qh + 16 * h + 4 * k) >> shift) & kTop) << (2 * k);
                std::memcpy(&out.chunk[c][256 + 64 * j + 32 * h + 4 * r], &top, 4);
            }
    }
}

// The inverse, through the row's 256 values (one row per token lookup: no hurry here).
void unpack_row_q6_k(const BlockQ6_Kx8& x8, int r, BlockQ6_K& out) {
    int q[QK_K];
    // element e = 64c + 32j + 16h + 4k + i is step k of sub-block 2(2c + j) + h
    for (int c = 0; c < 4; ++c)
        for (int j = 0; j < 2; ++j)
            for (int h = 0; h < 2; ++h)
                for (int k = 0; k < 4; ++k)
                    for (int i = 0; i < 4; ++i) {
                        const uint8_t low = x8.chunk[c][64 * k + 32 * h + 4 * r + i];
                        const uint8_t top = x8.chunk[c][256 + 64 * j + 32 * h + 4 * r + i];
                        q[64 * c + 32 * j + 16 * h + 4 * k + i] = ((j == 0 ? low & 15 : low >> 4) | ((top >> (2 * k)) & 3) << 4) - 32;
                    }
    scalar::q6_k_store_values(q, out);
}

void interleave_group_q6_k(uint8_t* rows, size_t rb, BlockQ6_Kx8* x8, int64_t nb, bool to_x8) {
    for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < 8; ++r) {
            BlockQ6_K* in = plain_block<BlockQ6_K>(rows, rb, r, b);
            if (to_x8) {
                x8[b].d[r] = in->d;
                for (int s = 0; s < 16; ++s) x8[b].scales[8 * s + r] = in->scales[s];
                pack_row_q6_k(*in, x8[b], r);
            } else {
                in->d = x8[b].d[r];
                for (int s = 0; s < 16; ++s) in->scales[s] = x8[b].scales[8 * s + r];
                unpack_row_q6_k(x8[b], r, *in);
            }
        }
    }
}

// The 2-bit values of one Q2_K / Q3_K row (qs: its 64 bytes) into slot r of BlockQ2_Kx8::qs
// (x8: 512 bytes), or back. Source byte qs[32h + l] holds element 128h + 32j + l in bits 2j:
// element m of sub-block 8h + 2j + l / 16 for m = l % 16. Plane s of lane 2r + t of pair
// p = 4h + j is then bits 2j of the source bytes 32h + 8s + 4t + i (i = 0..3): one 32-bit word
// per (plane, t), whose bits 2j over j = 0..3 are the four pairs of that half.
void interleave_two_bits(uint8_t* qs, uint8_t* x8, int r, bool to_x8) {
    constexpr uint32_t kTwoBits = 0x03030303u;
    for (int h = 0; h < 2; ++h)
        for (int t = 0; t < 2; ++t) {
            uint8_t* src = qs + 32 * h + 4 * t;  // + 8s: plane s's word
            uint32_t words[4] = {};
            if (to_x8)
                for (int s = 0; s < 4; ++s) std::memcpy(&words[s], src + 8 * s, 4);
            for (int j = 0; j < 4; ++j) {
                uint8_t* packed = x8 + 64 * (4 * h + j) + 4 * (2 * r + t);
                if (to_x8) {
                    uint32_t v = 0;
                    for (int s = 0; s < 4; ++s) v |= ((words[s] >> (2 * j)) & kTwoBits) << (2 * s);
                    std::memcpy(packed, &v, 4);
                } else {
                    uint32_t v;
                    std::memcpy(&v, packed, 4);
                    for (int s = 0; s < 4; ++s) words[s] |= ((v >> (2 * s)) & kTwoBits) << (2 * j);
                }
            }
            if (!to_x8)
                for (int s = 0; s < 4; ++s) std::memcpy(src + 8 * s, &words[s], 4);
        }
}

int q2_k_scale_entry(int sub, int r) {  // the byte of BlockQ2_Kx8::scales whose low nibble is sub's scale
    return 16 * (sub / 2) + 4 * (r / 2) + 2 * (sub % 2) + r % 2;
}
int q2_k_min_entry(int sub, int r) {  // ... and whose high nibble is sub's min
    return 32 * (sub / 4) + 2 * (4 * (r / 2) + 2 * ((sub % 4) / 2) + r % 2) + sub % 2;
}

// Q2_K into BlockQ2_Kx8 and back (types.h).
void interleave_group_q2_k(uint8_t* rows, size_t rb, BlockQ2_Kx8* x8, int64_t nb, bool to_x8) {
    for (int64_t b = 0; b < nb; ++b) {
        BlockQ2_Kx8& out = x8[b];
        if (to_x8) std::memset(out.scales, 0, sizeof(out.scales));
        for (int r = 0; r < 8; ++r) {
            BlockQ2_K* in = plain_block<BlockQ2_K>(rows, rb, r, b);
            move_scales(*in, out, r, to_x8);
            for (int sub = 0; sub < 16; ++sub) {
                uint8_t& sc = out.scales[q2_k_scale_entry(sub, r)];
                uint8_t& mn = out.scales[q2_k_min_entry(sub, r)];
                if (to_x8) {
                    sc = static_cast<uint8_t>(sc | (in->scales[sub] & 15));
                    mn = static_cast<uint8_t>(mn | (in->scales[sub] & 0xF0));
                } else {
                    in->scales[sub] = static_cast<uint8_t>((sc & 15) | (mn & 0xF0));
                }
            }
            interleave_two_bits(in->qs, out.qs, r, to_x8);
        }
    }
}

// Q3_K into BlockQ3_Kx8 and back (types.h). The third bit of element 32j + l of half h is bit
// 4h + j of hmask[l]: for pair p = 4h + j and plane s, lane 2r + t, that is bit p of the source
// bytes 8s + 4t + i, the same bytes for every pair, one 32-bit word per (plane, t).
void interleave_group_q3_k(uint8_t* rows, size_t rb, BlockQ3_Kx8* x8, int64_t nb, bool to_x8) {
    constexpr uint32_t kOneBit = 0x01010101u;
    for (int64_t b = 0; b < nb; ++b) {
        BlockQ3_Kx8& out = x8[b];
        if (to_x8) {
            std::memset(out.scale_lo, 0, sizeof(out.scale_lo));
            std::memset(out.scale_hi, 0, sizeof(out.scale_hi));
            std::memset(out.hmask, 0, sizeof(out.hmask));
        }
        for (int r = 0; r < 8; ++r) {
            BlockQ3_K* in = plain_block<BlockQ3_K>(rows, rb, r, b);
            if (to_x8) out.d[r] = in->d;
            else in->d = out.d[r];
            int sc[16];  // the 6-bit scales as stored (+ 32)
            for (int sub = 0; sub < 16; ++sub) {
                const int e = q2_k_scale_entry(sub, r);
                uint8_t& lo = out.scale_lo[e % 64];
                uint8_t& hi = out.scale_hi[e % 32];
                if (to_x8) {
                    const int v = q3_k_scale(in->scales, sub) + 32;
                    lo = static_cast<uint8_t>(lo | (v & 15) << (4 * (e / 64)));
                    hi = static_cast<uint8_t>(hi | (v >> 4) << (2 * (e / 32)));
                } else {
                    sc[sub] = ((lo >> (4 * (e / 64))) & 15) | ((hi >> (2 * (e / 32))) & 3) << 4;
                }
            }
            if (!to_x8) q3_k_pack_scales(sc, in->scales);
            interleave_two_bits(in->qs, out.qs, r, to_x8);
            for (int t = 0; t < 2; ++t) {
                const int lane = 2 * r + t;
                const int shift = lane < 8 ? 0 : 4;  // qs bytes 32.. of a pair: the high nibbles
                uint32_t words[4] = {};
                if (to_x8)
                    for (int s = 0; s < 4; ++s) std::memcpy(&words[s], in->hmask + 8 * s + 4 * t, 4);
                for (int p = 0; p < 8; ++p) {
                    uint8_t* packed = out.hmask + 32 * p + 4 * (lane % 8);
                    uint32_t v;
                    std::memcpy(&v, packed, 4);
                    if (to_x8) {
                        for (int s = 0; s < 4; ++s) v |= ((words[s] >> p) & kOneBit) << (s + shift);
                        std::memcpy(packed, &v, 4);
                    } else {
                        for (int s = 0; s < 4; ++s) words[s] |= ((v >> (s + shift)) & kOneBit) << p;
                    }
                }
                if (!to_x8)
                    for (int s = 0; s < 4; ++s) std::memcpy(in->hmask + 8 * s + 4 * t, &words[s], 4);
            }
        }
    }
}

// IQ4_XS into BlockIQ4_XSx8 and back (types.h): the nibbles of each sub-block 4 bytes at a time,
// the sub-scales through their 6-bit values.
void interleave_group_iq4_xs(uint8_t* rows, size_t rb, BlockIQ4_XSx8* x8, int64_t nb, bool to_x8) {
    for (int64_t b = 0; b < nb; ++b) {
        BlockIQ4_XSx8& out = x8[b];
        if (to_x8) {
            std::memset(out.scales_l, 0, sizeof(out.scales_l));
            std::memset(out.scales_h, 0, sizeof(out.scales_h));
        }
        for (int r = 0; r < 8; ++r) {
            BlockIQ4_XS* in = plain_block<BlockIQ4_XS>(rows, rb, r, b);
            if (to_x8) out.d[r] = in->d;
            else in->d = out.d[r];
            if (!to_x8) {
                in->scales_h = 0;
                std::memset(in->scales_l, 0, sizeof(in->scales_l));
            }
            for (int ib = 0; ib < 8; ++ib) {
                const int e = 8 * ib + r;
                uint8_t& lo = out.scales_l[e % 32];
                uint8_t& hi = out.scales_h[e % 16];
                if (to_x8) {
                    const int v = ((in->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | ((in->scales_h >> (2 * ib)) & 3) << 4;
                    lo = static_cast<uint8_t>(lo | (v & 15) << (4 * (e / 32)));
                    hi = static_cast<uint8_t>(hi | (v >> 4) << (2 * (e / 16)));
                } else {
                    const int v = ((lo >> (4 * (e / 32))) & 15) | ((hi >> (2 * (e / 16))) & 3) << 4;
                    in->scales_l[ib / 2] = static_cast<uint8_t>(in->scales_l[ib / 2] | (v & 15) << (4 * (ib % 2)));
                    in->scales_h = static_cast<uint16_t>(in->scales_h | (v >> 4) << (2 * ib));
                }
                for (int step = 0; step < 4; ++step) {
                    uint8_t* packed = out.qs + 128 * ib + 64 * (step / 2) + 4 * (2 * r + step % 2);
                    uint8_t* plain = in->qs + 16 * ib + 4 * step;
                    if (to_x8) std::memcpy(packed, plain, 4);
                    else std::memcpy(plain, packed, 4);
                }
            }
        }
    }
}

// Repacks (to_x8) or restores the 8 rows of one group. `rows`: 8 plain rows of n_cols.
void convert_group(DType t, uint8_t* rows, uint8_t* group, int64_t n_cols, bool to_x8) {
    const size_t rb = row_bytes(t, n_cols);
    switch (t) {
        case DType::kQ4_0:
            interleave_group<BlockQ4_0>(rows, rb, reinterpret_cast<BlockQ4_0x8*>(group), n_cols / QK, to_x8);
            return;
        case DType::kQ8_0:
            interleave_group<BlockQ8_0>(rows, rb, reinterpret_cast<BlockQ8_0x8*>(group), n_cols / QK, to_x8);
            return;
        case DType::kIQ4_NL:
            interleave_group<BlockIQ4_NL>(rows, rb, reinterpret_cast<BlockQ4_0x8*>(group), n_cols / QK, to_x8);
            return;
        case DType::kMXFP4:
            interleave_group<BlockMXFP4>(rows, rb, reinterpret_cast<BlockMXFP4x8*>(group), n_cols / QK, to_x8);
            return;
        case DType::kIQ4_XS:
            interleave_group_iq4_xs(rows, rb, reinterpret_cast<BlockIQ4_XSx8*>(group), n_cols / QK_K, to_x8);
            return;
        case DType::kQ4_K:
            interleave_group_q4_k(rows, rb, reinterpret_cast<BlockQ4_Kx8*>(group), n_cols / QK_K, to_x8);
            return;
        case DType::kQ6_K:
            interleave_group_q6_k(rows, rb, reinterpret_cast<BlockQ6_Kx8*>(group), n_cols / QK_K, to_x8);
            return;
        case DType::kQ2_K:
            interleave_group_q2_k(rows, rb, reinterpret_cast<BlockQ2_Kx8*>(group), n_cols / QK_K, to_x8);
            return;
        case DType::kQ3_K:
            interleave_group_q3_k(rows, rb, reinterpret_cast<BlockQ3_Kx8*>(group), n_cols / QK_K, to_x8);
            return;
        default:
            throw std::logic_error(std::string("repack_rows8: no 8-row layout for ") + traits(t).name);
    }
}

}  // namespace

void repack_rows8(DType t, const uint8_t* src, uint8_t* dst, int64_t n_rows, int64_t n_cols) {
    const size_t gb = packed8_group_bytes(t, n_cols);
    for (int64_t g = 0; g < n_rows / 8; ++g)  // the source is only read when packing
        convert_group(t, const_cast<uint8_t*>(src) + static_cast<size_t>(g) * gb, dst + static_cast<size_t>(g) * gb, n_cols, true);
}

void unpack_row8(DType t, const uint8_t* group, int r, uint8_t* row, int64_t n_cols) {
    const size_t rb = row_bytes(t, n_cols);
    std::vector<uint8_t> rows(8 * rb);
    convert_group(t, rows.data(), const_cast<uint8_t*>(group), n_cols, false);  // the group is only read
    std::memcpy(row, rows.data() + static_cast<size_t>(r) * rb, rb);
}

}  // namespace lfm
