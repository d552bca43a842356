// Nothing may assume where a vocabulary keeps its special tokens: LFM2's 65K vocabulary has them
// at 0..13, LFM2.5's 128K one at 124893..124906 (with <think> and </think> among them). The tiny
// reference model (LFM2's layout) and the same model with its vocabulary renumbered so that the
// specials sit near the top in LFM2.5's order are the same model under a permutation of ids:
// they must render the same prompts, write the same replies, split the same reasoning, stop at
// the same end of turn and call the same tools, token for token under the permutation.

#include <gtest/gtest.h>

#include <cstring>

#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/mapped_file.h"
#include "lfm/chat.h"
#include "lfm/constrain.h"
#include "lfm/generate.h"
#include "lfm/model.h"
#include "lfm/tokenizer.h"
#include "test_util.h"

namespace lfm {
namespace {

const char* const kLfm25Order[] = {"<|pad|>",
                                   "<|startoftext|>",
                                   "<|endoftext|>",
                                   "<|fim_pre|>",
                                   "<|fim_mid|>",
                                   "<|fim_suf|>",
                                   "<|im_start|>",
                                   "<|im_end|>",
                                   "<think>",
                                   "</think>",
                                   "<|tool_list_start|>",
                                   "<|tool_list_end|>",
                                   "<|tool_call_start|>",
                                   "<|tool_call_end|>"};
constexpr int32_t kTop = 1536 - 100;  // where LFM2.5's 14 specials start in the renumbered tinyB

// tinyB's vocabulary with <think> and </think> (USER_DEFINED, as in LFM2.5) in place of two
// reserved tokens, so that both layouts have them as single tokens.
struct Vocab {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
};

Vocab tiny_vocab_with_think(const GgufFile& g) {
    Vocab v;
    for (std::string_view s : g.find("tokenizer.ggml.tokens")->strings()) v.tokens.emplace_back(s);
    for (int64_t t : g.find("tokenizer.ggml.token_type")->ints()) v.types.push_back(static_cast<int32_t>(t));
    int renamed = 0;
    for (size_t i = 0; i < v.tokens.size() && renamed < 2; ++i)
        if (v.tokens[i].starts_with("<|reserved_")) {
            v.tokens[i] = renamed++ == 0 ? "<think>" : "</think>";
            v.types[i] = 4;
        }
    EXPECT_EQ(renamed, 2) << "tinyB has no reserved tokens to rename";
    return v;
}

// new_id[old]: LFM2.5's 14 specials to kTop.., every other token in its old order around them.
std::vector<int32_t> specials_to_top(const Vocab& v) {
    const auto n = static_cast<int32_t>(v.tokens.size());
    std::vector<int32_t> new_id(static_cast<size_t>(n), -1);
    for (int32_t k = 0; k < 14; ++k) {
        const auto it = std::find(v.tokens.begin(), v.tokens.end(), kLfm25Order[k]);
        EXPECT_NE(it, v.tokens.end()) << kLfm25Order[k];
        new_id[static_cast<size_t>(it - v.tokens.begin())] = kTop + k;
    }
    int32_t next = 0;
    for (int32_t old = 0; old < n; ++old) {
        if (new_id[static_cast<size_t>(old)] >= 0) continue;
        if (next == kTop) next += 14;
        new_id[static_cast<size_t>(old)] = next++;
    }
    return new_id;
}

// An edit of the tied embedding: the row of token `to` becomes that of `from` with its Q8_0
// block scales times `scale` (ids of tinyB's own numbering).
struct RowEdit {
    int32_t from = -1, to = -1;
    float scale = 1.0f;
};

// Writes the model of `g` with vocabulary `v` renumbered by new_id: token strings and types,
// the BOS/EOS/padding ids and the rows of the tied embedding move together. The rest is copied.
void write_renumbered(const GgufFile& g, const Vocab& v, const std::vector<int32_t>& new_id,
                      const RowEdit& edit, const std::string& path) {
    const size_t n = v.tokens.size();
    Vocab out{std::vector<std::string>(n), std::vector<int32_t>(n)};
    for (size_t i = 0; i < n; ++i) {
        out.tokens[static_cast<size_t>(new_id[i])] = v.tokens[i];
        out.types[static_cast<size_t>(new_id[i])] = v.types[i];
    }
    GgufWriter w;
    for (const auto& [key, value] : g.metadata()) {
        if (key == "tokenizer.ggml.tokens")
            w.add_string_array(key, out.tokens);
        else if (key == "tokenizer.ggml.token_type")
            w.add_i32_array(key, out.types);
        else if (key.ends_with("_token_id"))
            w.add_u32(key, static_cast<uint32_t>(new_id[static_cast<size_t>(*value.as_int())]));
        else if (key != "general.alignment")
            w.add_value(key, value);
    }
    for (const TensorInfo& t : g.tensors()) {
        const std::vector<int64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
        if (t.name != "token_embd.weight") {
            w.add_tensor(t.name, t.type, ne, {t.data, t.nbytes});
            continue;
        }
        EXPECT_EQ(t.type, DType::kQ8_0);
        const size_t row = t.nbytes / n;
        std::vector<uint8_t> rows(t.nbytes);
        for (size_t i = 0; i < n; ++i)
            std::memcpy(rows.data() + static_cast<size_t>(new_id[i]) * row, t.data + i * row, row);
        if (edit.to >= 0) {
            uint8_t* dst = rows.data() + static_cast<size_t>(new_id[static_cast<size_t>(edit.to)]) * row;
            std::memcpy(dst, t.data + static_cast<size_t>(edit.from) * row, row);
            for (size_t b = 0; b < row; b += sizeof(BlockQ8_0)) {
                f16_t d;
                std::memcpy(&d, dst + b, 2);
                d = f32_to_f16(f16_to_f32(d) * edit.scale);
                std::memcpy(dst + b, &d, 2);
            }
        }
        w.add_tensor(t.name, t.type, ne, rows);
    }
    w.write(path);
}

struct Pair {
    std::shared_ptr<const Model> model[2];  // [0]: LFM2's ids, [1]: specials at the top
    std::shared_ptr<const Tokenizer> tok[2];
    std::vector<int32_t> to_top;  // id in [0] -> id in [1]

