#pragma once
// GGUF reader (versions 2 and 3), ../shared/spec/gguf.md §1. Parses and validates the header,
// metadata and tensor infos of a mapped file; tensors are zero-copy views. Every structural
// problem is an lfm::Error naming the file and what is wrong; nothing is read out of bounds and
// no allocation is sized by an unchecked count.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mapped_file.h"
#include "tensor_info.h"

namespace lfm {

enum class GgufType : uint32_t {
    kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
    kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Scalars are decoded; strings and arrays are views into the file, decoded
// on request (a 128K-entry vocabulary is not copied until the tokenizer asks for it).
struct GgufValue {
    GgufType type = GgufType::kU8;
    int64_t i = 0;       // integer types (u64 values above INT64_MAX are stored in u)
    uint64_t u = 0;
    double f = 0.0;      // float types
    bool b = false;
    std::string_view str;
    // arrays
    GgufType elem_type = GgufType::kU8;
    uint64_t count = 0;
    const uint8_t* elems = nullptr;
    const uint8_t* elems_end = nullptr;

    bool is_int() const;
    bool is_float() const { return type == GgufType::kF32 || type == GgufType::kF64; }
    std::optional<int64_t> as_int() const;    // any integer type or bool
    std::optional<double> as_float() const;   // any number
    std::vector<std::string_view> strings() const;  // array of string
    std::vector<int64_t> ints() const;              // array of any integer type
    std::vector<double> floats() const;             // array of any number type
    std::vector<GgufValue> items() const;           // array of anything
    std::string to_display(size_t max_items = 8) const;  // for `lfm info`
};

class GgufFile {
public:
    explicit GgufFile(std::shared_ptr<const MappedFile> file);

    const std::string& path() const { return file_->path(); }
    uint32_t version() const { return version_; }
    size_t alignment() const { return alignment_; }
    size_t data_offset() const { return data_offset_; }
    size_t file_size() const { return file_->size(); }

    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
    const GgufValue* find(std::string_view key) const;
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* tensor(std::string_view name) const;

    // Typed look-ups: nullopt when absent; an lfm::Error naming the key when present with the
    // wrong type.
    std::optional<int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<std::string_view> get_string(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;

private:
    std::shared_ptr<const MappedFile> file_;
    uint32_t version_ = 0;
    size_t alignment_ = 32;
    size_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::unordered_map<std::string, size_t> metadata_index_;
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace lfm
