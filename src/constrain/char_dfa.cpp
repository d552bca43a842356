#include "constrain/char_dfa.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "lfm/error.h"

namespace lfm::constrain {
namespace {

// Bounds: a pattern's automata stay small in practice (a URI is a handful of states, a date a
// few hundred); the product with a length counter is states × (maxLength + 1).
constexpr size_t kMaxNfaNodes = 50000;
constexpr size_t kMaxDfaStates = 4096;
// Work of the subset construction (NFA nodes visited), so that a pattern whose DFA is small but
// whose NFA is large (`.{0,3000}x`) fails in milliseconds, not seconds.
constexpr size_t kMaxSubsetWork = size_t{20} << 20;
constexpr size_t kMaxProductStates = 60000;

[[noreturn]] void too_large(const char* what, size_t bound) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("the ") + what + " needs more than " + std::to_string(bound) + " automaton states");
}

// The fewest characters a string of e has (rules and tokens: 0, which is safe below).
uint64_t min_chars(const Expr& e) {
    switch (e.kind) {
        case Expr::Kind::kChars:
        case Expr::Kind::kBytes: return 1;
        case Expr::Kind::kSeq: {
            uint64_t n = 0;
            for (const ExprPtr& x : e.items) n += min_chars(*x);
            return n;
        }
        case Expr::Kind::kAlt: {
            uint64_t n = UINT64_MAX;
            for (const ExprPtr& x : e.items) n = std::min(n, min_chars(*x));
            return n == UINT64_MAX ? 0 : n;
        }
        case Expr::Kind::kRepeat: return std::min<uint64_t>(uint64_t{e.min} * min_chars(*e.items[0]), UINT64_MAX / 2);
        default: return 0;
    }
}

// Thompson's construction: nodes with ε-moves and code point ranges.
struct Nfa {
    uint64_t max_chars = UINT64_MAX;  // strings longer than this are cut off later anyway
    struct Node {
        std::vector<uint32_t> eps;
        std::vector<CharDfa::Edge> edges;
    };
    std::vector<Node> nodes;

    uint32_t add() {
        if (nodes.size() >= kMaxNfaNodes) too_large("pattern", kMaxNfaNodes);
        nodes.emplace_back();
        return static_cast<uint32_t>(nodes.size() - 1);
    }
    void eps(uint32_t from, uint32_t to) { nodes[from].eps.push_back(to); }

    // Adds e after `from`; returns the node where it ends.
    uint32_t build(const Expr& e, uint32_t from, int depth) {
        if (depth > 1000) throw Error(ErrorCode::kInvalidArgument, "the pattern is nested too deeply");
        switch (e.kind) {
            case Expr::Kind::kChars: {
                const uint32_t to = add();
                for (const CodeRange& r : e.chars) nodes[from].edges.push_back({r.lo, r.hi, to});
                return to;
            }
            case Expr::Kind::kBytes: {  // single ASCII bytes are characters; other bytes are not
                const uint32_t to = add();
                for (unsigned b = 0; b < 256; ++b) {
                    if (!e.bytes.has(b)) continue;
                    if (b >= 0x80) throw Error(ErrorCode::kInvalidArgument, "a pattern of raw bytes cannot be intersected");
                    nodes[from].edges.push_back({static_cast<char32_t>(b), static_cast<char32_t>(b), to});
                }
                return to;
            }
            case Expr::Kind::kSeq: {
                uint32_t at = from;
                for (const ExprPtr& x : e.items) at = build(*x, at, depth + 1);
                return at;
            }
            case Expr::Kind::kAlt: {
                const uint32_t to = add();
                for (const ExprPtr& x : e.items) eps(build(*x, from, depth + 1), to);
                return to;
            }
            case Expr::Kind::kRepeat: {
                // With a length bound, an item of at least one character repeats at most that many
                // times: a larger count is as good as unbounded, and a larger minimum matches nothing.
                uint32_t max = e.max;
                if (max_chars != UINT64_MAX && min_chars(*e.items[0]) >= 1) {
                    if (e.min > max_chars) return add();  // unreachable: no string gets here
                    if (max != Expr::kUnbounded && max > max_chars) max = Expr::kUnbounded;
                }
                uint32_t at = from;
                for (uint32_t i = 0; i < e.min; ++i) at = build(*e.items[0], at, depth + 1);
                if (max == Expr::kUnbounded) {
                    const uint32_t loop = add();
                    eps(at, loop);
                    eps(build(*e.items[0], loop, depth + 1), loop);
                    return loop;
                }
                const uint32_t out = add();
                eps(at, out);
                for (uint32_t i = e.min; i < max; ++i) {
                    at = build(*e.items[0], at, depth + 1);
                    eps(at, out);
                }
                return out;
            }
            default: throw Error(ErrorCode::kInvalidArgument, "a pattern with rules or special tokens cannot be intersected");
        }
    }

