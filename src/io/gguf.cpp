#include "gguf.h"

#include <fmt/format.h>

#include <cstring>

#include "lfm/error.h"

namespace lfm {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxArrayDepth = 4;
constexpr size_t kMaxTensorName = 64;
constexpr size_t kMaxKeyLength = 1 << 16;

[[noreturn]] void fail(ErrorCode code, const std::string& path, const std::string& what) {
    throw Error(code, path + ": " + what);
}

size_t fixed_size(GgufType t) {
    switch (t) {
        case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
        case GgufType::kU16: case GgufType::kI16: return 2;
        case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
        case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
        case GgufType::kString: case GgufType::kArray: return 0;
    }
    return 0;
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

// Bounds-checked little-endian reader over [begin, end).
class Cursor {
public:
    Cursor(const uint8_t* begin, const uint8_t* p, const uint8_t* end, const std::string& path)
        : begin_(begin), p_(p), end_(end), path_(path) {}

    size_t offset() const { return static_cast<size_t>(p_ - begin_); }
    size_t remaining() const { return static_cast<size_t>(end_ - p_); }
    const uint8_t* pos() const { return p_; }

    void need(size_t n, const std::string& what) const {
        if (n > remaining()) {
            fail(ErrorCode::kInvalidFile, path_,
                 fmt::format("truncated header: {} at offset {} needs {} bytes, only {} left", what,
                             offset(), n, remaining()));
        }
    }
    template <class T>
    T read(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, p_, sizeof(T));
        p_ += sizeof(T);
        return v;
    }
    std::string_view read_string(const std::string& what) {
        const uint64_t n = read<uint64_t>(what + " length");
        need(n, what);
        std::string_view s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }
    void skip(size_t n, const std::string& what) {
        need(n, what);
        p_ += n;
    }

private:
    const uint8_t* begin_;
    const uint8_t* p_;
    const uint8_t* end_;
    const std::string& path_;
};

GgufValue parse_value(Cursor& c, uint32_t type_id, int depth, const std::string& key, const std::string& path);

GgufValue parse_scalar(Cursor& c, GgufType t, const std::string& key) {
    GgufValue v;
    v.type = t;
    switch (t) {
        case GgufType::kU8: v.i = c.read<uint8_t>(key); break;
        case GgufType::kI8: v.i = c.read<int8_t>(key); break;
        case GgufType::kU16: v.i = c.read<uint16_t>(key); break;
        case GgufType::kI16: v.i = c.read<int16_t>(key); break;
        case GgufType::kU32: v.i = c.read<uint32_t>(key); break;
        case GgufType::kI32: v.i = c.read<int32_t>(key); break;
        case GgufType::kI64: v.i = c.read<int64_t>(key); break;
        case GgufType::kU64:
            v.u = c.read<uint64_t>(key);
            v.i = static_cast<int64_t>(v.u);
            break;
        case GgufType::kF32: v.f = c.read<float>(key); break;
        case GgufType::kF64: v.f = c.read<double>(key); break;
        case GgufType::kBool: {
            const uint8_t b = c.read<uint8_t>(key);
            v.b = b != 0;
            v.i = b != 0;
            break;
        }
        case GgufType::kString: v.str = c.read_string(key); break;
        case GgufType::kArray: break;  // handled by parse_value
    }
    if (t != GgufType::kU64 && t != GgufType::kString && !(t == GgufType::kF32 || t == GgufType::kF64))
        v.u = static_cast<uint64_t>(v.i);
    return v;
}

GgufValue parse_value(Cursor& c, uint32_t type_id, int depth, const std::string& key, const std::string& path) {
    if (!known_type(type_id))
        fail(ErrorCode::kInvalidFile, path, fmt::format("metadata key '{}' has unknown value type {}", key, type_id));
    const auto t = static_cast<GgufType>(type_id);
    if (t != GgufType::kArray) return parse_scalar(c, t, key);

    if (depth >= kMaxArrayDepth)
        fail(ErrorCode::kInvalidFile, path, fmt::format("metadata key '{}': arrays nested too deeply", key));
    GgufValue v;
    v.type = GgufType::kArray;
    const uint32_t et = c.read<uint32_t>(key + " array type");
    if (!known_type(et))
        fail(ErrorCode::kInvalidFile, path, fmt::format("metadata key '{}': unknown array element type {}", key, et));
    v.elem_type = static_cast<GgufType>(et);
    v.count = c.read<uint64_t>(key + " array length");
    v.elems = c.pos();
    if (const size_t sz = fixed_size(v.elem_type)) {
        if (v.count > c.remaining() / sz) {
            fail(ErrorCode::kInvalidFile, path,
                 fmt::format("truncated header: metadata array '{}' claims {} elements of {} bytes, only {} bytes "
                             "left",
                             key, v.count, sz, c.remaining()));
        }
        c.skip(v.count * sz, key);
    } else {
        // variable-size elements: each needs at least 8 bytes (a string length or array header)
        const size_t min_size = v.elem_type == GgufType::kString ? 8 : 12;
        if (v.count > c.remaining() / min_size) {
            fail(ErrorCode::kInvalidFile, path,
                 fmt::format("truncated header: metadata array '{}' claims {} elements, only {} bytes left", key,
                             v.count, c.remaining()));
        }
        for (uint64_t k = 0; k < v.count; ++k) parse_value(c, et, depth + 1, key, path);
    }
    v.elems_end = c.pos();
    return v;
}

}  // namespace

