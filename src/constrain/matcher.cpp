#include "constrain/matcher.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <tuple>

#include "lfm/error.h"

namespace lfm::constrain {
namespace {

using Op = Grammar::Op;

// Bounds that keep a pathological (very ambiguous) grammar from eating the machine: past them
// the matcher throws instead of slowing to a crawl.
constexpr size_t kMaxStacks = 20000;    // parses alive at once
constexpr size_t kMaxNodes = 1u << 24;  // distinct stack nodes in one DFA
// Memory bounds (see matcher.h): a matcher's DFA, the shared classifier DFA, the shared entries.
constexpr size_t kMaxMatcherBytes = size_t{4} << 20;
constexpr size_t kMaxClassifierBytes = size_t{16} << 20;
constexpr size_t kMaxSharedBytes = size_t{64} << 20;
// Subtrees of at least this many trie nodes are checked for a byte loop (StackDfa::loops_on
// costs up to 256 transitions per state, once).
constexpr uint32_t kBulkSubtree = 64;
// Subtrees of at least this many trie nodes have their walk's result kept by (state, node) for
// the next entry that reaches them in the same state; kept up to this many bytes in all.
constexpr uint32_t kFragmentSubtree = 256;
constexpr size_t kMaxFragmentBytes = size_t{32} << 20;

// One key for a (grammar position, parent node) pair: a stack node, its expansion, its closure.
inline uint64_t pair_key(uint32_t pos, uint32_t parent) { return (uint64_t{pos} << 32) | parent; }

inline void set_bit(std::span<uint64_t> words, int32_t id) {
    words[static_cast<uint32_t>(id) >> 6] |= uint64_t{1} << (static_cast<uint32_t>(id) & 63);
}

}  // namespace

// ---- StackDfa ----

void StackDfa::clear() {
    nodes_.assign(4, Node{UINT32_MAX, UINT32_MAX});  // kEmptyStack, kBelow, kFresh, kDirty
    node_ids_.clear();
    closure_ids_.clear();
    closure_spans_.clear();
    closure_pool_.clear();
    sets_.clear();
    state_ids_.clear();
    trans_.clear();
    loops_.clear();
    leaves_.clear();
    takes_.clear();
    set_bytes_ = 0;
    std::vector<uint32_t> none;
    state_of(none);  // kDead
}

size_t StackDfa::bytes() const {
    return nodes_.size() * (sizeof(Node) + 40) + sets_.size() * (256 * sizeof(uint32_t) + 128) + set_bytes_ * 2 +
           closure_pool_.size() * sizeof(uint32_t) + closure_spans_.size() * 8 + closure_ids_.bytes();
}

void StackDfa::expand_cached(uint32_t pos, uint32_t parent) {
    const uint64_t key = pair_key(pos, parent);
    auto [idx, fresh] = closure_ids_.find_or_add(key, static_cast<uint32_t>(closure_spans_.size()), [](uint32_t) { return true; });
    if (!fresh) {
        const auto [from, count] = closure_spans_[idx];
        out_.insert(out_.end(), closure_pool_.begin() + from, closure_pool_.begin() + from + count);
        return;
    }
    const size_t start = out_.size();
    seen_.clear();
    expand(pos, parent);
    closure_spans_.push_back({static_cast<uint32_t>(closure_pool_.size()), static_cast<uint32_t>(out_.size() - start)});
    closure_pool_.insert(closure_pool_.end(), out_.begin() + static_cast<std::ptrdiff_t>(start), out_.end());
}

uint32_t StackDfa::node(uint32_t pos, uint32_t parent) {
    const uint64_t key = pair_key(pos, parent);
    if (nodes_.size() >= kMaxNodes)
        throw Error(ErrorCode::kInvalidArgument, "constraint: the grammar needs too many parser states (too ambiguous?)");
    auto [id, fresh] = node_ids_.find_or_add(key, static_cast<uint32_t>(nodes_.size()), [](uint32_t) { return true; });
    if (fresh) nodes_.push_back({pos, parent});
    return id;
}

// Puts into out_ the stack tops reachable from position pos (with parent below it) without
// consuming a byte: rules are entered, finished alternatives return to their parent.
void StackDfa::expand(uint32_t pos, uint32_t parent) {
    const uint64_t key = pair_key(pos, parent);
    if (!seen_.insert(key)) return;
    const Grammar& g = c_->grammar;
    const Grammar::Elem& e = g.elems[pos];
    switch (e.op) {
        case Op::kEnd:
            if (parent == kEmptyStack) out_.push_back(kEmptyStack);
            else if (parent == kBelow) out_.push_back(kFresh);
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

uint32_t StackDfa::start() {
    out_.clear();
    seen_.clear();
    for (uint32_t a : c_->grammar.alts[c_->grammar.root]) expand(a, kEmptyStack);
    return state_of(out_);
}

uint32_t StackDfa::state_of(std::vector<uint32_t>& tops) {
    std::sort(tops.begin(), tops.end());
    tops.erase(std::unique(tops.begin(), tops.end()), tops.end());
    if (tops.size() > kMaxStacks)
        throw Error(ErrorCode::kInvalidArgument, "constraint: more than " + std::to_string(kMaxStacks) +
                                                     " parses alive at once (the grammar is too ambiguous)");
    uint64_t hash = tops.size();
    for (uint32_t t : tops) hash = mix64(hash ^ t);
    auto [id, fresh] = state_ids_.find_or_add(hash, static_cast<uint32_t>(sets_.size()),
                                              [&](uint32_t other) { return sets_[other] == tops; });
    if (fresh) {
        sets_.push_back(tops);
        set_bytes_ += tops.size() * sizeof(uint32_t);
        if (sets_.size() > trans_.size() * kBlockStates) {
            trans_.push_back(std::make_unique<uint32_t[]>(kBlockStates * 256));
            std::fill_n(trans_.back().get(), kBlockStates * 256, kUnknown);
        }
        loops_.push_back(0);
        leaves_.push_back(0);
        ByteSet takes;
        for (uint32_t n : tops) {
            if (n == kFresh || n == kDirty) {
                takes.add(0, 255);
                break;
            }
            if (n == kEmptyStack) continue;
            const Grammar::Elem& e = c_->grammar.elems[nodes_[n].pos];
            if (e.op == Op::kBytes)
                for (size_t w = 0; w < 4; ++w) takes.words[w] |= c_->grammar.sets[e.arg].words[w];
        }
        takes_.push_back(takes);
    }
    return id;
}

namespace {
// The bytes of each byte_class.
const std::array<std::vector<uint8_t>, kByteClasses>& class_members() {
    static const auto members = [] {
        std::array<std::vector<uint8_t>, kByteClasses> m;
        for (int c = 0; c < 256; ++c) m[byte_class(static_cast<uint8_t>(c))].push_back(static_cast<uint8_t>(c));
        return m;
    }();
    return members;
}
}  // namespace

bool StackDfa::loops_on(uint32_t state, uint64_t classes) {
    const auto& members = class_members();
    if (classes & leaves_[state]) return false;
    for (uint64_t rest = classes & ~loops_[state]; rest != 0; rest &= rest - 1) {
        const int k = std::countr_zero(rest);
        for (uint8_t b : members[static_cast<size_t>(k)])
            if (next(state, b) != state) {
                leaves_[state] |= uint64_t{1} << k;
                return false;
            }
        loops_[state] |= uint64_t{1} << k;
    }
    return true;
}

uint32_t StackDfa::compute(uint32_t state, uint8_t byte) {
    const Grammar& g = c_->grammar;
    out_.clear();  // (seen_ is cleared per expansion, by expand_cached)
    // Read in place, not copied: expanding adds nodes and closures, never a state (state_of
    // comes after the loop), so sets_[state] stays where it is.
    const uint32_t* tops = sets_[state].data();
    const size_t n_tops = sets_[state].size();
    for (size_t i = 0; i < n_tops; ++i) {
        const uint32_t n = tops[i];
        if (n == kEmptyStack) continue;
        if (n == kFresh || n == kDirty) {
            out_.push_back(kDirty);
            continue;
        }
        const Grammar::Elem& e = g.elems[nodes_[n].pos];
        if (e.op == Op::kBytes && g.sets[e.arg].has(byte)) expand_cached(nodes_[n].pos + 1, nodes_[n].parent);
    }
    const uint32_t s = state_of(out_);
    row(state)[byte] = s;
    return s;
}

uint32_t StackDfa::after_token(uint32_t state, int32_t token) {
    const Grammar& g = c_->grammar;
    out_.clear();
    seen_.clear();
    const std::vector<uint32_t> tops = sets_[state];
    for (uint32_t n : tops) {
        if (n <= kDirty) continue;
        const Grammar::Elem& e = g.elems[nodes_[n].pos];
        if (e.op == Op::kToken && c_->token_ids[e.arg] == token) expand(nodes_[n].pos + 1, nodes_[n].parent);
    }
    return state_of(out_);
}

std::vector<std::vector<uint32_t>> StackDfa::stacks(uint32_t state) const {
    std::vector<std::vector<uint32_t>> out;
    for (uint32_t n : sets_[state]) {
        std::vector<uint32_t> chain;
        for (uint32_t m = n; m > kDirty; m = nodes_[m].parent) chain.push_back(nodes_[m].pos);
        out.push_back(std::move(chain));
    }
    return out;
}

uint32_t StackDfa::import(const std::vector<std::vector<uint32_t>>& stacks) {
    std::vector<uint32_t> tops;
    for (const auto& chain : stacks) {
        uint32_t n = kEmptyStack;
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) n = node(*it, n);
        tops.push_back(n);
    }
    return state_of(tops);
}

// ---- MaskCache ----

void MaskCache::init(const Compiled& c) {
    const Grammar& g = c.grammar;
    const size_t n = g.elems.size();
    const size_t n_rules = g.alts.size();
    // Classes of positions by the rest of their alternative (and, through rules, everything it
    // can go on with): equal classes walk the trie alike, so they share mask entries. Rules are
    // taken callees first (Tarjan's strongly connected components); a rule that refers only to
    // itself (a repetition) is hashed with a marker for itself, then its positions again with
    // the rule's own class; rules in larger cycles keep classes of their own (sound, less shared).
    std::vector<uint32_t> rule_class(n_rules, UINT32_MAX);
    klass_.assign(n, UINT32_MAX);
    // Ids of classes: a position's key is four numbers (tag and op, argument, the class after it),
    // a rule's the classes of its alternatives; one counter numbers both (and the fresh ones).
    // Not strings: the grammar of a schema with long bounded strings has 10^5-10^6 positions, and
    // string keys made this the bulk of the first mask (317 ms for 383K positions).
    struct PosKey {
        uint32_t tag_op, arg, next;
        bool operator==(const PosKey&) const = default;
    };
    struct PosKeyHash {
        size_t operator()(const PosKey& k) const {
            return std::hash<uint64_t>()((uint64_t{k.tag_op} << 32 | k.arg) * 0x9E3779B97F4A7C15ull ^ k.next);
        }
    };
    struct RuleKeyHash {
        size_t operator()(const std::vector<uint32_t>& k) const {
            uint64_t h = k.size();
            for (uint32_t v : k) h = (h ^ v) * 0x100000001B3ull;
            return static_cast<size_t>(h);
        }
    };
    std::unordered_map<PosKey, uint32_t, PosKeyHash> position_ids;
    std::unordered_map<std::vector<uint32_t>, uint32_t, RuleKeyHash> rule_ids;
    position_ids.reserve(n);
    uint32_t next_id = 0;
    constexpr uint32_t kSelf = UINT32_MAX - 1;
    // the classes of rule r's positions, kRule args through rule_class (self: `self`)
    auto classify_positions = [&](uint32_t r, uint32_t self, uint32_t tag) {
        for (uint32_t a : g.alts[r]) {
            uint32_t e = a;
            while (g.elems[e].op != Op::kEnd) ++e;
            for (uint32_t p = e + 1; p-- > a;) {
                const Grammar::Elem& el = g.elems[p];
                PosKey key{tag << 8 | static_cast<uint32_t>(el.op), 0, 0};
                if (el.op != Op::kEnd) {
                    key.arg = el.op == Op::kRule ? (el.arg == r ? self : rule_class[el.arg]) : el.arg;
                    key.next = klass_[p + 1];
                }
                klass_[p] = position_ids.try_emplace(key, next_id).first->second;
                if (klass_[p] == next_id) ++next_id;
            }
        }
    };
    auto rule_key_class = [&](uint32_t r, uint32_t tag) {
        std::vector<uint32_t> key = {tag};
        for (uint32_t a : g.alts[r]) key.push_back(klass_[a]);
        const uint32_t id = rule_ids.try_emplace(std::move(key), next_id).first->second;
        if (id == next_id) ++next_id;
        return id;
    };
    auto fresh = [&] { return next_id++; };
    // Tarjan, iteratively.
    std::vector<uint32_t> index(n_rules, UINT32_MAX), low(n_rules, 0), stack;
    std::vector<char> on_stack(n_rules, 0);
    uint32_t counter = 0;
    auto callees = [&](uint32_t r) {
        std::vector<uint32_t> out;
        for (uint32_t a : g.alts[r])
            for (uint32_t p = a; g.elems[p].op != Op::kEnd; ++p)
                if (g.elems[p].op == Op::kRule) out.push_back(g.elems[p].arg);
        return out;
    };
    for (uint32_t root = 0; root < n_rules; ++root) {
        if (index[root] != UINT32_MAX) continue;
        std::vector<std::pair<uint32_t, std::vector<uint32_t>>> frames;
        std::vector<size_t> next_child;
        auto enter = [&](uint32_t r) {
            index[r] = low[r] = counter++;
            stack.push_back(r);
            on_stack[r] = 1;
            frames.emplace_back(r, callees(r));
            next_child.push_back(0);
        };
        enter(root);
        while (!frames.empty()) {
            const uint32_t r = frames.back().first;
            if (next_child.back() < frames.back().second.size()) {
                const uint32_t s = frames.back().second[next_child.back()++];
                if (index[s] == UINT32_MAX) enter(s);
                else if (on_stack[s]) low[r] = std::min(low[r], index[s]);
                continue;
            }
            frames.pop_back();
            next_child.pop_back();
            if (!frames.empty()) low[frames.back().first] = std::min(low[frames.back().first], low[r]);
            if (low[r] != index[r]) continue;
            std::vector<uint32_t> scc;
            for (uint32_t s = UINT32_MAX; s != r;) {
                s = stack.back();
                stack.pop_back();
                on_stack[s] = 0;
                scc.push_back(s);
            }
            if (scc.size() == 1) {
                classify_positions(r, kSelf, 'a');
                rule_class[r] = rule_key_class(r, 'r');
                classify_positions(r, rule_class[r], 'b');
            } else {
                for (uint32_t s : scc) rule_class[s] = fresh();
                for (uint32_t s : scc)
                    for (uint32_t a : g.alts[s])
                        for (uint32_t p = a;; ++p) {
                            klass_[p] = fresh();
                            if (g.elems[p].op == Op::kEnd) break;
                        }
            }
        }
    }
    for (size_t p = 0; p < n; ++p)
        if (klass_[p] == UINT32_MAX) klass_[p] = fresh();  // not in any rule (none expected)
    // A position just after the item of a deep turn of a bounded repetition (O_j, j >
    // kMaskAliasDepth) is `below` a top inside the item (a character of a string with a
    // maxLength, say): it shares the entry of the stand-in's position and is walked from it.
    // Sound because the stack under `below` is unknown to the walk: a token the stand-in accepts
    // fits in fewer items than O_j allows, one it rejects fails inside the first item, and one
    // that needs more items leaves the stand-in into the unknown, so it is context-dependent and
    // checked in full. (A top that is itself the item of O_j has a known `below` and is not
    // aliased: its walk would reject what the real O_j accepts.)
    rep_.resize(n);
    for (size_t p = 0; p < n; ++p) rep_[p] = static_cast<uint32_t>(p);
    for (auto [rule, stand_in] : g.mask_alias) {
        const uint32_t p = g.alts[rule][0] + 1, q = g.alts[stand_in][0] + 1;
        klass_[p] = klass_[q];
        rep_[p] = q;
    }
    sees_past_.assign(n, 0);
    for (size_t p = 0; p + 1 < n; ++p)
        sees_past_[p] = g.elems[p].op == Op::kRule && g.elems[p + 1].op == Op::kEnd && rep_[p] == p;
    dfa_ = std::make_unique<StackDfa>(&c);
    walk_.assign(static_cast<size_t>(c.trie->max_depth) + 1, StackDfa::kDead);
}

size_t MaskCache::bytes() const {
    std::shared_lock lock(mu_);
    return bytes_ + classifier_bytes_.load(std::memory_order_relaxed);
}

void MaskCache::prepare(const Compiled& c) {
    if (ready_.load(std::memory_order_acquire)) return;
    std::lock_guard build(build_mu_);
    if (!ready_.load(std::memory_order_relaxed)) {
        init(c);
        ready_.store(true, std::memory_order_release);
    }
}

std::shared_ptr<const TopMask> MaskCache::get(const Compiled& c, uint32_t pos, uint32_t below, uint32_t below2, bool* stored) {
    prepare(c);
    std::unique_lock build(build_mu_, std::defer_lock);
    auto klass = [&](uint32_t p) { return p == kEnd || p == kUnseen ? p : klass_[p]; };
    const TopKey key{klass_[pos], klass(below), klass(below2)};
    *stored = true;
    {
        std::shared_lock lock(mu_);
        if (auto it = entries_.find(key); it != entries_.end()) return it->second;
    }
    build.lock();
    {
        std::shared_lock lock(mu_);  // another thread may have built it meanwhile
        if (auto it = entries_.find(key); it != entries_.end()) return it->second;
    }
    auto rep = [&](uint32_t p) { return p == kEnd || p == kUnseen ? p : rep_[p]; };
    auto entry = classify(c, pos, rep(below), rep(below2));
    classifier_bytes_.store(dfa_->bytes() + fragment_bytes_, std::memory_order_relaxed);
    std::unique_lock lock(mu_);
    *stored = bytes_ + entry->bytes() <= kMaxSharedBytes;
    if (*stored) {
        entries_.emplace(key, entry);
        bytes_ += entry->bytes();
    }
    return entry;
}

std::shared_ptr<const TopMask> MaskCache::classify(const Compiled& c, uint32_t pos, uint32_t below, uint32_t below2) {
    const TokenTrie& t = *c.trie;
    StackDfa& dfa = *dfa_;
    if (dfa.bytes() > kMaxClassifierBytes || fragment_bytes_ > kMaxFragmentBytes) {
        dfa.clear();  // the fragments name its states
        fragments_.clear();
        fragment_bytes_ = 0;
        state_walks_.clear();
    }
    ++n_walks_;
    // the known positions over the unknown rest (kBelow), or over nothing (kEmptyStack)
    uint32_t under = StackDfa::kEmptyStack;
    if (below != kEnd) {
        const uint32_t under2 = below2 == kUnseen ? StackDfa::kBelow
                                : below2 == kEnd  ? StackDfa::kEmptyStack
                                                  : dfa.node(below2, StackDfa::kBelow);
        under = dfa.node(below, under2);
    }
    std::vector<uint32_t> tops = {dfa.node(pos, under)};
    walk_[0] = dfa.state_of(tops);
    tops = {StackDfa::kDirty};
    const uint32_t dirty = dfa.state_of(tops);  // only bytes the context decides
    tops = {StackDfa::kFresh};
    const uint32_t fresh = dfa.state_of(tops);  // the two positions done, nothing else alive
    auto entry = std::make_shared<TopMask>();
    std::vector<int32_t> ids;
    const size_t n = t.size();
    const uint8_t* byte = t.byte.data();
    const uint16_t* depth = t.depth.data();
    const uint32_t* end = t.end.data();
    const uint32_t* ids_begin = t.ids_begin.data();
    // The fragment being recorded (at most one at a time): from node `at` in state `state`,
    // what the walk added from ids[ids_from] and entry->uncertain[uncertain_from] on.
    struct Open {
        uint32_t at = UINT32_MAX, state = 0;
        size_t ids_from = 0, uncertain_from = 0;
    } open;
    auto close = [&] {
        Fragment f;
        f.ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(open.ids_from), ids.end());
        f.uncertain.assign(entry->uncertain.begin() + static_cast<std::ptrdiff_t>(open.uncertain_from), entry->uncertain.end());
        fragment_bytes_ += f.ids.size() * 4 + f.uncertain.size() * 4 + 64;
        fragments_.emplace(uint64_t{open.state} << 32 | open.at, std::move(f));
        open.at = UINT32_MAX;
    };
    size_t i = 0;
    while (i < n) {
        if (open.at != UINT32_MAX && i >= end[open.at]) close();
        const uint16_t d = depth[i];
        const uint32_t s = dfa.next(walk_[d - 1], byte[i]);
        if (s == StackDfa::kDead) {
            i = end[i];
            continue;
        }
        if (s == dirty) {
            entry->uncertain.push_back(static_cast<uint32_t>(i));
            i = end[i];
            continue;
        }
        if (s == fresh) {  // every byte below is the context's
            ids.insert(ids.end(), t.ids.begin() + ids_begin[i], t.ids.begin() + ids_begin[i + 1]);
            if (end[i] > i + 1) entry->uncertain.push_back(static_cast<uint32_t>(i) | TopMask::kBelowNode);
            i = end[i];
            continue;
        }
        walk_[d] = s;
        // A big subtree all of whose bytes loop back to s: every token in it is accepted.
        if (end[i] - i >= kBulkSubtree && dfa.loops_on(s, t.below_classes[i])) {
            ids.insert(ids.end(), t.ids.begin() + ids_begin[i], t.ids.begin() + ids_begin[end[i]]);
            i = end[i];
            continue;
        }
        // A big subtree walked before from the same state (by another entry): its result again.
        if (end[i] - i >= kFragmentSubtree) {
            const uint64_t key = uint64_t{s} << 32 | static_cast<uint32_t>(i);
            if (auto it = fragments_.find(key); it != fragments_.end()) {
                ids.insert(ids.end(), it->second.ids.begin(), it->second.ids.end());
                entry->uncertain.insert(entry->uncertain.end(), it->second.uncertain.begin(), it->second.uncertain.end());
                i = end[i];
                continue;
            }
            // Recorded once the state is seen in a second walk: most states (a name's first
            // letters, a count) belong to one entry only, and would only cost the copy.
            if (open.at == UINT32_MAX) {
                if (state_walks_.size() <= s) state_walks_.resize(s + 1, 0);
                if (state_walks_[s] != n_walks_ && state_walks_[s] != 0) open = {static_cast<uint32_t>(i), s, ids.size(), entry->uncertain.size()};
                state_walks_[s] = n_walks_;
            }
        }
        ids.insert(ids.end(), t.ids.begin() + ids_begin[i], t.ids.begin() + ids_begin[i + 1]);
        ++i;
    }
    if (open.at != UINT32_MAX) close();
    const size_t n_words = (static_cast<size_t>(t.n_vocab) + 63) / 64;
    if (ids.size() * 4 > n_words * 8) {
        entry->bits.assign(n_words, 0);
        for (int32_t id : ids) set_bit(entry->bits, id);
    } else {
        std::sort(ids.begin(), ids.end());
        entry->ids = std::move(ids);
    }
    return entry;
}

// ---- Matcher ----

Matcher::Matcher(std::shared_ptr<const Compiled> compiled) : c_(std::move(compiled)), dfa_(c_.get()) {
    c_->masks.prepare(*c_);  // (bind did; sees_past needs it)
    start_ = dfa_.start();
    state_ = start_;
    const size_t depth = static_cast<size_t>(c_->trie->max_depth) + 1;
    walk_.assign(depth, kDead);
    path_node_.assign(depth, UINT32_MAX);
    path_state_.assign(depth, kDead);
    anc_.assign(depth, 0);
}

void Matcher::reset() {
    state_ = start_;
    ended_ = false;
}

size_t Matcher::bytes() const {
    return dfa_.bytes() + top_masks_.size() * 48 + (walk_.size() * 4 + path_node_.size() * 8 + anc_.size() * 4);
}

void Matcher::bound_memory() {
    if (dfa_.bytes() <= kMaxMatcherBytes) return;
    const auto current = dfa_.stacks(state_);
    dfa_.clear();
    state_ = dfa_.import(current);
    start_ = dfa_.start();
}

bool Matcher::is_end(int32_t token) const {
    return std::binary_search(c_->end_tokens.begin(), c_->end_tokens.end(), token);
}

bool Matcher::complete() const {
    const auto& tops = dfa_.tops(state_);
    return !ended_ && std::binary_search(tops.begin(), tops.end(), kEmptyStack);
}

bool Matcher::only_end() const {
    const auto& tops = dfa_.tops(state_);
    return !ended_ && tops.size() == 1 && tops[0] == kEmptyStack;
}

// The context-dependent subtrees of one top, walked with this matcher's DFA from its state.
void Matcher::check_subtrees(const std::vector<uint32_t>& roots, std::span<uint64_t> words) {
    const TokenTrie& t = *c_->trie;
    const uint8_t* byte = t.byte.data();
    const uint16_t* depth = t.depth.data();
    const uint32_t* end = t.end.data();
    const uint32_t* ids_begin = t.ids_begin.data();
    const uint32_t* parent = t.parent.data();
    path_state_[0] = state_;
    size_t valid = 0;  // path_node_[1..valid] and their states hold for the last root
    for (uint32_t u : roots) {
        const bool below = (u & TopMask::kBelowNode) != 0;
        const uint32_t r = u & ~TopMask::kBelowNode;
        const size_t dr = depth[r];
        const size_t dp = below ? dr + 1 : dr;  // the walk starts at depth dp from the state at dp - 1
        // The ancestors at depths 1 .. dp - 1, bottom up until one is on the last root's path
        // (roots come in DFS order, so neighbours share most of it): depths 1 .. known match.
        size_t known = dp - 1;
        for (uint32_t a = below ? r : parent[r]; known > 0 && !(known <= valid && path_node_[known] == a); --known) {
            anc_[known] = a;
            a = parent[a];
        }
        valid = known;
        for (size_t k = known + 1; k < dp; ++k) {
            path_node_[k] = anc_[k];
            path_state_[k] = dfa_.next(path_state_[k - 1], byte[anc_[k]]);
            valid = k;
            if (path_state_[k] == kDead) break;
        }
        if (path_state_[valid] == kDead) continue;
        walk_[dp - 1] = path_state_[dp - 1];
        for (uint32_t i = below ? r + 1 : r; i < end[r];) {
            const uint16_t d = depth[i];
            const uint32_t s = dfa_.next(walk_[d - 1], byte[i]);
            if (s == kDead) {
                i = end[i];
                continue;
            }
            walk_[d] = s;
            for (uint32_t j = ids_begin[i]; j < ids_begin[i + 1]; ++j) set_bit(words, t.ids[j]);
            ++i;
        }
    }
}

void Matcher::fill_mask(std::span<uint64_t> words) {
    const TokenTrie& t = *c_->trie;
    const size_t n_words = (static_cast<size_t>(t.n_vocab) + 63) / 64;
    if (words.size() < n_words) throw Error(ErrorCode::kInvalidArgument, "constraint: mask buffer too small");
    std::fill(words.begin(), words.end(), 0);
    if (ended_ || state_ == kDead) return;
    bound_memory();
    const Grammar& g = c_->grammar;
    const std::vector<uint32_t> tops = dfa_.tops(state_);  // a copy: the DFA grows below
    for (uint32_t top : tops) {
        if (top == kEmptyStack) {
            for (int32_t id : c_->end_tokens) set_bit(words, id);
            continue;
        }
        const uint32_t pos = dfa_.pos(top);
        const Grammar::Elem& e = g.elems[pos];
        if (e.op == Op::kToken) {
            set_bit(words, c_->token_ids[e.arg]);
            continue;
        }
        const uint32_t parent = dfa_.parent(top);
        const uint32_t below = parent == kEmptyStack ? MaskCache::kEnd : dfa_.pos(parent);
        uint32_t below2 = MaskCache::kUnseen;
        if (below != MaskCache::kEnd && c_->masks.sees_past(below))
            below2 = dfa_.parent(parent) == kEmptyStack ? MaskCache::kEnd : dfa_.pos(dfa_.parent(parent));
        const TopKey key{pos, below, below2};
        std::shared_ptr<const TopMask> m;
        if (auto it = top_masks_.find(key); it != top_masks_.end()) {
            m = it->second;
        } else {
            bool stored = false;
            m = c_->masks.get(*c_, pos, below, below2, &stored);
            // kept here only while the shared cache keeps it too, so a matcher holds no masks of its own
            if (stored) top_masks_.emplace(key, m);
        }
        if (!m->bits.empty()) {
            for (size_t w = 0; w < n_words; ++w) words[w] |= m->bits[w];
        } else {
            for (int32_t id : m->ids) set_bit(words, id);
        }
        check_subtrees(m->uncertain, words);
    }
}

bool Matcher::allows(int32_t token) {
    if (ended_ || token < 0 || token >= c_->trie->n_vocab) return false;
    if (is_end(token)) return complete();
    const Grammar& g = c_->grammar;
    for (uint32_t top : dfa_.tops(state_)) {
        if (top == kEmptyStack) continue;
        const Grammar::Elem& e = g.elems[dfa_.pos(top)];
        if (e.op == Op::kToken && c_->token_ids[e.arg] == token) return true;
    }
    const TokenTrie& t = *c_->trie;
    if (t.is_special[static_cast<size_t>(token)]) return false;
    const std::string& bytes = t.bytes_of[static_cast<size_t>(token)];
    if (bytes.empty()) return false;
    uint32_t s = state_;
    for (unsigned char b : bytes)
        if ((s = dfa_.next(s, b)) == kDead) return false;
    return true;
}

bool Matcher::advance(int32_t token) {
    bound_memory();
    if (!allows(token)) return false;
    if (is_end(token) && !std::any_of(c_->token_ids.begin(), c_->token_ids.end(), [&](int32_t t) { return t == token; })) {
        ended_ = true;
        return true;
    }
    const uint32_t by_token = dfa_.after_token(state_, token);
    if (by_token != kDead) {
        state_ = by_token;
        return true;
    }
    uint32_t s = state_;
    for (unsigned char b : c_->trie->bytes_of[static_cast<size_t>(token)]) s = dfa_.next(s, b);
    state_ = s;
    return true;
}

bool Matcher::advance_bytes(std::string_view bytes) {
    bound_memory();
    uint32_t s = state_;
    for (unsigned char b : bytes)
        if ((s = dfa_.next(s, b)) == kDead) return false;
    state_ = s;
    return true;
}

}  // namespace lfm::constrain
