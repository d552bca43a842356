#include "platform.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#if defined(__APPLE__)
#include <crt_externs.h>
// clang-format off
#include <sys/types.h>  // before sys/sysctl.h, as sysctl(3) asks
#include <sys/sysctl.h>
// clang-format on
#endif

#if !defined(__APPLE__)
extern char** environ;
#endif

#if defined(__linux__)
#include <sched.h>
#endif

namespace lfm {

size_t page_size() {
    static const size_t size = [] {
        const long s = sysconf(_SC_PAGESIZE);
        return s > 0 ? static_cast<size_t>(s) : size_t{4096};
    }();
    return size;
}

void advise_huge_pages([[maybe_unused]] void* p, [[maybe_unused]] size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, n, MADV_HUGEPAGE);  // fails only without THP in the kernel: then small pages
#endif
}

void discard_pages(void* p, size_t n) {
    madvise(p, n, MADV_DONTNEED);
}

bool cloexec_pipe(int fds[2]) {
#if defined(__linux__)
    return pipe2(fds, O_CLOEXEC) == 0;
#else
    if (pipe(fds) != 0) return false;
    for (int i = 0; i < 2; ++i) fcntl(fds[i], F_SETFD, fcntl(fds[i], F_GETFD) | FD_CLOEXEC);
    return true;
#endif
}

char** process_environment() {
#if defined(__APPLE__)
    return *_NSGetEnviron();
#else
    return environ;
#endif
}

namespace {

#if defined(__APPLE__)
// A sysctl integer (int32 or int64 as the kernel stores it), or -1 when the name is unknown.
int64_t sysctl_int(const char* name) {
    int64_t v64 = 0;
    size_t size = sizeof(v64);
    if (sysctlbyname(name, &v64, &size, nullptr, 0) != 0) return -1;
    if (size == sizeof(int32_t)) {
        int32_t v32 = 0;
        std::copy_n(reinterpret_cast<const char*>(&v64), sizeof(v32), reinterpret_cast<char*>(&v32));
        return v32;
    }
    return size == sizeof(v64) ? v64 : -1;
}
#endif

int hardware_threads() {
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

std::string read_line(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    return line;
}

int64_t read_number(const std::filesystem::path& path) {
    const std::string s = read_line(path);
    // at most 12 digits: the callers scale these by 100
    if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        s.size() > 12)
        return -1;
    return std::stoll(s);
}

// "0-3,8,10-11" -> {0, 1, 2, 3, 8, 10, 11}; empty on anything else.
std::vector<int> parse_cpu_list(const std::string& s) {
    std::vector<int> ids;
    size_t i = 0;
    auto number = [&](int& v) {
        const size_t b = i;
        v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - b < 6) v = v * 10 + (s[i++] - '0');
        return i > b;
    };
    while (i < s.size()) {
        int first = 0, last = 0;
        if (!number(first)) return {};
        last = first;
        if (i < s.size() && s[i] == '-' && (++i, !number(last))) return {};
        if (last < first) return {};
        for (int c = first; c <= last; ++c) ids.push_back(c);
        if (i < s.size() && s[i++] != ',') return {};
    }
    return ids;
}

#if defined(__linux__)
uint64_t linux_available_memory() {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    uint64_t kib = 0;
    while (in >> key >> kib >> unit)
        if (key == "MemAvailable:") return kib * 1024;
    return 0;
}
#endif

ThreadChoice detect_threads() {
#if defined(__APPLE__)
    // Apple Silicon: perflevel0 is the performance cluster; Intel Macs have one level.
    const int64_t levels = sysctl_int("hw.nperflevels");
    const int64_t performance = sysctl_int("hw.perflevel0.physicalcpu");
    const int64_t physical = sysctl_int("hw.physicalcpu");
    if (levels > 1 && performance > 0) {
        return {static_cast<int>(performance),
                fmt::format("the performance cores (hw.perflevel0.physicalcpu; {} efficiency cores left out)",
                            physical > performance ? physical - performance : 0)};
    }
    if (physical > 0) return {static_cast<int>(physical), "one per physical core (hw.physicalcpu)"};
#elif defined(__linux__)
    std::vector<LinuxCpu> cpus = read_linux_cpus("/sys/devices/system/cpu");
    // Only the CPUs this process may run on (taskset, a container's cpuset).
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0) {
        std::erase_if(cpus, [&](const LinuxCpu& c) { return c.id >= CPU_SETSIZE || !CPU_ISSET(c.id, &allowed); });
    }
    if (!cpus.empty()) return choose_threads_linux(cpus);
#endif
    const int n = hardware_threads();
    return {n, fmt::format("one per hardware thread ({}; the cores are not known here)", n)};
}

}  // namespace

