#pragma once
// Matrix products split across the thread pool. A section computes several matrices at once
// (q, k and v; gate and up; the selected experts), so one fork/join covers them all: their rows
// are laid end to end and each thread takes an equal share of that total.

#include <cstdint>
#include <span>

#include "../runtime/thread_pool.h"
#include "kernels.h"
#include "weights.h"

namespace lfm {

// Y[t] = W · X[t] for n tokens, the activations already converted for W's type.
struct MatJob {
    const Matrix* w;
    const uint8_t* act;   // n rows, act_stride bytes apart
    size_t act_stride;
    float* y;             // n rows of w->n_out floats, y_stride floats apart
    int64_t y_stride;
    int64_t n_tokens = -1;  // this job's token count; -1: run_jobs' n_tokens
};

// Every job's rows are split evenly across the threads (so jobs of uneven token counts, such as
// experts with different loads, still keep all threads busy).
void run_jobs(const KernelTable& kt, ThreadPool& pool, std::span<const MatJob> jobs, int64_t n_tokens);

// Converts n rows of width `width` (x_stride floats apart) for weights of type w, in parallel.
void quantize_rows(const KernelTable& kt, ThreadPool& pool, DType w, const float* x, int64_t x_stride, int64_t width,
                   int64_t n, uint8_t* out, size_t out_stride);

}  // namespace lfm
