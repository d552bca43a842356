// Regular expressions (the ECMAScript-like subset JSON Schema patterns use) to expression trees.
// Only what a grammar can express: no backreferences, lookaround, word boundaries or flags;
// those are errors, not silently ignored.

#include <string>

#include "constrain/sources.h"
#include "lfm/error.h"

namespace lfm::constrain {
namespace {

const std::vector<CodeRange>& digit_ranges() {
    static const std::vector<CodeRange> r = {{'0', '9'}};
    return r;
}
const std::vector<CodeRange>& word_ranges() {
    static const std::vector<CodeRange> r = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    return r;
}
const std::vector<CodeRange>& space_ranges() {
    static const std::vector<CodeRange> r = {{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680},
                                             {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
                                             {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
    return r;
}

class RegexParser {
public:
    RegexParser(std::string_view s, CharContext context) : s_(s), context_(context) {}

    // search: the pattern may match anywhere in the string (JSON Schema's "pattern"), but where
    // ^ and $ anchor it. Each top-level alternative has its own anchors: ^a|b$ is (^a)|(b$).
    ExprPtr parse(bool search) {
        ExprPtr any = star(char_in(context_, {{0, kMaxCodePoint}}));
        std::vector<ExprPtr> branches;
        for (;;) {
            bool anchored_start = false, anchored_end = false;
            if (peek() == '^') {
                anchored_start = true;
                ++i_;
            }
            ExprPtr body = concatenation(0, &anchored_end);
            std::vector<ExprPtr> parts;
            if (search && !anchored_start) parts.push_back(any);
            parts.push_back(body);
            if (search && !anchored_end) parts.push_back(any);
            branches.push_back(seq(std::move(parts)));
            if (peek() != '|') break;
            ++i_;
        }
        if (i_ != s_.size()) fail(peek() == ')' ? "unbalanced ')'" : "unexpected character");
        return alt(std::move(branches));
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorCode::kInvalidArgument,
                    "regex: " + what + " at offset " + std::to_string(i_) + " in /" + std::string(s_.substr(0, 200)) + "/");
    }
    char peek(size_t ahead = 0) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }
    bool at_end() const { return i_ >= s_.size(); }

    ExprPtr alternation(int depth, bool* anchored_end) {
        if (depth > 200) fail("groups nested too deeply");
        std::vector<ExprPtr> alts;
        alts.push_back(concatenation(depth, anchored_end));
        while (peek() == '|') {
            ++i_;
            alts.push_back(concatenation(depth, anchored_end));
        }
        return alt(std::move(alts));
    }

    ExprPtr concatenation(int depth, bool* anchored_end) {
        std::vector<ExprPtr> items;
        while (!at_end() && peek() != '|' && peek() != ')') {
            if (peek() == '$') {
                ++i_;
                // only at the end of the pattern or of one of its top-level alternatives
                if (depth != 0 || !(at_end() || peek() == '|'))
                    fail("'$' is supported only at the end of the pattern or of a top-level alternative");
                *anchored_end = true;
                break;
            }
            if (peek() == '^') fail("'^' is supported only at the start of the pattern or of a top-level alternative");
            ExprPtr a = atom(depth);
            items.push_back(quantified(a));
        }
        return seq(std::move(items));
    }

    ExprPtr quantified(ExprPtr a) {
        for (;;) {
            uint32_t min = 0, max = 0;
            char c = peek();
            if (c == '*') min = 0, max = Expr::kUnbounded, ++i_;
            else if (c == '+') min = 1, max = Expr::kUnbounded, ++i_;
            else if (c == '?') min = 0, max = 1, ++i_;
            else if (c == '{' && bounds(&min, &max)) {
            } else return a;
            if (peek() == '?') ++i_;  // lazy: the same language
            else if (peek() == '+') fail("possessive quantifiers are not supported");
            a = repeat(a, min, max);
        }
    }

    // {n}, {n,}, {n,m}; a '{' that starts none of these is a literal (as in JavaScript).
    bool bounds(uint32_t* min, uint32_t* max) {
        size_t j = i_ + 1;
        auto number = [&](uint32_t* out) {
            size_t b = j;
            uint64_t v = 0;
            while (j < s_.size() && s_[j] >= '0' && s_[j] <= '9') {
                v = v * 10 + static_cast<uint64_t>(s_[j] - '0');
                if (v > 100000) fail("a repetition count above 100000");
                ++j;
            }
            *out = static_cast<uint32_t>(v);
            return j > b;
        };
        if (!number(min)) return false;
        *max = *min;
        if (j < s_.size() && s_[j] == ',') {
            ++j;
            if (!number(max)) *max = Expr::kUnbounded;
        }
        if (j >= s_.size() || s_[j] != '}') return false;
        if (*max < *min) fail("a repetition {n,m} with m < n");
        i_ = j + 1;
        return true;
    }

    ExprPtr atom(int depth) {
        char c = peek();
        if (c == '(') {
            ++i_;
            if (peek() == '?') {
                if (peek(1) == ':') i_ += 2;
                else if (peek(1) == '<' && peek(2) != '=' && peek(2) != '!') {  // (?<name>...)
                    while (!at_end() && peek() != '>') ++i_;
                    ++i_;
                } else if (peek(1) == 'P' && peek(2) == '<') {
                    while (!at_end() && peek() != '>') ++i_;
                    ++i_;
                } else fail("lookaround and inline flags are not supported");
            }
            bool inner_end = false;
            ExprPtr e = alternation(depth + 1, &inner_end);
            if (peek() != ')') fail("missing ')'");
            ++i_;
            return e;
        }
        if (c == '[') return char_class();
        if (c == '.') {
            ++i_;
            return char_in(context_, normalize_ranges({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}, true));
        }
        if (c == '*' || c == '+' || c == '?') fail("nothing to repeat");
        if (c == '\\') {
            std::vector<CodeRange> r;
            if (class_escape(&r)) return char_in(context_, r);
            char32_t cp = escape_char();
            return char_in(context_, {{cp, cp}});
        }
        char32_t cp = next_char();
        return char_in(context_, {{cp, cp}});
    }

    char32_t next_char() {
        size_t used = 0;
        char32_t cp = decode_utf8_char(s_.substr(i_), &used);
        if (used == 0) fail("invalid UTF-8");
        i_ += used;
        return cp;
    }

    // \d \w \s and their negations; true when one was read into r.
    bool class_escape(std::vector<CodeRange>* r) {
        char e = peek(1);
        const std::vector<CodeRange>* base = nullptr;
        bool negate = false;
        switch (e) {
            case 'd': base = &digit_ranges(); break;
            case 'D': base = &digit_ranges(), negate = true; break;
            case 'w': base = &word_ranges(); break;
            case 'W': base = &word_ranges(), negate = true; break;
            case 's': base = &space_ranges(); break;
            case 'S': base = &space_ranges(), negate = true; break;
            default: return false;
        }
        i_ += 2;
        *r = normalize_ranges(*base, negate);
        return true;
    }

    char32_t hex(size_t n) {
        char32_t v = 0;
        for (size_t k = 0; k < n; ++k) {
            char h = peek();
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0) fail("bad hex digit in an escape");
            v = v * 16 + static_cast<char32_t>(d);
            ++i_;
        }
        return v;
    }

    char32_t escape_char() {
        ++i_;  // the backslash
        if (at_end()) fail("a pattern cannot end with '\\'");
        char e = peek();
        ++i_;
        switch (e) {
            case 'n': return '\n';
            case 'r': return '\r';
            case 't': return '\t';
            case 'f': return '\f';
            case 'v': return '\v';
            case '0': return 0;
            case 'x': return hex(2);
            case 'u':
                if (peek() == '{') {
                    ++i_;
                    char32_t v = 0;
                    int n = 0;
                    while (peek() != '}' && n < 7) {
                        v = v * 16 + hex(1);
                        ++n;
                    }
                    if (peek() != '}' || n == 0 || v > kMaxCodePoint) fail("bad \\u{...} escape");
                    ++i_;
                    return v;
                }
                return hex(4);
            case 'b': case 'B': fail("word boundaries are not supported");
            case 'p': case 'P': fail("Unicode property classes (\\p{...}) are not supported");
            case 'k': fail("backreferences are not supported");
            default:
                if (e >= '1' && e <= '9') fail("backreferences are not supported");
                if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) fail(std::string("unknown escape \\") + e);
                --i_;
                return next_char();  // an escaped punctuation character or any other: itself
        }
    }

