#pragma once
// A thread pool made for the forward pass: persistent workers, one fork/join per parallel
// section, no allocation per call. Workers spin briefly for the next section (they come back
// within microseconds during a forward pass), then sleep on an atomic wait until woken.

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace lfm {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // n_threads >= 1, the caller included
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Runs f(thread_index, n_threads) on every thread (the caller is thread 0) and returns when
    // all are done. f must not throw. Not reentrant: one section at a time per pool.
    template <class F>
    void run(F&& f) {
        if (n_threads_ == 1) {
            f(0, 1);
            return;
        }
        dispatch(&f, [](void* ctx, int t, int n) { (*static_cast<F*>(ctx))(t, n); });
    }

    // Rows [begin, end) of thread t's share of `total` rows, in multiples of `align`.
    static void share(int64_t total, int t, int n, int64_t align, int64_t& begin, int64_t& end);

private:
    using Trampoline = void (*)(void*, int, int);
    void dispatch(void* ctx, Trampoline fn);
    void worker(int index);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    void* ctx_ = nullptr;
    Trampoline fn_ = nullptr;
};

}  // namespace lfm
