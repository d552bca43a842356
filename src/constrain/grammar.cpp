// Expression builders, UTF-8 range splitting, and the lowering of expression trees to flat rules
// with the checks that make the matcher safe: every rule can finish (so a state the matcher
// reaches can always be completed, and the mask is never empty before the end), and no rule is
// left-recursive (the matcher expands rules top-down and would never stop).

#include "constrain/grammar.h"

#include <algorithm>
#include <array>
#include <functional>
#include <optional>

#include "lfm/error.h"

namespace lfm::constrain {
namespace {

[[noreturn]] void fail(const std::string& what) { throw Error(ErrorCode::kInvalidArgument, "grammar: " + what); }

ExprPtr make(Expr e) { return std::make_shared<const Expr>(std::move(e)); }

// "_" + std::to_string(n) trips g++ 12's -Wrestrict false positive; appending does not.
std::string numbered(const char* stem, size_t n) {
    std::string s(stem);
    s += std::to_string(n);
    return s;
}

constexpr size_t kMaxRules = size_t{1} << 20;
constexpr size_t kMaxElems = size_t{1} << 23;

}  // namespace

ExprPtr lit(std::string_view bytes) {
    std::vector<ExprPtr> items;
    for (unsigned char c : bytes) {
        ByteSet s;
        s.add(c, c);
        items.push_back(byte_set(s));
    }
    return items.size() == 1 ? items[0] : seq(std::move(items));
}

ExprPtr byte_set(const ByteSet& set) {
    Expr e;
    e.kind = Expr::Kind::kBytes;
    e.bytes = set;
    return make(std::move(e));
}

std::vector<CodeRange> normalize_ranges(std::vector<CodeRange> ranges, bool negate) {
    for (CodeRange& r : ranges) r.hi = std::min(r.hi, kMaxCodePoint);
    std::erase_if(ranges, [](const CodeRange& r) { return r.lo > r.hi; });
    std::sort(ranges.begin(), ranges.end());
    std::vector<CodeRange> merged;
    for (const CodeRange& r : ranges) {
        if (!merged.empty() && r.lo <= merged.back().hi + 1) merged.back().hi = std::max(merged.back().hi, r.hi);
        else merged.push_back(r);
    }
    if (!negate) return merged;
    std::vector<CodeRange> out;
    char32_t next = 0;
    for (const CodeRange& r : merged) {
        if (r.lo > next) out.push_back({next, r.lo - 1});
        next = r.hi + 1;
    }
    if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
    return out;
}

ExprPtr chars(std::vector<CodeRange> ranges, bool negate) {
    Expr e;
    e.kind = Expr::Kind::kChars;
    e.chars = normalize_ranges(std::move(ranges), negate);
    return make(std::move(e));
}

ExprPtr any_char() { return chars({{0, kMaxCodePoint}}); }

ExprPtr nothing(std::string why) {
    Expr e;
    e.kind = Expr::Kind::kBytes;
    e.why = std::move(why);
    return make(std::move(e));
}

bool is_nothing(const ExprPtr& e) { return e->kind == Expr::Kind::kBytes && e->bytes.empty(); }

ExprPtr seq(std::vector<ExprPtr> items) {
    for (const ExprPtr& item : items)
        if (is_nothing(item)) return item;
    if (items.size() == 1) return items[0];
    Expr e;
    e.kind = Expr::Kind::kSeq;
    e.items = std::move(items);
    return make(std::move(e));
}

ExprPtr alt(std::vector<ExprPtr> items) {
    if (!items.empty() && std::all_of(items.begin(), items.end(), is_nothing)) return items[0];
    std::erase_if(items, is_nothing);
    if (items.size() == 1) return items[0];
    Expr e;
    e.kind = Expr::Kind::kAlt;
    e.items = std::move(items);
    return make(std::move(e));
}

namespace {

// Whether e matches the empty string; nullopt where a rule decides (rules are defined later).
std::optional<bool> nullable(const Expr& e) {
    switch (e.kind) {
        case Expr::Kind::kBytes:
        case Expr::Kind::kChars:
        case Expr::Kind::kToken: return false;
        case Expr::Kind::kRule: return std::nullopt;
        case Expr::Kind::kRepeat:
            if (e.min == 0) return true;
            return nullable(*e.items[0]);
        case Expr::Kind::kSeq:
        case Expr::Kind::kAlt: {
            const bool all = e.kind == Expr::Kind::kSeq;
            bool unknown = false;
            for (const ExprPtr& item : e.items) {
                const std::optional<bool> n = nullable(*item);
                if (!n) unknown = true;
                else if (*n != all) return !all;
            }
            if (unknown) return std::nullopt;
            return all;
        }
    }
    return std::nullopt;
}

bool rule_free(const Expr& e) {
    if (e.kind == Expr::Kind::kRule) return false;
    return std::all_of(e.items.begin(), e.items.end(), [](const ExprPtr& i) { return rule_free(*i); });
}

// What e matches but the empty string (e rule-free; nothing() where that is all it matches).
ExprPtr non_empty(const ExprPtr& e) {
    switch (e->kind) {
        case Expr::Kind::kBytes:
        case Expr::Kind::kChars:
        case Expr::Kind::kToken:
        case Expr::Kind::kRule: return e;
        case Expr::Kind::kRepeat: {
            const ExprPtr& item = e->items[0];
            if (e->max == 0) return nothing("");
            if (!*nullable(*item)) return e->min >= 1 ? e : repeat(item, 1, e->max);
            return repeat(non_empty(item), 1, e->max);  // (x | empty)^{lo,hi} = x^{0,hi}
        }
        case Expr::Kind::kAlt: {
            std::vector<ExprPtr> alts;
            for (const ExprPtr& item : e->items) alts.push_back(non_empty(item));
            return alt(std::move(alts));
        }
        case Expr::Kind::kSeq: {
            // x1 x2 ... xn: a non-empty x1 then the rest, or (x1 empty) the rest non-empty
            std::vector<ExprPtr> out;
            for (size_t i = 0; i < e->items.size(); ++i) {
                std::vector<ExprPtr> first = {non_empty(e->items[i])};
                first.insert(first.end(), e->items.begin() + static_cast<std::ptrdiff_t>(i) + 1, e->items.end());
                out.push_back(seq(std::move(first)));
                if (!*nullable(*e->items[i])) break;
            }
            return out.empty() ? nothing("") : alt(std::move(out));
        }
    }
    return e;
}

}  // namespace

ExprPtr repeat(ExprPtr item, uint32_t min, uint32_t max) {
    if (max < min) fail("a repetition {" + std::to_string(min) + "," + std::to_string(max) + "} has max < min");
    if (min == 1 && max == 1) return item;
    if (is_nothing(item)) return min == 0 ? empty() : item;
    // An item that may match nothing, repeated (a regex's (|a)*): the repetition is the item's
    // non-empty matches, up to max of them, or a rule for it would reach itself before matching
    // anything (left recursion). Items with rules (GBNF) are left to the builder's check.
    if (max > 1 && rule_free(*item) && *nullable(*item)) {
        ExprPtr some = non_empty(item);
        if (is_nothing(some)) return empty();
        item = std::move(some);
        min = 0;
    }
    Expr e;
    e.kind = Expr::Kind::kRepeat;
    e.items = {std::move(item)};
    e.min = min;
    e.max = max;
    return make(std::move(e));
}

ExprPtr rule_ref(uint32_t rule) {
    Expr e;
    e.kind = Expr::Kind::kRule;
    e.rule = rule;
    return make(std::move(e));
}

ExprPtr special_token(std::string text) {
    Expr e;
    e.kind = Expr::Kind::kToken;
    e.token = std::move(text);
    return make(std::move(e));
}

// The split of the Rust regex crate's utf8 module, rewritten: cut the range where the encoded
// length changes, then wherever a continuation byte would not span its full 80-BF, until each
// piece is a plain product of byte ranges.
std::vector<std::vector<std::pair<uint8_t, uint8_t>>> utf8_sequences(CodeRange range) {
    std::vector<std::vector<std::pair<uint8_t, uint8_t>>> out;
    auto encode = [](char32_t c, uint8_t* b) {
        if (c < 0x80) {
            b[0] = static_cast<uint8_t>(c);
            return 1;
        }
        if (c < 0x800) {
            b[0] = static_cast<uint8_t>(0xC0 | (c >> 6));
            b[1] = static_cast<uint8_t>(0x80 | (c & 0x3F));
            return 2;
        }
        if (c < 0x10000) {
            b[0] = static_cast<uint8_t>(0xE0 | (c >> 12));
            b[1] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
            b[2] = static_cast<uint8_t>(0x80 | (c & 0x3F));
            return 3;
        }
        b[0] = static_cast<uint8_t>(0xF0 | (c >> 18));
        b[1] = static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3F));
        b[2] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
        b[3] = static_cast<uint8_t>(0x80 | (c & 0x3F));
        return 4;
    };
    std::function<void(char32_t, char32_t)> split = [&](char32_t lo, char32_t hi) {
        if (lo > hi) return;
        // surrogates are not characters
        if (lo < 0xD800 && hi > 0xDFFF) {
            split(lo, 0xD7FF);
            split(0xE000, hi);
            return;
        }
        if (lo >= 0xD800 && hi <= 0xDFFF) return;
        if (lo >= 0xD800 && lo <= 0xDFFF) lo = 0xE000;
        if (hi >= 0xD800 && hi <= 0xDFFF) hi = 0xD7FF;
        if (lo > hi) return;
        for (char32_t limit : {char32_t{0x7F}, char32_t{0x7FF}, char32_t{0xFFFF}})
            if (lo <= limit && hi > limit) {
                split(lo, limit);
                split(limit + 1, hi);
                return;
            }
        if (hi < 0x80) {
            out.push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
            return;
        }
        for (int i = 1; i < 4; ++i) {
            char32_t m = (char32_t{1} << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    split(lo, lo | m);
                    split((lo | m) + 1, hi);
                    return;
                }
                if ((hi & m) != m) {
                    split(lo, (hi & ~m) - 1);
                    split(hi & ~m, hi);
                    return;
                }
            }
        }
        uint8_t a[4], b[4];
        int n = encode(lo, a);
        encode(hi, b);
        std::vector<std::pair<uint8_t, uint8_t>> s;
        for (int i = 0; i < n; ++i) s.emplace_back(a[i], b[i]);
        out.push_back(std::move(s));
    };
    split(range.lo, std::min(range.hi, kMaxCodePoint));
    return out;
}

