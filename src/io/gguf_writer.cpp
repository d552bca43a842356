#include "gguf_writer.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "lfm/error.h"

namespace lfm {

namespace {

template <class T>
void put(std::vector<uint8_t>& out, T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
    put<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

size_t tensor_bytes(DType type, const std::vector<int64_t>& ne) {
    const DTypeTraits& tr = traits(type);
    if (ne.empty() || ne[0] % tr.block_elems != 0)
        throw Error(ErrorCode::kInvalidArgument, "gguf writer: row length is not a multiple of the block size");
    size_t n = 1;
    for (int64_t d : ne) n *= static_cast<size_t>(d);
    return n / static_cast<size_t>(tr.block_elems) * static_cast<size_t>(tr.block_bytes);
}

}  // namespace

#define LFM_GGUF_KEY(type_code)             \
    put_string(kv_, key);                   \
    put<uint32_t>(kv_, static_cast<uint32_t>(type_code)); \
    ++n_kv_

void GgufWriter::add_u32(const std::string& key, uint32_t v) { LFM_GGUF_KEY(GgufType::kU32); put(kv_, v); }
void GgufWriter::add_i32(const std::string& key, int32_t v) { LFM_GGUF_KEY(GgufType::kI32); put(kv_, v); }
void GgufWriter::add_u64(const std::string& key, uint64_t v) { LFM_GGUF_KEY(GgufType::kU64); put(kv_, v); }
void GgufWriter::add_f32(const std::string& key, float v) { LFM_GGUF_KEY(GgufType::kF32); put(kv_, v); }
void GgufWriter::add_bool(const std::string& key, bool v) { LFM_GGUF_KEY(GgufType::kBool); put<uint8_t>(kv_, v ? 1 : 0); }
void GgufWriter::add_string(const std::string& key, std::string_view v) { LFM_GGUF_KEY(GgufType::kString); put_string(kv_, v); }

void GgufWriter::add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    LFM_GGUF_KEY(GgufType::kArray);
    put<uint32_t>(kv_, static_cast<uint32_t>(GgufType::kI32));
    put<uint64_t>(kv_, v.size());
    for (int32_t x : v) put(kv_, x);
}

void GgufWriter::add_f32_array(const std::string& key, const std::vector<float>& v) {
    LFM_GGUF_KEY(GgufType::kArray);
    put<uint32_t>(kv_, static_cast<uint32_t>(GgufType::kF32));
    put<uint64_t>(kv_, v.size());
    for (float x : v) put(kv_, x);
}

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& v) {
    LFM_GGUF_KEY(GgufType::kArray);
    put<uint32_t>(kv_, static_cast<uint32_t>(GgufType::kString));
    put<uint64_t>(kv_, v.size());
    for (const std::string& s : v) put_string(kv_, s);
}

void GgufWriter::add_value(const std::string& key, const GgufValue& v) {
    LFM_GGUF_KEY(v.type);
    switch (v.type) {
        case GgufType::kU8: put<uint8_t>(kv_, static_cast<uint8_t>(v.i)); break;
        case GgufType::kI8: put<int8_t>(kv_, static_cast<int8_t>(v.i)); break;
        case GgufType::kU16: put<uint16_t>(kv_, static_cast<uint16_t>(v.i)); break;
        case GgufType::kI16: put<int16_t>(kv_, static_cast<int16_t>(v.i)); break;
        case GgufType::kU32: put<uint32_t>(kv_, static_cast<uint32_t>(v.i)); break;
        case GgufType::kI32: put<int32_t>(kv_, static_cast<int32_t>(v.i)); break;
        case GgufType::kU64: put<uint64_t>(kv_, v.u); break;
        case GgufType::kI64: put<int64_t>(kv_, v.i); break;
        case GgufType::kF32: put<float>(kv_, static_cast<float>(v.f)); break;
        case GgufType::kF64: put<double>(kv_, v.f); break;
        case GgufType::kBool: put<uint8_t>(kv_, v.b ? 1 : 0); break;
        case GgufType::kString: put_string(kv_, v.str); break;
        case GgufType::kArray:
            put<uint32_t>(kv_, static_cast<uint32_t>(v.elem_type));
            put<uint64_t>(kv_, v.count);
            kv_.insert(kv_.end(), v.elems, v.elems_end);  // already in GGUF encoding
            break;
    }
}
void GgufWriter::add_raw(const std::string& key, uint32_t type, std::span<const uint8_t> payload) {
    LFM_GGUF_KEY(type);
    kv_.insert(kv_.end(), payload.begin(), payload.end());
}
#undef LFM_GGUF_KEY

