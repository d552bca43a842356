// Merged tokens are strings over 27 symbols ('Ġ', the byte-mapped space, and a-z): all of
// length 2, then all of length 3, then length-4 strings in a scrambled order. Every prefix and
// suffix of such a token is a token too, so each split point of a token is a valid merge: a
// token of length n has n - 1 of them, which lets the merge list reach the real files' count
// (293,320 merges for 127,730 merged tokens) with merges that all produce real tokens.

#include "synth_vocab.h"

#include <fmt/format.h>

#include <array>

#include "../text/tokenizer_impl.h"
#include "../text/utf8.h"
#include "lfm/error.h"

namespace lfm {

namespace {

constexpr int kSymbols = 27;
constexpr int64_t kSpecialCount = 14;

const char* const kLfm25Specials[kSpecialCount] = {"<|pad|>",
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
const char* const kLfm2Specials[kSpecialCount] = {"<|pad|>",
                                                  "<|startoftext|>",
                                                  "<|endoftext|>",
                                                  "<|fim_pre|>",
                                                  "<|fim_mid|>",
                                                  "<|fim_suf|>",
                                                  "<|im_start|>",
                                                  "<|im_end|>",
                                                  "<|tool_list_start|>",
                                                  "<|tool_list_end|>",
                                                  "<|tool_call_start|>",
                                                  "<|tool_call_end|>",
                                                  "<|tool_response_start|>",
                                                  "<|tool_response_end|>"};

constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4;

std::string symbol(int64_t s) {
    return s == 0 ? std::string("\xC4\xA0") : std::string(1, static_cast<char>('a' + s - 1));
}

// The symbols of token `index` of length `len` (base-27 digits, most significant first).
std::array<int64_t, 4> digits(int64_t index, int len) {
    std::array<int64_t, 4> d{};
    for (int k = len - 1; k >= 0; --k, index /= kSymbols) d[static_cast<size_t>(k)] = index % kSymbols;
    return d;
}

std::string text_of(const std::array<int64_t, 4>& d, int from, int to) {
    std::string s;
    for (int k = from; k < to; ++k) s += symbol(d[static_cast<size_t>(k)]);
    return s;
}

}  // namespace

SynthVocab synthetic_vocab(const SynthVocabLayout& layout) {
    const int64_t n = layout.n_vocab;
    const bool lfm25 = layout.specials == "lfm2.5";
    if (!lfm25 && layout.specials != "lfm2")
        throw Error(ErrorCode::kInvalidArgument,
                    "vocabulary layout '" + layout.specials + "' is neither lfm2.5 nor lfm2");
    if (n < 256 + kSpecialCount)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("a vocabulary of {} tokens is too small", n));
    const int64_t at = lfm25 ? layout.special_tokens_at : 0;
    if (at < 0 || at + kSpecialCount > n)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("special tokens at {} do not fit a vocabulary of {}", at, n));
    constexpr int64_t kLevel2 = kSymbols * kSymbols, kLevel3 = kLevel2 * kSymbols,
                      kLevel4 = kLevel3 * kSymbols;
    const int64_t merged = n - 256 - kSpecialCount;
    if (merged > kLevel2 + kLevel3 + kLevel4)
        throw Error(ErrorCode::kInvalidArgument, fmt::format("a synthetic vocabulary has at most {} tokens",
                                                             270 + kLevel2 + kLevel3 + kLevel4));

    SynthVocab v;
    v.tokens.resize(static_cast<size_t>(n));
    v.types.assign(static_cast<size_t>(n), kNormal);
    for (int64_t k = 0; k < kSpecialCount; ++k) {
        const auto id = static_cast<size_t>(at + k);
        v.tokens[id] = lfm25 ? kLfm25Specials[k] : kLfm2Specials[k];
        v.types[id] = v.tokens[id].starts_with("<|") ? kControl : kUserDefined;
    }
    v.pad = static_cast<int32_t>(at);
    v.bos = static_cast<int32_t>(at + 1);
    v.eos = static_cast<int32_t>(at + 7);

    int64_t next = 0;
    auto place = [&](std::string text) {
        if (next == at) next += kSpecialCount;
        v.tokens[static_cast<size_t>(next++)] = std::move(text);
    };
    for (int b = 0; b < 256; ++b) {
        std::string s;
        append_utf8(s, byte_to_char(static_cast<uint8_t>(b)));
        place(std::move(s));
    }

    const int64_t primary = std::min(merged, layout.n_merges);
    int64_t extra = layout.n_merges - primary;
    auto add_token = [&](int64_t t, int64_t index, int len) {
        const auto d = digits(index, len);
        place(text_of(d, 0, len));
        if (t >= primary) return;  // more tokens than merges (LFM2's vocabulary): the rest has none
        v.merges.push_back(text_of(d, 0, len - 1) + " " + text_of(d, len - 1, len));  // a merge that makes it
        for (int split = len - 2; split >= 1 && extra > 0; --split, --extra)  // other ways to the same token
            v.merges.push_back(text_of(d, 0, split) + " " + text_of(d, split, len));
    };
    // Length 4 in a scrambled order (a stride coprime to 27^4), so the prefix of a vocabulary
    // is not all one first letter.
    constexpr int64_t kStride = 200003;
    for (int64_t t = 0; t < merged; ++t) {
        if (t < kLevel2)
            add_token(t, t, 2);
        else if (t < kLevel2 + kLevel3)
            add_token(t, t - kLevel2, 3);
        else
            add_token(t, (t - kLevel2 - kLevel3) * kStride % kLevel4, 4);
    }
    if (static_cast<int64_t>(v.merges.size()) != layout.n_merges)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("a vocabulary of {} tokens cannot have {} merges (at most {})", n,
                                layout.n_merges, v.merges.size()));
    return v;
}

}  // namespace lfm
