#pragma once
// Runs a compiled grammar over bytes and computes token masks.
//
// A parser configuration is a set of stacks (the grammar may be ambiguous, so several parses
// can be alive at once). Each stack is a chain of positions in Grammar::elems: the top is the
// terminal to match next, the rest are the places to go on at when a rule ends. Stacks are
// hash-consed nodes (position, parent), so equal stacks are equal ids and a configuration is a
// sorted list of ids. Configurations are numbered on first sight and the transition on each
// byte is computed once and kept (StackDfa): the grammar becomes a DFA built lazily, and
// following a token's bytes costs one table lookup per byte.
//
// Masks. A configuration carries the whole nesting and every bounded counter, so most are seen
// once; a mask computed per configuration would walk the vocabulary at nearly every step. So the
// mask is assembled per stack top from a cache shared by every matcher of the Constraint
// (MaskCache, thread-safe), keyed by the top two grammar positions of the stack, or three where
// the second only goes round a repetition again (MaskCache::sees_past) (positions whose rest of
// the rule is the same grammar share one class: the characters of every string of a schema
// share their entry). Each entry comes from one walk of the vocabulary trie with those two (or
// three) positions and an unknown stack below them, and splits the vocabulary three ways:
//   - accepted whatever lies below: the token's bytes end inside the two (or just as they end);
//   - rejected whatever lies below: no parse gets through its bytes;
//   - context-dependent: a parse leaves the two and needs bytes the rest of the stack decides.
//     These are subtrees of the trie (`a"`, ` t` ...), usually few, and fill_mask walks them with
//     the matcher's own DFA from its full configuration.
// The mask is exact (a token is allowed exactly when all its bytes are accepted), so with
// every rule able to finish (GrammarBuilder checks it) it is never empty before the end.
//
// Memory: a matcher's DFA is rebuilt from its current configuration once it passes
// kMaxMatcherBytes; the shared cache stops storing past kMaxSharedBytes (entries beyond are
// computed, used, and dropped) and its classifier DFA is likewise rebuilt past its bound, or
// when the walk fragments it keeps (MaskCache::Fragment, named by its states) pass theirs.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "constrain/grammar.h"
#include "constrain/id_table.h"
#include "constrain/token_trie.h"
#include "lfm/tokenizer.h"

namespace lfm::constrain {

struct Compiled;

// The lazily built DFA over sets of parser stacks. With `partial` stacks (MaskCache), the
// bottom node kBelow stands for an unknown rest of the stack: a parse that returns into it
// becomes the pseudo-top kFresh (the known part is done, nothing consumed beyond), and any
// byte after that makes it kDirty (the bytes beyond belong to the unknown context).
class StackDfa {
public:
    static constexpr uint32_t kUnknown = UINT32_MAX;
    static constexpr uint32_t kDead = 0;        // state 0: the empty configuration
    static constexpr uint32_t kEmptyStack = 0;  // node 0: everything matched
    static constexpr uint32_t kBelow = 1;       // node 1: the unknown rest of a partial stack
    static constexpr uint32_t kFresh = 2;       // pseudo-tops (see above)
    static constexpr uint32_t kDirty = 3;

    explicit StackDfa(const Compiled* c) : c_(c) { clear(); }
    void clear();

