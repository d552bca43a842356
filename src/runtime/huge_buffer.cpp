#include "huge_buffer.h"

#include <sys/mman.h>

#include <string>
#include <utility>

#include "lfm/error.h"
#include "platform.h"

namespace lfm {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

// Mapped with 2 MiB of slack, then trimmed to a 2 MiB-aligned start: the kernel backs only
// aligned 2 MiB ranges with huge pages, and a mapping that starts mid-page gets few or none.
HugeBuffer::HugeBuffer(size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    const size_t mapped = bytes + kHugePage;
    void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw Error(ErrorCode::kOutOfMemory, "cannot allocate " + std::to_string(bytes >> 20) + " MiB");
    auto* base = static_cast<uint8_t*>(p);
    const auto addr = reinterpret_cast<uintptr_t>(base);
    uint8_t* start = base + ((kHugePage - addr % kHugePage) % kHugePage);
    const size_t page = page_size();
    uint8_t* end = start + (bytes + page - 1) / page * page;  // mappings end on a page
    if (start > base) munmap(base, static_cast<size_t>(start - base));
    if (base + mapped > end) munmap(end, static_cast<size_t>(base + mapped - end));
    advise_huge_pages(start, bytes);  // a hint: without THP (or on macOS) the memory still works
    data_ = start;
}

HugeBuffer::~HugeBuffer() {
    if (data_ != nullptr) munmap(data_, size_);
}

HugeBuffer::HugeBuffer(HugeBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
    if (this != &o) {
        if (data_ != nullptr) munmap(data_, size_);
        data_ = std::exchange(o.data_, nullptr);
        size_ = std::exchange(o.size_, 0);
    }
    return *this;
}

}  // namespace lfm