uint32_t GrammarBuilder::declare(const std::string& name) {
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
    uint32_t id = static_cast<uint32_t>(names_.size());
    names_.push_back(name);
    bodies_.push_back(nullptr);
    by_name_[name] = id;
    return id;
}

void GrammarBuilder::define(uint32_t rule, ExprPtr body) { bodies_.at(rule) = std::move(body); }

const uint32_t* GrammarBuilder::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
}

namespace {

using Elem = Grammar::Elem;
using Op = Grammar::Op;
using Alts = std::vector<std::vector<Elem>>;
using Utf8Seq = std::vector<std::pair<uint8_t, uint8_t>>;  // one character's bytes, a range each

class Lowering {
public:
    explicit Lowering(const std::vector<std::string>& names, const std::vector<ExprPtr>& bodies, bool prune)
        : bodies_(bodies), prune_(prune) {
        g_.rule_names = names;
        rules_.resize(names.size());
    }

    Grammar run(uint32_t root) {
        for (uint32_t r = 0; r < bodies_.size(); ++r)
            if (bodies_[r]) rules_[r] = alternatives(bodies_[r]);
        check_defined(root);
        g_.root = root;
        for (uint32_t r = 0; r < rules_.size(); ++r) {
            std::vector<uint32_t> starts;
            for (const auto& a : rules_[r]) {
                starts.push_back(static_cast<uint32_t>(g_.elems.size()));
                g_.elems.insert(g_.elems.end(), a.begin(), a.end());
                g_.elems.push_back({Op::kEnd, 0});
            }
            g_.alts.push_back(std::move(starts));
        }
        if (g_.elems.size() > kMaxElems) fail("too large (more than " + std::to_string(kMaxElems) + " elements)");
        check_finite_and_not_left_recursive();
        return std::move(g_);
    }

private:
    uint32_t new_rule(const std::string& name) {
        if (rules_.size() >= kMaxRules) fail("too large (more than " + std::to_string(kMaxRules) + " rules)");
        rules_.emplace_back();
        g_.rule_names.push_back(name);
        return static_cast<uint32_t>(rules_.size() - 1);
    }
    uint32_t set_id(const ByteSet& s) {
        auto [it, fresh] = set_ids_.try_emplace(s, static_cast<uint32_t>(g_.sets.size()));
        if (fresh) g_.sets.push_back(s);
        return it->second;
    }