const char* gguf_type_name(GgufType t) {
    static const char* const names[] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    const auto i = static_cast<uint32_t>(t);
    return i < 13 ? names[i] : "unknown";
}

// ---- GgufValue --------------------------------------------------------------------------------

bool GgufValue::is_int() const {
    switch (type) {
        case GgufType::kU8: case GgufType::kI8: case GgufType::kU16: case GgufType::kI16:
        case GgufType::kU32: case GgufType::kI32: case GgufType::kU64: case GgufType::kI64: return true;
        default: return false;
    }
}

std::optional<int64_t> GgufValue::as_int() const {
    if (is_int() || type == GgufType::kBool) return i;
    return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
    if (is_float()) return f;
    if (is_int()) return static_cast<double>(i);
    return std::nullopt;
}

std::vector<GgufValue> GgufValue::items() const {
    std::vector<GgufValue> out;
    if (type != GgufType::kArray) return out;
    out.reserve(count);  // count was checked against the bytes the array occupies
    const std::string where = "array";
    Cursor c(elems, elems, elems_end, where);
    for (uint64_t k = 0; k < count; ++k) out.push_back(parse_value(c, static_cast<uint32_t>(elem_type), 1, where, where));
    return out;
}

std::vector<std::string_view> GgufValue::strings() const {
    std::vector<std::string_view> out;
    if (type != GgufType::kArray || elem_type != GgufType::kString) return out;
    out.reserve(count);
    const std::string where = "array";
    Cursor c(elems, elems, elems_end, where);
    for (uint64_t k = 0; k < count; ++k) out.push_back(c.read_string(where));
    return out;
}

std::vector<int64_t> GgufValue::ints() const {
    std::vector<int64_t> out;
    // Fixed-width integers straight from the bytes (count was checked against them): a 128K-entry
    // token_type array would otherwise make 128K parsed values first.
    auto direct = [&](auto zero) {
        using T = decltype(zero);
        out.resize(count);
        for (uint64_t k = 0; k < count; ++k) {
            T v;
            std::memcpy(&v, elems + k * sizeof(T), sizeof(T));
            out[k] = static_cast<int64_t>(v);
        }
        return out;
    };
    if (type == GgufType::kArray) {
        switch (elem_type) {
            case GgufType::kI32: return direct(int32_t{});
            case GgufType::kU32: return direct(uint32_t{});
            case GgufType::kI8: return direct(int8_t{});
            case GgufType::kU8: return direct(uint8_t{});
            case GgufType::kI16: return direct(int16_t{});
            case GgufType::kU16: return direct(uint16_t{});
            case GgufType::kI64: return direct(int64_t{});
            default: break;
        }
    }
    for (const GgufValue& v : items())
        if (auto x = v.as_int()) out.push_back(*x);
    return out;
}

std::vector<double> GgufValue::floats() const {
    std::vector<double> out;
    for (const GgufValue& v : items())
        if (auto x = v.as_float()) out.push_back(*x);
    return out;
}

