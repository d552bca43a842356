#include "parallel_matmul.h"

#include <algorithm>

namespace lfm {

namespace {
constexpr int64_t kRowTile = 16;  // rows kept hot in cache while every token of the batch passes
}

void run_jobs(const KernelTable& kt, ThreadPool& pool, std::span<const MatJob> jobs, int64_t n_tokens) {
    int64_t total = 0;
    for (const MatJob& j : jobs) total += j.w->n_out;
    pool.run([&](int t, int n_threads) {
        int64_t begin, end;
        ThreadPool::share(total, t, n_threads, kRowTile, begin, end);
        int64_t offset = 0;  // first virtual row of the current job
        for (const MatJob& j : jobs) {
            const int64_t r0 = std::max(begin, offset) - offset;
            const int64_t r1 = std::min(end, offset + j.w->n_out) - offset;
            offset += j.w->n_out;
            for (int64_t tile = r0; tile < r1; tile += kRowTile) {
                const int64_t tile_end = std::min(tile + kRowTile, r1);
                for (int64_t tok = 0; tok < n_tokens; ++tok) {
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