    Alts alternatives(const ExprPtr& e) {
        Alts out;
        if (e->kind == Expr::Kind::kAlt) {
            for (const ExprPtr& item : e->items) out.push_back(sequence(item));
        } else {
            out.push_back(sequence(e));
        }
        return out;
    }

    std::vector<Elem> sequence(const ExprPtr& e) {
        std::vector<Elem> out;
        append(e, out);
        return out;
    }

    // A rule standing for e, made once per expression node (shared subtrees stay shared).
    uint32_t anon(const ExprPtr& e) {
        if (auto it = anon_.find(e.get()); it != anon_.end()) return it->second;
        uint32_t r = new_rule(numbered("_", rules_.size()));
        anon_[e.get()] = r;
        Alts a;
        if (e->kind == Expr::Kind::kChars) a = char_alternatives(*e);
        else a = alternatives(e);
        rules_[r] = std::move(a);
        keep_.push_back(e);
        return r;
    }

    // One character of e's ranges. Few UTF-8 sequences (the usual classes: any character, a
    // string's characters, a few ranges): one alternative each, ASCII bytes in one. Many (a
    // class of hundreds of Unicode ranges, such as letters): alternatives that share their lead
    // bytes, a byte trie: listed flat, hundreds of alternatives stayed alive after a lead byte
    // such as E0 and the matcher's lazily built DFA expanded them all on every new state (one
    // mask took over 0.5 s); the trie's nested rules cost deeper stacks, so only for those.
    Alts char_alternatives(const Expr& e) {
        std::vector<Utf8Seq> seqs;
        for (const CodeRange& r : e.chars)
            for (auto& s : utf8_sequences(r)) seqs.push_back(std::move(s));
        if (seqs.empty()) return {{{Op::kBytes, set_id(ByteSet{})}}};  // matches nothing: caught as unfinishable
        if (seqs.size() > kMaxFlatSequences) return byte_trie(seqs);
        Alts out;
        ByteSet single;
        for (const Utf8Seq& s : seqs) {
            if (s.size() == 1) {
                single.add(s[0].first, s[0].second);
                continue;
            }
            std::vector<Elem> a;
            for (auto [lo, hi] : s) {
                ByteSet b;
                b.add(lo, hi);
                a.push_back({Op::kBytes, set_id(b)});
            }
            out.push_back(std::move(a));
        }
        if (!single.empty()) out.insert(out.begin(), std::vector<Elem>{{Op::kBytes, set_id(single)}});
        return out;
    }
    static constexpr size_t kMaxFlatSequences = 24;

