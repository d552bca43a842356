// The `lfm` binary end to end: exit codes, one-line errors, `info` (text and JSON) and `eval`.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "lfm/model.h"
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

// Evaluating A, saving, then loading and evaluating B gives the logits of A+B in one go. The
// split is at 32 tokens, a multiple of every kernel's token tile; the rows of B still meet the
// experts in other groups (an expert's rows are those of the pass that routed to it), so K-quant
// models move by ~1e-6 (the others here come out bit for bit).
TEST(Cli, EvalSaveLoadSessionReproducesOneGo) {
    LFM_REQUIRE_SHARED();
    for (const char* name : {"tinyA-f32", "tinyB-f32", "tinyB-q8_0", "tinyB-q4_0", "tinyB-q4_k", "tinyB-q4_k_m"}) {
        const auto manifest = test::read_json(test::ref_path(std::string(name) + ".manifest.json"));
        const auto all = manifest["token_ids"].get<std::vector<int>>();
        auto join = [](auto first, auto last) {
            std::string s;
            for (auto it = first; it != last; ++it) {
                if (!s.empty()) s += ',';
                s += std::to_string(*it);
            }
            return s;
        };
        const std::string model = test::ref_path(std::string(name) + ".gguf");
        const std::string whole = test::temp_path("whole.f32"), tail = test::temp_path("tail.f32");
        const std::string session = test::temp_path(std::string(name) + ".session");
        ASSERT_EQ(lfm("eval -m " + model + " --kv-type f32 --ids " + join(all.begin(), all.end()) + " --logits-out " + whole).exit_code, 0);
        const CliResult a = lfm("eval -m " + model + " --kv-type f32 --ids " + join(all.begin(), all.begin() + 32) +
                                " --save-session " + session);
        ASSERT_EQ(a.exit_code, 0) << a.out;
        const CliResult b = lfm("eval -m " + model + " --kv-type f32 --ids " + join(all.begin() + 32, all.end()) +
                                " --load-session " + session + " --logits-out " + tail);
        ASSERT_EQ(b.exit_code, 0) << b.out;
        const auto one_go = test::read_f32(whole), split = test::read_f32(tail);
        const size_t V = one_go.size() / all.size();
        ASSERT_EQ(split.size(), (all.size() - 32) * V) << name;
        float worst = 0;
        for (size_t k = 0; k < split.size(); ++k) worst = std::max(worst, std::fabs(split[k] - one_go[32 * V + k]));
        EXPECT_LE(worst, 1e-5f) << name;
    }
    // another model's session, and another KV type: one clear line, non-zero exit
    const std::string session = test::temp_path("tinyB-f32.session");
    CliResult r = lfm("eval -m " + test::ref_path("tinyA-f32.gguf") + " --kv-type f32 --ids 1,2 --load-session " + session);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.out.find("made with another model"), std::string::npos) << r.out;
    r = lfm("eval -m " + test::ref_path("tinyB-f32.gguf") + " --ids 1,2 --load-session " + session);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.out.find("its KV cache is f32; this session's is f16"), std::string::npos) << r.out;
}

