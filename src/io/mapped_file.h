#pragma once
// A file mapped read-only into memory. Tensors are views into it; nothing is copied.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../runtime/huge_buffer.h"

namespace lfm {

class MappedFile {
public:
    // Throws lfm::Error (kIo) naming the path when the file cannot be opened or mapped.
    explicit MappedFile(const std::string& path);
    // Bytes already in memory, presented as a file named `name` (fuzzers, tests, synthetic models).
    MappedFile(std::vector<uint8_t> bytes, const std::string& name);
    MappedFile(HugeBuffer bytes, const std::string& name);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::vector<uint8_t> owned_;  // only for the in-memory constructors
    HugeBuffer owned_huge_;
};

}  // namespace lfm