    ExprPtr char_class() {
        ++i_;  // '['
        bool negate = false;
        if (peek() == '^') {
            negate = true;
            ++i_;
        }
        std::vector<CodeRange> ranges;
        bool first = true;
        while (!at_end() && (peek() != ']' || first)) {
            first = false;
            std::vector<CodeRange> sub;
            if (peek() == '\\' && class_escape(&sub)) {
                ranges.insert(ranges.end(), sub.begin(), sub.end());
                continue;
            }
            char32_t lo = class_char();
            if (peek() == '-' && peek(1) != ']' && peek(1) != '\0') {
                ++i_;
                if (peek() == '\\' && (peek(1) == 'd' || peek(1) == 'w' || peek(1) == 's' || peek(1) == 'D' ||
                                       peek(1) == 'W' || peek(1) == 'S'))
                    fail("a range cannot end in a class escape");
                char32_t hi = class_char();
                if (hi < lo) fail("a character range out of order");
                ranges.push_back({lo, hi});
            } else {
                ranges.push_back({lo, lo});
            }
        }
        if (peek() != ']') fail("missing ']'");
        ++i_;
        std::vector<CodeRange> r = normalize_ranges(ranges, negate);
        if (r.empty()) fail("an empty character class");
        return char_in(context_, r);
    }

