#pragma once
// The grammar every constraint source compiles to. Sources (JSON Schema, GBNF, regular
// expressions, tool calls) build an expression tree (Expr); GrammarBuilder lowers it to flat
// rules over bytes, the form the matcher runs. Working on bytes, not characters, is what lets
// the matcher follow a token's bytes through the grammar even when a token ends in the middle
// of a UTF-8 character (byte-level BPE tokens often do).

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lfm::constrain {

struct ByteSet {
    std::array<uint64_t, 4> words{};
    void add(unsigned lo, unsigned hi) {
        for (unsigned b = lo; b <= hi && b < 256; ++b) words[b >> 6] |= uint64_t{1} << (b & 63);
    }
    bool has(unsigned b) const { return (words[b >> 6] >> (b & 63)) & 1; }
    bool empty() const { return (words[0] | words[1] | words[2] | words[3]) == 0; }
    // == and <, not a defaulted <=>: libc++ before LLVM 16 (Debian 12's, Apple's of that age) has
    // no three-way comparison for std::array.
    bool operator==(const ByteSet&) const = default;
    bool operator<(const ByteSet& o) const { return words < o.words; }
};

// An inclusive range of Unicode code points.
struct CodeRange {
    char32_t lo, hi;
    auto operator<=>(const CodeRange&) const = default;
};
inline constexpr char32_t kMaxCodePoint = 0x10FFFF;

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
    enum class Kind : uint8_t { kBytes, kChars, kSeq, kAlt, kRepeat, kRule, kToken };
    static constexpr uint32_t kUnbounded = UINT32_MAX;

    Kind kind = Kind::kSeq;
    ByteSet bytes;                 // kBytes: one byte of the set
    std::vector<CodeRange> chars;  // kChars: one UTF-8 encoded character in these ranges
    std::vector<ExprPtr> items;    // kSeq (empty: nothing), kAlt, kRepeat (its one item)
    uint32_t min = 0, max = 0;     // kRepeat
    uint32_t rule = 0;             // kRule: a rule of the builder
    std::string token;             // kToken: a special token, by its text
    std::string why;               // kBytes with an empty set (nothing()): why nothing can be written here
};

// Builders. Literals are bytes; chars() takes code point ranges (sorted or not, overlapping or
// not) and matches one character's UTF-8 encoding.
ExprPtr lit(std::string_view bytes);
ExprPtr byte_set(const ByteSet& set);
ExprPtr chars(std::vector<CodeRange> ranges, bool negate = false);
ExprPtr any_char();
ExprPtr seq(std::vector<ExprPtr> items);
ExprPtr alt(std::vector<ExprPtr> items);
ExprPtr repeat(ExprPtr item, uint32_t min, uint32_t max);
inline ExprPtr opt(ExprPtr e) { return repeat(std::move(e), 0, 1); }
inline ExprPtr star(ExprPtr e) { return repeat(std::move(e), 0, Expr::kUnbounded); }
inline ExprPtr plus(ExprPtr e) { return repeat(std::move(e), 1, Expr::kUnbounded); }
ExprPtr rule_ref(uint32_t rule);
ExprPtr special_token(std::string text);
inline ExprPtr empty() { return seq({}); }
// Matches nothing, for a part of a grammar no text can satisfy (a JSON Schema property whose
// schema no value meets). seq() with it is nothing, alt() drops it, and build(root, true) drops
// the alternatives that reach it through rules; `why` is the error when the root itself is nothing.
ExprPtr nothing(std::string why);
bool is_nothing(const ExprPtr& e);

// Sorted, merged ranges; negate: the complement within the valid code points.
std::vector<CodeRange> normalize_ranges(std::vector<CodeRange> ranges, bool negate);
// Splits a range of code points into sequences of byte ranges, one sequence per UTF-8 shape
// (surrogates excluded): [0x80, 0x7FF] -> [C2-DF][80-BF].
std::vector<std::vector<std::pair<uint8_t, uint8_t>>> utf8_sequences(CodeRange range);

// The flat form: each rule is a list of alternatives, each a run of elements ending in kEnd,
// all in one array so that a parser position is one index.
struct Grammar {
    enum class Op : uint8_t { kBytes, kToken, kRule, kEnd };
    struct Elem {
        Op op;
        uint32_t arg;  // kBytes: index into sets; kToken: index into tokens; kRule: rule id
    };
    std::vector<Elem> elems;
    std::vector<ByteSet> sets;
    std::vector<std::vector<uint32_t>> alts;  // per rule: where each alternative starts in elems
    std::vector<std::string> rule_names;
    std::vector<std::string> tokens;          // special tokens the grammar names, by text
    uint32_t root = 0;
    // For the matcher's mask cache: (rule, stand-in) pairs where the rule is the j-th turn of a
    // bounded repetition (`O_j ::= a O_(j-1) | (empty)`, up to j more items) with j >
    // kMaskAliasDepth, and the stand-in the kMaskAliasDepth-th turn of the same chain.
    std::vector<std::pair<uint32_t, uint32_t>> mask_alias;
    static constexpr uint32_t kMaskAliasDepth = 16;
};

// Collects named rules (which may refer to each other, recursively) and lowers them. Errors
// (a rule used but not defined, a rule that can never finish, left recursion, a grammar too
// large) are lfm::Error with kInvalidArgument, naming the rule (or, for a root that is
// nothing(), its reason).
class GrammarBuilder {
public:
    uint32_t declare(const std::string& name);  // a rule defined later (for recursion)
    void define(uint32_t rule, ExprPtr body);
    uint32_t add(const std::string& name, ExprPtr body) {
        uint32_t r = declare(name);
        define(r, std::move(body));
        return r;
    }
    // A rule with this name, if any was declared.
    const uint32_t* find(const std::string& name) const;
    const std::string& name(uint32_t rule) const { return names_[rule]; }
    size_t size() const { return names_.size(); }
    // prune: alternatives that can never finish are dropped (an error only for the root);
    // otherwise any rule the root reaches that can never finish is an error (a broken grammar).
    Grammar build(uint32_t root, bool prune = false) const;

private:
    std::vector<std::string> names_;
    std::vector<ExprPtr> bodies_;
    std::map<std::string, uint32_t> by_name_;
};

}  // namespace lfm::constrain
