#pragma once
// Helpers shared by the tests: paths into ../shared/reference and readers for its files.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels.h"

namespace lfm::test {

inline std::string shared_path(const std::string& rel) { return std::string(LFM_SHARED_DIR) + "/" + rel; }
inline std::string ref_path(const std::string& rel) { return shared_path("reference/" + rel); }

inline bool have_shared() { return std::filesystem::exists(ref_path("README.md")); }

// An ISA forced with LFM_ISA (ctest runs the forward tests once per ISA) that this CPU lacks.
inline bool forced_isa_unavailable() {
    const char* isa = std::getenv("LFM_ISA");
    return isa != nullptr && *isa != '\0' && ::lfm::kernel_table(isa) == nullptr;
}

#define LFM_REQUIRE_SHARED()                                                                     \
    do {                                                                                         \
        if (!::lfm::test::have_shared())                                                         \
            GTEST_SKIP() << "../shared/reference is not beside the repository (reference data)"; \
        if (::lfm::test::forced_isa_unavailable())                                               \
            GTEST_SKIP() << "LFM_ISA=" << std::getenv("LFM_ISA") << " is not supported by this CPU"; \
    } while (0)

// A gtest parameter name from a file-like name ("tinyB-q4_k" -> "tinyB_q4_k").
inline std::string param_name(std::string s) {
    for (char& c : s)
        if (c == '-' || c == '.' || c == '+') c = '_';
    return s;
}

inline nlohmann::json read_json(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

inline std::vector<float> read_f32(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A per-process scratch directory, removed when the test binary exits.
struct TempDir {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("lfm-test-" + std::to_string(::getpid()));
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

inline std::string temp_path(const std::string& name) {
    static TempDir temp;
    std::filesystem::create_directories(temp.dir);
    return (temp.dir / name).string();
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace lfm::test
