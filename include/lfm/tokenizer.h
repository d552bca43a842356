#pragma once
// The byte-level BPE tokenizer of LFM2 models (../shared/spec/tokenizer-and-chat.md §1), loaded
// from a GGUF file's tokenizer.ggml.* metadata (any architecture) or from a Hugging Face
// tokenizer.json. Immutable after loading and safe to share between threads.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lfm/error.h"

namespace lfm {

class Tokenizer {
public:
    // A GGUF file, a Hugging Face model directory, or a tokenizer.json path; throws lfm::Error.
    static std::shared_ptr<const Tokenizer> load(const std::string& path);
    ~Tokenizer();

    // parse_special: text such as "<|im_end|>" becomes that special token. Turn it off for
    // untrusted user text, so a user cannot forge a turn. Invalid UTF-8 is replaced by U+FFFD.
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;

    // The bytes the ids stand for. Control tokens (BOS, <|im_end|>, ...) are rendered as their
    // text only with render_special. The result may hold invalid UTF-8 if ids split a character.
    std::string decode(std::span<const int32_t> ids, bool render_special = true) const;
    std::string token_bytes(int32_t id, bool render_special = true) const;

    int32_t n_vocab() const;
    const std::string& token_text(int32_t id) const;  // the vocabulary string (byte-mapped form)
    std::optional<int32_t> find_token(std::string_view text) const;  // an exact vocabulary entry
    bool is_special(int32_t id) const;  // control or user-defined
    std::optional<int32_t> bos() const;
    std::optional<int32_t> eos() const;
    bool add_bos() const;  // the file's default for add_bos
    // The chat template the file carries (GGUF tokenizer.chat_template, chat_template.jinja or
    // tokenizer_config.json); empty when it has none.
    const std::string& chat_template() const;

    struct Impl;

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    friend std::shared_ptr<const Tokenizer> make_tokenizer(std::unique_ptr<Impl>);
};

// Turns generated ids into text as they come, holding back a character split across tokens so
// that output never shows half a UTF-8 sequence.
class StreamDecoder {
public:
    explicit StreamDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool render_special = false);
    std::string push(int32_t id);  // text that is complete now (may be empty)
    std::string flush();           // whatever is left, invalid bytes replaced by U+FFFD

private:
    std::shared_ptr<const Tokenizer> tokenizer_;
    bool render_special_;
    std::string pending_;
};

}  // namespace lfm