void GgufWriter::set_alignment(uint32_t alignment) {
    alignment_ = alignment;
    add_u32("general.alignment", alignment);
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                            std::span<const uint8_t> data) {
    const size_t n = tensor_bytes(type, ne);
    if (data.size() != n)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("gguf writer: tensor '{}' needs {} bytes, got {}", name, n, data.size()));
    tensors_.push_back({name, type, ne, n, std::vector<uint8_t>(data.begin(), data.end()), nullptr});
}

void GgufWriter::add_tensor_lazy(const std::string& name, DType type, const std::vector<int64_t>& ne,
                                 std::function<void(uint8_t*, size_t)> fill) {
    tensors_.push_back({name, type, ne, tensor_bytes(type, ne), {}, std::move(fill)});
}

void GgufWriter::header(std::vector<uint8_t>& out, std::vector<uint64_t>& offsets) const {
    put<uint32_t>(out, 0x46554747);
    put<uint32_t>(out, 3);
    put<uint64_t>(out, tensors_.size());
    put<uint64_t>(out, n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        put_string(out, t.name);
        put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
        for (int64_t d : t.ne) put<uint64_t>(out, static_cast<uint64_t>(d));
        put<uint32_t>(out, static_cast<uint32_t>(t.type));
        put<uint64_t>(out, offset);
        offsets.push_back(offset);
        offset += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
    }
    out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, 0);
}

uint64_t GgufWriter::header_bytes() const {
    std::vector<uint8_t> head;
    std::vector<uint64_t> offsets;
    header(head, offsets);
    return head.size();
}

void GgufWriter::for_each_tensor(const std::function<void(const std::string&, DType, uint64_t)>& f) const {
    for (const Tensor& t : tensors_) f(t.name, t.type, (t.nbytes + alignment_ - 1) / alignment_ * alignment_);
}

HugeBuffer GgufWriter::to_buffer() const {
    std::vector<uint8_t> head;
    std::vector<uint64_t> offsets;
    header(head, offsets);
    size_t total = head.size();
    for (const Tensor& t : tensors_) total += (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
    HugeBuffer out(total);  // zero-filled: the padding needs no writes
    std::memcpy(out.data(), head.data(), head.size());
    for (size_t k = 0; k < tensors_.size(); ++k) {
        uint8_t* dst = out.data() + head.size() + offsets[k];
        if (tensors_[k].fill) tensors_[k].fill(dst, tensors_[k].nbytes);
        else std::memcpy(dst, tensors_[k].data.data(), tensors_[k].nbytes);
    }
    return out;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> out;
    std::vector<uint64_t> offsets;
    header(out, offsets);
    const size_t base = out.size();
    for (size_t k = 0; k < tensors_.size(); ++k) {
        const Tensor& t = tensors_[k];
        out.resize(base + offsets[k] + t.nbytes, 0);
        if (t.fill) t.fill(out.data() + base + offsets[k], t.nbytes);
        else std::memcpy(out.data() + base + offsets[k], t.data.data(), t.nbytes);
        out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, 0);
    }
    return out;
}

void GgufWriter::write(const std::string& path) const {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
    if (!f) throw Error(ErrorCode::kIo, path + ": cannot open for writing");
    std::vector<uint8_t> head;
    std::vector<uint64_t> offsets;
    header(head, offsets);
    auto write_all = [&](const uint8_t* p, size_t n) {
        if (n == 0) return;  // an empty vector's data() may be null, which fwrite must not get
        if (std::fwrite(p, 1, n, f.get()) != n) throw Error(ErrorCode::kIo, path + ": write failed (disk full?)");
    };
    write_all(head.data(), head.size());
    std::vector<uint8_t> buf;
    for (const Tensor& t : tensors_) {
        const size_t padded = (t.nbytes + alignment_ - 1) / alignment_ * alignment_;
        if (t.fill) {
            buf.assign(padded, 0);
            t.fill(buf.data(), t.nbytes);
            write_all(buf.data(), padded);
        } else {
            write_all(t.data.data(), t.nbytes);
            buf.assign(padded - t.nbytes, 0);
            write_all(buf.data(), buf.size());
        }
    }
    if (std::fflush(f.get()) != 0) throw Error(ErrorCode::kIo, path + ": write failed (disk full?)");
}

}  // namespace lfm
