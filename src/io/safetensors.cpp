#include "safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "lfm/error.h"

namespace lfm {

namespace {

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // the reference implementation's limit

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw Error(ErrorCode::kInvalidFile, path + ": " + what);
}

// Our storage type for a safetensors dtype string; other dtypes cannot hold model weights here.
bool dtype_from_string(std::string_view s, DType& out) {
    if (s == "F32") out = DType::kF32;
    else if (s == "F16") out = DType::kF16;
    else if (s == "BF16") out = DType::kBF16;
    else return false;
    return true;
}

}  // namespace

std::vector<TensorInfo> parse_safetensors_header(const uint8_t* data, size_t size, const std::string& path) {
    if (size == 0) fail(path, "empty file, expected a safetensors file");
    if (size < 8) fail(path, "truncated safetensors file: shorter than its 8-byte header length");
    uint64_t n;
    std::memcpy(&n, data, 8);
    if (n > kMaxHeaderBytes || n > size - 8)
        fail(path, fmt::format("bad safetensors header length {} (file has {} bytes)", n, size));
    const size_t buffer_start = 8 + static_cast<size_t>(n);
    const size_t buffer_size = size - buffer_start;

    nlohmann::json header;
    try {
        header = nlohmann::json::parse(data + 8, data + buffer_start);
    } catch (const nlohmann::json::exception& e) {
        fail(path, std::string("safetensors header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) fail(path, "safetensors header is not a JSON object");

    std::vector<TensorInfo> out;
    for (const auto& [name, desc] : header.items()) {
        if (name == "__metadata__") continue;
        const std::string where = "safetensors tensor '" + name + "'";
        if (!desc.is_object() || !desc.contains("dtype") || !desc.contains("shape") || !desc.contains("data_offsets"))
            fail(path, where + ": needs dtype, shape and data_offsets");
        const auto& dt = desc["dtype"];
        const auto& shape = desc["shape"];
        const auto& offs = desc["data_offsets"];
        if (!dt.is_string() || !shape.is_array() || !offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
            !offs[1].is_number_unsigned())
            fail(path, where + ": malformed descriptor");
        TensorInfo t;
        t.name = name;
        if (!dtype_from_string(dt.get<std::string>(), t.type))
            throw Error(ErrorCode::kUnsupported, path + ": unsupported dtype " + dt.get<std::string>() + " in " + where +
                                                     " (F32, F16 and BF16 are supported)");
        if (shape.size() > 4) fail(path, where + ": more than 4 dimensions");
        t.n_dims = static_cast<int>(shape.size());
        uint64_t n_elem = 1;
        // safetensors shapes are row-major (last dim contiguous); ggml order reverses them
        for (size_t d = 0; d < shape.size(); ++d) {
            if (!shape[d].is_number_unsigned()) fail(path, where + ": shape entries must be non-negative integers");
            const uint64_t ne = shape[d].get<uint64_t>();
            if (ne > (uint64_t{1} << 40) || (ne != 0 && n_elem > (uint64_t{1} << 50) / ne))
                fail(path, where + ": impossible shape");
            n_elem *= ne;
            t.ne[shape.size() - 1 - d] = static_cast<int64_t>(ne);
        }
        if (n_elem == 0) fail(path, where + ": has no elements");
        const uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
        t.nbytes = static_cast<size_t>(n_elem) * static_cast<size_t>(traits(t.type).block_bytes);
        if (end < begin || end - begin != t.nbytes) {
            fail(path, fmt::format("{}: data_offsets [{}, {}) hold {} bytes but dtype and shape need {}", where, begin, end,
                                   end - begin, t.nbytes));
        }
        if (end > buffer_size) {
            fail(path, fmt::format("{}: data_offsets end {} lies past the end of the file ({} bytes of data)", where, end,
                                   buffer_size));
        }
        t.file_offset = buffer_start + begin;
        t.data = data + t.file_offset;
        out.push_back(std::move(t));
    }
    // no overlaps: sorted by start, each must begin at or after the previous end
    std::vector<const TensorInfo*> sorted;
    for (const TensorInfo& t : out) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->file_offset < b->file_offset; });
    for (size_t k = 1; k < sorted.size(); ++k) {
        if (sorted[k]->file_offset < sorted[k - 1]->file_offset + sorted[k - 1]->nbytes)
            fail(path, "safetensors tensors '" + sorted[k - 1]->name + "' and '" + sorted[k]->name + "' overlap");
    }
    return out;
}

SafetensorsFile::SafetensorsFile(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
    tensors_ = parse_safetensors_header(file_->data(), file_->size(), file_->path());
    for (size_t k = 0; k < tensors_.size(); ++k) index_.emplace(tensors_[k].name, k);
}

const TensorInfo* SafetensorsFile::tensor(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace lfm
