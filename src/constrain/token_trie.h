#pragma once
// The vocabulary's byte strings as a trie laid out in depth-first order: node i holds one byte,
// its depth, and the index just past its subtree, so a mask walks the array front to back and
// skips a whole subtree in one step when the grammar rejects its byte. Built once per tokenizer
// and shared (for_tokenizer caches it), since a 128K vocabulary takes tens of milliseconds.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lfm/tokenizer.h"

namespace lfm::constrain {

// Bytes in 42 classes (controls, space, '"', '\\', digits, a-z, A-Z, each other ASCII
// punctuation mark, continuation bytes, and the three kinds of UTF-8 lead bytes): coarse enough
// for one 64-bit word per trie node, fine enough that a JSON string's characters or a word's
// letters are whole classes.
uint8_t byte_class(uint8_t b);
inline constexpr int kByteClasses = 42;

struct TokenTrie {
    std::vector<uint8_t> byte;        // per node
    std::vector<uint16_t> depth;      // 1 for a first byte
    std::vector<uint32_t> end;        // one past the last node of the subtree
    std::vector<uint32_t> parent;     // the node one byte up (UINT32_MAX at depth 1)
    // The byte classes (byte_class) of all the nodes below node i: a walk whose state loops on
    // every byte of these classes accepts the whole subtree at once.
    std::vector<uint64_t> below_classes;
    std::vector<uint32_t> ids_begin;  // tokens ending at node i: ids[ids_begin[i] .. ids_begin[i + 1])
    std::vector<int32_t> ids;
    uint16_t max_depth = 0;
    int32_t n_vocab = 0;
    // Control and user-defined tokens (BOS, <|im_end|>, <think> ...): not in the trie; a grammar
    // names them as whole tokens.
    std::vector<int32_t> special;
    // Tokens that stand for no bytes at all (unused slots): never allowed.
    size_t n_empty = 0;

    // Per token id: its bytes, and whether it is special (kept for advancing by a token).
    std::vector<std::string> bytes_of;
    std::vector<uint8_t> is_special;

    size_t size() const { return byte.size(); }
    // bytes[id] and special[id] for every id (token_trie.cpp: no tokenizer needed, so the
    // fuzzer can build one from a made-up vocabulary).
    static std::shared_ptr<const TokenTrie> from_vocab(std::vector<std::string> bytes, std::vector<uint8_t> special);
    static std::shared_ptr<const TokenTrie> build(const Tokenizer& tokenizer);
    // The trie of this tokenizer, built on first use and kept while the tokenizer lives.
    static std::shared_ptr<const TokenTrie> for_tokenizer(const std::shared_ptr<const Tokenizer>& tokenizer);
};

}  // namespace lfm::constrain
