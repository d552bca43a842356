#pragma once
// The vocabulary of a synthetic model: the special tokens where the real files put them, the 256
// byte tokens, and merged tokens with as many merges as the real tokenizer has, so that loading
// and encoding cost what they cost on the real files.

#include <cstdint>
#include <string>
#include <vector>

namespace lfm {

struct SynthVocabLayout {
    int64_t n_vocab = 128000;
    int64_t n_merges = 293320;
    // "lfm2.5": LFM2.5's 14 special tokens (<think> and </think> among them) starting at
    // special_tokens_at (124893 in the real 128K vocabulary); "lfm2": LFM2's 14 at 0.
    std::string specials = "lfm2.5";
    int64_t special_tokens_at = 124893;
};

struct SynthVocab {
    std::vector<std::string> tokens;  // byte-mapped alphabet, as in tokenizer.ggml.tokens
    std::vector<int32_t> types;       // tokenizer.ggml.token_type
    std::vector<std::string> merges;  // "left right", best rank first
    int32_t pad = 0, bos = 1, eos = 7;
};

// Throws lfm::Error when the layout does not fit (too small a vocabulary, specials past its end,
// more merges than its merged tokens can have).
SynthVocab synthetic_vocab(const SynthVocabLayout& layout);

}  // namespace lfm
