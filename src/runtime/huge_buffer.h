#pragma once
// Large, page-aligned anonymous memory with transparent huge pages requested (Linux), for
// weights and the KV cache: streaming gigabytes through 4 KiB pages costs TLB misses that 2 MiB
// pages avoid. The pages are the kernel's zero pages until first written, so a buffer costs
// resident memory only for what has been touched.

#include <cstddef>
#include <cstdint>

namespace lfm {

class HugeBuffer {
public:
    HugeBuffer() = default;
    explicit HugeBuffer(size_t bytes);  // zero-filled; throws lfm::Error (kOutOfMemory) on failure
    ~HugeBuffer();
    HugeBuffer(HugeBuffer&& o) noexcept;
    HugeBuffer& operator=(HugeBuffer&& o) noexcept;
    HugeBuffer(const HugeBuffer&) = delete;
    HugeBuffer& operator=(const HugeBuffer&) = delete;

    uint8_t* data() const { return data_; }
    size_t size() const { return size_; }

private:
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace lfm
