// `lfm system`: the CPU features found, the kernel paths this machine can run, the one chosen.

#include <fmt/format.h>

#include <thread>

#include "commands.h"
#include "lfm/model.h"

namespace lfm::cli {

Command add_system(CLI::App& /*app*/) {
    return [] {
        std::string paths;
        for (const auto& isa : kernel_isas()) {
            if (!paths.empty()) paths += ", ";
            paths += isa;
        }
        fmt::print("cpu features    {}\n", cpu_description());
        fmt::print("kernel paths    {}\n", paths);
        fmt::print("chosen          {}  (LFM_ISA=... forces one)\n", kernel_isa());
        fmt::print("threads         {} physical cores, {} hardware threads\n", default_thread_count(),
                   std::thread::hardware_concurrency());
        return 0;
    };
}

}  // namespace lfm::cli