    // seqs: byte-range sequences, none empty; those that share a first byte have one length.
    Alts byte_trie(const std::vector<Utf8Seq>& seqs) {
        ByteSet ending;  // bytes that end a sequence here: one alternative
        std::array<std::vector<uint32_t>, 256> with;  // per byte: the sequences it starts and that go on
        for (uint32_t i = 0; i < seqs.size(); ++i)
            for (unsigned b = seqs[i][0].first; b <= seqs[i][0].second; ++b) {
                if (seqs[i].size() == 1) ending.add(b, b);
                else with[b].push_back(i);
            }
        std::map<std::vector<uint32_t>, ByteSet> going_on;  // the sequences bytes continue -> those bytes
        for (unsigned b = 0; b < 256; ++b)
            if (!with[b].empty()) going_on[with[b]].add(b, b);
        Alts out;
        if (!ending.empty()) out.push_back({{Op::kBytes, set_id(ending)}});
        for (const auto& [which, bytes] : going_on) {
            std::vector<Utf8Seq> rest;  // what may follow those bytes (the key that shares equal tails)
            for (uint32_t i : which) rest.emplace_back(seqs[i].begin() + 1, seqs[i].end());
            std::sort(rest.begin(), rest.end());
            rest.erase(std::unique(rest.begin(), rest.end()), rest.end());
            auto it = utf8_tails_.find(rest);
            if (it == utf8_tails_.end()) {
                Alts tail = byte_trie(rest);
                const uint32_t r = new_rule(numbered("_utf8", rules_.size()));
                rules_[r] = std::move(tail);
                it = utf8_tails_.emplace(std::move(rest), r).first;
            }
            out.push_back({{Op::kBytes, set_id(bytes)}, {Op::kRule, it->second}});
        }
        return out;
    }