    char32_t class_char() {
        if (peek() == '\\') {
            if (peek(1) == 'b') {  // backspace inside a class
                i_ += 2;
                return '\b';
            }
            return escape_char();
        }
        if (peek() == '[' && peek(1) == ':') fail("POSIX classes ([:alpha:]) are not supported");
        return next_char();
    }

    std::string_view s_;
    CharContext context_;
    size_t i_ = 0;
};

// The characters a string literal must escape, with the escape it uses.
struct Escape {
    char32_t c;
    const char* text;
};

// One hex digit in [lo, hi], either case.
ExprPtr hex_digits(unsigned lo, unsigned hi) {
    ByteSet set;
    for (unsigned d = lo; d <= hi; ++d) {
        if (d < 10) set.add('0' + d, '0' + d);
        else {
            set.add('a' + d - 10, 'a' + d - 10);
            set.add('A' + d - 10, 'A' + d - 10);
        }
    }
    return byte_set(set);
}

// n hex digits (either case) whose value is in [lo, hi] (hi < 16^n): the usual split of a
// numeric range into runs that share a prefix.
ExprPtr hex_range(uint32_t lo, uint32_t hi, int n) {
    if (n == 0) return empty();
    uint32_t unit = 1;
    for (int k = 1; k < n; ++k) unit *= 16;
    uint32_t lo_d = lo / unit, hi_d = hi / unit;
    if (lo_d == hi_d) return seq({hex_digits(lo_d, lo_d), hex_range(lo % unit, hi % unit, n - 1)});
    std::vector<ExprPtr> alts;
    if (lo % unit != 0) alts.push_back(seq({hex_digits(lo_d, lo_d), hex_range(lo % unit, unit - 1, n - 1)})), ++lo_d;
    if (hi % unit != unit - 1) alts.push_back(seq({hex_digits(hi_d, hi_d), hex_range(0, hi % unit, n - 1)})), --hi_d;
    if (lo_d <= hi_d) alts.push_back(seq({hex_digits(lo_d, hi_d), repeat(hex_digits(0, 15), n - 1, n - 1)}));
    return alt(std::move(alts));
}

// JSON's \uXXXX spellings of the characters in ranges (sorted, merged): one escape for a BMP
// character (not a surrogate), a surrogate pair (high then low) beyond it.
ExprPtr json_unicode_escapes(const std::vector<CodeRange>& ranges) {
    std::vector<ExprPtr> alts;
    auto bmp = [&](char32_t lo, char32_t hi) {
        if (lo <= hi) alts.push_back(hex_range(lo, hi, 4));
    };
    for (const CodeRange& r : ranges) {
        if (r.lo <= 0xFFFF) {
            const char32_t hi = std::min<char32_t>(r.hi, 0xFFFF);
            bmp(r.lo, std::min<char32_t>(hi, 0xD7FF));
            bmp(std::max<char32_t>(r.lo, 0xE000), hi);
        }
        if (r.hi < 0x10000) continue;
        const char32_t lo = std::max<char32_t>(r.lo, 0x10000) - 0x10000, hi = r.hi - 0x10000;
        // high surrogates lo>>10 .. hi>>10: the first and last take part of the low ones, those between all
        auto pair = [&](uint32_t h_lo, uint32_t h_hi, uint32_t l_lo, uint32_t l_hi) {
            if (h_lo <= h_hi)
                alts.push_back(seq({hex_range(0xD800 + h_lo, 0xD800 + h_hi, 4), lit("\\u"), hex_range(0xDC00 + l_lo, 0xDC00 + l_hi, 4)}));
        };
        const uint32_t h_lo = lo >> 10, h_hi = hi >> 10;
        if (h_lo == h_hi) {
            pair(h_lo, h_lo, lo & 0x3FF, hi & 0x3FF);
            continue;
        }
        pair(h_lo, h_lo, lo & 0x3FF, 0x3FF);
        pair(h_lo + 1, h_hi - 1, 0, 0x3FF);
        pair(h_hi, h_hi, 0, hi & 0x3FF);
    }
    if (alts.empty()) return nullptr;
    return seq({lit("\\u"), alt(std::move(alts))});
}

// Python's \xHH, \uXXXX and \UXXXXXXXX spellings (what parse_tool_calls decodes) of the
// characters in ranges.
ExprPtr python_hex_escapes(const std::vector<CodeRange>& ranges) {
    std::vector<ExprPtr> alts;
    struct Form {
        const char* prefix;
        int digits;
        char32_t max;
    };
    for (const Form& f : {Form{"\\x", 2, 0xFF}, Form{"\\u", 4, 0xFFFF}, Form{"\\U", 8, kMaxCodePoint}}) {
        std::vector<ExprPtr> values;
        for (const CodeRange& r : ranges)
            for (const CodeRange& part : {CodeRange{r.lo, std::min<char32_t>(r.hi, 0xD7FF)}, CodeRange{std::max<char32_t>(r.lo, 0xE000), r.hi}}) {
                const char32_t hi = std::min(part.hi, f.max);
                if (part.lo <= hi) values.push_back(hex_range(part.lo, hi, f.digits));
            }
        if (!values.empty()) alts.push_back(seq({lit(f.prefix), alt(std::move(values))}));
    }
    if (alts.empty()) return nullptr;
    return alt(std::move(alts));
}

}  // namespace

