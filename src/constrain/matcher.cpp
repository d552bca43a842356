#include "constrain/matcher.h"

#include <algorithm>
#include <cstring>

#include "lfm/error.h"

namespace lfm::constrain {
namespace {

using Op = Grammar::Op;

// Bounds that keep a pathological (very ambiguous) grammar from eating the machine: past them
// the matcher throws instead of slowing to a crawl.
constexpr size_t kMaxStacks = 20000;     // parses alive at once
constexpr size_t kMaxNodes = 1u << 24;   // distinct stack nodes in one generation
constexpr size_t kMaxMaskCache = 256u << 20;  // bytes of cached masks

}  // namespace

Matcher::Matcher(std::shared_ptr<const Compiled> compiled) : c_(std::move(compiled)) {
    nodes_.push_back({UINT32_MAX, UINT32_MAX});  // kEmptyStack
    std::vector<uint32_t> none;
    state_of(none);  // kDead
    out_.clear();
    seen_.clear();
    for (uint32_t a : c_->grammar.alts[c_->grammar.root]) expand(a, kEmptyStack);
    start_ = state_of(out_);
    state_ = start_;
    walk_.assign(static_cast<size_t>(c_->trie->max_depth) + 1, kDead);
}

void Matcher::reset() {
    state_ = start_;
    ended_ = false;
}

uint32_t Matcher::node(uint32_t pos, uint32_t parent) {
    const uint64_t key = (uint64_t{pos} << 32) | parent;
    auto [it, fresh] = node_ids_.try_emplace(key, static_cast<uint32_t>(nodes_.size()));
    if (fresh) {
        if (nodes_.size() >= kMaxNodes)
            throw Error(ErrorCode::kInvalidArgument, "constraint: the grammar needs too many parser states (too ambiguous?)");
        nodes_.push_back({pos, parent});
    }
    return it->second;
}

// Puts into out_ the stack tops reachable from position pos (with parent below it) without
// consuming a byte: rules are entered, finished alternatives return to their parent.
void Matcher::expand(uint32_t pos, uint32_t parent) {
    const uint64_t key = (uint64_t{pos} << 32) | parent;
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return;
    seen_.push_back(key);
    const Grammar& g = c_->grammar;
    const Grammar::Elem& e = g.elems[pos];
    switch (e.op) {
        case Op::kEnd:
            if (parent == kEmptyStack) out_.push_back(kEmptyStack);
            else expand(nodes_[parent].pos, nodes_[parent].parent);
            return;
        case Op::kRule: {
            // A rule last in its alternative returns straight to our parent (a tail call): the
            // stack does not grow with each turn of a repetition.
            const uint32_t cont = g.elems[pos + 1].op == Op::kEnd ? parent : node(pos + 1, parent);
            for (uint32_t a : g.alts[e.arg]) expand(a, cont);
            return;
        }
        default: out_.push_back(node(pos, parent)); return;
    }
}

uint32_t Matcher::state_of(std::vector<uint32_t>& tops) {
    std::sort(tops.begin(), tops.end());
    tops.erase(std::unique(tops.begin(), tops.end()), tops.end());
    if (tops.size() > kMaxStacks)
        throw Error(ErrorCode::kInvalidArgument, "constraint: more than " + std::to_string(kMaxStacks) +
                                                     " parses alive at once (the grammar is too ambiguous)");
    std::string key(reinterpret_cast<const char*>(tops.data()), tops.size() * sizeof(uint32_t));
    auto [it, fresh] = state_ids_.try_emplace(std::move(key), static_cast<uint32_t>(sets_.size()));
    if (fresh) {
        sets_.push_back(tops);
        trans_.resize(sets_.size() * 256, kUnknown);
    }
    return it->second;
}

uint32_t Matcher::compute(uint32_t state, uint8_t byte) {
    const Grammar& g = c_->grammar;
    out_.clear();
    seen_.clear();
    // sets_ may grow (and move) while expanding: copy the tops first
    const std::vector<uint32_t> tops = sets_[state];
    for (uint32_t n : tops) {
        if (n == kEmptyStack) continue;
        const Grammar::Elem& e = g.elems[nodes_[n].pos];
        if (e.op == Op::kBytes && g.sets[e.arg].has(byte)) expand(nodes_[n].pos + 1, nodes_[n].parent);
    }
    const uint32_t s = state_of(out_);
    trans_[static_cast<size_t>(state) * 256 + byte] = s;
    return s;
}

uint32_t Matcher::after_token(uint32_t state, int32_t token) {
    const Grammar& g = c_->grammar;
    out_.clear();
    seen_.clear();
    const std::vector<uint32_t> tops = sets_[state];
    for (uint32_t n : tops) {
        if (n == kEmptyStack) continue;
        const Grammar::Elem& e = g.elems[nodes_[n].pos];
        if (e.op == Op::kToken && c_->token_ids[e.arg] == token) expand(nodes_[n].pos + 1, nodes_[n].parent);
    }
    return state_of(out_);
}

bool Matcher::is_end(int32_t token) const {
    return std::binary_search(c_->end_tokens.begin(), c_->end_tokens.end(), token);
}

bool Matcher::complete() const { return !ended_ && std::binary_search(sets_[state_].begin(), sets_[state_].end(), kEmptyStack); }

bool Matcher::only_end() const { return !ended_ && sets_[state_].size() == 1 && sets_[state_][0] == kEmptyStack; }

void Matcher::fill_mask(std::span<uint64_t> words) {
    const TokenTrie& t = *c_->trie;
    const size_t n_words = (static_cast<size_t>(t.n_vocab) + 63) / 64;
    if (words.size() < n_words) throw Error(ErrorCode::kInvalidArgument, "constraint: mask buffer too small");
    if (ended_ || state_ == kDead) {
        std::fill(words.begin(), words.end(), 0);
        return;
    }
    if (auto it = masks_.find(state_); it != masks_.end()) {
        std::copy(it->second.begin(), it->second.end(), words.begin());
        std::fill(words.begin() + static_cast<std::ptrdiff_t>(n_words), words.end(), 0);
        return;
    }
    std::fill(words.begin(), words.end(), 0);
    // The walk: walk_[d] is the DFA state after the first d bytes of the current node's path.
    walk_[0] = state_;
    const size_t n = t.size();
    const uint8_t* byte = t.byte.data();
    const uint16_t* depth = t.depth.data();
    const uint32_t* end = t.end.data();
    const uint32_t* ids_begin = t.ids_begin.data();
    size_t i = 0;
    while (i < n) {
        const uint16_t d = depth[i];
        const uint32_t s = next(walk_[d - 1], byte[i]);
        if (s == kDead) {
            i = end[i];
            continue;
        }
        walk_[d] = s;
        for (uint32_t k = ids_begin[i]; k < ids_begin[i + 1]; ++k) {
            const auto id = static_cast<uint32_t>(t.ids[k]);
            words[id >> 6] |= uint64_t{1} << (id & 63);
        }
        ++i;
    }
    const Grammar& g = c_->grammar;
    for (uint32_t top : sets_[state_]) {
        if (top == kEmptyStack) {
            for (int32_t id : c_->end_tokens) words[static_cast<uint32_t>(id) >> 6] |= uint64_t{1} << (id & 63);
            continue;
        }
        const Grammar::Elem& e = g.elems[nodes_[top].pos];
        if (e.op == Op::kToken) {
            const auto id = static_cast<uint32_t>(c_->token_ids[e.arg]);
            words[id >> 6] |= uint64_t{1} << (id & 63);
        }
    }
    if (mask_bytes_ + n_words * 8 <= kMaxMaskCache) {
        masks_[state_].assign(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(n_words));
        mask_bytes_ += n_words * 8;
    }
}

bool Matcher::allows(int32_t token) {
    if (ended_ || token < 0 || token >= c_->trie->n_vocab) return false;
    if (is_end(token)) return complete();
    const Grammar& g = c_->grammar;
    for (uint32_t top : sets_[state_]) {
        if (top == kEmptyStack) continue;
        const Grammar::Elem& e = g.elems[nodes_[top].pos];
        if (e.op == Op::kToken && c_->token_ids[e.arg] == token) return true;
    }
    const TokenTrie& t = *c_->trie;
    if (t.is_special[static_cast<size_t>(token)]) return false;
    const std::string& bytes = t.bytes_of[static_cast<size_t>(token)];
    if (bytes.empty()) return false;
    uint32_t s = state_;
    for (unsigned char b : bytes)
        if ((s = next(s, b)) == kDead) return false;
    return true;
}

bool Matcher::advance(int32_t token) {
    if (!allows(token)) return false;
    if (is_end(token) && !std::any_of(c_->token_ids.begin(), c_->token_ids.end(), [&](int32_t t) { return t == token; })) {
        ended_ = true;
        return true;
    }
    const uint32_t by_token = after_token(state_, token);
    if (by_token != kDead) {
        state_ = by_token;
        return true;
    }
    uint32_t s = state_;
    for (unsigned char b : c_->trie->bytes_of[static_cast<size_t>(token)]) s = next(s, b);
    state_ = s;
    return true;
}

bool Matcher::advance_bytes(std::string_view bytes) {
    uint32_t s = state_;
    for (unsigned char b : bytes)
        if ((s = next(s, b)) == kDead) return false;
    state_ = s;
    return true;
}

}  // namespace lfm::constrain
