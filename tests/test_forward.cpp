// The forward pass against llama.cpp's logits for the tiny reference models
// (../shared/reference/README.md): batch, token by token, uneven chunks, greedy continuation,
// routing decisions, the Hugging Face copy of tinyA, and the session's state handling.

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <thread>

#include "logits_compare.h"
#include "model/lfm2.h"
#include "test_util.h"

namespace lfm {
namespace {

using test::Agreement;
using test::argmax;
using test::compare;
using test::expect_matches;
using test::f32_kv;
using test::Reference;
using test::run_chunks;

class ReferenceModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceModel, LogitsAsOneBatch) {
    LFM_REQUIRE_SHARED();
    const Reference r(GetParam());
    const auto model = Model::load(test::ref_path(GetParam() + ".gguf"));
    expect_matches(r, run_chunks(model, r.ids, {r.ids.size()}), r.logits, "batch");
}

TEST_P(ReferenceModel, LogitsTokenByToken) {
    LFM_REQUIRE_SHARED();
    const Reference r(GetParam());
    const auto model = Model::load(test::ref_path(GetParam() + ".gguf"));
    expect_matches(r, test::run_token_by_token(model, r.ids), r.incremental, "incremental");
}

TEST_P(ReferenceModel, LogitsInUnevenChunks) {
    LFM_REQUIRE_SHARED();
    const Reference r(GetParam());
    const auto model = Model::load(test::ref_path(GetParam() + ".gguf"));
    expect_matches(r, run_chunks(model, r.ids, {5, 17}), r.logits, "5+17+rest");
    // a small n_batch splits one prefill call internally the same way
    SessionOptions o = f32_kv();
    o.n_batch = 7;
    expect_matches(r, run_chunks(model, r.ids, {r.ids.size()}, o), r.logits, "n_batch 7");
}

TEST_P(ReferenceModel, GreedyContinuation) {
    LFM_REQUIRE_SHARED();
    const Reference r(GetParam());
    const auto& g = r.manifest["greedy"];
    const auto prompt = g["prompt_ids"].get<std::vector<int32_t>>();
    const auto expected = g["generated_ids"].get<std::vector<int32_t>>();
    const std::vector<float> step_ref = test::read_f32(test::ref_path(g["step_logits_file"]));
    const auto model = Model::load(test::ref_path(GetParam() + ".gguf"));
    Session s(model, f32_kv());
    s.prefill(prompt);
    std::vector<int32_t> generated;
    std::vector<float> steps;
    for (size_t k = 0; k < expected.size(); ++k) {
        steps.insert(steps.end(), s.logits().begin(), s.logits().end());
        const auto next = static_cast<int32_t>(argmax(s.logits().data(), r.n_vocab));
        generated.push_back(next);
        // follow the reference's tokens so a quantized near-tie flip does not derail the rest
        s.decode(expected[k]);
    }
    if (r.f32) {
        EXPECT_EQ(generated, expected) << r.name;
        expect_matches(r, steps, step_ref, "greedy steps");
    } else {
        // The issue asks this of the F32 models only. On quantized ones a single activation-
        // rounding flip in the head moves every later step by ~0.06 (q8_0), so the steps are held
        // to the argmax rule and their max difference is reported.
        int same = 0;
        for (size_t k = 0; k < expected.size(); ++k) same += generated[k] == expected[k];
        EXPECT_GE(same * 10, static_cast<int>(expected.size()) * 9) << r.name;
        const Agreement a = compare(steps, step_ref, r.n_vocab);
        EXPECT_GE(a.argmax_agree * 10, a.n * 9) << r.name;
        std::printf("  %-14s greedy steps max|diff| %.3g  argmax %d/%d\n", r.name.c_str(), a.max_abs_diff,
                    a.argmax_agree, a.n);
    }
}

INSTANTIATE_TEST_SUITE_P(Tiny, ReferenceModel,
                         ::testing::Values("tinyA-f32", "tinyB-f32", "tinyB-q8_0", "tinyB-q4_0", "tinyB-q4_k",
                                           "tinyB-q4_k_m"),
                         [](const auto& param_info) { return test::param_name(param_info.param); });

// Routing: our router logits, the chosen experts and their weights against llama.cpp's graph
// tensors. The file's ffn_moe_topk rows do not agree with its own ffn_moe_probs_biased (see the
// loaders/forward note), so the expected set is the top-k of ffn_moe_probs_biased.
TEST(Routing, MatchesLlamaCppOnF32Models) {
    LFM_REQUIRE_SHARED();
    for (const std::string name : {"tinyA-f32", "tinyB-f32"}) {
        const auto model = Model::load(test::ref_path(name + ".gguf"));
        const auto layers = test::read_json(test::ref_path(name + ".routing.json"))["layers"];
        const Reference r(name);
        SequenceState st(model->impl(), 512, KvType::kF32);
        Workspace ws(model->impl(), 512, 512, 1);
        ThreadPool pool(1);
        std::vector<RoutingRecord> trace;
        ws.routing_trace = &trace;
        const SequenceChunk chunk{&st, r.ids.data(), static_cast<int64_t>(r.ids.size())};
        forward(model->impl(), ws, pool, {&chunk, 1});
        ASSERT_EQ(trace.size(), layers.size() * r.ids.size());
        int checked = 0;
        for (const RoutingRecord& rec : trace) {
            const auto& ref = layers["layer_" + std::to_string(rec.layer)];
            const auto logits = ref["ffn_moe_logits"][rec.pos].get<std::vector<float>>();
            const auto biased = ref["ffn_moe_probs_biased"][rec.pos].get<std::vector<float>>();
            auto weights = ref["ffn_moe_weights_norm"][rec.pos].get<std::vector<float>>();
            for (size_t e = 0; e < logits.size(); ++e) ASSERT_NEAR(rec.logits[e], logits[e], 1e-4) << name;
            std::vector<int> order(biased.size());
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return biased[a] > biased[b]; });
            const size_t k = rec.selected.size();
            if (biased[order[k - 1]] - biased[order[k]] < 1e-4f) continue;  // near-tie: either is right
            std::vector<int> want(order.begin(), order.begin() + static_cast<long>(k)), got = rec.selected;
            std::sort(want.begin(), want.end());
            std::sort(got.begin(), got.end());
            ASSERT_EQ(got, want) << name << " layer " << rec.layer << " pos " << rec.pos;
            auto ours = rec.weights;
            std::sort(ours.begin(), ours.end());
            std::sort(weights.begin(), weights.end());
            for (size_t j = 0; j < k; ++j) ASSERT_NEAR(ours[j], weights[j], 1e-5);
            ++checked;
        }
        EXPECT_GT(checked, static_cast<int>(trace.size() * 9 / 10));
    }
}