    // One element standing for e: a terminal when e is one, else a rule.
    Elem atom(const ExprPtr& e) {
        switch (e->kind) {
            case Expr::Kind::kBytes:
                if (e->bytes.empty() && !e->why.empty()) {  // a set of its own, to find the reason by
                    const auto id = static_cast<uint32_t>(g_.sets.size());
                    g_.sets.emplace_back();
                    why_[id] = e->why;
                    return {Op::kBytes, id};
                }
                return {Op::kBytes, set_id(e->bytes)};
            case Expr::Kind::kRule: return {Op::kRule, e->rule};
            case Expr::Kind::kToken: return token(e->token);
            case Expr::Kind::kChars: {
                bool ascii = e->chars.empty() || e->chars.back().hi < 0x80;
                if (ascii) {
                    ByteSet b;
                    for (const CodeRange& r : e->chars) b.add(r.lo, r.hi);
                    return {Op::kBytes, set_id(b)};
                }
                // one rule per distinct class (any_char() in every string of a schema is one)
                auto [it, fresh] = char_rules_.try_emplace(e->chars, 0);
                if (fresh) it->second = anon(e);
                return {Op::kRule, it->second};
            }
            default: return {Op::kRule, anon(e)};
        }
    }

    Elem token(const std::string& text) {
        auto [it, fresh] = token_ids_.try_emplace(text, static_cast<uint32_t>(g_.tokens.size()));
        if (fresh) g_.tokens.push_back(text);
        return {Op::kToken, it->second};
    }

