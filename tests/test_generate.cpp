// Sampling, the generation loop's stop rules, and Chat, on synthetic logits and on the tiny
// reference models (whose greedy continuations llama.cpp computed).

#include <sys/wait.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "io/gguf.h"
#include "io/mapped_file.h"
#include "lfm/generate.h"
#include "test_util.h"
#include "text/utf8.h"

namespace lfm {
namespace {

struct CliResult {
    int exit_code = -1;
    std::string out;  // stdout and stderr together
};

SamplerConfig greedy_config() {
    SamplerConfig c;
    c.temperature = 0;
    c.repetition_penalty = 1;
    return c;
}

TEST(Sampler, GreedyIsTheFirstHighestLogit) {
    Sampler s(greedy_config());
    std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f, 2.0f};
    EXPECT_EQ(s.sample(logits, {}), 1);
}

TEST(Sampler, RepetitionPenaltyFollowsHfRule) {
    SamplerConfig c = greedy_config();
    c.repetition_penalty = 2.0f;
    Sampler s(c);
    // 4.0 / 2 = 2.0 < 3.0: the repeated token loses; negative logits are multiplied.
    std::vector<int32_t> history = {0};
    EXPECT_EQ(s.sample(std::vector<float>{4.0f, 3.0f}, history), 1);
    EXPECT_EQ(s.sample(std::vector<float>{-1.0f, -1.5f}, std::vector<int32_t>{0}), 1);  // -2 < -1.5
    // A penalty below 1 raises a repeated token's logit; top-k 1 then samples it for sure.
    SamplerConfig up = greedy_config();
    up.repetition_penalty = 0.5f;
    EXPECT_EQ(Sampler(up).sample(std::vector<float>{4.0f, 3.0f, 1.0f}, std::vector<int32_t>{2}), 0);  // 2.0 < 4
    EXPECT_EQ(Sampler(up).sample(std::vector<float>{4.0f, 3.0f, 2.5f}, std::vector<int32_t>{2}), 2);          // 5.0 > 4
    up.temperature = 1.0f;
    up.top_k = 1;
    std::vector<float> many(1000, 0.0f);
    many[500] = 1.0f;
    many[7] = 0.9f;
    EXPECT_EQ(Sampler(up).sample(many, std::vector<int32_t>{7}), 7);   // 1.8 after the penalty
    up.repetition_penalty = 2.0f;
    EXPECT_EQ(Sampler(up).sample(many, std::vector<int32_t>{500}), 7);  // 0.5 after the penalty
    // Only the last repeat_last_n tokens count.
    c.repeat_last_n = 1;
    Sampler recent(c);
    EXPECT_EQ(recent.sample(std::vector<float>{4.0f, 3.0f}, std::vector<int32_t>{0, 1}), 0);
}

TEST(Sampler, SeededRunsRepeatAndTopKLimitsTheChoice) {
    std::vector<float> logits(128000);
    std::mt19937 gen(7);
    std::normal_distribution<float> dist(0, 2);
    for (float& x : logits) x = dist(gen);
    SamplerConfig c;
    c.temperature = 1.5f;
    c.seed = 1234;
    Sampler a(c), b(c);
    std::vector<int32_t> history;
    std::vector<float> sorted = logits;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const float kth = sorted[static_cast<size_t>(c.top_k) - 1];
    for (int i = 0; i < 200; ++i) {
        int32_t x = a.sample(logits, history);
        EXPECT_EQ(x, b.sample(logits, history));
        EXPECT_GE(logits[static_cast<size_t>(x)], kth);  // within the top 80 (no penalty: history empty)
    }
    c.top_k = 1;
    Sampler one(c);
    EXPECT_EQ(one.sample(logits, {}), std::max_element(logits.begin(), logits.end()) - logits.begin());
}

// Frequencies follow softmax(logits / T) over the kept set.
TEST(Sampler, FrequenciesFollowTheDistribution) {
    SamplerConfig c;
    c.temperature = 1.0f;
    c.top_k = 0;
    c.repetition_penalty = 1.0f;
    c.seed = 99;
    Sampler s(c);
    const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
    std::map<int32_t, int> count;
    const int n = 20000;
    for (int i = 0; i < n; ++i) ++count[s.sample(logits, {})];
    EXPECT_NEAR(count[0] / double(n), 0.5, 0.02);
    EXPECT_NEAR(count[1] / double(n), 0.3, 0.02);
    EXPECT_NEAR(count[2] / double(n), 0.2, 0.02);
    // top-p 0.6 keeps {0, 1}; min-p 0.5 keeps tokens with p >= 0.25, i.e. {0, 1} too.
    for (bool use_top_p : {true, false}) {
        SamplerConfig d = c;
        (use_top_p ? d.top_p : d.min_p) = use_top_p ? 0.6f : 0.5f;
        Sampler t(d);
        std::map<int32_t, int> kept;
        for (int i = 0; i < n; ++i) ++kept[t.sample(logits, {})];
        EXPECT_EQ(kept.count(2), 0u);
        EXPECT_NEAR(kept[0] / double(n), 0.625, 0.02);
    }
}

TEST(Sampler, OutOfRangeSettingsAreErrors) {
    for (auto change : std::vector<std::function<void(SamplerConfig&)>>{
             [](SamplerConfig& c) { c.temperature = -1; }, [](SamplerConfig& c) { c.top_k = -2; },
             [](SamplerConfig& c) { c.top_p = 0; }, [](SamplerConfig& c) { c.top_p = 1.5f; },
             [](SamplerConfig& c) { c.min_p = 2; }, [](SamplerConfig& c) { c.repetition_penalty = 0; },
             [](SamplerConfig& c) { c.repeat_last_n = -3; }, [](SamplerConfig& c) { c.temperature = NAN; }}) {
        SamplerConfig c;
        change(c);
        EXPECT_THROW(Sampler{c}, Error);
    }
}

// ---------------------------------------------------------------------------------------------

struct Tiny {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
    nlohmann::json greedy;
};

Tiny load_tiny(const std::string& name) {
    Tiny t;
    const std::string path = test::ref_path(name + ".gguf");
    t.model = Model::load(path);
    t.tokenizer = Tokenizer::load(path);
    t.greedy = test::read_json(test::ref_path(name + ".manifest.json"))["greedy"];
    return t;
}

SessionOptions f32_session() {
    SessionOptions o;
    o.n_ctx = 256;
    o.kv_type = KvType::kF32;  // the references' setting
    o.n_threads = 2;
    return o;
}

TEST(Generate, GreedyReproducesLlamaCppContinuation) {
    LFM_REQUIRE_SHARED();
    // The F32 models: their logits match llama.cpp's to ~1e-5, far inside every greedy margin
    // (>= 0.0038). A quantized model's greedy path has near-ties (tinyB-q8_0: 0.03 at step 6)
    // that any change of summation order may flip; test_forward holds those to the argmax rule.
    for (const char* name : {"tinyB-f32", "tinyA-f32"}) {
        SCOPED_TRACE(name);
        Tiny t = load_tiny(name);
        Session session(t.model, f32_session());
        GenerateOptions o;
        o.sampler = greedy_config();
        o.max_tokens = 32;
        o.parse_reply = false;
        const auto prompt = t.greedy["prompt_ids"].get<std::vector<int32_t>>();
        GenerateResult r = generate(session, *t.tokenizer, prompt, o);
        EXPECT_EQ(r.tokens, t.greedy["generated_ids"].get<std::vector<int32_t>>());
        EXPECT_EQ(r.stop_reason, StopReason::kMaxTokens);
        EXPECT_EQ(session.position(), static_cast<int64_t>(prompt.size() + 32));
        // The text: every token's bytes but control tokens', invalid UTF-8 replaced by U+FFFD.
        std::vector<int32_t> printable;
        for (int32_t id : r.tokens)
            if (!t.tokenizer->is_special(id)) printable.push_back(id);
        EXPECT_EQ(r.text, sanitize_utf8(t.tokenizer->decode(printable)));
    }
}

TEST(Generate, StopRules) {
    LFM_REQUIRE_SHARED();
    Tiny t = load_tiny("tinyB-q8_0");
    const auto prompt = t.greedy["prompt_ids"].get<std::vector<int32_t>>();
    GenerateOptions o;
    o.sampler = greedy_config();
    o.max_tokens = 32;
    o.parse_reply = false;
    Session full_session(t.model, f32_session());
    const std::string full = generate(full_session, *t.tokenizer, prompt, o).text;
    ASSERT_GT(full.size(), 20u);

    // A stop string cuts the output before it, and the text streamed equals the result.
    const std::string stop = full.substr(10, 4);
    o.stop = {stop, "\x01never"};
    Session s1(t.model, f32_session());
    std::string streamed;
    GenerateEvents ev;
    ev.content = [&](std::string_view x) { streamed += x; };
    GenerateResult r = generate(s1, *t.tokenizer, prompt, o, ev);
    EXPECT_EQ(r.stop_reason, StopReason::kStopString);
    EXPECT_EQ(r.text, full.substr(0, full.find(stop)));
    EXPECT_EQ(streamed, r.text);

    // Max tokens, a context that fills, and cancellation.
    o.stop.clear();
    o.max_tokens = 3;
    Session s2(t.model, f32_session());
    EXPECT_EQ(generate(s2, *t.tokenizer, prompt, o).tokens.size(), 3u);
    SessionOptions small = f32_session();
    small.n_ctx = static_cast<int64_t>(prompt.size()) + 4;
    Session s3(t.model, small);
    o.max_tokens = -1;
    GenerateResult filled = generate(s3, *t.tokenizer, prompt, o);
    EXPECT_EQ(filled.stop_reason, StopReason::kContextFull);
    EXPECT_EQ(s3.position(), small.n_ctx);
    std::atomic<bool> cancel{false};
    o.cancel = &cancel;
    Session s4(t.model, f32_session());
    GenerateEvents stop_after_two;
    int seen = 0;
    stop_after_two.token = [&](int32_t) {
        if (++seen == 2) cancel = true;
    };
    GenerateResult cancelled = generate(s4, *t.tokenizer, prompt, o, stop_after_two);
    EXPECT_EQ(cancelled.stop_reason, StopReason::kCancelled);
    EXPECT_EQ(cancelled.tokens.size(), 2u);

    // A prompt longer than the context is an error before any work.
    std::vector<int32_t> too_long(300, 5);
    Session s5(t.model, f32_session());
    EXPECT_THROW(generate(s5, *t.tokenizer, too_long, o), Error);
    EXPECT_EQ(s5.position(), 0);
}

// After N thinking tokens the loop closes the thought itself and the answer begins.
TEST(Generate, ReasoningBudgetClosesTheThought) {
    LFM_REQUIRE_SHARED();
    Tiny t = load_tiny("tinyB-q8_0");
    const auto prompt = t.greedy["prompt_ids"].get<std::vector<int32_t>>();
    GenerateOptions o;
    o.sampler = greedy_config();
    o.max_tokens = 6;
    o.starts_in_reasoning = true;
    o.reasoning_budget = 2;
    Session session(t.model, f32_session());
    GenerateResult r = generate(session, *t.tokenizer, prompt, o);
    const std::vector<int32_t> close = t.tokenizer->encode("</think>", false, true);
    ASSERT_GE(r.tokens.size(), 2 + close.size());
    EXPECT_EQ(std::vector<int32_t>(r.tokens.begin() + 2, r.tokens.begin() + 2 + static_cast<std::ptrdiff_t>(close.size())),
              close);
    const std::vector<int32_t> thought(r.tokens.begin(), r.tokens.begin() + 2);
    EXPECT_EQ(r.reply.reasoning, t.tokenizer->decode(thought));  // the tiny vocabulary's text has no edge spaces here
    EXPECT_FALSE(r.reply.content.empty());
    EXPECT_EQ(session.position(), static_cast<int64_t>(prompt.size() + r.tokens.size()));
}

// Two turns: the second prefills only what is new, and the conversation records the replies.
TEST(Chat, SecondTurnReusesTheSession) {
    LFM_REQUIRE_SHARED();
    Tiny t = load_tiny("tinyB-q8_0");
    Chat::Options co;
    co.session = f32_session();
    co.session.n_ctx = 1024;
    co.render.date = "2026-11-25";
    Chat chat(t.model, t.tokenizer, co);
    chat.set_system("Be brief.");
    GenerateOptions o;
    o.sampler = greedy_config();
    o.max_tokens = 8;
    GenerateResult first = chat.send("Hello there", o);
    ASSERT_EQ(chat.messages().size(), 3u);
    EXPECT_EQ(chat.messages()[2].role, "assistant");
    const int64_t used = chat.context_used();
    GenerateResult second = chat.send("And again", o);
    // The rendered conversation is the same text as before plus the new turn; the generated
    // tokens of the first reply may tokenize differently, so what is reused is at least the
    // prompt of the first turn.
    EXPECT_LT(second.timings.prompt_tokens,
              static_cast<int64_t>(t.tokenizer->encode(chat.render_prompt(false), false, true).size()));
    EXPECT_GT(chat.context_used(), used);
    chat.reset();
    ASSERT_EQ(chat.messages().size(), 1u);
    EXPECT_EQ(chat.context_used(), 0);
    EXPECT_EQ(chat.render_prompt(), "<|startoftext|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>assistant\n");
}

// A copy of tinyB-q8_0 with `bytes` written at `at` into tensor `name`'s data.
std::string corrupted_tiny(const std::string& file, const std::string& name, size_t at, const std::vector<uint8_t>& bytes) {
    const std::string path = test::temp_path(file);
    std::filesystem::copy_file(test::ref_path("tinyB-q8_0.gguf"), path, std::filesystem::copy_options::overwrite_existing);
    uint64_t offset = 0;
    {
        const GgufFile g(std::make_shared<const MappedFile>(path));
        const TensorInfo* t = g.tensor(name);
        EXPECT_NE(t, nullptr) << name;
        if (t == nullptr) return path;
        EXPECT_LE(at + bytes.size(), t->nbytes);
        offset = t->file_offset + at;
    }
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
}

CliResult run_cli(const std::string& args) {
    const std::string cmd = std::string(LFM_CLI_PATH) + " " + args + " 2>&1";
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return {-1, "popen failed"};
    CliResult r;
    std::array<char, 4096> buf;
    for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
    const int status = ::pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

// Weights holding NaN give confident garbage unless noticed: int8 activation quantization turns
// NaN activations into finite ones, so a NaN is caught where it still shows. Each case: a clear
// error that suggests the file is corrupt, and `lfm run` exits non-zero.
TEST(Generate, CorruptWeightsAreAnErrorNotGarbage) {
    LFM_REQUIRE_SHARED();
    const uint8_t nan_f16[2] = {0x00, 0x7E};
    std::vector<uint8_t> nan_f32(256 * 4);
    for (size_t i = 0; i < nan_f32.size(); i += 4) {
        const float v = std::nanf("");
        std::memcpy(nan_f32.data() + i, &v, 4);
    }
    // a NaN norm weight: the loader checks the small F32 tensors
    const std::string norm = corrupted_tiny("nan-norm.gguf", "blk.0.attn_norm.weight", 0, nan_f32);
    try {
        Model::load(norm);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidFile);
        EXPECT_NE(std::string(e.what()).find("tensor 'blk.0.attn_norm.weight' holds NaN or Inf: the file is probably corrupt"),
                  std::string::npos)
            << e.what();
    }
    // a NaN block scale in a matrix (the residual stream turns NaN: the final hidden state), and
    // in row 500 of the tied head (only logit 500 is NaN)
    const std::string matrix = corrupted_tiny("nan-matrix.gguf", "blk.0.ffn_down.weight", 34 * 5, {nan_f16, nan_f16 + 2});
    const std::string head = corrupted_tiny("nan-head.gguf", "token_embd.weight", 272 * 500, {nan_f16, nan_f16 + 2});
    for (const auto& [path, where] : {std::pair{matrix, "(hidden state)"}, std::pair{head, "(logits)"}}) {
        SCOPED_TRACE(where);
        const auto model = Model::load(path);
        const auto tok = Tokenizer::load(path);
        Session session(model, f32_session());
        GenerateOptions o;
        o.sampler = greedy_config();
        o.max_tokens = 4;
        const std::vector<int32_t> prompt = tok->encode("Hello", true, false);
        ASSERT_EQ(std::find(prompt.begin(), prompt.end(), 500), prompt.end());
        try {
            generate(session, *tok, prompt, o);
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kInvalidFile);
            EXPECT_NE(std::string(e.what()).find(std::string("the model computed NaN or Inf ") + where +
                                                 ": its weights are probably corrupt"),
                      std::string::npos)
                << e.what();
        }
    }
    for (const std::string& path : {norm, matrix, head}) {
        const CliResult r = run_cli("run -m " + path + " --raw -p Hello -n 4 -t 1");
        EXPECT_EQ(r.exit_code, 1) << r.out;
        EXPECT_NE(r.out.find("probably corrupt"), std::string::npos) << r.out;
    }
}

}  // namespace
}  // namespace lfm
