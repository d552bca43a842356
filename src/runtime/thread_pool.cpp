#include "thread_pool.h"

#include <algorithm>

namespace lfm {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}
constexpr int kSpinIterations = 20000;  // ~ tens of microseconds before sleeping
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::dispatch(void* ctx, Trampoline fn) {
    ctx_ = ctx;
    fn_ = fn;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_acq_rel);  // publishes ctx_/fn_ to the workers
    generation_.notify_all();
    fn(ctx, 0, n_threads_);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
        if (spin < kSpinIterations) cpu_relax();
        else std::this_thread::yield();
    }
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = generation_.load(std::memory_order_acquire);
        for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
            cpu_relax();
            g = generation_.load(std::memory_order_acquire);
        }
        if (g == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            continue;
        }
        seen = g;
        if (stop_.load(std::memory_order_acquire)) return;
        fn_(ctx_, index, n_threads_);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::share(int64_t total, int t, int n, int64_t align, int64_t& begin, int64_t& end) {
    const int64_t units = (total + align - 1) / align;
    const int64_t per = units / n, extra = units % n;
    const int64_t first = t * per + std::min<int64_t>(t, extra);
    const int64_t count = per + (t < extra ? 1 : 0);
    begin = std::min(total, first * align);
    end = std::min(total, (first + count) * align);
}

}  // namespace lfm
