#include "huge_buffer.h"

#include <sys/mman.h>

#include <string>
#include <utility>

#include "lfm/error.h"

namespace lfm {

HugeBuffer::HugeBuffer(size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw Error(ErrorCode::kOutOfMemory, "cannot allocate " + std::to_string(bytes >> 20) + " MiB for weights");
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without THP the memory still works
    data_ = static_cast<uint8_t*>(p);
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
