#pragma once
// A named tensor inside a mapped file: type, shape in ggml order (ne[0] is the contiguous
// dimension, so a PyTorch [out, in] matrix has ne = {in, out}), and a view of its bytes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "types.h"

namespace lfm {

struct TensorInfo {
    std::string name;
    DType type = DType::kF32;
    int n_dims = 0;
    std::array<int64_t, 4> ne{1, 1, 1, 1};
    const uint8_t* data = nullptr;  // into the mapped file
    size_t nbytes = 0;
    uint64_t file_offset = 0;       // of data, for messages and `lfm info`

    int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    std::string shape_string() const;  // "[64, 1024]" in ggml order
};

}  // namespace lfm