TEST(Cli, SystemNamesTheChosenPath) {
    const CliResult r = lfm("system");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("chosen"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("scalar"), std::string::npos) << r.out;
    // The default thread count and why: this machine's rule (test_platform tests the others).
    EXPECT_NE(r.out.find(fmt::format("threads         {} by default (-t sets others): {}", default_thread_count(),
                                     default_thread_count_reason())),
              std::string::npos)
        << r.out;
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

    // --kv-type reaches the session (a Q8_0 cache at depth) and the report, as llama-bench's -ctk/-ctv
    const CliResult q8 = lfm("bench --synthetic Q4_0 --shape " + shape + " -p 0 -n 2 -d 4 -r 1 -t 1 --kv-type q8_0 -o json");
    ASSERT_EQ(q8.exit_code, 0) << q8.out;
    const auto jq = nlohmann::json::parse(q8.out);
    ASSERT_EQ(jq.size(), 1u);
    EXPECT_EQ(jq[0]["type_k"], "q8_0");
    EXPECT_EQ(jq[0]["type_v"], "q8_0");
    EXPECT_EQ(jq[0]["n_depth"], 4);
    EXPECT_EQ(j[0]["type_k"], "f16");
    const CliResult q8md = lfm("bench --synthetic Q4_0 --shape " + shape + " -p 0 -n 2 -r 1 -t 1 --kv-type q8_0");
    EXPECT_NE(q8md.out.find("| threads | type_k | type_v | test |"), std::string::npos) << q8md.out;
    EXPECT_NE(q8md.out.find("| q8_0 | q8_0 | tg2 |"), std::string::npos) << q8md.out;
    EXPECT_EQ(lfm("bench --synthetic Q4_0 --shape " + shape + " -p 8 --kv-type q4").exit_code, 2);  // a usage error
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

// eval runs one batch at a time; a bad id in a later batch fails the command and leaves no
// partial logits file behind.
TEST(Cli, EvalErrorInALaterBatchLeavesNoLogitsFile) {
    LFM_REQUIRE_SHARED();
    const std::string out = test::temp_path("partial.f32");
    const CliResult r =
        lfm("eval -m " + test::ref_path("tinyA-f32.gguf") + " --batch 2 --ids 1,2,3,4,5000 --logits-out " + out);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("token id 5000 is out of range"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(out)) << out;
}


void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

TEST(Cli, RunGreedyReproducesReferenceIds) {
    LFM_REQUIRE_SHARED();
    // The F32 models, whose greedy margins (>= 0.0038) are far above their logit error (~1e-5);
    // quantized ones have near-ties (tinyB-q8_0: 0.03 at step 6) that summation order may flip.
    for (const char* name : {"tinyB-f32", "tinyA-f32"}) {
        const auto greedy = test::read_json(test::ref_path(std::string(name) + ".manifest.json"))["greedy"];
        std::string ids;
        for (const auto& id : greedy["prompt_ids"]) {
            if (!ids.empty()) ids += ',';
            ids += std::to_string(id.get<int>());
        }
        const CliResult r = lfm("run -m " + test::ref_path(std::string(name) + ".gguf") + " --prompt-ids " + ids +
                                " --temp 0 --repeat-penalty 1 --kv-type f32 -n 32 --print-ids -t 2");
        ASSERT_EQ(r.exit_code, 0) << r.out;
        std::string expected = "[";
        for (const auto& id : greedy["generated_ids"]) {
            if (expected.size() > 1) expected += ", ";
            expected += std::to_string(id.get<int>());
        }
        expected += "]\n";
        ASSERT_GE(r.out.size(), expected.size());
        EXPECT_EQ(r.out.substr(r.out.size() - expected.size()), expected) << name;
    }
}

TEST(Cli, RunJsonThroughTheChatTemplate) {
    LFM_REQUIRE_SHARED();
    const CliResult r = lfm("run -m " + test::ref_path("tinyB-q8_0.gguf") + " -p Hello -n 5 --temp 0 --json --print-ids");
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    for (const char* key : {"reasoning", "content", "tool_calls", "stop_reason", "timings", "tokens"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j["stop_reason"], "max_tokens");
    EXPECT_EQ(j["tokens"].size(), 5u);
    // The prompt is the rendered template: BOS, <|im_start|>user, Hello, ... <|im_start|>assistant.
    EXPECT_GT(j["timings"]["prompt_tokens"].get<int>(), 5);
}

TEST(Cli, TemplateRendersAReferenceCaseExactly) {
    LFM_REQUIRE_SHARED();
    std::ifstream in(test::ref_path("chat/renders/LFM2.5-8B-A1B__chat_template.ggml-org-llama.cpp.json"));
    const auto ref = nlohmann::ordered_json::parse(in);  // key order matters: tools print as given
    for (const auto& c : ref["cases"]) {
        if (c["name"] != "tool_call_roundtrip") continue;
        nlohmann::ordered_json conv = c;
        conv.erase("render");
        const std::string conv_path = test::temp_path("conv.json");
        write_text(conv_path, conv.dump());
        const CliResult r = lfm("template --template " + test::shared_path("data/" + ref["template_file"].get<std::string>()) +
                                " --conversation " + conv_path + " --date " + ref["date"].get<std::string>());
        ASSERT_EQ(r.exit_code, 0) << r.out;
        EXPECT_EQ(r.out, c["render"].get<std::string>());
    }
}

TEST(Cli, TemplateParseSplitsAReply) {
    const std::string reply = test::temp_path("reply.txt");
    write_text(reply, "<think>Need weather.</think>Checking.<|tool_call_start|>[get_weather(city='Oslo')]<|tool_call_end|>");
    const CliResult r = lfm("template --parse < " + reply);
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["reasoning"], "Need weather.");
    EXPECT_EQ(j["content"], "Checking.");
    ASSERT_EQ(j["tool_calls"].size(), 1u);
    EXPECT_EQ(j["tool_calls"][0]["function"]["name"], "get_weather");
    EXPECT_EQ(j["tool_calls"][0]["function"]["arguments"], "{\"city\": \"Oslo\"}");
}

// The issue's list of bad input: one clear line on stderr and a non-zero exit, each.
TEST(Cli, BadInputToRunAndChat) {
    LFM_REQUIRE_SHARED();
    const std::string model = test::ref_path("tinyB-q8_0.gguf");
    const std::string not_json = test::temp_path("tools-not-json.json");
    write_text(not_json, "[{oops");
    const std::string not_schemas = test::temp_path("tools-not-schemas.json");
    write_text(not_schemas, R"({"name": "f"})");
    const std::string broken = test::temp_path("broken.gguf");
    test::write_bytes(broken, {'G', 'G', 'U', 'F', 3, 0, 0, 0, 1});
    const std::string long_prompt(3000, 'x');
    const std::pair<std::string, std::string> cases[] = {
        {"run --frobnicate -m " + model + " -p x", "--frobnicate"},
        {"frobnicate", "unknown command 'frobnicate'"},
        {"run -m " + model + " -p x -t 0", "--threads: Value 0 not in range"},
        {"run -m " + model + " -p x -c -5", "--ctx-size"},
        {"run -m " + model + " -p x --temp -1", "--temp: Value -1 not in range"},
        {"run -m " + model + " -p x -n 99999999", "--n-predict"},
        {"run -m " + model + " -p x -n 5000 -c 4096", "-n 5000 is more than the context size"},
        {"run -p x", "no model: give -m FILE or -hf ORG/NAME[:QUANT]"},
        {"run -m /nonexistent.gguf -p x", "/nonexistent.gguf: no such file"},
        {"run -m " + broken + " -p x", broken},
        {"run -m " + model + " -p x --tools " + not_json, "tools is not valid JSON"},
        {"run -m " + model + " -p x --tools " + not_schemas, "tools must be a JSON list of function schemas"},
        {"run -m " + model + " -c 64 -p " + long_prompt, "but the context has room for 64"},
        {"run -m " + model + " < /dev/null", "standard input was empty or closed"},
        {"chat -m " + model + " -t 0", "--threads: Value 0 not in range"},
        {"chat -m " + model + " --tools " + not_schemas, "tools must be a JSON list"},
        {"template --conversation " + not_json + " --template " + not_json, "conversation is not valid JSON"},
    };
    for (const auto& [args, expected] : cases) {
        const CliResult r = lfm(args);
        EXPECT_NE(r.exit_code, 0) << args << "\n" << r.out;
        EXPECT_EQ(r.out.rfind("lfm: error: ", 0), 0u) << args << "\n" << r.out;
        EXPECT_NE(r.out.find(expected), std::string::npos) << args << "\n" << r.out;
        EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << "\n" << r.out;
    }
}

TEST(Cli, PerplexityAndKlDivergence) {
    LFM_REQUIRE_SHARED();
    std::string text;
    for (int i = 0; i < 40; ++i) text += "The quick brown fox jumps over the lazy dog. Sphinx of black quartz, judge my vow. ";
    const std::string text_path = test::temp_path("ppl.txt");
    write_text(text_path, text);
    const std::string saved = test::temp_path("base.logp");
    const CliResult base = lfm("perplexity -m " + test::ref_path("tinyB-f32.gguf") + " -f " + text_path +
                               " -c 64 --save-logits " + saved);
    ASSERT_EQ(base.exit_code, 0) << base.out;
    EXPECT_NE(base.out.find("perplexity: "), std::string::npos) << base.out;
    // The same model against itself: KL 0 and the same top token everywhere.
    const CliResult self = lfm("perplexity -m " + test::ref_path("tinyB-f32.gguf") + " -f " + text_path +
                               " -c 64 --kl-divergence-base " + saved);
    ASSERT_EQ(self.exit_code, 0) << self.out;
    EXPECT_NE(self.out.find("mean 0.000000"), std::string::npos) << self.out;
    EXPECT_NE(self.out.find("same top token 100.00%"), std::string::npos) << self.out;
    // A quantized sibling: small but non-zero divergence.
    const CliResult q = lfm("perplexity -m " + test::ref_path("tinyB-q4_0.gguf") + " -f " + text_path +
                            " -c 64 --kl-divergence-base " + saved);
    ASSERT_EQ(q.exit_code, 0) << q.out;
    EXPECT_EQ(q.out.find("mean 0.000000"), std::string::npos) << q.out;
    EXPECT_EQ(lfm("perplexity -m " + test::ref_path("tinyB-f32.gguf") + " -f " + text_path + " -c 64 --kl-divergence-base " +
                  text_path).exit_code, 1);
}

}  // namespace
}  // namespace lfm