    // The nodes reachable from set by ε-moves, sorted.
    std::vector<uint32_t> closure(std::vector<uint32_t> set) {
        mark.resize(nodes.size(), 0);
        if ((work += set.size() + 1) > kMaxSubsetWork) too_large("pattern", kMaxDfaStates);
        ++stamp;
        std::vector<uint32_t> stack;
        for (uint32_t n : set)
            if (mark[n] != stamp) mark[n] = stamp, stack.push_back(n);
        set = stack;
        while (!stack.empty()) {
            const uint32_t n = stack.back();
            stack.pop_back();
            for (uint32_t m : nodes[n].eps)
                if (mark[m] != stamp) {
                    mark[m] = stamp;
                    set.push_back(m);
                    stack.push_back(m);
                }
        }
        work += set.size();
        std::sort(set.begin(), set.end());
        return set;
    }
    size_t work = 0;  // nodes visited by closure, against kMaxSubsetWork
    std::vector<uint32_t> mark;  // closure's visited marks: == stamp in this call
    uint32_t stamp = 0;
};

// Keeps the states reachable from the start that can reach an accepting state, renumbered.
CharDfa trim(const CharDfa& d) {
    const size_t n = d.size();
    std::vector<std::vector<uint32_t>> into(n);
    for (uint32_t s = 0; s < n; ++s)
        for (const CharDfa::Edge& e : d.edges[s]) into[e.to].push_back(s);
    std::vector<uint8_t> live(n, 0);
    std::vector<uint32_t> stack;
    for (uint32_t s = 0; s < n; ++s)
        if (d.accepting[s]) live[s] = 1, stack.push_back(s);
    while (!stack.empty()) {
        const uint32_t s = stack.back();
        stack.pop_back();
        for (uint32_t p : into[s])
            if (!live[p]) live[p] = 1, stack.push_back(p);
    }
    CharDfa out;
    if (n == 0 || !live[0]) {
        out.edges.resize(1);
        out.accepting.assign(1, 0);
        return out;
    }
    std::vector<uint32_t> id(n, UINT32_MAX);
    std::vector<uint32_t> order = {0};
    id[0] = 0;
    for (size_t i = 0; i < order.size(); ++i)
        for (const CharDfa::Edge& e : d.edges[order[i]])
            if (live[e.to] && id[e.to] == UINT32_MAX) {
                id[e.to] = static_cast<uint32_t>(order.size());
                order.push_back(e.to);
            }
    out.edges.resize(order.size());
    out.accepting.resize(order.size());
    for (size_t i = 0; i < order.size(); ++i) {
        out.accepting[i] = d.accepting[order[i]];
        for (const CharDfa::Edge& e : d.edges[order[i]])
            if (live[e.to]) out.edges[i].push_back({e.lo, e.hi, id[e.to]});
    }
    return out;
}

}  // namespace

