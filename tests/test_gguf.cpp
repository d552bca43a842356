// The GGUF and safetensors readers on valid and on broken files: every row of the loaders issue's
// bad-input table gets one clear lfm::Error that names the file and the problem.

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/safetensors.h"
#include "lfm/model.h"
#include "model/model_files.h"
#include "test_util.h"

namespace lfm {
namespace {

// Expects loading `path` to throw an lfm::Error with `code` whose message contains the path and
// every fragment.
void expect_load_error(const std::string& path, ErrorCode code, std::initializer_list<const char*> fragments) {
    try {
        Model::load(path);
        FAIL() << "loading " << path << " should have failed";
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(e.code(), code) << msg;
        EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
        for (const char* f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
    }
}

std::string write_temp(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = test::temp_path(name);
    test::write_bytes(path, bytes);
    return path;
}

// A copy of a reference GGUF through our writer, with optional edits per tensor.
struct TensorEdit {
    std::string name;
    std::vector<int64_t> ne;
    bool drop = false;
};
std::vector<uint8_t> rewrite(const std::string& ref, const std::function<void(TensorEdit&)>& edit = nullptr,
                             const std::vector<std::string>& extra_tensor_names = {}) {
    GgufFile src(std::make_shared<const MappedFile>(test::ref_path(ref)));
    GgufWriter w;
    for (const auto& [key, value] : src.metadata()) w.add_value(key, value);
    for (const TensorInfo& t : src.tensors()) {
        TensorEdit e{t.name, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims)};
        if (edit) edit(e);
        if (e.drop) continue;
        if (e.ne == std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims)) {
            w.add_tensor(e.name, t.type, e.ne, {t.data, t.nbytes});
        } else {
            std::vector<uint8_t> zeros(row_bytes(t.type, e.ne[0]) * static_cast<size_t>(e.ne.size() > 1 ? e.ne[1] : 1));
            w.add_tensor(e.name, t.type, e.ne, zeros);
        }
    }
    for (const std::string& n : extra_tensor_names) {
        std::vector<uint8_t> bytes(16 * 4, 0);
        w.add_tensor(n, DType::kF32, {16}, bytes);
    }
    return w.to_bytes();
}

std::vector<uint8_t> header_bytes(uint32_t magic, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    std::vector<uint8_t> b(24);
    std::memcpy(b.data(), &magic, 4);
    std::memcpy(b.data() + 4, &version, 4);
    std::memcpy(b.data() + 8, &n_tensors, 8);
    std::memcpy(b.data() + 16, &n_kv, 8);
    return b;
}

constexpr uint32_t kMagic = 0x46554747;

TEST(Gguf, RewrittenReferenceLoadsIdentically) {
    LFM_REQUIRE_SHARED();
    const std::string path = write_temp("roundtrip.gguf", rewrite("tinyA-f32.gguf"));
    GgufFile a(std::make_shared<const MappedFile>(test::ref_path("tinyA-f32.gguf")));
    GgufFile b(std::make_shared<const MappedFile>(path));
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    ASSERT_EQ(a.metadata().size(), b.metadata().size());
    for (size_t k = 0; k < a.tensors().size(); ++k) {
        EXPECT_EQ(a.tensors()[k].name, b.tensors()[k].name);
        EXPECT_EQ(a.tensors()[k].ne, b.tensors()[k].ne);
        EXPECT_EQ(0, std::memcmp(a.tensors()[k].data, b.tensors()[k].data, a.tensors()[k].nbytes));
    }
    EXPECT_EQ(a.get_string("tokenizer.ggml.model"), b.get_string("tokenizer.ggml.model"));
    EXPECT_EQ(a.find("tokenizer.ggml.tokens")->strings(), b.find("tokenizer.ggml.tokens")->strings());
    EXPECT_NO_THROW(Model::load(path));
}

// Little-endian payload builder for hand-made metadata records.
struct Bytes {
    std::vector<uint8_t> b;
    template <class T>
    Bytes& put(T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        b.insert(b.end(), p, p + sizeof(T));
        return *this;
    }
    Bytes& str(std::string_view s) {
        put<uint64_t>(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
};

TEST(Gguf, EveryMetadataTypeAndNestedArrays) {
    GgufWriter w;
    w.add_u32("t.u32", 7);
    w.add_i32("t.i32", -3);
    w.add_u64("t.u64", uint64_t{1} << 40);
    w.add_f32("t.f32", 1.5f);
    w.add_bool("t.bool", true);
    w.add_string("t.str", "h\xc3\xa9llo");
    w.add_i32_array("t.arr", {1, -2, 3});
    w.add_string_array("t.strs", {"x", "", "yz"});
    w.add_raw("t.u8", 0, Bytes().put<uint8_t>(200).b);
    w.add_raw("t.i8", 1, Bytes().put<int8_t>(-1).b);
    w.add_raw("t.u16", 2, Bytes().put<uint16_t>(0x1234).b);
    w.add_raw("t.i16", 3, Bytes().put<int16_t>(-2).b);
    w.add_raw("t.i64", 11, Bytes().put<int64_t>(-5).b);
    w.add_raw("t.f64", 12, Bytes().put<double>(2.25).b);
    // [[1u8, 2u8], [3u8]]
    w.add_raw("t.nested", 9,
              Bytes().put<uint32_t>(9).put<uint64_t>(2).put<uint32_t>(0).put<uint64_t>(2).put<uint8_t>(1).put<uint8_t>(2)
                  .put<uint32_t>(0).put<uint64_t>(1).put<uint8_t>(3).b);
    GgufFile g(std::make_shared<const MappedFile>(write_temp("types.gguf", w.to_bytes())));
    EXPECT_EQ(g.get_int("t.u32"), 7);
    EXPECT_EQ(g.get_int("t.i32"), -3);
    EXPECT_EQ(g.get_int("t.u64"), int64_t{1} << 40);
    EXPECT_EQ(g.get_float("t.f32"), 1.5);
    EXPECT_EQ(g.get_bool("t.bool"), true);
    EXPECT_EQ(g.get_string("t.str"), "h\xc3\xa9llo");
    EXPECT_EQ(g.find("t.arr")->ints(), (std::vector<int64_t>{1, -2, 3}));
    EXPECT_EQ(g.find("t.strs")->strings(), (std::vector<std::string_view>{"x", "", "yz"}));
    EXPECT_EQ(g.get_int("t.u8"), 200);
    EXPECT_EQ(g.get_int("t.i8"), -1);
    EXPECT_EQ(g.get_int("t.u16"), 0x1234);
    EXPECT_EQ(g.get_int("t.i16"), -2);
    EXPECT_EQ(g.get_int("t.i64"), -5);
    EXPECT_EQ(g.get_float("t.f64"), 2.25);
    const auto nested = g.find("t.nested")->items();
    ASSERT_EQ(nested.size(), 2u);
    EXPECT_EQ(nested[0].ints(), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(nested[1].ints(), (std::vector<int64_t>{3}));
    EXPECT_THROW(g.get_string("t.u32"), Error);  // present with the wrong type
    EXPECT_FALSE(g.get_int("t.absent").has_value());
}

// ---- the bad-input table ------------------------------------------------------------------

TEST(BadInput, MissingPath) {
    expect_load_error("/nonexistent/model.gguf", ErrorCode::kIo, {"no such file"});
}

TEST(BadInput, DirectoryWithoutConfigJson) {
    const std::string dir = test::temp_path("emptydir");
    std::filesystem::create_directories(dir);
    expect_load_error(dir, ErrorCode::kIo, {"config.json"});
}

TEST(BadInput, EmptyFile) {
    expect_load_error(write_temp("empty.gguf", {}), ErrorCode::kInvalidFile, {"empty file"});
}

TEST(BadInput, BadMagic) {
    expect_load_error(write_temp("magic.gguf", header_bytes(0x12345678, 3, 0, 0)), ErrorCode::kInvalidFile, {"bad magic"});
    expect_load_error(write_temp("short.gguf", {'G', 'G'}), ErrorCode::kInvalidFile, {"bad magic"});
}

TEST(BadInput, UnsupportedVersion) {
    expect_load_error(write_temp("v1.gguf", header_bytes(kMagic, 1, 0, 0)), ErrorCode::kUnsupported, {"version 1"});
    expect_load_error(write_temp("v4.gguf", header_bytes(kMagic, 4, 0, 0)), ErrorCode::kUnsupported, {"version 4"});
}

TEST(BadInput, TruncatedHeader) {
    LFM_REQUIRE_SHARED();
    const auto full = test::read_bytes(test::ref_path("tinyA-f32.gguf"));
    GgufFile g(std::make_shared<const MappedFile>(test::ref_path("tinyA-f32.gguf")));
    for (size_t cut : {size_t{12}, size_t{30}, size_t{200}, g.data_offset() - 40}) {
        expect_load_error(write_temp("trunc-header.gguf", std::vector<uint8_t>(full.begin(), full.begin() + static_cast<long>(cut))),
                          ErrorCode::kInvalidFile, {"truncated"});
    }
}

TEST(BadInput, TruncatedTensorData) {
    LFM_REQUIRE_SHARED();
    const auto full = test::read_bytes(test::ref_path("tinyA-f32.gguf"));
    expect_load_error(write_temp("trunc-data.gguf", std::vector<uint8_t>(full.begin(), full.end() - 1000)),
                      ErrorCode::kInvalidFile, {"truncated file", "extends past the end"});
}

// Offsets of the first tensor-info record's fields, found by parsing a file we wrote.
struct FirstTensorInfo {
    size_t offset_field;  // file offset of its u64 data offset
};
FirstTensorInfo locate_first_tensor(const std::vector<uint8_t>& bytes, const std::string& name) {
    const auto it = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
    const size_t name_end = static_cast<size_t>(it - bytes.begin()) + name.size();
    uint32_t n_dims;
    std::memcpy(&n_dims, bytes.data() + name_end, 4);
    return {name_end + 4 + 8 * n_dims + 4};
}

std::vector<uint8_t> one_tensor_file(uint32_t alignment = 32) {
    GgufWriter w;
    w.add_string("general.architecture", "lfm2moe");
    if (alignment != 32) w.set_alignment(alignment);
    std::vector<uint8_t> data(64 * 4, 0);
    w.add_tensor("only.weight", DType::kF32, {64}, data);
    return w.to_bytes();
}

TEST(BadInput, TensorOffsetPastEndOfFile) {
    auto bytes = one_tensor_file();
    const auto loc = locate_first_tensor(bytes, "only.weight");
    const uint64_t far = uint64_t{1} << 40;
    std::memcpy(bytes.data() + loc.offset_field, &far, 8);
    expect_load_error(write_temp("offset.gguf", bytes), ErrorCode::kInvalidFile, {"only.weight", "past the end"});
}

TEST(BadInput, MisalignedTensorData) {
    auto bytes = one_tensor_file();
    const auto loc = locate_first_tensor(bytes, "only.weight");
    const uint64_t odd = 4;
    std::memcpy(bytes.data() + loc.offset_field, &odd, 8);
    expect_load_error(write_temp("misaligned.gguf", bytes), ErrorCode::kInvalidFile, {"only.weight", "alignment"});
    // a bad general.alignment itself
    GgufWriter w;
    w.add_u32("general.alignment", 3);
    expect_load_error(write_temp("alignment3.gguf", w.to_bytes()), ErrorCode::kInvalidFile, {"general.alignment"});
}

TEST(BadInput, AbsurdCountsDoNotAllocate) {
    const uint64_t huge = uint64_t{1} << 60;
    expect_load_error(write_temp("n-tensors.gguf", header_bytes(kMagic, 3, huge, 0)), ErrorCode::kInvalidFile, {"tensors"});
    expect_load_error(write_temp("n-kv.gguf", header_bytes(kMagic, 3, 0, huge)), ErrorCode::kInvalidFile, {"metadata"});
    GgufWriter w;
    w.add_raw("big.array", 9, Bytes().put<uint32_t>(8).put<uint64_t>(huge).b);  // 2^60 strings
    expect_load_error(write_temp("n-array.gguf", w.to_bytes()), ErrorCode::kInvalidFile, {"big.array", "truncated"});
    GgufWriter w2;
    w2.add_raw("big.string", 8, Bytes().put<uint64_t>(huge).b);
    expect_load_error(write_temp("n-string.gguf", w2.to_bytes()), ErrorCode::kInvalidFile, {"big.string", "truncated"});
}

TEST(BadInput, DuplicateTensorNames) {
    LFM_REQUIRE_SHARED();
    const auto bytes = rewrite("tinyA-f32.gguf", [](TensorEdit& e) {
        if (e.name == "blk.0.ffn_norm.weight") e.name = "blk.0.attn_norm.weight";
    });
    expect_load_error(write_temp("dup.gguf", bytes), ErrorCode::kInvalidFile, {"duplicate tensor name", "blk.0.attn_norm.weight"});
}

TEST(BadInput, WrongArchitecture) {
    LFM_REQUIRE_SHARED();
    expect_load_error(test::shared_path("data/tokenizer-llama3-bpe/ggml-vocab-llama-bpe.gguf"), ErrorCode::kUnsupported,
                      {"architecture 'llama'"});
}

TEST(BadInput, TensorWithWrongShape) {
    LFM_REQUIRE_SHARED();
    const auto bytes = rewrite("tinyA-f32.gguf", [](TensorEdit& e) {
        if (e.name == "blk.1.shortconv.out_proj.weight") e.ne = {64, 32};
    });
    expect_load_error(write_temp("shape.gguf", bytes), ErrorCode::kInvalidFile,
                      {"blk.1.shortconv.out_proj.weight", "[64, 32]", "expected [64, 64]"});
}

TEST(BadInput, MissingRequiredTensor) {
    LFM_REQUIRE_SHARED();
    const auto bytes = rewrite("tinyA-f32.gguf", [](TensorEdit& e) { e.drop = e.name == "blk.5.attn_k_norm.weight"; });
    expect_load_error(write_temp("missing.gguf", bytes), ErrorCode::kInvalidFile, {"blk.5.attn_k_norm.weight", "missing"});
}

TEST(BadInput, UnsupportedTensorType) {
    GgufWriter w;
    w.add_string("general.architecture", "lfm2moe");
    std::vector<uint8_t> bytes = one_tensor_file();
    const auto loc = locate_first_tensor(bytes, "only.weight");
    const uint32_t iq2_xxs = 16;
    std::memcpy(bytes.data() + loc.offset_field - 4, &iq2_xxs, 4);
    expect_load_error(write_temp("iq2.gguf", bytes), ErrorCode::kUnsupported,
                      {"unsupported tensor type IQ2_XXS", "only.weight"});
}

TEST(BadInput, SplitGgufShardSaysHowToMerge) {
    GgufWriter w;
    w.add_string("general.architecture", "lfm2moe");
    w.add_u32("split.no", 0);
    w.add_u32("split.count", 3);
    expect_load_error(write_temp("model-00001-of-00003.gguf", w.to_bytes()), ErrorCode::kUnsupported,
                      {"shard 1 of a GGUF split into 3 files", "llama-gguf-split --merge"});
}

TEST(Loading, UnknownExtraTensorsAreWarningsNotErrors) {
    LFM_REQUIRE_SHARED();
    const auto path = write_temp("extra.gguf", rewrite("tinyA-f32.gguf", nullptr, {"blk.0.mystery.weight"}));
    const auto model = Model::load(path);
    EXPECT_EQ(model->info().unused_tensors, std::vector<std::string>{"blk.0.mystery.weight"});
}

// ---- safetensors --------------------------------------------------------------------------

std::vector<uint8_t> safetensors_bytes(const std::string& header, size_t data_bytes) {
    Bytes b;
    b.put<uint64_t>(header.size());
    b.b.insert(b.b.end(), header.begin(), header.end());
    b.b.resize(b.b.size() + data_bytes, 0);
    return b.b;
}

void expect_safetensors_error(const std::string& header, size_t data_bytes, std::initializer_list<const char*> fragments) {
    const auto bytes = safetensors_bytes(header, data_bytes);
    try {
        parse_safetensors_header(bytes.data(), bytes.size(), "x.safetensors");
        FAIL() << "header should be rejected: " << header;
    } catch (const Error& e) {
        for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("x.safetensors"), std::string::npos);
    }
}

TEST(Safetensors, ValidHeader) {
    const auto bytes = safetensors_bytes(
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
        R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})",
        32);
    const auto t = parse_safetensors_header(bytes.data(), bytes.size(), "x.safetensors");
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t[0].ne[0], 3);  // ggml order: the contiguous dimension first
    EXPECT_EQ(t[0].ne[1], 2);
    EXPECT_EQ(t[1].type, DType::kBF16);
}

TEST(Safetensors, HeaderThatIsNotJson) { expect_safetensors_error("{not json", 0, {"not valid JSON"}); }

TEST(Safetensors, HeaderLengthBeyondFile) {
    Bytes b;
    b.put<uint64_t>(1000);
    b.b.resize(100, ' ');
    EXPECT_THROW(parse_safetensors_header(b.b.data(), b.b.size(), "x.safetensors"), Error);
}

TEST(Safetensors, OffsetsThatLie) {
    expect_safetensors_error(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24, {"'a'", "need 24"});
    expect_safetensors_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[100,116]}})", 24, {"'a'", "past the end"});
    expect_safetensors_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", 24, {"'a'"});
}

TEST(Safetensors, OverlappingTensors) {
    expect_safetensors_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                             R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                             24, {"overlap"});
}

TEST(Safetensors, UnsupportedDtype) {
    expect_safetensors_error(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8, {"unsupported dtype I64"});
}

}  // namespace
}  // namespace lfm