char32_t decode_utf8_char(std::string_view s, size_t* used) {
    *used = 0;
    if (s.empty()) return 0;
    const auto b0 = static_cast<unsigned char>(s[0]);
    if (b0 < 0x80) {
        *used = 1;
        return b0;
    }
    size_t n = b0 >= 0xF0 && b0 <= 0xF4 ? 4 : b0 >= 0xE0 && b0 < 0xF0 ? 3 : b0 >= 0xC2 && b0 < 0xE0 ? 2 : 0;
    if (n == 0 || s.size() < n) return 0;
    char32_t cp = b0 & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    static const char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    *used = n;
    return cp;
}

ExprPtr char_in(CharContext context, std::vector<CodeRange> ranges) {
    ranges = normalize_ranges(std::move(ranges), false);
    if (context == CharContext::kRaw) return chars(std::move(ranges));
    // Characters that cannot appear bare in the literal; each has escapes. The bare form comes
    // first, then the short escapes, then the numeric ones (every character has those).
    std::vector<CodeRange> forbidden;
    std::vector<Escape> escapes;
    if (context == CharContext::kJsonString) {
        forbidden = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
        escapes = {{'\b', "\\b"}, {'\t', "\\t"}, {'\n', "\\n"}, {'\f', "\\f"}, {'\r', "\\r"},
                   {'"', "\\\""}, {'\\', "\\\\"}, {'/', "\\/"}};
    } else {
        // Python: what parse_tool_calls decodes (\n \t \r \\ \' \" and the numeric escapes)
        const char quote = context == CharContext::kPythonSingle ? '\'' : '"';
        forbidden = {{0, 0x1F}, {static_cast<char32_t>(quote), static_cast<char32_t>(quote)}, {'\\', '\\'}};
        escapes = {{'\t', "\\t"}, {'\n', "\\n"}, {'\r', "\\r"}, {'\\', "\\\\"}, {'\'', "\\'"}, {'"', "\\\""}};
    }
    // plain = ranges minus forbidden
    std::vector<CodeRange> plain;
    std::vector<CodeRange> allowed_bare = normalize_ranges(forbidden, true);
    for (const CodeRange& r : ranges)
        for (const CodeRange& a : allowed_bare) {
            CodeRange x{std::max(r.lo, a.lo), std::min(r.hi, a.hi)};
            if (x.lo <= x.hi) plain.push_back(x);
        }
    std::vector<ExprPtr> alts;
    if (!plain.empty()) alts.push_back(chars(plain));
    for (const Escape& e : escapes)
        for (const CodeRange& r : ranges)
            if (e.c >= r.lo && e.c <= r.hi) {
                alts.push_back(lit(e.text));
                break;
            }
    ExprPtr numeric = context == CharContext::kJsonString ? json_unicode_escapes(ranges) : python_hex_escapes(ranges);
    if (numeric) alts.push_back(numeric);
    if (alts.empty()) return chars({});
    return alt(std::move(alts));
}

ExprPtr regex_expr(std::string_view pattern, CharContext context, bool search) {
    return RegexParser(pattern, context).parse(search);
}

Grammar regex_grammar(std::string_view pattern) {
    GrammarBuilder b;
    uint32_t root = b.add("root", regex_expr(pattern, CharContext::kRaw, false));
    return b.build(root);
}

}  // namespace lfm::constrain
