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

    ExprPtr parse(bool search) {
        bool anchored_start = false, anchored_end = false;
        if (peek() == '^') {
            anchored_start = true;
            ++i_;
        }
        ExprPtr body = alternation(0, &anchored_end);
        if (i_ != s_.size()) fail(peek() == ')' ? "unbalanced ')'" : "unexpected character");
        if (!search) return body;
        ExprPtr any = star(char_in(context_, {{0, kMaxCodePoint}}));
        std::vector<ExprPtr> parts;
        if (!anchored_start) parts.push_back(any);
        parts.push_back(body);
        if (!anchored_end) parts.push_back(any);
        return seq(std::move(parts));
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
                // only at the very end of the pattern (a trailing anchor)
                if (depth != 0 || !at_end()) fail("'$' is supported only at the end of the pattern");
                *anchored_end = true;
                break;
            }
            if (peek() == '^') fail("'^' is supported only at the start of the pattern");
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
    // Characters that cannot appear bare in the literal, each replaced by its escape.
    std::vector<CodeRange> forbidden;
    std::vector<Escape> escapes;
    static const char* const kControl[32] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f"};
    if (context == CharContext::kJsonString) {
        forbidden = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
        for (char32_t c = 0; c < 32; ++c) escapes.push_back({c, kControl[c]});
        escapes.push_back({'"', "\\\""});
        escapes.push_back({'\\', "\\\\"});
    } else {
        // Python: what parse_tool_calls decodes (\n \t \r \\ \' \" \xHH)
        const char quote = context == CharContext::kPythonSingle ? '\'' : '"';
        forbidden = {{0, 0x1F}, {static_cast<char32_t>(quote), static_cast<char32_t>(quote)}, {'\\', '\\'}};
        static const char* const kPyControl[32] = {
            "\\x00", "\\x01", "\\x02", "\\x03", "\\x04", "\\x05", "\\x06", "\\x07", "\\x08", "\\t",  "\\n",
            "\\x0b", "\\x0c", "\\r",   "\\x0e", "\\x0f", "\\x10", "\\x11", "\\x12", "\\x13", "\\x14", "\\x15",
            "\\x16", "\\x17", "\\x18", "\\x19", "\\x1a", "\\x1b", "\\x1c", "\\x1d", "\\x1e", "\\x1f"};
        for (char32_t c = 0; c < 32; ++c) escapes.push_back({c, kPyControl[c]});
        escapes.push_back({static_cast<char32_t>(quote), quote == '\'' ? "\\'" : "\\\""});
        escapes.push_back({'\\', "\\\\"});
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
    if (context == CharContext::kJsonString)  // "\/" is JSON's other spelling of '/'
        for (const CodeRange& r : ranges)
            if ('/' >= r.lo && '/' <= r.hi) alts.push_back(lit("\\/"));
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