    uint32_t node(uint32_t pos, uint32_t parent);
    uint32_t pos(uint32_t node) const { return nodes_[node].pos; }
    uint32_t parent(uint32_t node) const { return nodes_[node].parent; }
    // The state whose stacks are those reached from the root's alternatives.
    uint32_t start();
    // The state of these stack tops (nodes), as they are (no expansion).
    uint32_t state_of(std::vector<uint32_t>& tops);
    const std::vector<uint32_t>& tops(uint32_t state) const { return sets_[state]; }
    uint32_t next(uint32_t state, uint8_t byte) {
        uint32_t* r = row(state);
        if (r[byte] != kUnknown) return r[byte];
        if (!takes_[state].has(byte)) return r[byte] = kDead;
        return compute(state, byte);
    }
    uint32_t after_token(uint32_t state, int32_t token);
    // Whether the state goes back to itself on every byte of these classes (byte_class). Learns
    // a class at a time, stopping at the first byte that leaves, so a state that loops on
    // nothing costs one transition.
    bool loops_on(uint32_t state, uint64_t classes);
    size_t n_states() const { return sets_.size(); }
    size_t bytes() const;  // rough memory held
    // Each stack of a state, top first, as positions (kEmptyStack / kBelow end it implicitly).
    std::vector<std::vector<uint32_t>> stacks(uint32_t state) const;
    uint32_t import(const std::vector<std::vector<uint32_t>>& stacks);

private:
    struct Node {
        uint32_t pos, parent;
    };
    void expand(uint32_t pos, uint32_t parent);
    // expand's result for (pos, parent), computed once: the same continuation is expanded again
    // in nearly every new state (the rest of an object after each character of a value ...).
    void expand_cached(uint32_t pos, uint32_t parent);
    uint32_t compute(uint32_t state, uint8_t byte);

    const Compiled* c_;
    std::vector<Node> nodes_;
    IdTable node_ids_;              // by (pos << 32 | parent)
    std::vector<std::vector<uint32_t>> sets_;  // per state: its stack tops, sorted
    IdTable state_ids_;             // by a hash of the sorted tops
    IdTable closure_ids_;           // expand_cached: by (pos << 32 | parent), an index into closure_spans_
    std::vector<std::pair<uint32_t, uint32_t>> closure_spans_;  // (first, count) in closure_pool_
    std::vector<uint32_t> closure_pool_;
    // The transitions, 256 per state, in blocks of kBlockStates states: a table grown by
    // doubling was copied whole, and its new pages touched at once (page faults), so the mask
    // that added the 513th or the 2049th state paid milliseconds (the worst cold masks).
    static constexpr size_t kBlockStates = 16;
    uint32_t* row(uint32_t state) { return trans_[state / kBlockStates].get() + (state % kBlockStates) * 256; }
    std::vector<std::unique_ptr<uint32_t[]>> trans_;
    std::vector<uint64_t> loops_, leaves_;  // per state: classes known to loop / to leave
    std::vector<ByteSet> takes_;   // per state: the bytes some top may take (others: dead)
    size_t set_bytes_ = 0;
    std::vector<uint32_t> out_;    // scratch for expand
    ScratchSet seen_;              // (pos, parent) pairs expanded in this step
};

// What one stack top allows, whatever lies below it (see the top of this file).
struct TopMask {
    std::vector<uint64_t> bits;     // accepted tokens as a bitset, or empty when `ids` holds them
    std::vector<int32_t> ids;       // accepted tokens, when few
    // Trie nodes whose subtrees depend on the context, in DFS order; with kBelowNode set, only
    // what lies below the node (the node's own tokens are accepted: the two positions finish
    // exactly there, so every byte after it is the context's — one entry instead of one per child).
    std::vector<uint32_t> uncertain;
    static constexpr uint32_t kBelowNode = 0x80000000u;
    size_t bytes() const { return bits.size() * 8 + ids.size() * 4 + uncertain.size() * 4 + sizeof(TopMask); }
};

// A mask entry's known part of a stack: the top's position, the one below it, and (see
// MaskCache::sees_past) the one below that; as grammar positions or as their classes.
struct TopKey {
    uint32_t pos, below, below2;
    bool operator==(const TopKey&) const = default;
    struct Hash {
        size_t operator()(const TopKey& k) const {
            return static_cast<size_t>(mix64((uint64_t{k.pos} << 32 | k.below) ^ mix64(k.below2)));
        }
    };
};

// Shared by every matcher of a Compiled, on any thread.
class MaskCache {
public:
    static constexpr uint32_t kEnd = UINT32_MAX;       // `below`: nothing (the stack ends there)
    static constexpr uint32_t kUnseen = UINT32_MAX - 1;  // `below2`: not part of the entry
    // The entry for a top at grammar position pos (a kBytes element) with `below` the position
    // under it (or kEnd) and, where `below` is a tail turn of a repetition (see sees_past),
    // `below2` the one under that (or kEnd); stored: whether the cache keeps it.
    std::shared_ptr<const TopMask> get(const Compiled& c, uint32_t pos, uint32_t below, uint32_t below2, bool* stored);
    // Whether the entries of tops with this `below` also know the position under it: a `below`
    // that only goes round a repetition again (a rule reference that ends its alternative, as
    // after each character of a string) says nothing of what follows the repetition, so with two
    // positions nearly every token that ends the repetition (`abc"`, ` "`, `.",` ...: over a
    // thousand trie subtrees on a 128K vocabulary) would depend on the context and be walked
    // again at every mask. Not for a `below` that stands in for another (see init).
    bool sees_past(uint32_t below) const { return below < sees_past_.size() && sees_past_[below]; }
    // The classes of the grammar's positions, computed once (Compiled::bind calls it: it is
    // part of compiling, not of the first mask); get() calls it too.
    void prepare(const Compiled& c);
    size_t bytes() const;  // held by the entries, the classifier DFA and its walk fragments

private:
    void init(const Compiled& c);  // under build_mu_
    std::shared_ptr<const TopMask> classify(const Compiled& c, uint32_t pos, uint32_t below, uint32_t below2);

