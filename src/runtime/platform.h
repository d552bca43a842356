#pragma once
// What lfm asks of the operating system beyond portable C++ and POSIX (mmap, sysconf), in one
// place, with a branch for Linux, one for macOS and a portable fallback: huge pages, giving pages
// back, available memory, and how many threads to run. A build for another OS starts here.
// (The kernels' CPU feature detection, cpuid and getauxval, stays in kernels/cpu_features.cpp.)

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lfm {

size_t page_size();

// Asks the OS to back [p, p + n) with huge pages (Linux: transparent huge pages, MADV_HUGEPAGE;
// the kernel does so only for aligned 2 MiB ranges). A hint: elsewhere, or without THP, nothing
// happens and the memory works the same through small pages (macOS has no such request).
void advise_huge_pages(void* p, size_t n);

// Gives the pages of [p, p + n) (page-aligned) back to the OS (madvise MADV_DONTNEED, on Linux
// and macOS alike); a private read-only file mapping reads them again if they are touched.
void discard_pages(void* p, size_t n);

// Bytes that can still be allocated without swapping, or 0 if unknown. Linux: MemAvailable
// (/proc/meminfo). macOS: the physical memory (hw.memsize), an upper bound only: it compresses
// and pages out others' memory, so what is free at one moment says little.
uint64_t available_memory_bytes();

// pipe() with both ends closed in programs this process starts (O_CLOEXEC). Linux sets the flag
// atomically (pipe2); macOS has no pipe2 and sets it just after, so a program another thread
// starts in between could inherit the ends, unless it is started with posix_spawn's
// POSIX_SPAWN_CLOEXEC_DEFAULT, as the MCP stdio transport does there. false: see errno.
bool cloexec_pipe(int fds[2]);

// This process's environment ("KEY=value" strings, then nullptr): POSIX's environ, which macOS
// gives a shared library only through _NSGetEnviron().
char** process_environment();

// The threads a session runs when none are asked for, and why (what `lfm system` prints).
// Laptops mix fast and slow cores, and a forward pass waits at every barrier for its slowest
// thread, so only the performance cores count where the OS tells them apart (macOS:
// hw.perflevel0.physicalcpu; Linux: cpu_capacity, else cpuinfo_max_freq); one thread per
// physical core otherwise (SMT siblings share one core's execution units).
struct ThreadChoice {
    int threads = 1;
    std::string reason;
};
const ThreadChoice& default_threads();

// Linux's view of the CPUs, read from a sysfs CPU folder (normally /sys/devices/system/cpu; a
// parameter, so tests can give a made-up tree). Unreadable fields stay empty / -1.
struct LinuxCpu {
    int id = 0;
    std::string core_siblings;  // topology/thread_siblings_list: the CPUs of its physical core
    int64_t capacity = -1;      // cpu_capacity (the scheduler's relative speed, 1024 the fastest)
    int64_t max_khz = -1;       // cpufreq/cpuinfo_max_freq
};
// The online CPUs (the folder's `online` list, else every cpuN subfolder), in id order.
std::vector<LinuxCpu> read_linux_cpus(const std::string& cpu_dir);
// The choice for those CPUs (at least 1 thread; an empty list gives 1).
ThreadChoice choose_threads_linux(const std::vector<LinuxCpu>& cpus);

}  // namespace lfm
