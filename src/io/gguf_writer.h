#pragma once
// Writes GGUF v3 files: metadata of every value type and tensors in any supported type. Used by
// `lfm synth` (full-size random models) and by the tests (valid files to start from, then
// corrupted one field at a time).

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "../runtime/huge_buffer.h"
#include "gguf.h"

namespace lfm {

class GgufWriter {
public:
    void add_u32(const std::string& key, uint32_t v);
    void add_i32(const std::string& key, int32_t v);
    void add_u64(const std::string& key, uint64_t v);
    void add_f32(const std::string& key, float v);
    void add_bool(const std::string& key, bool v);
    void add_string(const std::string& key, std::string_view v);
    void add_i32_array(const std::string& key, const std::vector<int32_t>& v);
    void add_f32_array(const std::string& key, const std::vector<float>& v);
    void add_string_array(const std::string& key, const std::vector<std::string>& v);
    void add_value(const std::string& key, const GgufValue& v);  // copied from a parsed file
    // A record whose payload bytes the caller encodes (nested arrays, every scalar type, and
    // deliberately broken values in tests).
    void add_raw(const std::string& key, uint32_t type, std::span<const uint8_t> payload);
    void set_alignment(uint32_t alignment);  // also writes general.alignment

    // ne in ggml order. `data` must hold exactly the tensor's bytes; it is copied.
    void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, std::span<const uint8_t> data);
    // For large tensors: the bytes are produced at write time by `fill(out, nbytes)`.
    void add_tensor_lazy(const std::string& name, DType type, const std::vector<int64_t>& ne,
                         std::function<void(uint8_t* out, size_t nbytes)> fill);

    std::vector<uint8_t> to_bytes() const;
    HugeBuffer to_buffer() const;  // the same bytes in huge-page memory (synthetic models)
    void write(const std::string& path) const;  // throws lfm::Error on I/O failure

    // The layout without the tensors' bytes: the header's size (padded) and each tensor's.
    uint64_t header_bytes() const;
    void for_each_tensor(const std::function<void(const std::string& name, DType type, uint64_t padded_bytes)>& f) const;

private:
    struct Tensor {
        std::string name;
        DType type;
        std::vector<int64_t> ne;
        size_t nbytes;
        std::vector<uint8_t> data;
        std::function<void(uint8_t*, size_t)> fill;
    };
    void header(std::vector<uint8_t>& out, std::vector<uint64_t>& offsets) const;

    uint32_t alignment_ = 32;
    uint64_t n_kv_ = 0;
    std::vector<uint8_t> kv_;  // serialized metadata records
    std::vector<Tensor> tensors_;
};

}  // namespace lfm
