// The `lfm` binary end to end: exit codes, one-line errors, `info` (text and JSON) and `eval`.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "test_util.h"

namespace lfm {
namespace {

struct CliResult {
    int exit_code;
    std::string out;  // stdout and stderr together
};

CliResult lfm(const std::string& args) {
    const std::string cmd = std::string(LFM_CLI_PATH) + " " + args + " 2>&1";
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return {-1, "popen failed"};
    std::string out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    const int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(Cli, Version) {
    const CliResult r = lfm("--version");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("lfm 0."), std::string::npos) << r.out;
}

TEST(Cli, InfoJsonOnEveryReferenceModel) {
    LFM_REQUIRE_SHARED();
    for (const char* m : {"tinyA-f32.gguf", "tinyB-q4_k_m.gguf", "hf-tinyA"}) {
        const CliResult r = lfm("info --json " + test::ref_path(m));
        ASSERT_EQ(r.exit_code, 0) << r.out;
        const auto j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["architecture"], "lfm2moe");
        EXPECT_GT(j["n_params"].get<uint64_t>(), 0u);
        EXPECT_EQ(j["special_tokens"][0]["role"], "bos");
    }
    const auto q = nlohmann::json::parse(lfm("info --json " + test::ref_path("tinyB-q4_k_m.gguf")).out);
    EXPECT_EQ(q["n_params"], 6630552);
    EXPECT_TRUE(q["tensor_types"].contains("Q6_K"));
    EXPECT_TRUE(q["tensor_types"].contains("Q4_K"));
}

TEST(Cli, InfoText) {
    LFM_REQUIRE_SHARED();
    const CliResult r = lfm("info " + test::ref_path("tinyA-f32.gguf"));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    for (const char* s : {"lfm2moe", "CCACCA", "934056", "8 × FFN 96, 2 used per token", "bos=1"})
        EXPECT_NE(r.out.find(s), std::string::npos) << s << " not in:\n" << r.out;
}

TEST(Cli, EvalWritesReferenceLayout) {
    LFM_REQUIRE_SHARED();
    const auto manifest = test::read_json(test::ref_path("tinyA-f32.manifest.json"));
    std::string ids;
    for (int id : manifest["token_ids"]) {
        if (!ids.empty()) ids += ',';
        ids += std::to_string(id);
    }
    const std::string out = test::temp_path("eval.f32");
    const CliResult r = lfm("eval -m " + test::ref_path("tinyA-f32.gguf") + " --kv-type f32 --batch 9 --ids " + ids +
                      " --logits-out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto ours = test::read_f32(out), ref = test::read_f32(test::ref_path(manifest["logits_file"]));
    ASSERT_EQ(ours.size(), ref.size());
    for (size_t k = 0; k < ref.size(); ++k) ASSERT_NEAR(ours[k], ref[k], 1e-3);
    EXPECT_EQ(r.out.rfind("argmax: ", 0), 0u) << r.out;
    // ids from a file work the same
    const std::string ids_file = test::temp_path("ids.txt");
    test::write_bytes(ids_file, std::vector<uint8_t>(ids.begin(), ids.end()));
    EXPECT_EQ(lfm("eval -m " + test::ref_path("tinyA-f32.gguf") + " --kv-type f32 --ids @" + ids_file).out, r.out);
}

TEST(Cli, SystemNamesTheChosenPath) {
    const CliResult r = lfm("system");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("chosen"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("scalar"), std::string::npos) << r.out;
}

TEST(Cli, TokenizeIdsLikeLlamaCpp) {
    LFM_REQUIRE_SHARED();
    const CliResult r = lfm("tokenize --ids -m " + test::ref_path("tinyA-f32.gguf") +
                            " -p 'The quick brown fox jumps over the lazy dog.'");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_EQ(r.out, "[1, 300, 513, 487, 445, 521, 404, 274, 438, 471, 60]\n");  // the manifest's prompt_ids
}

TEST(Cli, BenchJsonHasLlamaBenchFields) {
    const std::string shape = test::temp_path("bench-shape.json");
    std::ofstream(shape) << R"({"hidden_size": 256, "n_layers": 2, "attn_layers": [1], "n_heads": 4, "n_kv_heads": 2,
        "n_dense_layers": 1, "n_experts": 4, "n_experts_used": 2, "expert_ffn": 256, "dense_ffn": 256,
        "vocab_size": 512, "context_length": 512})";
    const CliResult r = lfm("bench --synthetic Q4_0 --shape " + shape + " -p 8 -n 4 -r 2 -t 1 -o json");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["n_prompt"], 8);
    EXPECT_EQ(j[0]["n_gen"], 0);
    EXPECT_EQ(j[1]["n_gen"], 4);
    for (const auto& row : j) {
        EXPECT_GT(row["avg_ts"].get<double>(), 0.0);
        EXPECT_EQ(row["samples_ts"].size(), 2u);
        EXPECT_EQ(row["n_threads"], 1);
        for (const char* k : {"model_type", "model_size", "model_n_params", "n_depth", "stddev_ts", "avg_ns", "backends"})
            EXPECT_TRUE(row.contains(k)) << k;
    }
    const CliResult md = lfm("bench --synthetic Q4_0 --shape " + shape + " -p 8 -n 0 -r 1 -t 1");
    EXPECT_NE(md.out.find("| model | size | params | backend | threads | test | t/s |"), std::string::npos) << md.out;
    EXPECT_NE(md.out.find("pp8"), std::string::npos) << md.out;
    EXPECT_EQ(lfm("bench -p 8").exit_code, 1);  // neither -m nor --synthetic
}

TEST(Cli, ErrorsAreOneLineAndExitNonZero) {
    LFM_REQUIRE_SHARED();
    const std::string bad = test::temp_path("bad.gguf");
    test::write_bytes(bad, {'G', 'G', 'U', 'F', 9, 0, 0, 0});
    const std::string model = test::ref_path("tinyA-f32.gguf");
    const std::pair<std::string, std::string> cases[] = {
        {"info /nonexistent.gguf", "/nonexistent.gguf: no such file"},
        {"info " + bad, "unsupported GGUF version 9"},
        {"eval -m " + model + " --ids 1,2,5000", "token id 5000 is out of range"},
        {"eval -m " + model + " --ids 1,two", "'two' is not a token id"},
        {"eval -m " + model + " --ids 1,2,3 --ctx 2", "context overflow"},
        {"eval -m " + model + " --ids 1 --ctx 999999", "context size 999999 is out of range"},
    };
    for (const auto& [args, expected] : cases) {
        const CliResult r = lfm(args);
        EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out;
        EXPECT_EQ(r.out.rfind("lfm: error: ", 0), 0u) << r.out;
        EXPECT_NE(r.out.find(expected), std::string::npos) << r.out;
        EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    }
    EXPECT_NE(lfm("frobnicate").exit_code, 0);
}

}  // namespace
}  // namespace lfm