    std::vector<int32_t> map(const std::vector<int32_t>& ids) const {
        std::vector<int32_t> out;
        for (int32_t id : ids) out.push_back(to_top[static_cast<size_t>(id)]);
        return out;
    }
};

Pair make_pair(const std::string& name, const RowEdit& edit) {
    Pair p;
    const GgufFile g(std::make_shared<const MappedFile>(test::ref_path("tinyB-q8_0.gguf")));
    const Vocab v = tiny_vocab_with_think(g);
    std::vector<int32_t> same(v.tokens.size());
    for (size_t i = 0; i < same.size(); ++i) same[i] = static_cast<int32_t>(i);
    p.to_top = specials_to_top(v);
    const std::string paths[2] = {test::temp_path(name + "-lfm2-ids.gguf"),
                                  test::temp_path(name + "-top-ids.gguf")};
    write_renumbered(g, v, same, edit, paths[0]);
    write_renumbered(g, v, p.to_top, edit, paths[1]);
    for (int k = 0; k < 2; ++k) {
        p.model[k] = Model::load(paths[k]);
        p.tok[k] = Tokenizer::load(paths[k]);
    }
    return p;
}

const Pair& pair() {
    static const Pair p = make_pair("tinyB", {});
    return p;
}

SessionOptions small_session() {
    SessionOptions o;
    o.n_ctx = 1024;
    o.n_threads = 2;
    return o;
}

GenerateOptions greedy(int64_t max_tokens) {
    GenerateOptions o;
    o.sampler.temperature = 0;
    o.sampler.repetition_penalty = 1.0f;
    o.max_tokens = max_tokens;
    return o;
}

// The same reply from both models: text, its split and tool calls, stop, tokens under the map.
void expect_same(const Pair& p, const GenerateResult& lfm2, const GenerateResult& top) {
    EXPECT_EQ(p.map(lfm2.tokens), top.tokens);
    EXPECT_EQ(lfm2.text, top.text);
    EXPECT_EQ(lfm2.reply.reasoning, top.reply.reasoning);
    EXPECT_EQ(lfm2.reply.content, top.reply.content);
    ASSERT_EQ(lfm2.reply.tool_calls.size(), top.reply.tool_calls.size());
    for (size_t i = 0; i < lfm2.reply.tool_calls.size(); ++i) {
        EXPECT_EQ(lfm2.reply.tool_calls[i].name, top.reply.tool_calls[i].name);
        EXPECT_EQ(lfm2.reply.tool_calls[i].arguments, top.reply.tool_calls[i].arguments);
    }
    EXPECT_EQ(lfm2.stop_reason, top.stop_reason);
}

TEST(VocabLayout, SpecialTokensComeFromTheFile) {
    LFM_REQUIRE_SHARED();
    const Pair& p = pair();
    const Tokenizer& top = *p.tok[1];
    EXPECT_EQ(top.bos(), kTop + 1);
    EXPECT_EQ(top.eos(), kTop + 7);
    for (int32_t k = 0; k < 14; ++k) {
        EXPECT_EQ(top.find_token(kLfm25Order[k]), kTop + k);
        EXPECT_TRUE(top.is_special(kTop + k));
    }
    // The issue's real prompt: one BOS (the template's), specials matched in the text.
    const std::string text =
        "<|startoftext|><|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    const std::vector<int32_t> ids = top.encode(text, false, true);
    EXPECT_EQ(p.map(p.tok[0]->encode(text, false, true)), ids);
    EXPECT_EQ(ids.front(), kTop + 1);
    EXPECT_EQ(ids[1], kTop + 6);
    EXPECT_EQ(top.decode(ids, true), text);
    EXPECT_EQ(top.encode("<think>hm</think>", false, true).front(), kTop + 8);
    EXPECT_EQ(top.encode("hi", true, true).front(), kTop + 1);  // add_bos (perplexity, --raw): the file's BOS
    // lfm info names them from the file's metadata
    bool bos = false, eos = false;
    for (const auto& s : p.model[1]->info().special_tokens) {
        bos |= s.role == "bos" && s.id == kTop + 1 && s.text == "<|startoftext|>";
        eos |= s.role == "eos" && s.id == kTop + 7 && s.text == "<|im_end|>";
    }
    EXPECT_TRUE(bos && eos);
}

TEST(VocabLayout, ChatsLikeLfm2Ids) {
    LFM_REQUIRE_SHARED();
    const Pair& p = pair();
    GenerateResult r[2];
    std::string prompt[2];
    for (int k = 0; k < 2; ++k) {
        Chat::Options co;
        co.session = small_session();
        co.render.date = "2026-01-01";
        Chat chat(p.model[k], p.tok[k], co);
        chat.set_system("Be brief.");
        r[k] = chat.send("What is the capital of France?", greedy(24));
        prompt[k] = chat.render_prompt(false);
    }
    EXPECT_EQ(prompt[0], prompt[1]);
    EXPECT_EQ(r[1].stop_reason, StopReason::kMaxTokens);
    expect_same(p, r[0], r[1]);
}

// The tiny model never picks <|im_end|> by itself: with the row of its embedding made that of
// the token the reply has third, scaled up by half, the tied head prefers it there (the prompt
// holds no <|im_end|>, so nothing else changes). Both layouts get the same edit and must end the
// turn at the same step, on their own <|im_end|>.
TEST(VocabLayout, StopsAtTheEndOfTurn) {
    LFM_REQUIRE_SHARED();
    const std::string text = "<|startoftext|><|im_start|>user\nHello there";
    const std::vector<int32_t> prompt = pair().tok[0]->encode(text, false, true);
    Session plain(pair().model[0], small_session());
    const GenerateResult unedited = generate(plain, *pair().tok[0], prompt, greedy(8));
    ASSERT_GE(unedited.tokens.size(), 3u);
    const int32_t third = unedited.tokens[2], im_end = *pair().tok[0]->find_token("<|im_end|>");

    const Pair p = make_pair("tinyB-eos", {third, im_end, 1.5f});
    GenerateResult r[2];
    for (int k = 0; k < 2; ++k) {
        Session s(p.model[k], small_session());
        r[k] = generate(s, *p.tok[k], k == 0 ? prompt : p.map(prompt), greedy(16));
    }
    expect_same(p, r[0], r[1]);
    EXPECT_EQ(r[1].stop_reason, StopReason::kEndOfTurn);
    ASSERT_LE(r[1].tokens.size(), 3u);
    EXPECT_EQ(r[1].tokens.back(), kTop + 7);
}

// A thought closed by the reasoning budget: </think> is the file's token, the split the same.
TEST(VocabLayout, SplitsReasoning) {
    LFM_REQUIRE_SHARED();
    const Pair& p = pair();
    const std::vector<int32_t> prompt = p.tok[0]->encode(
        "<|startoftext|><|im_start|>user\nThink first.<|im_end|>\n<|im_start|>assistant\n<think>", false,
        true);
    GenerateResult r[2];
    for (int k = 0; k < 2; ++k) {
        Session s(p.model[k], small_session());
        GenerateOptions o = greedy(10);
        o.starts_in_reasoning = true;
        o.reasoning_budget = 3;
        r[k] = generate(s, *p.tok[k], k == 0 ? prompt : p.map(prompt), o);
    }
    expect_same(p, r[0], r[1]);
    ASSERT_GE(r[1].tokens.size(), 4u);
    EXPECT_EQ(r[1].tokens[3], kTop + 9);  // </think>
    EXPECT_FALSE(r[1].reply.reasoning.empty());
    EXPECT_FALSE(r[1].reply.content.empty());
}

// A forced call (tool_choice naming the tool): the constraint and the reply parser find
// <|tool_call_start|> and <|tool_call_end|> by their text, wherever the vocabulary has them.
TEST(VocabLayout, CallsTools) {
    LFM_REQUIRE_SHARED();
    const Pair& p = pair();
    const std::vector<Tool> tools = Tool::parse_list(R"([{"type": "function", "function": {"name": "get_time",
        "description": "The time", "parameters": {"type": "object", "properties": {"utc": {"type": "boolean"}}, "required": ["utc"]}}}])");
    GenerateResult r[2];
    for (int k = 0; k < 2; ++k) {
        Chat::Options co;
        co.session = small_session();
        co.render.date = "2026-01-01";
        Chat chat(p.model[k], p.tok[k], co);
        chat.set_tools(tools);
        GenerateOptions o = greedy(64);
        o.constraint = Constraint::tool_call(tools, "get_time", true, p.tok[k]);
        r[k] = chat.send("What time is it?", o);
    }
    expect_same(p, r[0], r[1]);
    EXPECT_EQ(r[1].stop_reason, StopReason::kEndOfTurn) << r[1].text;
    ASSERT_EQ(r[1].reply.tool_calls.size(), 1u) << r[1].text;
    EXPECT_EQ(r[1].reply.tool_calls[0].name, "get_time");
    EXPECT_NE(std::find(r[1].tokens.begin(), r[1].tokens.end(), kTop + 12),
              r[1].tokens.end());  // <|tool_call_start|>
}

}  // namespace
}  // namespace lfm
