#include "parallel_matmul.h"

#include <algorithm>

namespace lfm {

namespace {
constexpr int64_t kRowTile = 32;  // rows kept hot in cache while every token of the batch passes
}

void run_jobs(const KernelTable& kt, ThreadPool& pool, std::span<const MatJob> jobs, int64_t n_tokens) {
    pool.run([&](int t, int n_threads) {
        for (const MatJob& j : jobs) {
            const int64_t n_tok = j.n_tokens >= 0 ? j.n_tokens : n_tokens;
            int64_t r0, r1;
            ThreadPool::share(j.w->n_out, t, n_threads, kRowTile, r0, r1);
            if (j.w->packed8) {  // 32, 16 or 8 rows per kernel call, 4 or 8 tokens at a time where it can
                for (int64_t tile = r0; tile < r1; tile += kRowTile)
                    matmul_packed_rows(kt, j.w->type, j.w->data, j.w->group_bytes, j.act, j.act_stride, n_tok, j.w->n_in, j.y,
                                       j.y_stride, tile, std::min(tile + kRowTile, r1));
                continue;
            }
            const VecDotX4Fn x4 = kt.vec_dot_x4[static_cast<uint32_t>(j.w->type)];
            for (int64_t tile = r0; tile < r1; tile += kRowTile) {
                const int64_t tile_end = std::min(tile + kRowTile, r1);
                int64_t tok = 0;
                if (x4 != nullptr) {  // four tokens per pass over each weight row
                    for (; tok + 4 <= n_tok; tok += 4) {
                        const uint8_t* act = j.act + static_cast<size_t>(tok) * j.act_stride;
                        for (int64_t r = tile; r < tile_end; ++r) {
                            float out[4];
                            x4(j.w->row(r), act, j.act_stride, j.w->n_in, out);
                            for (int64_t k = 0; k < 4; ++k) j.y[(tok + k) * j.y_stride + r] = out[k];
                        }
                    }
                }
                for (; tok < n_tok; ++tok) {
                    matvec_rows(kt, j.w->type, j.w->data, j.w->row_bytes, j.act + static_cast<size_t>(tok) * j.act_stride,
                                j.w->n_in, j.y + tok * j.y_stride, tile, tile_end);
                }
            }
        }
    });
}

void quantize_rows(const KernelTable& kt, ThreadPool& pool, DType w, const float* x, int64_t x_stride, int64_t width,
                   int64_t n, uint8_t* out, size_t out_stride) {
    if (n == 1) {
        quantize_activation(kt, w, x, out, width);
        return;
    }
    pool.run([&](int t, int n_threads) {
        int64_t begin, end;
        ThreadPool::share(n, t, n_threads, 1, begin, end);
        for (int64_t r = begin; r < end; ++r)
            quantize_activation(kt, w, x + r * x_stride, out + static_cast<size_t>(r) * out_stride, width);
    });
}

}  // namespace lfm
