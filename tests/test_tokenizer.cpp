// The BPE tokenizer against real tokenizers' outputs: Hugging Face tokenizers on a real 128K
// LLaMA-3 vocabulary (same split as LFM2), llama.cpp on the same vocabulary and on the tiny
// models' vocabulary; plus round trips, streaming and bad input.

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "lfm/tokenizer.h"
#include "test_util.h"
#include "text/tokenizer_impl.h"
#include "text/utf8.h"

namespace lfm {
namespace {

const std::string kLlama3Vocab = "data/tokenizer-llama3-bpe/ggml-vocab-llama-bpe.gguf";

std::shared_ptr<const Tokenizer> llama3() {
    static auto t = Tokenizer::load(test::shared_path(kLlama3Vocab));
    return t;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// llama.cpp's test-tokenizer-0 files: inputs separated by "\n__ggml_vocab_test__\n", outputs one
// line of ids per input (Hugging Face tokenizers' own results, no BOS).
TEST(Tokenizer, HuggingFaceOutputsOnLlama3Vocab) {
    LFM_REQUIRE_SHARED();
    const std::string inp = read_text(test::shared_path(kLlama3Vocab + ".inp"));
    const std::string out = read_text(test::shared_path(kLlama3Vocab + ".out"));
    std::vector<std::string> texts;
    const std::string sep = "\n__ggml_vocab_test__\n";
    for (size_t start = 0;;) {
        const size_t at = inp.find(sep, start);
        if (at == std::string::npos) break;
        texts.push_back(inp.substr(start, at - start));
        start = at + sep.size();
    }
    std::vector<std::vector<int32_t>> expected;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream ids(line);
        std::vector<int32_t> v;
        for (int32_t id; ids >> id;) v.push_back(id);
        expected.push_back(v);
    }
    ASSERT_EQ(texts.size(), expected.size());
    int exact = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
        const auto got = llama3()->encode(texts[k], /*add_bos=*/false, /*parse_special=*/true);
        EXPECT_EQ(got, expected[k]) << "text #" << k << ": '" << texts[k] << "'";
        exact += got == expected[k];
    }
    std::printf("  HF tokenizers reference: %d/%zu exact\n", exact, texts.size());
}

TEST(Tokenizer, LlamaCppOutputsOnLlama3VocabBothModes) {
    LFM_REQUIRE_SHARED();
    const auto ref = test::read_json(test::ref_path("tokenizer/llama3-bpe.json"));
    int exact = 0, total = 0;
    for (const auto& c : ref["cases"]) {
        const std::string text = c["text"];
        const auto special = llama3()->encode(text, true, true);
        const auto plain = llama3()->encode(text, false, false);
        EXPECT_EQ(special, c["ids_bos_special"].get<std::vector<int32_t>>()) << text;
        EXPECT_EQ(plain, c["ids_nobos_nospecial"].get<std::vector<int32_t>>()) << text;
        exact += (special == c["ids_bos_special"].get<std::vector<int32_t>>()) + (plain == c["ids_nobos_nospecial"].get<std::vector<int32_t>>());
        total += 2;
    }
    std::printf("  llama.cpp reference: %d/%d exact\n", exact, total);
}

TEST(Tokenizer, TinyModelVocabularyFromGgufAndTokenizerJson) {
    LFM_REQUIRE_SHARED();
    const auto ref = test::read_json(test::ref_path("tokenizer-synthetic-tinyA.json"));
    const auto gguf = Tokenizer::load(test::ref_path("tinyA-f32.gguf"));
    const auto hf = Tokenizer::load(test::ref_path("hf-tinyA"));
    EXPECT_EQ(gguf->n_vocab(), hf->n_vocab());
    EXPECT_EQ(gguf->bos(), hf->bos());
    for (const auto& c : ref["cases"]) {
        const std::string text = c["text"];
        const auto with = c["ids_add_bos_parse_special"].get<std::vector<int32_t>>();
        const auto plain = c["ids_plain"].get<std::vector<int32_t>>();
        EXPECT_EQ(gguf->encode(text, true, true), with) << text;
        EXPECT_EQ(gguf->encode(text, false, false), plain) << text;
        EXPECT_EQ(hf->encode(text, true, true), with) << text;
        EXPECT_EQ(hf->encode(text, false, false), plain) << text;
    }
    // the quantized models embed the same kind of vocabulary: the manifest's greedy prompt
    for (const char* m : {"tinyB-q4_k_m", "tinyA-f32"}) {
        const auto manifest = test::read_json(test::ref_path(std::string(m) + ".manifest.json"));
        const auto t = Tokenizer::load(test::ref_path(std::string(m) + ".gguf"));
        EXPECT_EQ(t->encode(manifest["greedy"]["prompt_text"].get<std::string>(), true, true),
                  manifest["greedy"]["prompt_ids"].get<std::vector<int32_t>>())
            << m;
    }
}

TEST(Tokenizer, SpecialTokenParsingCanBeTurnedOff) {
    LFM_REQUIRE_SHARED();
    const auto t = llama3();
    const auto eot = t->find_token("<|eot_id|>");
    ASSERT_TRUE(eot.has_value());
    const auto parsed = t->encode("hi<|eot_id|>", false, true);
    EXPECT_EQ(parsed.back(), *eot);
    const auto literal = t->encode("hi<|eot_id|>", false, false);
    EXPECT_EQ(std::count(literal.begin(), literal.end(), *eot), 0);
    EXPECT_GT(literal.size(), parsed.size());
    EXPECT_EQ(t->decode(literal), "hi<|eot_id|>");  // the user's text survives as text
}

// Random valid UTF-8 from many scripts, emoji, whitespace and punctuation.
std::string random_text(std::mt19937& rng) {
    static const std::vector<std::pair<char32_t, char32_t>> ranges = {
        {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x24F}, {0x370, 0x3FF}, {0x400, 0x4FF}, {0x590, 0x6FF}, {0x900, 0x97F},
        {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x2000, 0x206F}, {0x3040, 0x30FF}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3},
        {0x1F300, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x10000, 0x1007F}};
    std::string s;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
        const auto& [lo, hi] = ranges[rng() % ranges.size()];
        append_utf8(s, lo + static_cast<char32_t>(rng() % (hi - lo + 1)));
    }
    return s;
}

