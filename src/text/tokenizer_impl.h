#pragma once
// Inside lfm::Tokenizer: the vocabulary, the merge table keyed by token-id pairs, the special
// tokens, and the byte <-> character mapping of byte-level BPE.

#include <array>
#include <memory>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

#include "lfm/tokenizer.h"
#include "pretokenizer.h"

namespace lfm {

class GgufFile;

enum class TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// Token text -> id, open addressing over ids whose keys are the vocabulary's own strings: no
// copy of 128K strings in hash-map nodes, one probe sequence in one array. The first id of a
// duplicated string wins.
class TokenIndex {
public:
    void build(const std::vector<std::string>& tokens);
    std::optional<int32_t> find(std::string_view text, const std::vector<std::string>& tokens) const;

private:
    std::vector<uint64_t> slots_;  // (hash's high 32 bits << 32 | id + 1); 0: empty
    size_t mask_ = 0;
};

// (left id, right id) -> merge rank and merged id: open addressing over one array (the real
// LFM2.5 tokenizer has 293,320 merges; an unordered_map node each cost more to load than all else).
class MergeTable {
public:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    static uint64_t key(int32_t left, int32_t right) {
        return static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32 | static_cast<uint32_t>(right);
    }
    void reserve(size_t n);
    void insert(uint64_t key, Merge m);  // keeps the first (best-ranked) merge of a pair
    const Merge* find(uint64_t key) const {
        if (slots_.empty()) return nullptr;
        for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
            if (slots_[i].key == key) return &slots_[i].merge;
            if (slots_[i].key == kEmpty) return nullptr;
        }
    }
    size_t size() const { return size_; }

private:
    static constexpr uint64_t kEmpty = ~0ull;  // never a key: ids are below 2^31
    struct Slot {
        uint64_t key = kEmpty;
        Merge merge{};
    };
    size_t slot_of(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask_; }
    std::vector<Slot> slots_;
    size_t mask_ = 0, size_ = 0;
};

struct Tokenizer::Impl {
    std::string source;  // file, for messages
    std::vector<std::string> tokens;  // id -> vocabulary string (byte-mapped alphabet)
    std::vector<TokenType> types;
    TokenIndex ids;
    MergeTable merges;
    std::array<int32_t, 256> byte_token{};       // id of the token that is byte b alone
    std::vector<int32_t> specials;               // ids matched in text when parse_special, longest first
    std::array<bool, 256> special_first_byte{};  // bytes some special token starts with
    std::unique_ptr<PreTokenizer> pretokenizer;
    bool ignore_merges = false;
    std::optional<int32_t> bos, eos;
    bool add_bos = true;
    std::string chat_template;  // the file's own template; empty when it has none

    // Fills ids, merges, byte_token and specials from tokens/types and the merge list (views
    // into the file or JSON, alive for the call); throws lfm::Error naming `source` on an
    // inconsistent vocabulary.
    void build(const std::vector<std::pair<std::string_view, std::string_view>>& merge_pairs);
    std::optional<int32_t> id_of(std::string_view text) const { return ids.find(text, tokens); }
    int32_t bpe(std::string_view piece, std::vector<int32_t>& out) const;
};

// GPT-2's byte <-> character mapping (tokenizer-and-chat.md §1.3).
char32_t byte_to_char(uint8_t b);
int char_to_byte(char32_t c);  // -1 if c is not in the mapping's image

std::shared_ptr<const Tokenizer> make_tokenizer(std::unique_ptr<Tokenizer::Impl> impl);
std::shared_ptr<const Tokenizer> tokenizer_from_gguf(const GgufFile& gguf);
std::shared_ptr<const Tokenizer> tokenizer_from_hf(const std::string& tokenizer_json, const std::string& dir);

}  // namespace lfm