std::string GgufValue::to_display(size_t max_items) const {
    switch (type) {
        case GgufType::kString: {
            std::string s(str.substr(0, 60));
            for (char& ch : s)
                if (ch == '\n') ch = ' ';
            return fmt::format("\"{}\"{}", s, str.size() > 60 ? fmt::format("… ({} bytes)", str.size()) : "");
        }
        case GgufType::kBool: return b ? "true" : "false";
        case GgufType::kF32: case GgufType::kF64: return fmt::format("{:g}", f);
        case GgufType::kU64: return fmt::format("{}", u);
        case GgufType::kArray: {
            std::string s = "[";
            if (elem_type == GgufType::kString || elem_type == GgufType::kArray) {
                if (count > max_items) return fmt::format("[{} × {}]", count, gguf_type_name(elem_type));
            }
            if (count > max_items * 4) return fmt::format("[{} × {}]", count, gguf_type_name(elem_type));
            const auto all = items();
            for (size_t k = 0; k < all.size(); ++k) s += (k ? ", " : "") + all[k].to_display(max_items);
            return s + "]";
        }
        default: return fmt::format("{}", i);
    }
}

// ---- GgufFile ---------------------------------------------------------------------------------

GgufFile::GgufFile(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
    const std::string& path = file_->path();
    if (file_->size() == 0) fail(ErrorCode::kInvalidFile, path, "empty file, expected a GGUF model");
    Cursor c(file_->data(), file_->data(), file_->data() + file_->size(), path);
    if (file_->size() < 4 || c.read<uint32_t>("magic") != kGgufMagic)
        fail(ErrorCode::kInvalidFile, path, "not a GGUF file (bad magic; expected the bytes 'GGUF')");
    version_ = c.read<uint32_t>("version");
    if (version_ != 2 && version_ != 3) {
        fail(ErrorCode::kUnsupported, path,
             fmt::format("unsupported GGUF version {} (this reader handles versions 2 and 3)", version_));
    }
    const uint64_t n_tensors = c.read<uint64_t>("tensor count");
    const uint64_t n_kv = c.read<uint64_t>("metadata count");
    // Each metadata record needs >= 12 bytes (key length + type), each tensor info >= 24: reject
    // absurd counts before reserving anything.
    if (n_kv > c.remaining() / 12)
        fail(ErrorCode::kInvalidFile, path, fmt::format("truncated or corrupt header: {} metadata keys cannot fit in the {} bytes left", n_kv, c.remaining()));
    if (n_tensors > c.remaining() / 24)
        fail(ErrorCode::kInvalidFile, path, fmt::format("truncated or corrupt header: {} tensors cannot fit in the {} bytes left", n_tensors, c.remaining()));

    metadata_.reserve(n_kv);
    for (uint64_t k = 0; k < n_kv; ++k) {
        const std::string key(c.read_string(fmt::format("metadata key #{}", k)));
        if (key.size() > kMaxKeyLength) fail(ErrorCode::kInvalidFile, path, "metadata key longer than 64 KiB");
        const uint32_t type = c.read<uint32_t>("type of metadata key '" + key + "'");
        GgufValue v = parse_value(c, type, 0, key, path);
        if (!metadata_index_.emplace(key, metadata_.size()).second)
            fail(ErrorCode::kInvalidFile, path, "duplicate metadata key '" + key + "'");
        metadata_.emplace_back(key, v);
    }

    if (const GgufValue* a = find("general.alignment")) {
        const auto al = a->as_int();
        if (!al || *al <= 0 || (*al & (*al - 1)) != 0 || *al > (1 << 20)) {
            fail(ErrorCode::kInvalidFile, path,
                 "general.alignment must be a power of two between 1 and 1 MiB, got " + a->to_display());
        }
        alignment_ = static_cast<size_t>(*al);
    }

    struct RawInfo {
        uint64_t offset;
    };
    std::vector<RawInfo> raw;
    tensors_.reserve(n_tensors);
    raw.reserve(n_tensors);
    for (uint64_t k = 0; k < n_tensors; ++k) {
        TensorInfo t;
        t.name = std::string(c.read_string(fmt::format("name of tensor #{}", k)));
        if (t.name.size() > kMaxTensorName) {
            fail(ErrorCode::kInvalidFile, path,
                 fmt::format("tensor #{} has a name of {} bytes (GGUF allows at most {})", k, t.name.size(),
                             kMaxTensorName));
        }
        const uint32_t n_dims = c.read<uint32_t>("dimension count of tensor '" + t.name + "'");
        if (n_dims < 1 || n_dims > 4)
            fail(ErrorCode::kInvalidFile, path, fmt::format("tensor '{}' has {} dimensions (1..4 allowed)", t.name, n_dims));
        t.n_dims = static_cast<int>(n_dims);
        uint64_t n_elem = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t ne = c.read<uint64_t>("shape of tensor '" + t.name + "'");
            if (ne == 0 || ne > (uint64_t{1} << 40) || n_elem > (uint64_t{1} << 50) / ne)
                fail(ErrorCode::kInvalidFile, path, fmt::format("tensor '{}' has an impossible shape (dimension {} = {})", t.name, d, ne));
            t.ne[d] = static_cast<int64_t>(ne);
            n_elem *= ne;
        }
        const uint32_t type_id = c.read<uint32_t>("type of tensor '" + t.name + "'");
        const auto tr = dtype_traits(type_id);
        if (!tr || !tr->weight_type) {
            fail(ErrorCode::kUnsupported, path,
                 fmt::format("unsupported tensor type {} (ggml type {}) in tensor '{}'", ggml_type_name(type_id), type_id,
                             t.name));
        }
        t.type = tr->type;
        if (t.ne[0] % tr->block_elems != 0) {
            fail(ErrorCode::kInvalidFile, path,
                 fmt::format("tensor '{}': row length {} is not a multiple of the {} block size {}", t.name, t.ne[0],
                             tr->name, tr->block_elems));
        }
        t.nbytes = static_cast<size_t>(n_elem / static_cast<uint64_t>(tr->block_elems)) * static_cast<size_t>(tr->block_bytes);
        const uint64_t offset = c.read<uint64_t>("offset of tensor '" + t.name + "'");
        if (!tensor_index_.emplace(t.name, tensors_.size()).second)
            fail(ErrorCode::kInvalidFile, path, "duplicate tensor name '" + t.name + "'");
        raw.push_back({offset});
        tensors_.push_back(std::move(t));
    }

    data_offset_ = (c.offset() + alignment_ - 1) / alignment_ * alignment_;
    const size_t size = file_->size();
    if (n_tensors > 0 && data_offset_ > size)
        fail(ErrorCode::kInvalidFile, path, "truncated file: tensor data section starts past the end of the file");
    for (size_t k = 0; k < tensors_.size(); ++k) {
        TensorInfo& t = tensors_[k];
        const uint64_t off = raw[k].offset;
        if (off % alignment_ != 0) {
            fail(ErrorCode::kInvalidFile, path,
                 fmt::format("tensor '{}' data offset {} is not a multiple of the alignment {}", t.name, off, alignment_));
        }
        const size_t avail = size - data_offset_;
        if (off > avail || t.nbytes > avail - off) {
            fail(ErrorCode::kInvalidFile, path,
                 fmt::format("truncated file: tensor '{}' ({} bytes at data offset {}) extends past the end of the file "
                             "({} bytes of tensor data present)",
                             t.name, t.nbytes, off, avail));
        }
        t.file_offset = data_offset_ + off;
        t.data = file_->data() + t.file_offset;
    }
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = metadata_index_.find(std::string(key));
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* GgufFile::tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (auto x = v->as_int(); x && v->type != GgufType::kBool) return x;
    fail(ErrorCode::kInvalidFile, path(), fmt::format("metadata '{}' should be an integer, is {}", key, gguf_type_name(v->type)));
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (auto x = v->as_float()) return x;
    fail(ErrorCode::kInvalidFile, path(), fmt::format("metadata '{}' should be a number, is {}", key, gguf_type_name(v->type)));
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type == GgufType::kString) return v->str;
    fail(ErrorCode::kInvalidFile, path(), fmt::format("metadata '{}' should be a string, is {}", key, gguf_type_name(v->type)));
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type == GgufType::kBool) return v->b;
    if (v->is_int()) return v->i != 0;
    fail(ErrorCode::kInvalidFile, path(), fmt::format("metadata '{}' should be a bool, is {}", key, gguf_type_name(v->type)));
}

}  // namespace lfm
