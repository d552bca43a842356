// llama.cpp's GBNF: `name ::= alternatives` rules, "literals", [character classes], (groups),
// `.`, the postfix operators * + ? {m} {m,} {m,n}, # comments, and special tokens written
// <|like_this|>. A newline ends a rule except inside parentheses or after '|'. The start is
// the rule `root`. Errors name the line and column.

#include <string>

#include "constrain/sources.h"
#include "lfm/error.h"
#include "text/utf8.h"

namespace lfm::constrain {
namespace {

class GbnfParser {
public:
    explicit GbnfParser(std::string_view s) : s_(s) {}

    Grammar parse() {
        skip_space(true);
        if (at_end()) fail("the grammar is empty");
        while (!at_end()) {
            rule();
            skip_space(true);
        }
        const uint32_t* root = b_.find("root");
        if (!root) throw Error(ErrorCode::kInvalidArgument, "gbnf: no rule named 'root'");
        for (uint32_t r = 0; r < b_.size(); ++r)
            if (!defined_[r]) {
                i_ = first_use_[r];
                fail("rule '" + b_.name(r) + "' is used but not defined");
            }
        return b_.build(*root);
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        size_t line = 1, col = 1;
        for (size_t k = 0; k < i_ && k < s_.size(); ++k) {
            if (s_[k] == '\n') ++line, col = 1;
            else ++col;
        }
        throw Error(ErrorCode::kInvalidArgument, "gbnf: " + what + " (line " + std::to_string(line) + ", column " +
                                                     std::to_string(col) + ")");
    }
    bool at_end() const { return i_ >= s_.size(); }
    char peek(size_t ahead = 0) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }
    static bool name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }

    void skip_space(bool newlines) {
        while (!at_end()) {
            char c = peek();
            if (c == ' ' || c == '\t') ++i_;
            else if (c == '#') {
                while (!at_end() && peek() != '\n') ++i_;
            } else if (newlines && (c == '\n' || c == '\r')) ++i_;
            else break;
        }
    }

    std::string name() {
        size_t b = i_;
        while (name_char(peek())) ++i_;
        if (i_ == b) fail("expected a rule name");
        return std::string(s_.substr(b, i_ - b));
    }

    uint32_t rule_id(const std::string& n) {
        uint32_t r = b_.declare(n);
        if (defined_.size() <= r) {
            defined_.resize(r + 1, false);
            first_use_.resize(r + 1, i_);
        }
        return r;
    }

    void rule() {
        const size_t at = i_;
        std::string n = name();
        uint32_t r = rule_id(n);
        if (defined_[r]) {
            i_ = at;
            fail("rule '" + n + "' is defined twice");
        }
        skip_space(false);
        if (s_.substr(i_, 3) != "::=") fail("expected '::=' after the rule name");
        i_ += 3;
        skip_space(true);
        ExprPtr body = alternates(false, 0);
        b_.define(r, body);
        defined_[r] = true;
        skip_space(false);
        if (peek() == '\r') ++i_;
        if (peek() == '\n') ++i_;
        else if (!at_end()) fail(std::string("unexpected '") + peek() + "'");
    }

    ExprPtr alternates(bool nested, int depth) {
        if (depth > 200) fail("groups nested too deeply");
        std::vector<ExprPtr> alts;
        alts.push_back(sequence(nested, depth));
        while (peek() == '|') {
            ++i_;
            skip_space(true);
            alts.push_back(sequence(nested, depth));
        }
        return alt(std::move(alts));
    }

    ExprPtr sequence(bool nested, int depth) {
        std::vector<ExprPtr> items;
        while (!at_end()) {
            char c = peek();
            if (c == '"') items.push_back(literal());
            else if (c == '[') items.push_back(char_class());
            else if (c == '.') {
                ++i_;
                items.push_back(any_char());
            } else if (c == '<') items.push_back(token());
            else if (c == '(') {
                ++i_;
                skip_space(true);
                items.push_back(alternates(true, depth + 1));
                if (peek() != ')') fail("expected ')'");
                ++i_;
            } else if (name_char(c)) {
                const size_t at = i_;
                std::string n = name();
                // a name followed by ::= starts the next rule (only when newlines were skipped)
                size_t j = i_;
                while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t')) ++j;
                if (s_.substr(j, 3) == "::=") {
                    i_ = at;
                    fail("missing newline before rule '" + n + "'");
                }
                items.push_back(rule_ref(rule_id(n)));
            } else if (c == '*' || c == '+' || c == '?' || c == '{') {
                if (items.empty()) fail(std::string("'") + c + "' with nothing before it to repeat");
                uint32_t min = 0, max = 0;
                if (c == '*') min = 0, max = Expr::kUnbounded, ++i_;
                else if (c == '+') min = 1, max = Expr::kUnbounded, ++i_;
                else if (c == '?') min = 0, max = 1, ++i_;
                else braces(&min, &max);
                items.back() = repeat(items.back(), min, max);
            } else break;
            skip_space(nested);
        }
        return seq(std::move(items));
    }