    void append(const ExprPtr& e, std::vector<Elem>& out) {
        if (out.size() > kMaxElems) fail("too large");
        switch (e->kind) {
            case Expr::Kind::kSeq:
                for (const ExprPtr& item : e->items) append(item, out);
                return;
            case Expr::Kind::kRepeat: {
                if (e->max == 0) return;
                Elem a = atom(e->items[0]);
                if (e->min > (1u << 16)) fail("a repetition of more than 65536");
                for (uint32_t i = 0; i < e->min; ++i) out.push_back(a);
                if (e->max == Expr::kUnbounded) {
                    // R ::= a R | (empty): R last in its alternative, so the matcher's stack does not grow
                    uint32_t r = new_rule(numbered("_star", rules_.size()));
                    rules_[r] = {{a, {Op::kRule, r}}, {}};
                    out.push_back({Op::kRule, r});
                    return;
                }
                const uint32_t k = e->max - e->min;
                if (k > (1u << 16)) fail("a repetition of more than 65536");
                uint32_t prev = UINT32_MAX, stand_in = UINT32_MAX;
                for (uint32_t j = 1; j <= k; ++j) {  // O_j ::= a O_(j-1) | (empty)
                    uint32_t r = new_rule(numbered("_opt", rules_.size()));
                    std::vector<Elem> first = {a};
                    if (prev != UINT32_MAX) first.push_back({Op::kRule, prev});
                    rules_[r] = {std::move(first), {}};
                    prev = r;
                    if (j == Grammar::kMaskAliasDepth) stand_in = r;
                    if (j > Grammar::kMaskAliasDepth) g_.mask_alias.emplace_back(r, stand_in);
                }
                if (prev != UINT32_MAX) out.push_back({Op::kRule, prev});
                return;
            }
            default: out.push_back(atom(e)); return;
        }
    }

    void check_defined(uint32_t root) {
        if (root >= rules_.size()) fail("no root rule");
        for (uint32_t r = 0; r < bodies_.size(); ++r)
            if (!bodies_[r]) {
                // only an error when something refers to it
                for (const Alts& alts : rules_)
                    for (const auto& a : alts)
                        for (const Elem& el : a)
                            if (el.op == Op::kRule && el.arg == r) fail("rule '" + g_.rule_names[r] + "' is used but not defined");
                if (r == root) fail("rule '" + g_.rule_names[r] + "' is used but not defined");
            }
    }

    // The rules the root reaches.
    std::vector<char> reachable() const {
        std::vector<char> reach(g_.alts.size(), 0);
        std::vector<uint32_t> todo = {g_.root};
        reach[g_.root] = 1;
        while (!todo.empty()) {
            uint32_t r = todo.back();
            todo.pop_back();
            for (uint32_t s : g_.alts[r])
                for (uint32_t p = s; g_.elems[p].op != Op::kEnd; ++p)
                    if (g_.elems[p].op == Op::kRule && !reach[g_.elems[p].arg]) {
                        reach[g_.elems[p].arg] = 1;
                        todo.push_back(g_.elems[p].arg);
                    }
        }
        return reach;
    }

