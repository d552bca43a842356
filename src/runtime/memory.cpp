#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels.h"
#include "lfm/model.h"

namespace lfm {

double measure_read_bandwidth(int n_threads, uint64_t buffer_bytes) {
    n_threads = std::max(1, n_threads);
    const size_t words = static_cast<size_t>(buffer_bytes / 8) / static_cast<size_t>(n_threads) * static_cast<size_t>(n_threads);
    std::vector<uint64_t> buf(words);
    const size_t slice = words / static_cast<size_t>(n_threads);
    const KernelTable& kt = kernels();
    double best = 0;
    std::atomic<uint64_t> sink{0};
    for (int pass = 0; pass < 4; ++pass) {
        std::vector<std::thread> threads;
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        std::chrono::steady_clock::time_point start;
        for (int t = 0; t < n_threads; ++t) {
            threads.emplace_back([&, t] {
                const uint64_t* p = buf.data() + static_cast<size_t>(t) * slice;
                if (pass == 0)  // first touch by the thread that reads it
                    for (size_t i = 0; i < slice; ++i) const_cast<uint64_t*>(p)[i] = i;
                ready.fetch_add(1);
                while (!go.load()) std::this_thread::yield();
                sink.fetch_add(kt.read_sum(p, static_cast<int64_t>(slice)));  // the kernel table's read loop
            });
        }
        while (ready.load() < n_threads) std::this_thread::yield();
        start = std::chrono::steady_clock::now();
        go = true;
        for (auto& th : threads) th.join();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (pass > 0) best = std::max(best, static_cast<double>(words * 8) / seconds);
    }
    return best;
}

}  // namespace lfm