TEST(Tokenizer, RoundTripOnRandomUtf8) {
    LFM_REQUIRE_SHARED();
    std::mt19937 rng(7);
    for (int i = 0; i < 3000; ++i) {
        const std::string s = random_text(rng);
        ASSERT_EQ(llama3()->decode(llama3()->encode(s, false, false)), s) << i;
    }
}

TEST(Tokenizer, StreamingEqualsOneShotDecode) {
    LFM_REQUIRE_SHARED();
    std::mt19937 rng(11);
    for (int i = 0; i < 300; ++i) {
        const std::string s = random_text(rng);
        const auto ids = llama3()->encode(s, false, false);
        StreamDecoder d(llama3());
        std::string streamed;
        for (int32_t id : ids) {
            const std::string part = d.push(id);
            EXPECT_TRUE(is_valid_utf8(part)) << "a partial character was printed";
            streamed += part;
        }
        streamed += d.flush();
        ASSERT_EQ(streamed, s);
    }
    // one 4-byte emoji split over single-byte tokens: nothing until the last byte arrives
    const std::string emoji = "\xF0\x9F\x98\x80";
    StreamDecoder d(llama3());
    std::vector<int32_t> bytes;
    for (unsigned char b : emoji) {
        std::string mapped;
        append_utf8(mapped, byte_to_char(b));
        bytes.push_back(llama3()->find_token(mapped).value());  // the token that is this byte alone
    }
    EXPECT_EQ(d.push(bytes[0]), "");
    EXPECT_EQ(d.push(bytes[1]), "");
    EXPECT_EQ(d.push(bytes[2]), "");
    EXPECT_EQ(d.push(bytes[3]), emoji);
}

TEST(Tokenizer, InvalidUtf8IsReplacedNotFatal) {
    LFM_REQUIRE_SHARED();
    const std::string bad = "ok \xFF\xC3 end \xE2\x82";
    const auto ids = llama3()->encode(bad, false, false);
    EXPECT_EQ(llama3()->decode(ids), "ok \xEF\xBF\xBD\xEF\xBF\xBD end \xEF\xBF\xBD");
    StreamDecoder d(llama3());
    std::string out;
    for (int32_t id : llama3()->encode("x", false, false)) out += d.push(id);
    EXPECT_EQ(out, "x");
    EXPECT_THROW(llama3()->decode(std::vector<int32_t>{-1}), Error);
}

TEST(Utf8, SanitizeAndCompletePrefix) {
    EXPECT_EQ(sanitize_utf8("a\x80" "b"), "a\xEF\xBF\xBD" "b");
    EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: 3 subparts
    EXPECT_EQ(sanitize_utf8("\xE2\x82" "x"), "\xEF\xBF\xBD" "x");  // truncated: one replacement
    EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82"), 2u);
    EXPECT_EQ(utf8_complete_prefix("ab\xE2\x82\xAC"), 5u);
    EXPECT_EQ(utf8_complete_prefix("ab\xE0"), 2u);
    EXPECT_EQ(utf8_complete_prefix("ab\xFF"), 3u);  // invalid, not waiting
    EXPECT_EQ(utf8_complete_prefix("\xF4\x90"), 2u);  // above U+10FFFF can never complete
}

TEST(Tokenizer, LoadErrors) {
    LFM_REQUIRE_SHARED();
    EXPECT_THROW(Tokenizer::load("/nonexistent"), Error);
    try {
        Tokenizer::load(test::ref_path("configs/tinyA.json"));
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tinyA.json"), std::string::npos);
    }
}

}  // namespace
}  // namespace lfm