TEST(Forward, HuggingFaceDirectoryMatchesGguf) {
    LFM_REQUIRE_SHARED();
    const Reference r("tinyA-f32");
    const auto gguf = Model::load(test::ref_path("tinyA-f32.gguf"));
    const auto hf = Model::load(test::ref_path("hf-tinyA"));
    const auto a = run_chunks(gguf, r.ids, {r.ids.size()});
    const auto b = run_chunks(hf, r.ids, {r.ids.size()});
    EXPECT_EQ(compare(a, b, r.n_vocab).max_abs_diff, 0.0f);  // same bits, same code path
    expect_matches(r, b, r.logits, "hf batch");
}

TEST(Forward, ResetEqualsFreshSession) {
    LFM_REQUIRE_SHARED();
    const Reference r("tinyB-f32");
    const auto model = Model::load(test::ref_path("tinyB-f32.gguf"));
    Session used(model, f32_kv());
    used.prefill(std::span<const int32_t>(r.ids.data() + 10, 20));
    used.reset();
    EXPECT_EQ(used.position(), 0);
    used.prefill(r.ids, true);
    Session fresh(model, f32_kv());
    fresh.prefill(r.ids, true);
    ASSERT_EQ(used.all_logits().size(), fresh.all_logits().size());
    EXPECT_TRUE(std::equal(used.all_logits().begin(), used.all_logits().end(), fresh.all_logits().begin()));
}

TEST(Forward, F16CacheStaysCloseToF32) {
    LFM_REQUIRE_SHARED();
    const Reference r("tinyB-f32");
    const auto model = Model::load(test::ref_path("tinyB-f32.gguf"));
    SessionOptions o = f32_kv();
    o.kv_type = KvType::kF16;
    const Agreement a = compare(run_chunks(model, r.ids, {r.ids.size()}, o), r.logits, r.n_vocab);
    // llama.cpp's own logits move by ~1.4e-3 on these models with an F16 cache
    EXPECT_LE(a.max_abs_diff, 1e-2f);
    EXPECT_GT(a.max_abs_diff, 0.0f);  // the cache type really changed
    EXPECT_EQ(a.argmax_agree, a.n);
}

