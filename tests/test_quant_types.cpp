// Dequantization of the weight types of community quants (IQ4_NL, IQ4_XS, MXFP4, Q2_K, Q3_K)
// against llama.cpp's own: tiny files that llama.cpp's llama-quantize wrote from
// ../shared/reference/tinyB-f32.gguf, and per tensor a hash of the floats that llama.cpp's dequantizer gives
// for it (expected.txt, produced by llama.cpp, not by lfm; tests/data/quant/README.md says how). Every ISA's
// table must give exactly those floats.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "kernels.h"

namespace lfm {
namespace {

std::string data_path(const std::string& name) {
    return std::string(LFM_QUANT_DATA_DIR) + "/" + name;
}

// FNV-1a 64 over the floats' little-endian bytes (what the llama.cpp side hashed).
uint64_t fnv1a64(const std::vector<float>& v) {
    uint64_t h = 14695981039346656037ull;
    const auto* b = reinterpret_cast<const uint8_t*>(v.data());
    for (size_t i = 0; i < v.size() * sizeof(float); ++i) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct Expected {
    std::string file, tensor, type;
    int64_t n = 0;
    uint64_t hash = 0;
};

std::vector<Expected> read_expected() {
    std::ifstream in(data_path("expected.txt"));
    std::vector<Expected> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream s(line);
        Expected e;
        std::string hash;
        s >> e.file >> e.tensor >> e.type >> e.n >> hash;
        e.hash = std::stoull(hash, nullptr, 16);
        out.push_back(e);
    }
    return out;
}

TEST(LlamaCppDequant, EveryTensorIsBitIdenticalOnEveryIsa) {
    const std::vector<Expected> expected = read_expected();
    ASSERT_GT(expected.size(), 10u) << "expected.txt missing or empty";
    std::map<std::string, std::unique_ptr<GgufFile>> files;
    std::map<std::string, int> checked_by_type;
    for (const Expected& e : expected) {
        auto& g = files[e.file];
        if (!g) g = std::make_unique<GgufFile>(std::make_shared<const MappedFile>(data_path(e.file)));
        const TensorInfo* t = g->tensor(e.tensor);
        ASSERT_NE(t, nullptr) << e.file << ": " << e.tensor;
        ASSERT_EQ(dtype_name(t->type), e.type) << e.file << ": " << e.tensor;
        ASSERT_EQ(t->n_elements(), e.n) << e.file << ": " << e.tensor;
        const int64_t row = t->ne[0];
        const size_t rb = row_bytes(t->type, row);
        for (const std::string& isa : available_isas()) {
            const DequantizeRowFn deq = kernel_table(isa)->dequantize_row[static_cast<uint32_t>(t->type)];
            ASSERT_NE(deq, nullptr) << isa << " " << e.type;
            std::vector<float> f(static_cast<size_t>(e.n));
            for (int64_t r = 0; r < e.n / row; ++r)
                deq(t->data + static_cast<size_t>(r) * rb, f.data() + r * row, row);
            EXPECT_EQ(fnv1a64(f), e.hash)
                << isa << " " << e.file << ": " << e.tensor << " (" << e.type << ")";
        }
        ++checked_by_type[e.type];
    }
    for (const char* type : {"IQ4_NL", "IQ4_XS", "MXFP4", "Q2_K", "Q3_K"})
        EXPECT_GT(checked_by_type[type], 0) << type;
}

}  // namespace
}  // namespace lfm
