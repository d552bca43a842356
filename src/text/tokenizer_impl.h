#pragma once
// Inside lfm::Tokenizer: the vocabulary, the merge table keyed by token-id pairs, the special
// tokens, and the byte <-> character mapping of byte-level BPE.

#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lfm/tokenizer.h"
#include "pretokenizer.h"

namespace lfm {

class GgufFile;

enum class TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Tokenizer::Impl {
    std::string source;  // file, for messages
    std::vector<std::string> tokens;  // id -> vocabulary string (byte-mapped alphabet)
    std::vector<TokenType> types;
    std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ids;
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    std::unordered_map<uint64_t, Merge> merges;  // (left id << 32 | right id) -> rank, merged id
    std::array<int32_t, 256> byte_token{};       // id of the token that is byte b alone
    std::vector<int32_t> specials;               // ids matched in text when parse_special, longest first
    std::array<bool, 256> special_first_byte{};  // bytes some special token starts with
    std::unique_ptr<PreTokenizer> pretokenizer;
    bool ignore_merges = false;
    std::optional<int32_t> bos, eos;
    bool add_bos = true;
    std::string chat_template;  // the file's own template; empty when it has none

    // Fills ids, merges, byte_token and specials from tokens/types and the merge list; throws
    // lfm::Error naming `source` on an inconsistent vocabulary.
    void build(const std::vector<std::pair<std::string, std::string>>& merge_pairs);
    int32_t bpe(std::string_view piece, std::vector<int32_t>& out) const;
};

// GPT-2's byte <-> character mapping (tokenizer-and-chat.md §1.3).
char32_t byte_to_char(uint8_t b);
int char_to_byte(char32_t c);  // -1 if c is not in the mapping's image

std::shared_ptr<const Tokenizer> make_tokenizer(std::unique_ptr<Tokenizer::Impl> impl);
std::shared_ptr<const Tokenizer> tokenizer_from_gguf(const GgufFile& gguf);
std::shared_ptr<const Tokenizer> tokenizer_from_hf(const std::string& tokenizer_json, const std::string& dir);

}  // namespace lfm
