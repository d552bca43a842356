#pragma once
// lfm's logits against llama.cpp's: a reference (manifest, token ids, batch and token-by-token
// logits), the comparison, the acceptance rule, and running a model over the ids. Shared by
// test_forward (../shared/reference) and test_quant_logits (tests/data/quant/tinyQ).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/lfm2.h"
#include "test_util.h"

namespace lfm::test {

struct Reference {
    std::string name;
    nlohmann::json manifest;
    std::vector<int32_t> ids;
    std::vector<float> logits;       // [n][V], one batch
    std::vector<float> incremental;  // [n][V], one token at a time
    int64_t n_vocab = 0;
    bool f32 = false;

    // `dir` holds <model>.manifest.json and the logits files it names.
    explicit Reference(const std::string& model, const std::string& dir = ref_path("")) : name(model) {
        manifest = read_json(dir + model + ".manifest.json");
        ids = manifest["token_ids"].get<std::vector<int32_t>>();
        logits = read_f32(dir + manifest["logits_file"].get<std::string>());
        incremental = read_f32(dir + manifest["logits_incremental_file"].get<std::string>());
        n_vocab = manifest["shape"][1].get<int64_t>();
        f32 = model.find("f32") != std::string::npos;
    }
};

struct Agreement {
    float max_abs_diff = 0.0f;
    int argmax_agree = 0;
    int n = 0;
};

inline int64_t argmax(const float* row, int64_t n) {
    return std::max_element(row, row + n) - row;
}

inline Agreement compare(const std::vector<float>& ours, const std::vector<float>& ref, int64_t V) {
    Agreement a;
    a.n = static_cast<int>(ref.size() / static_cast<size_t>(V));
    EXPECT_EQ(ours.size(), ref.size());
    if (ours.size() != ref.size()) return a;
    for (int t = 0; t < a.n; ++t) {
        const float* x = ours.data() + t * V;
        const float* y = ref.data() + t * V;
        for (int64_t i = 0; i < V; ++i) a.max_abs_diff = std::max(a.max_abs_diff, std::fabs(x[i] - y[i]));
        a.argmax_agree += argmax(x, V) == argmax(y, V);
    }
    return a;
}

// The acceptance rule: F32 models within 1e-3 everywhere; quantized models (chaotic: a
// near-tie expert flip moves later tokens) same argmax at >= 90 % of positions and max diff
// <= max(2 % of the largest logit, 2 × llama.cpp's own KV-type sensitivity).
inline Agreement expect_matches(const Reference& r, const std::vector<float>& ours,
                                const std::vector<float>& ref, const std::string& how) {
    const Agreement a = compare(ours, ref, r.n_vocab);
    if (r.f32) {
        EXPECT_LE(a.max_abs_diff, 1e-3f) << r.name << " " << how;
        EXPECT_EQ(a.argmax_agree, a.n) << r.name << " " << how;
    } else {
        const float max_logit = r.manifest["max_abs_logit"].get<float>();
        const float kv_sensitivity =
            r.manifest["default_settings_batch_vs_canonical_max_abs_diff"].get<float>();
        EXPECT_LE(a.max_abs_diff, std::max(0.02f * max_logit, 2.0f * kv_sensitivity)) << r.name << " " << how;
        EXPECT_GE(a.argmax_agree * 10, a.n * 9) << r.name << " " << how;
    }
    std::printf("  %-14s %-12s max|diff| %.3g  argmax %d/%d\n", r.name.c_str(), how.c_str(), a.max_abs_diff,
                a.argmax_agree, a.n);
    return a;
}

inline SessionOptions f32_kv(int64_t n_ctx = 512) {
    SessionOptions o;
    o.n_ctx = n_ctx;
    o.kv_type = KvType::kF32;  // the references were made with an F32 cache
    return o;
}

// Logits of every position, feeding the ids in chunks of the given sizes (the rest in the last).
inline std::vector<float> run_chunks(const std::shared_ptr<const Model>& model,
                                     const std::vector<int32_t>& ids, const std::vector<size_t>& chunks,
                                     const SessionOptions& o = f32_kv()) {
    Session s(model, o);
    std::vector<float> out;
    size_t start = 0;
    for (size_t k = 0; start < ids.size(); ++k) {
        const size_t n = k < chunks.size() ? std::min(chunks[k], ids.size() - start) : ids.size() - start;
        s.prefill(std::span<const int32_t>(ids.data() + start, n), /*all_logits=*/true);
        out.insert(out.end(), s.all_logits().begin(), s.all_logits().end());
        start += n;
    }
    return out;
}

// Logits of every position, one decode call per token.
inline std::vector<float> run_token_by_token(const std::shared_ptr<const Model>& model,
                                             const std::vector<int32_t>& ids) {
    Session s(model, f32_kv());
    std::vector<float> out;
    for (int32_t id : ids) {
        s.decode(id);
        out.insert(out.end(), s.logits().begin(), s.logits().end());
    }
    return out;
}

}  // namespace lfm::test