CharDfa char_dfa(const Expr& raw, uint64_t max_chars) {
    Nfa nfa;
    nfa.max_chars = max_chars;
    const uint32_t start = nfa.add();
    const uint32_t final = nfa.build(raw, start, 0);
    CharDfa d;
    std::map<std::vector<uint32_t>, uint32_t> ids;
    std::vector<std::vector<uint32_t>> sets;
    auto state = [&](std::vector<uint32_t> set) {
        auto [it, fresh] = ids.try_emplace(set, static_cast<uint32_t>(sets.size()));
        if (fresh) {
            if (sets.size() >= kMaxDfaStates) too_large("pattern", kMaxDfaStates);
            d.accepting.push_back(std::binary_search(set.begin(), set.end(), final));
            d.edges.emplace_back();
            sets.push_back(std::move(set));
        }
        return it->second;
    };
    state(nfa.closure({start}));
    for (size_t s = 0; s < sets.size(); ++s) {
        std::vector<CharDfa::Edge> all;
        for (uint32_t n : sets[s]) all.insert(all.end(), nfa.nodes[n].edges.begin(), nfa.nodes[n].edges.end());
        if ((nfa.work += all.size()) > kMaxSubsetWork) too_large("pattern", kMaxDfaStates);
        // elementary intervals: every edge covers each of them whole or not at all
        std::vector<char32_t> points;
        for (const CharDfa::Edge& e : all) {
            points.push_back(e.lo);
            points.push_back(e.hi + 1);
        }
        std::sort(points.begin(), points.end());
        points.erase(std::unique(points.begin(), points.end()), points.end());
        std::sort(all.begin(), all.end(), [](const CharDfa::Edge& x, const CharDfa::Edge& y) { return x.lo < y.lo; });
        std::vector<CharDfa::Edge> out, active;  // active: the edges covering points[i]
        size_t next = 0;
        for (size_t i = 0; i + 1 < points.size(); ++i) {
            while (next < all.size() && all[next].lo <= points[i]) active.push_back(all[next++]);
            std::erase_if(active, [&](const CharDfa::Edge& e) { return e.hi < points[i]; });
            std::vector<uint32_t> targets;
            for (const CharDfa::Edge& e : active) targets.push_back(e.to);
            if (targets.empty()) continue;
            std::sort(targets.begin(), targets.end());
            targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
            const uint32_t to = state(nfa.closure(std::move(targets)));
            const char32_t lo = points[i], hi = points[i + 1] - 1;
            if (!out.empty() && out.back().to == to && out.back().hi + 1 == lo) out.back().hi = hi;
            else out.push_back({lo, hi, to});
        }
        d.edges[s] = std::move(out);
    }
    return trim(d);
}

CharDfa length_dfa(uint32_t min, uint32_t max) {
    const bool bounded = max != Expr::kUnbounded;
    const uint32_t last = bounded ? max : min;
    if (static_cast<size_t>(last) + 1 > kMaxProductStates) too_large("length bound", kMaxProductStates);
    CharDfa d;
    d.edges.resize(last + 1);
    d.accepting.resize(last + 1);
    for (uint32_t k = 0; k <= last; ++k) {
        d.accepting[k] = k >= min;
        if (k < last) d.edges[k].push_back({0, kMaxCodePoint, k + 1});
        else if (!bounded) d.edges[k].push_back({0, kMaxCodePoint, k});
    }
    return d;
}

CharDfa intersect(const CharDfa& a, const CharDfa& b) {
    CharDfa d;
    std::unordered_map<uint64_t, uint32_t> ids;
    std::vector<std::pair<uint32_t, uint32_t>> pairs;
    auto state = [&](uint32_t x, uint32_t y) {
        auto [it, fresh] = ids.try_emplace((uint64_t{x} << 32) | y, static_cast<uint32_t>(pairs.size()));
        if (fresh) {
            if (pairs.size() >= kMaxProductStates) too_large("pattern with its length or format", kMaxProductStates);
            pairs.emplace_back(x, y);
            d.accepting.push_back(a.accepting[x] && b.accepting[y]);
            d.edges.emplace_back();
        }
        return it->second;
    };
    state(0, 0);
    for (size_t s = 0; s < pairs.size(); ++s) {
        const auto& ea = a.edges[pairs[s].first];
        const auto& eb = b.edges[pairs[s].second];
        std::vector<CharDfa::Edge> out;
        for (size_t i = 0, j = 0; i < ea.size() && j < eb.size();) {
            const char32_t lo = std::max(ea[i].lo, eb[j].lo), hi = std::min(ea[i].hi, eb[j].hi);
            if (lo <= hi) out.push_back({lo, hi, state(ea[i].to, eb[j].to)});
            if (ea[i].hi < eb[j].hi) ++i;
            else ++j;
        }
        d.edges[s] = std::move(out);
    }
    return trim(d);
}