uint64_t available_memory_bytes() {
#if defined(__linux__)
    return linux_available_memory();
#elif defined(__APPLE__)
    const int64_t bytes = sysctl_int("hw.memsize");
    return bytes > 0 ? static_cast<uint64_t>(bytes) : 0;
#else
    return 0;
#endif
}

const ThreadChoice& default_threads() {
    static const ThreadChoice choice = detect_threads();
    return choice;
}

std::vector<LinuxCpu> read_linux_cpus(const std::string& cpu_dir) {
    namespace fs = std::filesystem;
    const fs::path dir(cpu_dir);
    std::vector<int> ids = parse_cpu_list(read_line(dir / "online"));
    if (ids.empty()) {
        std::error_code ec;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.size() > 3 && name.size() < 9 && name.compare(0, 3, "cpu") == 0 &&
                std::all_of(name.begin() + 3, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
                ids.push_back(std::stoi(name.substr(3)));
        }
        std::sort(ids.begin(), ids.end());
    }
    std::vector<LinuxCpu> cpus;
    for (int id : ids) {
        const fs::path cpu = dir / ("cpu" + std::to_string(id));
        LinuxCpu c;
        c.id = id;
        c.core_siblings = read_line(cpu / "topology" / "thread_siblings_list");
        c.capacity = read_number(cpu / "cpu_capacity");
        c.max_khz = read_number(cpu / "cpufreq" / "cpuinfo_max_freq");
        cpus.push_back(std::move(c));
    }
    return cpus;
}

ThreadChoice choose_threads_linux(const std::vector<LinuxCpu>& cpus) {
    if (cpus.empty()) return {1, "one thread (no CPUs listed)"};
    // A measure of speed that every CPU has and that tells some apart: cpu_capacity (ARM
    // big.LITTLE, and x86 hybrids on recent kernels), else the top frequency (Intel's P and E
    // cores, AMD's Zen 5 and Zen 5c). CPUs within 15 % of the fastest count as fast: cores of
    // one kind differ by a few percent (AMD's preferred cores, Intel's favoured ones), while the
    // slow kind is at most ~80 % of the fast one (E cores at 3.4-3.8 GHz beside P cores at
    // 4.7-5.0, Zen 5c at 3.3 beside Zen 5 at 5.1, little ARM cores far lower).
    struct Measure {
        int64_t LinuxCpu::*field;
        const char* name;
        const char* unit;
        int64_t scale;
    };
    const Measure measures[] = {{&LinuxCpu::capacity, "cpu_capacity", "", 1},
                                {&LinuxCpu::max_khz, "cpuinfo_max_freq", " MHz", 1000}};
    std::vector<const LinuxCpu*> chosen;
    std::string why;
    for (const Measure& m : measures) {
        const bool everywhere =
            std::all_of(cpus.begin(), cpus.end(), [&](const LinuxCpu& c) { return c.*m.field > 0; });
        if (!everywhere) continue;
        const auto [lo, hi] = std::minmax_element(
            cpus.begin(), cpus.end(),
            [&](const LinuxCpu& a, const LinuxCpu& b) { return a.*m.field < b.*m.field; });
        const int64_t top = (*hi).*m.field;
        if ((*lo).*m.field * 100 >= top * 85) continue;  // all alike
        int64_t slow_top = 0;
        for (const LinuxCpu& c : cpus) {
            if (c.*m.field * 100 >= top * 85)
                chosen.push_back(&c);
            else
                slow_top = std::max(slow_top, c.*m.field);
        }
        why = fmt::format("{} {}{} against at most {}{} on the {} slower CPUs left out", m.name,
                          top / m.scale, m.unit, slow_top / m.scale, m.unit, cpus.size() - chosen.size());
        break;
    }
    const bool by_speed = !chosen.empty();
    if (!by_speed)
        for (const LinuxCpu& c : cpus) chosen.push_back(&c);
    // One thread per physical core: CPUs that list the same siblings share one.
    std::set<std::string> cores;
    bool topology = true;
    for (const LinuxCpu* c : chosen) {
        if (c->core_siblings.empty()) topology = false;
        cores.insert(c->core_siblings);
    }
    const int n = topology ? static_cast<int>(cores.size()) : static_cast<int>(chosen.size());
    const std::string per = topology
                                ? fmt::format("{} physical cores of {} hardware threads", n, chosen.size())
                                : fmt::format("{} hardware threads; cores unknown", n);
    if (by_speed) return {n, fmt::format("the performance cores: {} ({})", per, why)};
    return {n, fmt::format("one per physical core: {}", per)};
}

}  // namespace lfm