    void braces(uint32_t* min, uint32_t* max) {
        ++i_;
        skip_space(true);
        auto number = [&] {
            if (!(peek() >= '0' && peek() <= '9')) fail("expected a number in {...}");
            uint64_t v = 0;
            while (peek() >= '0' && peek() <= '9') {
                v = v * 10 + static_cast<uint64_t>(peek() - '0');
                if (v > 100000) fail("a repetition count above 100000");
                ++i_;
            }
            return static_cast<uint32_t>(v);
        };
        *min = number();
        *max = *min;
        skip_space(true);
        if (peek() == ',') {
            ++i_;
            skip_space(true);
            *max = peek() == '}' ? Expr::kUnbounded : number();
            skip_space(true);
        }
        if (peek() != '}') fail("expected '}'");
        ++i_;
        if (*max < *min) fail("a repetition {m,n} with n < m");
    }

    char32_t escaped() {
        ++i_;  // backslash
        char e = peek();
        ++i_;
        auto hex = [&](int n) {
            char32_t v = 0;
            for (int k = 0; k < n; ++k) {
                char h = peek();
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) fail("bad hex digit in an escape");
                v = v * 16 + static_cast<char32_t>(d);
                ++i_;
            }
            if (v > kMaxCodePoint) fail("escape beyond U+10FFFF");
            return v;
        };
        switch (e) {
            case 'x': return hex(2);
            case 'u': return hex(4);
            case 'U': return hex(8);
            case 't': return '\t';
            case 'r': return '\r';
            case 'n': return '\n';
            case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '\'': return static_cast<char32_t>(e);
            default: --i_; fail(std::string("unknown escape '\\") + e + "'");
        }
    }

    char32_t one_char() {
        if (peek() == '\\') return escaped();
        size_t used = 0;
        char32_t cp = decode_utf8_char(s_.substr(i_), &used);
        if (used == 0) fail("invalid UTF-8");
        i_ += used;
        return cp;
    }

    ExprPtr literal() {
        ++i_;
        std::string bytes;
        while (peek() != '"') {
            if (at_end() || peek() == '\n') fail("unterminated string literal");
            char32_t cp = one_char();
            if (cp >= 0xD800 && cp <= 0xDFFF) fail("a surrogate code point in a literal");
            append_utf8(bytes, cp);
        }
        ++i_;
        return lit(bytes);
    }

    ExprPtr char_class() {
        ++i_;
        bool negate = false;
        if (peek() == '^') {
            negate = true;
            ++i_;
        }
        std::vector<CodeRange> ranges;
        while (peek() != ']') {
            if (at_end() || peek() == '\n') fail("unterminated character class");
            char32_t lo = one_char();
            char32_t hi = lo;
            if (peek() == '-' && peek(1) != ']') {
                ++i_;
                if (at_end() || peek() == '\n') fail("unterminated character class");
                hi = one_char();
                if (hi < lo) fail("a character range out of order");
            }
            ranges.push_back({lo, hi});
        }
        ++i_;
        std::vector<CodeRange> r = normalize_ranges(ranges, negate);
        if (r.empty()) fail("a character class that matches nothing");
        return chars(std::move(r));
    }

    ExprPtr token() {
        size_t b = i_;
        while (!at_end() && peek() != '>' && peek() != '\n') ++i_;
        if (peek() != '>') fail("unterminated <token>");
        ++i_;
        std::string text(s_.substr(b, i_ - b));
        if (text.size() > 2 && text[1] == '[') fail("tokens by id (<[id]>) are not supported; name the token: " + std::string("<|...|>"));
        return special_token(text);
    }

    std::string_view s_;
    size_t i_ = 0;
    GrammarBuilder b_;
    std::vector<bool> defined_;
    std::vector<size_t> first_use_;
};

}  // namespace

Grammar gbnf_grammar(std::string_view text) { return GbnfParser(text).parse(); }

}  // namespace lfm::constrain