bool is_empty(const CharDfa& d) { return d.size() == 1 && !d.accepting[0] && d.edges[0].empty(); }

CharDfa complement(const CharDfa& d) {
    // Total over the characters (a sink takes what no edge does), then accepting flipped.
    static constexpr CodeRange kAlphabet[] = {{0, 0xD7FF}, {0xE000, kMaxCodePoint}};
    CharDfa t = d;
    const auto sink = static_cast<uint32_t>(t.size());
    t.edges.emplace_back();
    t.accepting.push_back(0);
    for (size_t s = 0; s < t.size(); ++s) {
        std::vector<CharDfa::Edge> out;
        const std::vector<CharDfa::Edge>& in = s == sink ? std::vector<CharDfa::Edge>{} : t.edges[s];
        for (const CodeRange& a : kAlphabet) {
            char32_t at = a.lo;  // the first character of a not yet covered
            for (const CharDfa::Edge& e : in) {
                if (e.hi < a.lo || e.lo > a.hi) continue;
                const char32_t lo = std::max(e.lo, a.lo), hi = std::min(e.hi, a.hi);
                if (lo > at) out.push_back({at, lo - 1, sink});
                out.push_back({lo, hi, e.to});
                at = hi + 1;
            }
            if (at <= a.hi) out.push_back({at, a.hi, sink});
        }
        t.edges[s] = std::move(out);
        t.accepting[s] = !t.accepting[s];
    }
    return trim(t);
}

bool accepts(const CharDfa& d, std::string_view utf8) {
    uint32_t s = 0;
    for (size_t i = 0; i < utf8.size();) {
        size_t used = 0;
        const char32_t cp = decode_utf8_char(utf8.substr(i), &used);
        if (used == 0) return false;
        i += used;
        const auto& es = d.edges[s];
        auto it = std::upper_bound(es.begin(), es.end(), cp, [](char32_t c, const CharDfa::Edge& e) { return c < e.lo; });
        if (it == es.begin() || (--it)->hi < cp) return false;
        s = it->to;
    }
    return d.accepting[s];
}

namespace {
// Whether state s accepts and goes back to itself on every character (surrogates aside).
bool takes_everything(const CharDfa& d, size_t s) {
    if (!d.accepting[s]) return false;
    char32_t next = 0;  // the first character not yet seen covered
    for (const CharDfa::Edge& e : d.edges[s]) {
        if (e.to != s || e.lo > next) return false;
        next = std::max<char32_t>(next, e.hi + 1);
        if (next == 0xD800) next = 0xE000;
    }
    return next > kMaxCodePoint;
}
}  // namespace

ExprPtr dfa_expr(const CharDfa& d, CharContext context, GrammarBuilder& b, const std::string& name, const ExprPtr& any_chars) {
    if (is_empty(d)) throw Error(ErrorCode::kInvalidArgument, "no string satisfies " + name);
    std::vector<uint32_t> rules(d.size());
    for (size_t s = 0; s < d.size(); ++s) rules[s] = b.declare(name + "/s" + std::to_string(s));
    std::map<std::vector<CodeRange>, ExprPtr> classes;  // one rule per set of characters
    for (size_t s = 0; s < d.size(); ++s) {
        if (any_chars && takes_everything(d, s)) {
            b.define(rules[s], any_chars);
            continue;
        }
        std::map<uint32_t, std::vector<CodeRange>> by_target;
        for (const CharDfa::Edge& e : d.edges[s]) by_target[e.to].push_back({e.lo, e.hi});
        std::vector<ExprPtr> alts;
        if (d.accepting[s]) alts.push_back(empty());
        for (auto& [to, ranges] : by_target) {
            auto [it, fresh] = classes.try_emplace(ranges);
            if (fresh)
                it->second = rule_ref(b.add(name + "/c" + std::to_string(classes.size() - 1), char_in(context, ranges)));
            alts.push_back(seq({it->second, rule_ref(rules[to])}));
        }
        b.define(rules[s], alt(std::move(alts)));
    }
    return rule_ref(rules[0]);
}

}  // namespace lfm::constrain