    mutable std::shared_mutex mu_;  // entries_, bytes_
    std::unordered_map<TopKey, std::shared_ptr<const TopMask>, TopKey::Hash> entries_;  // by the positions' classes
    size_t bytes_ = 0;
    std::mutex build_mu_;           // everything below
    std::atomic<bool> ready_{false};
    std::vector<uint32_t> klass_;   // per position: its class (equal rest of rule, recursively)
    std::vector<uint32_t> rep_;     // per position, as `below`: where its entry is walked from
    std::vector<uint8_t> sees_past_;  // per position, as `below`: sees_past()
    std::unique_ptr<StackDfa> dfa_;
    // What walking a big trie subtree from a classifier state gave (classify): the same for any
    // entry that reaches it so. The keys of objects with extra members (any key but the declared
    // names) reach the shared any-characters state after a letter or two, one entry per object.
    struct Fragment {
        std::vector<int32_t> ids;
        std::vector<uint32_t> uncertain;
    };
    std::unordered_map<uint64_t, Fragment> fragments_;  // by (state << 32 | trie node)
    size_t fragment_bytes_ = 0;
    std::vector<uint32_t> state_walks_;  // per state: the last walk (n_walks_) it was seen in at a big subtree
    uint32_t n_walks_ = 0;
    std::atomic<size_t> classifier_bytes_{0};
    std::vector<uint32_t> walk_;
};

// A grammar bound to a tokenizer: immutable but for the shared mask cache, shared by every
// matcher of a Constraint.
struct Compiled {
    Grammar grammar;
    std::shared_ptr<const Tokenizer> tokenizer;
    std::shared_ptr<const TokenTrie> trie;
    std::vector<int32_t> token_ids;   // Grammar::tokens -> vocabulary id
    std::vector<int32_t> end_tokens;  // end of turn: allowed once the grammar is complete
    std::string kind;                 // "json_schema", "gbnf", ...
    mutable MaskCache masks;

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
    size_t n_states() const { return dfa_.n_states(); }
    size_t bytes() const;  // rough memory this matcher holds (the shared cache not counted)

private:
    static constexpr uint32_t kDead = StackDfa::kDead;
    static constexpr uint32_t kEmptyStack = StackDfa::kEmptyStack;

    bool is_end(int32_t token) const;
    void bound_memory();
    void check_subtrees(const std::vector<uint32_t>& roots, std::span<uint64_t> words);

    std::shared_ptr<const Compiled> c_;
    StackDfa dfa_;
    std::unordered_map<TopKey, std::shared_ptr<const TopMask>, TopKey::Hash> top_masks_;  // by the positions
    std::vector<uint32_t> walk_;   // DFA state per trie depth
    std::vector<uint32_t> path_node_, path_state_;  // the path to the last context-dependent subtree
    std::vector<uint32_t> anc_;
    uint32_t start_ = 0, state_ = 0;
    bool ended_ = false;
};

}  // namespace lfm::constrain
