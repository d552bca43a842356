// Whole-model logits in the community-quant weight types (Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4, and the
// Q2_K and Q3_K_M mixes) against llama.cpp's: tinyQ, a runnable 2-layer LFM2-MoE small enough that
// each quantized file stays under 1 MiB, quantized by llama.cpp's llama-quantize, with llama.cpp's
// logits of 64 tokens (tests/data/quant/README.md says how). Held to test_forward's rule for
// quantized models.

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "logits_compare.h"
#include "model/lfm2.h"
#include "test_util.h"

namespace lfm {
namespace {

const std::string kDir = std::string(LFM_QUANT_DATA_DIR) + "/tinyQ/";

class QuantModel : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        if (test::forced_isa_unavailable())
            GTEST_SKIP() << "LFM_ISA=" << std::getenv("LFM_ISA") << " is not supported by this CPU";
    }
};

TEST_P(QuantModel, LogitsAsOneBatch) {
    const test::Reference r(GetParam(), kDir);
    const auto model = Model::load(kDir + r.manifest["model_file"].get<std::string>());
    test::expect_matches(r, test::run_chunks(model, r.ids, {r.ids.size()}), r.logits, "batch");
}

TEST_P(QuantModel, LogitsTokenByToken) {
    const test::Reference r(GetParam(), kDir);
    const auto model = Model::load(kDir + r.manifest["model_file"].get<std::string>());
    test::expect_matches(r, test::run_token_by_token(model, r.ids), r.incremental, "incremental");
}

// The files hold the weight types they are named for (a silent fallback in llama-quantize would
// leave a type untested).
TEST_P(QuantModel, FileHoldsTheNamedTypes) {
    const test::Reference r(GetParam(), kDir);
    const auto model = Model::load(kDir + r.manifest["model_file"].get<std::string>());
    std::map<std::string, int> want, got;
    for (const auto& [type, n] : r.manifest["tensor_types"].items()) want[type] = n.get<int>();
    for (const auto& [type, n] : model->info().tensors_by_type) got[type] = n;
    EXPECT_EQ(got, want) << r.name;
}

INSTANTIATE_TEST_SUITE_P(TinyQ, QuantModel,
                         ::testing::Values("tinyQ-q2_k", "tinyQ-q3_k", "tinyQ-iq4_nl", "tinyQ-iq4_xs",
                                           "tinyQ-mxfp4", "tinyQ-q2_k-mix", "tinyQ-q3_k_m"),
                         [](const auto& param_info) { return test::param_name(param_info.param); });

}  // namespace
}  // namespace lfm
