#pragma once
// Regular languages over Unicode code points as explicit DFAs, for what nested grammar rules
// cannot say: the intersection of two of them. JSON Schema needs it where a string has a
// pattern (or a format) and also a length the pattern does not imply (pydantic's HttpUrl is
// `format: uri` with `maxLength: 2083`), or a pattern and a format together. The pattern's
// expression tree becomes an NFA (Thompson) and then a DFA (subsets); lengths are a counting
// DFA; the product is written back as grammar rules, one per state, in the string's spelling.
//
// Sizes are bounded (states of each automaton and of the product): a bound passed is an error
// naming the pattern's place, never a silent approximation.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "constrain/grammar.h"
#include "constrain/sources.h"

namespace lfm::constrain {

struct CharDfa {
    struct Edge {
        char32_t lo, hi;  // inclusive code point range
        uint32_t to;
    };
    std::vector<std::vector<Edge>> edges;  // per state: sorted by lo, disjoint; state 0 starts
    std::vector<uint8_t> accepting;
    size_t size() const { return edges.size(); }
};

// The DFA of a character-level expression (kChars, kSeq, kAlt, kRepeat; ASCII kBytes), e.g. a
// regex_expr in CharContext::kRaw. max_chars: the caller keeps only strings of at most that
// many characters (a maxLength), which lets counted repetitions past it be built as loops.
// Throws lfm::Error (kInvalidArgument) past the size bounds.
CharDfa char_dfa(const Expr& raw, uint64_t max_chars = UINT64_MAX);
// Any characters, between min and max of them (max: Expr::kUnbounded for no bound).
CharDfa length_dfa(uint32_t min, uint32_t max);
// The strings both accept: the product, trimmed to states from which an accepting one is
// reachable (so an empty language is one state, not accepting, without edges).
CharDfa intersect(const CharDfa& a, const CharDfa& b);
bool is_empty(const CharDfa& d);
// The strings of characters (code points but surrogates) d does not accept.
CharDfa complement(const CharDfa& d);
// Whether d accepts this UTF-8 text (false for text that is not valid UTF-8).
bool accepts(const CharDfa& d, std::string_view utf8);
// Rules of b for the DFA's language, each character written as `context` spells it (escapes
// included); name prefixes the rules. The language must not be empty. any_chars (optional): any
// string of characters as `context` spells them, a rule the caller shares; a state that accepts
// whatever follows it (the keys once they differ from every declared name) becomes that rule, so
// such states of every automaton in the grammar are the same positions (the mask cache walks the
// vocabulary from them once).
ExprPtr dfa_expr(const CharDfa& d, CharContext context, GrammarBuilder& b, const std::string& name,
                 const ExprPtr& any_chars = nullptr);

}  // namespace lfm::constrain
