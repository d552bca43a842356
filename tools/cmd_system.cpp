// `lfm system`: the CPU features found, the kernel paths this machine can run, the one chosen, and
// the default thread count with the reason for it.

#include <fmt/format.h>

#include <memory>
#include <thread>
#include <vector>

#include "commands.h"
#include "lfm/model.h"

namespace lfm::cli {

Command add_system(CLI::App& app) {
    struct Opts {
        bool bandwidth = false;
        std::vector<int> threads;
    };
    auto o = std::make_shared<Opts>();
    app.add_flag("--bandwidth", o->bandwidth, "also measure how fast memory is read (1 GiB, best of 3 passes)");
    app.add_option("-t,--threads", o->threads, "thread counts for --bandwidth (default: 1 and the default thread count)")
        ->delimiter(',')->check(CLI::Range(1, 4096));
    return [o] {
        std::string paths;
        for (const auto& isa : kernel_isas()) {
            if (!paths.empty()) paths += ", ";
            paths += isa;
        }
        fmt::print("cpu features    {}\n", cpu_description());
        fmt::print("kernel paths    {}\n", paths);
        fmt::print("chosen          {}  (LFM_ISA=... forces one)\n", kernel_isa());
        fmt::print("threads         {} by default (-t sets others): {}\n", default_thread_count(),
                   default_thread_count_reason());
        fmt::print("hardware        {} hardware threads\n", std::thread::hardware_concurrency());
        if (o->bandwidth) {
            std::vector<int> counts = o->threads;
            if (counts.empty()) {
                counts.push_back(1);
                if (default_thread_count() > 1) counts.push_back(default_thread_count());
            }
            for (int t : counts)
                fmt::print("read bandwidth  {:.1f} GB/s with {} thread{}\n", measure_read_bandwidth(t) / 1e9, t, t == 1 ? "" : "s");
        }
        return 0;
    };
}

}  // namespace lfm::cli
