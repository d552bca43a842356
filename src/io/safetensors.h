#pragma once
// safetensors reader (../shared/spec/hf-format.md §2): an 8-byte header length, a JSON header,
// then the byte buffer. Validated: JSON well-formed, dtypes known, sizes consistent with shapes,
// every range inside the file, no two tensors overlapping.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mapped_file.h"
#include "tensor_info.h"

namespace lfm {

class SafetensorsFile {
public:
    explicit SafetensorsFile(std::shared_ptr<const MappedFile> file);

    const std::string& path() const { return file_->path(); }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* tensor(std::string_view name) const;

private:
    std::shared_ptr<const MappedFile> file_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> index_;
};

// Parses just the header of a safetensors byte image (for the fuzzer and tests): throws
// lfm::Error on anything malformed. `path` is used in messages.
std::vector<TensorInfo> parse_safetensors_header(const uint8_t* data, size_t size, const std::string& path);

}  // namespace lfm
