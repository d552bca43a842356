#pragma once
// Runs a compiled grammar over bytes and computes token masks.
//
// A parser configuration is a set of stacks (the grammar may be ambiguous, so several parses
// can be alive at once). Each stack is a chain of positions in Grammar::elems: the top is the
// terminal to match next, the rest are the places to go on at when a rule ends. Stacks are
// hash-consed nodes (position, parent), so equal stacks are equal ids and a configuration is a
// sorted list of ids. Configurations are numbered on first sight and the transition on each
// byte is computed once and kept: the grammar becomes a DFA built lazily, and following a
// token's bytes costs one table lookup per byte. The mask walks the vocabulary trie with that
// DFA, skipping a subtree at the first byte the grammar rejects.
//
// Every rule can finish (GrammarBuilder checks it), so any configuration reached can still be
// completed: a token is allowed exactly when all its bytes are accepted, and the mask cannot
// become empty before the end.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "constrain/grammar.h"
#include "constrain/token_trie.h"
#include "lfm/tokenizer.h"

namespace lfm::constrain {

// A grammar bound to a tokenizer: immutable, shared by every matcher of a Constraint.
struct Compiled {
    Grammar grammar;
    std::shared_ptr<const Tokenizer> tokenizer;
    std::shared_ptr<const TokenTrie> trie;
    std::vector<int32_t> token_ids;   // Grammar::tokens -> vocabulary id
    std::vector<int32_t> end_tokens;  // end of turn: allowed once the grammar is complete
    std::string kind;                 // "json_schema", "gbnf", ...

    static std::shared_ptr<const Compiled> bind(Grammar grammar, std::shared_ptr<const Tokenizer> tokenizer,
                                                std::string kind);
};

class Matcher {
public:
    explicit Matcher(std::shared_ptr<const Compiled> compiled);

    // Bit i of words[i / 64] set when token i may come next. words.size() >= (n_vocab + 63) / 64.
    void fill_mask(std::span<uint64_t> words);
    bool allows(int32_t token);
    // Moves on by the token; false (and no change) when the grammar does not allow it.
    bool advance(int32_t token);
    // Moves on by bytes (grammar-bench and tests); false (and no change) when rejected.
    bool advance_bytes(std::string_view bytes);
    bool complete() const;   // the grammar is satisfied: an end-of-turn token may come
    bool only_end() const;   // complete, and nothing but the end may follow
    bool ended() const { return ended_; }  // an end token was taken
    void reset();
    const Compiled& compiled() const { return *c_; }
    size_t n_states() const { return sets_.size(); }

private:
    static constexpr uint32_t kUnknown = UINT32_MAX;
    static constexpr uint32_t kDead = 0;      // the empty configuration
    static constexpr uint32_t kEmptyStack = 0;  // node 0: everything matched

    struct Node {
        uint32_t pos, parent;
    };
    uint32_t node(uint32_t pos, uint32_t parent);
    void expand(uint32_t pos, uint32_t parent);
    uint32_t state_of(std::vector<uint32_t>& tops);
    uint32_t next(uint32_t state, uint8_t byte) {
        uint32_t t = trans_[static_cast<size_t>(state) * 256 + byte];
        return t != kUnknown ? t : compute(state, byte);
    }
    uint32_t compute(uint32_t state, uint8_t byte);
    uint32_t after_token(uint32_t state, int32_t token);
    bool is_end(int32_t token) const;

    std::shared_ptr<const Compiled> c_;
    std::vector<Node> nodes_;
    std::unordered_map<uint64_t, uint32_t> node_ids_;
    std::vector<std::vector<uint32_t>> sets_;  // per state: its stack tops, sorted
    std::unordered_map<std::string, uint32_t> state_ids_;
    std::vector<uint32_t> trans_;  // state * 256 + byte
    std::unordered_map<uint32_t, std::vector<uint64_t>> masks_;  // per state, once computed
    size_t mask_bytes_ = 0;
    std::vector<uint32_t> walk_;   // DFA state per trie depth
    std::vector<uint32_t> out_;    // scratch for expand
    std::vector<uint64_t> seen_;   // (pos, parent) pairs expanded in this step
    uint32_t start_ = 0, state_ = 0;
    bool ended_ = false;
};

}  // namespace lfm::constrain