    // Every rule reachable from the root must be able to finish (with prune_, the alternatives
    // that cannot are dropped first), and none may reach itself again before consuming a byte
    // (left recursion, also through rules that can be empty).
    void check_finite_and_not_left_recursive() {
        const size_t n = g_.alts.size();
        std::vector<char> reach = reachable();
        std::vector<char> finite(n, 0), nullable(n, 0);
        for (bool changed = true; changed;) {
            changed = false;
            for (uint32_t r = 0; r < n; ++r) {
                if (!reach[r]) continue;
                for (uint32_t s : g_.alts[r]) {
                    bool nul = true;
                    for (uint32_t p = s; g_.elems[p].op != Op::kEnd; ++p)
                        nul = nul && g_.elems[p].op == Op::kRule && nullable[g_.elems[p].arg];
                    if (!finite[r] && alt_finishes(s, finite)) finite[r] = 1, changed = true;
                    if (nul && !nullable[r]) nullable[r] = 1, changed = true;
                }
            }
        }
        if (prune_) {
            if (!finite[g_.root]) {
                std::vector<char> seen(n, 0);
                const std::string why = why_dead(g_.root, finite, seen);
                if (!why.empty()) throw Error(ErrorCode::kInvalidArgument, why);
                fail("rule '" + g_.rule_names[g_.root] + "' can never finish (it matches nothing)");
            }
            // drop the alternatives that cannot finish; what only they reached is unreached now
            for (uint32_t r = 0; r < n; ++r)
                if (reach[r]) std::erase_if(g_.alts[r], [&](uint32_t a) { return !alt_finishes(a, finite); });
            reach = reachable();
        }
        for (uint32_t r = 0; r < n; ++r)
            if (reach[r] && !finite[r])
                fail("rule '" + g_.rule_names[r] + "' can never finish (it matches nothing, or only refers back to itself)");
        // left edges: r -> s when s can come first in r
        std::vector<std::vector<uint32_t>> left(n);
        for (uint32_t r = 0; r < n; ++r) {
            if (!reach[r]) continue;
            for (uint32_t s : g_.alts[r])
                for (uint32_t p = s; g_.elems[p].op == Op::kRule; ++p) {
                    left[r].push_back(g_.elems[p].arg);
                    if (!nullable[g_.elems[p].arg]) break;
                }
        }
        std::vector<uint8_t> color(n, 0);  // 0 new, 1 on the path, 2 done
        for (uint32_t start = 0; start < n; ++start) {
            if (!reach[start] || color[start]) continue;
            std::vector<std::pair<uint32_t, size_t>> stack = {{start, 0}};
            color[start] = 1;
            while (!stack.empty()) {
                auto& [r, i] = stack.back();
                if (i == left[r].size()) {
                    color[r] = 2;
                    stack.pop_back();
                    continue;
                }
                uint32_t s = left[r][i++];
                if (color[s] == 1) {
                    std::string name = g_.rule_names[s];
                    fail("rule '" + name + "' is left-recursive (it can reach itself before matching anything)");
                }
                if (color[s] == 0) {
                    color[s] = 1;
                    stack.emplace_back(s, 0);
                }
            }
        }
    }

    // Whether the alternative at start can finish: no empty byte set, every rule in it finite.
    bool alt_finishes(uint32_t start, const std::vector<char>& finite) const {
        for (uint32_t p = start; g_.elems[p].op != Op::kEnd; ++p) {
            const Elem& el = g_.elems[p];
            if (el.op == Op::kRule && !finite[el.arg]) return false;
            if (el.op == Op::kBytes && g_.sets[el.arg].empty()) return false;
        }
        return true;
    }

    // The reason of a nothing() that keeps rule r from finishing: in its first alternative that
    // has one, at the first element that cannot finish ("" when none has a reason).
    std::string why_dead(uint32_t r, const std::vector<char>& finite, std::vector<char>& seen) const {
        seen[r] = 1;
        for (uint32_t s : g_.alts[r])
            for (uint32_t p = s; g_.elems[p].op != Op::kEnd; ++p) {
                const Elem& el = g_.elems[p];
                if (el.op == Op::kBytes && g_.sets[el.arg].empty()) {
                    if (auto it = why_.find(el.arg); it != why_.end()) return it->second;
                    break;
                }
                if (el.op == Op::kRule && !finite[el.arg]) {
                    if (!seen[el.arg])
                        if (std::string why = why_dead(el.arg, finite, seen); !why.empty()) return why;
                    break;
                }
            }
        return "";
    }

    const std::vector<ExprPtr>& bodies_;
    const bool prune_;
    std::map<uint32_t, std::string> why_;  // the byte sets of nothing()s with a reason: the reason
    Grammar g_;
    std::vector<Alts> rules_;
    std::map<const Expr*, uint32_t> anon_;
    std::vector<ExprPtr> keep_;  // expressions whose addresses key anon_
    std::map<ByteSet, uint32_t> set_ids_;
    std::map<std::vector<Utf8Seq>, uint32_t> utf8_tails_;    // byte_trie's continuation rules, shared
    std::map<std::vector<CodeRange>, uint32_t> char_rules_;  // a rule per distinct character class
    std::map<std::string, uint32_t> token_ids_;
};

}  // namespace

Grammar GrammarBuilder::build(uint32_t root, bool prune) const { return Lowering(names_, bodies_, prune).run(root); }

}  // namespace lfm::constrain