// --kv-type q8_0: keys and values rounded to int8 per block of 32 (and the query to match).
TEST(Forward, Q8_0CacheStaysCloseToF32) {
    LFM_REQUIRE_SHARED();
    const Reference r("tinyB-f32");
    const auto model = Model::load(test::ref_path("tinyB-f32.gguf"));  // head width 32: one block per head
    SessionOptions o = f32_kv();
    o.kv_type = KvType::kQ8_0;
    const Agreement a = compare(run_chunks(model, r.ids, {5, r.ids.size()}, o), r.logits, r.n_vocab);
    std::printf("q8_0 cache: max |diff| %.3g, argmax %d/%d\n", static_cast<double>(a.max_abs_diff), a.argmax_agree, a.n);
    EXPECT_LE(a.max_abs_diff, 5e-2f);
    EXPECT_GT(a.max_abs_diff, 0.0f);  // the cache type really changed
    EXPECT_GE(a.argmax_agree, a.n - 1);
    // a head width that is not whole blocks is refused with the reason
    const auto narrow = Model::load(test::ref_path("tinyA-f32.gguf"));  // head width 16
    try {
        Session s(narrow, o);
        ADD_FAILURE() << "a q8_0 cache with 16-wide heads was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
    }
}

TEST(Forward, TwoThreadsShareOneModel) {
    LFM_REQUIRE_SHARED();
    const Reference r("tinyB-q4_k");
    const auto model = Model::load(test::ref_path("tinyB-q4_k.gguf"));
    const auto serial_a = run_chunks(model, r.ids, {r.ids.size()});
    const std::vector<int32_t> other(r.ids.rbegin(), r.ids.rend());
    const auto serial_b = run_chunks(model, other, {r.ids.size()});
    std::vector<float> par_a, par_b;
    std::thread ta([&] { par_a = run_chunks(model, r.ids, {r.ids.size()}); });
    std::thread tb([&] { par_b = run_chunks(model, other, {r.ids.size()}); });
    ta.join();
    tb.join();
    EXPECT_EQ(par_a, serial_a);
    EXPECT_EQ(par_b, serial_b);
}

// Rows are split across threads whole, so the thread count cannot change a single bit.
TEST(Forward, ThreadCountDoesNotChangeResults) {
    LFM_REQUIRE_SHARED();
    for (const char* name : {"tinyB-q4_k_m", "tinyA-f32"}) {
        const Reference r(name);
        const auto model = Model::load(test::ref_path(std::string(name) + ".gguf"));
        SessionOptions o = f32_kv();
        o.n_threads = 1;
        const auto one = run_chunks(model, r.ids, {r.ids.size()}, o);
        for (int threads : {2, 3, 7}) {
            o.n_threads = threads;
            EXPECT_EQ(run_chunks(model, r.ids, {r.ids.size()}, o), one) << name << " threads " << threads;
        }
    }
}

// The weights are moved at load by several threads, each matrix to a place fixed beforehand:
// one loading thread or many give the same model, bit for bit.
TEST(Forward, LoadThreadCountDoesNotChangeResults) {
    LFM_REQUIRE_SHARED();
    const Reference r("tinyB-q4_k_m");
    std::vector<float> first;
    for (int threads : {1, 2, 5, 64}) {  // 64: more threads than matrices
        ModelOptions mo;
        mo.n_threads = threads;
        const auto model = Model::load(test::ref_path("tinyB-q4_k_m.gguf"), mo);
        EXPECT_GT(model->info().repacked_bytes, 0u);
        const auto logits = run_chunks(model, r.ids, {r.ids.size()}, f32_kv());
        if (first.empty()) {
            first = logits;
            expect_matches(r, logits, r.logits, "repacked with 1 loading thread");
        } else {
            EXPECT_EQ(logits, first) << threads << " loading threads";
        }
    }
}

TEST(Session, ContextOverflowIsAnError) {
    LFM_REQUIRE_SHARED();
    const auto model = Model::load(test::ref_path("tinyA-f32.gguf"));
    Session s(model, f32_kv(8));
    const std::vector<int32_t> ids{1, 2, 3, 4, 5, 6};
    s.prefill(ids);
    try {
        s.prefill(ids);
        FAIL() << "expected a context overflow";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kContextOverflow);
        EXPECT_NE(std::string(e.what()).find("context size 8"), std::string::npos) << e.what();
    }
    EXPECT_EQ(s.position(), 6);  // the failed call changed nothing
    s.decode(7);
    s.decode(8);
    EXPECT_THROW(s.decode(9), Error);
}

TEST(Session, RejectsBadOptionsAndTokens) {
    LFM_REQUIRE_SHARED();
    const auto model = Model::load(test::ref_path("tinyA-f32.gguf"));
    EXPECT_THROW(Session(model, f32_kv(0)), Error);
    EXPECT_THROW(Session(model, f32_kv(model->info().n_ctx_train + 1)), Error);
    SessionOptions o = f32_kv();
    o.n_batch = 0;
    EXPECT_THROW(Session(model, o), Error);
    Session s(model, f32_kv());
    try {
        s.decode(static_cast<int32_t>(model->info().n_vocab));
        FAIL() << "expected an out-of-range token error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    }
    EXPECT_THROW(s.decode(-1), Error);
    EXPECT_THROW(s.prefill({}), Error);
}

}  // namespace
}  // namespace lfm
