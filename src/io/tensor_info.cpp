#include "tensor_info.h"

namespace lfm {

std::string TensorInfo::shape_string() const {
    std::string s = "[";
    for (int d = 0; d < n_dims; ++d) s += (d ? ", " : "") + std::to_string(ne[static_cast<size_t>(d)]);
    return s + "]";
}

}  // namespace lfm
