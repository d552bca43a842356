// Template source -> Program. Two stages: the source is cut into text and tags with Jinja's
// whitespace control applied (trim_blocks, lstrip_blocks, `-` and `+` markers), then each tag's
// inside is tokenized and parsed by recursive descent with Jinja's operator precedence:
//   cond-expr < or < and < not < compare/in < + - < ~ < * / // % < ** < unary - + < postfix . [] ()
//   with filters `|` and tests `is` binding tightest, to the operand on their left.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <set>

#include "text/decimal.h"
#include "text/jinja/ast.h"
#include "text/utf8.h"

namespace lfm::jinja {
namespace {

// ---------------------------------------------------------------------------------------------
// Stage 1: text and tags

struct Segment {
    enum class Kind { kText, kOutput, kStatement } kind;
    std::string text;  // the text, or the inside of the tag without its markers
    int line;
};

// Line numbers of increasing positions, counted on from the last one asked (counting from the start
// each time is quadratic in the number of tags).
class LineCounter {
public:
    explicit LineCounter(const std::string& s) : s_(s) {}
    int at(size_t pos) {
        line_ += static_cast<int>(std::count(s_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                             s_.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
        pos_ = pos;
        return line_;
    }

private:
    const std::string& s_;
    size_t pos_ = 0;
    int line_ = 1;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// The position just past the closing "}}" / "%}" of a tag whose inside starts at pos, skipping
// string literals (a "%}" inside quotes does not close the tag).
size_t find_tag_end(const std::string& src, size_t pos, char closer, int line) {
    char quote = 0;
    for (size_t i = pos; i + 1 < src.size(); ++i) {
        char c = src[i];
        if (quote) {
            if (c == '\\') ++i;
            else if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == closer && src[i + 1] == '}') {
            return i;
        }
    }
    throw TemplateError(line, std::string("unclosed tag: no matching '") + closer + "}'");
}

std::vector<Segment> split_segments(const std::string& src) {
    std::vector<Segment> out;
    LineCounter line_at(src);
    size_t pos = 0;
    while (pos <= src.size()) {
        size_t tag = src.find('{', pos);
        while (tag != std::string::npos && tag + 1 < src.size() && src[tag + 1] != '{' && src[tag + 1] != '%' &&
               src[tag + 1] != '#')
            tag = src.find('{', tag + 1);
        if (tag == std::string::npos || tag + 1 >= src.size()) {
            if (pos < src.size()) out.push_back({Segment::Kind::kText, src.substr(pos), line_at.at(pos)});
            break;
        }
        char type = src[tag + 1];
        char left = tag + 2 < src.size() ? src[tag + 2] : 0;
        bool block_like = type == '%' || type == '#';
        std::string text = src.substr(pos, tag - pos);
        if (left == '-') {
            while (!text.empty() && is_space(text.back())) text.pop_back();
        } else if (block_like && left != '+') {
            // lstrip_blocks: a block tag alone on its line takes the indentation before it away.
            size_t nl = text.rfind('\n');
            size_t line_start = nl == std::string::npos ? 0 : nl + 1;
            bool at_line_start = nl != std::string::npos || pos == 0 || src[pos - 1] == '\n';
            if (at_line_start && std::all_of(text.begin() + static_cast<std::ptrdiff_t>(line_start), text.end(),
                                             [](char c) { return c == ' ' || c == '\t'; }))
                text.resize(line_start);
        }
        if (!text.empty()) out.push_back({Segment::Kind::kText, text, line_at.at(pos)});

        int line = line_at.at(tag);
        size_t inner = tag + 2 + ((left == '-' || left == '+') ? 1 : 0);
        size_t close;
        if (type == '#') {
            close = src.find("#}", inner);
            if (close == std::string::npos) throw TemplateError(line, "unclosed comment: no matching '#}'");
        } else {
            close = find_tag_end(src, inner, type == '{' ? '}' : '%', line);
        }
        char right = close > inner ? src[close - 1] : 0;
        size_t inner_end = (right == '-' || right == '+') ? close - 1 : close;
        if (type != '#') {
            auto kind = type == '{' ? Segment::Kind::kOutput : Segment::Kind::kStatement;
            out.push_back({kind, src.substr(inner, inner_end - inner), line});
        }
        pos = close + 2;
        if (right == '-') {
            while (pos < src.size() && is_space(src[pos])) ++pos;
        } else if (block_like && right != '+') {
            // trim_blocks: the newline after a block tag is removed.
            if (pos < src.size() && src[pos] == '\n') ++pos;
            else if (pos + 1 < src.size() && src[pos] == '\r' && src[pos + 1] == '\n') pos += 2;
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Stage 2: tokens inside a tag

struct Token {
    enum class Kind { kName, kInt, kFloat, kString, kOp, kEnd } kind;
    std::string text;
    Value value;
    int line;
};

// A string literal's escapes, as Python reads them (the templates write "\n" for a newline).
size_t read_string(const std::string& s, size_t i, std::string& out, int line) {
    char quote = s[i++];
    while (i < s.size() && s[i] != quote) {
        char c = s[i++];
        if (c != '\\') {
            out += c;
            continue;
        }
        if (i >= s.size()) break;
        char e = s[i++];
        auto hex = [&](int digits) {
            if (i + static_cast<size_t>(digits) > s.size()) throw TemplateError(line, "bad escape in string literal");
            uint32_t cp = 0;
            const char* first = s.data() + i;
            auto [end, ec] = std::from_chars(first, first + digits, cp, 16);
            if (ec != std::errc() || end != first + digits || cp > 0x10FFFF)
                throw TemplateError(line, "bad escape in string literal");
            i += static_cast<size_t>(digits);
            append_utf8(out, cp);
        };
        switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case '0': out += '\0'; break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case '\n': break;
            case 'x': hex(2); break;
            case 'u': hex(4); break;
            case 'U': hex(8); break;
            default: out += '\\'; out += e;  // Python keeps unknown escapes as written
        }
    }
    if (i >= s.size()) throw TemplateError(line, "unterminated string literal");
    return i + 1;
}

std::vector<Token> tokenize(const std::string& s, int first_line) {
    static const char* const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                       ">",  "(",  ")",  "[",  "]",  "{",  "}", ",", ".", ":", "|", "="};
    std::vector<Token> out;
    int line = first_line;
    size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c == '\n') ++line;
        if (is_space(c)) {
            ++i;
            continue;
        }
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t j = i;
            while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
            out.push_back({Token::Kind::kName, s.substr(i, j - i), {}, line});
            i = j;
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            size_t j = i;
            while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
            bool is_float = false;
            if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
                is_float = true;
                ++j;
                while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
            }
            if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
                size_t k = j + 1;
                if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
                if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
                    is_float = true;
                    j = k;
                    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
                }
            }
            std::string text = s.substr(i, j - i);
            text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
            Token t{is_float ? Token::Kind::kFloat : Token::Kind::kInt, text, {}, line};
            if (is_float) {
                double d = 0;
                if (parse_decimal(text, d) != DecimalParse::kOk) throw TemplateError(line, "number out of range: " + text);
                t.value = Value(d);
            } else {
                int64_t v = 0;
                auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
                if (ec != std::errc() || end != text.data() + text.size())
                    throw TemplateError(line, "number out of range: " + text);
                t.value = Value(v);
            }
            out.push_back(std::move(t));
            i = j;
        } else if (c == '\'' || c == '"') {
            std::string value;
            size_t j = read_string(s, i, value, line);
            out.push_back({Token::Kind::kString, s.substr(i, j - i), Value(value), line});
            i = j;
        } else {
            bool found = false;
            for (const char* op : kOps) {
                size_t n = std::char_traits<char>::length(op);
                if (s.compare(i, n, op) == 0) {
                    out.push_back({Token::Kind::kOp, op, {}, line});
                    i += n;
                    found = true;
                    break;
                }
            }
            if (!found) throw TemplateError(line, std::string("unexpected character '") + c + "' in a tag");
        }
    }
    out.push_back({Token::Kind::kEnd, "", {}, line});
    return out;
}

// ---------------------------------------------------------------------------------------------
// Stage 3: expressions

const std::set<std::string>& known_filters() {
    static const std::set<std::string> k = {"default", "d",     "tojson", "string",  "trim",    "length",
                                            "count",   "join",  "lower",  "upper",   "first",   "last",
                                            "list",    "int",   "float",  "abs",     "replace", "capitalize",
                                            "title",   "items", "safe",   "reverse", "unique",  "map",
                                            "selectattr", "rejectattr", "select", "reject", "dictsort", "sort",
                                            "round", "indent", "wordcount", "min", "max", "sum", "batch"};
    return k;
}

const std::set<std::string>& known_tests() {
    static const std::set<std::string> k = {"defined", "undefined", "none",     "string",  "mapping", "number",
                                            "integer", "float",     "boolean",  "true",    "false",   "sequence",
                                            "iterable", "callable", "equalto",  "eq",      "==",      "ne",
                                            "!=",      "lt",        "<",        "gt",      ">",       "le",
                                            "<=",      "ge",        ">=",       "in",      "odd",     "even",
                                            "divisibleby", "lower", "upper",    "sameas"};
    return k;
}

class ExprParser {
public:
    ExprParser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

    const Token& peek(size_t ahead = 0) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
    bool at_end() const { return peek().kind == Token::Kind::kEnd; }
    bool is_op(const char* op, size_t ahead = 0) const {
        return peek(ahead).kind == Token::Kind::kOp && peek(ahead).text == op;
    }
    bool is_name(const char* name) const { return peek().kind == Token::Kind::kName && peek().text == name; }
    const Token& next() { return t_[std::min(pos_++, t_.size() - 1)]; }
    void expect_op(const char* op) {
        if (!is_op(op)) fail(std::string("expected '") + op + "'");
        ++pos_;
    }
    std::string expect_name(const char* what) {
        if (peek().kind != Token::Kind::kName) fail(std::string("expected ") + what);
        return next().text;
    }
    void expect_end() {
        if (!at_end()) fail("unexpected '" + peek().text + "'");
    }
    [[noreturn]] void fail(const std::string& message) const {
        std::string near = at_end() ? "end of tag" : "'" + peek().text + "'";
        throw TemplateError(peek().line, message + " (at " + near + ")");
    }

    ExprPtr expression() {
        Nesting guard(*this);
        return condition();
    }
    ExprPtr expression_no_condition() { return or_expr(); }  // `for x in xs if cond`

private:
    // Nested parentheses, lists, calls and unary operators recurse: a template cannot make the
    // parser recurse without bound (a crash on a hostile model file).
    struct Nesting {
        ExprParser& p;
        explicit Nesting(ExprParser& parser) : p(parser) {
            if (++p.depth_ > kMaxNesting) p.fail("expression nested too deeply");
        }
        ~Nesting() { --p.depth_; }
    };
    static constexpr int kMaxNesting = 200;
    int depth_ = 0;

    ExprPtr make(Expr::Kind kind, int line, std::string name = {}) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->line = line;
        e->name = std::move(name);
        return e;
    }
    ExprPtr binary(std::string op, ExprPtr a, ExprPtr b, int line) {
        auto e = make(Expr::Kind::kBinary, line, std::move(op));
        e->args.push_back(std::move(a));
        e->args.push_back(std::move(b));
        return e;
    }

    ExprPtr condition() {
        ExprPtr value = or_expr();
        while (is_name("if")) {
            int line = next().line;
            auto e = make(Expr::Kind::kCondition, line);
            e->args.push_back(or_expr());
            e->args.push_back(std::move(value));
            if (is_name("else")) {
                next();
                e->args.push_back(condition());
            } else {
                e->args.push_back(nullptr);
            }
            value = std::move(e);
        }
        return value;
    }
    ExprPtr or_expr() {
        ExprPtr left = and_expr();
        while (is_name("or")) {
            int line = next().line;
            left = binary("or", std::move(left), and_expr(), line);
        }
        return left;
    }
    ExprPtr and_expr() {
        ExprPtr left = not_expr();
        while (is_name("and")) {
            int line = next().line;
            left = binary("and", std::move(left), not_expr(), line);
        }
        return left;
    }
    ExprPtr not_expr() {
        Nesting guard(*this);
        if (is_name("not")) {
            int line = next().line;
            auto e = make(Expr::Kind::kUnary, line, "not");
            e->args.push_back(not_expr());
            return e;
        }
        return compare();
    }
    ExprPtr compare() {
        ExprPtr left = math1();
        for (;;) {
            int line = peek().line;
            if (peek().kind == Token::Kind::kOp &&
                (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == "<=" ||
                 peek().text == ">" || peek().text == ">=")) {
                std::string op = next().text;
                left = binary(op, std::move(left), math1(), line);
            } else if (is_name("in")) {
                next();
                left = binary("in", std::move(left), math1(), line);
            } else if (is_name("not") && peek(1).kind == Token::Kind::kName && peek(1).text == "in") {
                pos_ += 2;
                left = binary("not in", std::move(left), math1(), line);
            } else {
                return left;
            }
        }
    }
    ExprPtr math1() {
        ExprPtr left = concat();
        while (is_op("+") || is_op("-")) {
            const Token& op = next();
            left = binary(op.text, std::move(left), concat(), op.line);
        }
        return left;
    }
    ExprPtr concat() {
        ExprPtr left = math2();
        while (is_op("~")) {
            int line = next().line;
            left = binary("~", std::move(left), math2(), line);
        }
        return left;
    }
    ExprPtr math2() {
        ExprPtr left = power();
        while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
            const Token& op = next();
            left = binary(op.text, std::move(left), power(), op.line);
        }
        return left;
    }
    ExprPtr power() {
        ExprPtr left = unary(true);
        while (is_op("**")) {
            int line = next().line;
            left = binary("**", std::move(left), unary(true), line);
        }
        return left;
    }
    ExprPtr unary(bool with_filter) {
        Nesting guard(*this);
        ExprPtr node;
        if (is_op("-") || is_op("+")) {
            const Token& op = next();
            node = make(Expr::Kind::kUnary, op.line, op.text);
            node->args.push_back(unary(false));
        } else {
            node = primary();
        }
        node = postfix(std::move(node));
        if (with_filter) node = filters_and_tests(std::move(node));
        return node;
    }
    ExprPtr primary() {
        const Token& tok = next();
        switch (tok.kind) {
            case Token::Kind::kName: {
                const std::string& n = tok.text;
                if (n == "true" || n == "True") return literal(Value(true), tok.line);
                if (n == "false" || n == "False") return literal(Value(false), tok.line);
                if (n == "none" || n == "None") return literal(Value::none(), tok.line);
                return make(Expr::Kind::kName, tok.line, n);
            }
            case Token::Kind::kInt:
            case Token::Kind::kFloat: return literal(tok.value, tok.line);
            case Token::Kind::kString: {
                std::string s = tok.value.as_string();
                while (peek().kind == Token::Kind::kString) s += next().value.as_string();  // "a" "b"
                return literal(Value(std::move(s)), tok.line);
            }
            case Token::Kind::kOp:
                if (tok.text == "(") {
                    if (is_op(")")) {
                        next();
                        return make(Expr::Kind::kTuple, tok.line);
                    }
                    ExprPtr first = expression();
                    if (is_op(")")) {
                        next();
                        return first;
                    }
                    auto tuple = make(Expr::Kind::kTuple, tok.line);
                    tuple->args.push_back(std::move(first));
                    while (is_op(",")) {
                        next();
                        if (is_op(")")) break;
                        tuple->args.push_back(expression());
                    }
                    expect_op(")");
                    return tuple;
                }
                if (tok.text == "[") {
                    auto list = make(Expr::Kind::kList, tok.line);
                    while (!is_op("]")) {
                        list->args.push_back(expression());
                        if (!is_op(",")) break;
                        next();
                    }
                    expect_op("]");
                    return list;
                }
                if (tok.text == "{") {
                    auto dict = make(Expr::Kind::kDict, tok.line);
                    while (!is_op("}")) {
                        dict->args.push_back(expression());
                        expect_op(":");
                        dict->args.push_back(expression());
                        if (!is_op(",")) break;
                        next();
                    }
                    expect_op("}");
                    return dict;
                }
                break;
            default: break;
        }
        --pos_;
        fail("expected a value");
    }
    ExprPtr literal(Value v, int line) {
        auto e = make(Expr::Kind::kLiteral, line);
        e->value = std::move(v);
        return e;
    }
    ExprPtr postfix(ExprPtr node) {
        for (;;) {
            if (is_op(".")) {
                int line = next().line;
                if (peek().kind == Token::Kind::kInt) {  // x.0 is x[0]
                    auto e = make(Expr::Kind::kIndex, line);
                    e->args.push_back(std::move(node));
                    e->args.push_back(literal(next().value, line));
                    node = std::move(e);
                    continue;
                }
                auto e = make(Expr::Kind::kAttr, line, expect_name("an attribute name after '.'"));
                e->args.push_back(std::move(node));
                node = std::move(e);
            } else if (is_op("[")) {
                node = subscript(std::move(node));
            } else if (is_op("(")) {
                node = call(std::move(node), Expr::Kind::kCall, "");
            } else {
                return node;
            }
        }
    }
    ExprPtr subscript(ExprPtr node) {
        int line = next().line;  // '['
        ExprPtr parts[3];
        bool is_slice = false;
        for (int part = 0; part < 3; ++part) {
            if (!is_op(":") && !is_op("]")) parts[part] = expression();
            if (is_op(":") && part < 2) {
                next();
                is_slice = true;
            } else {
                break;
            }
        }
        expect_op("]");
        auto e = make(is_slice ? Expr::Kind::kSlice : Expr::Kind::kIndex, line);
        e->args.push_back(std::move(node));
        if (!is_slice && !parts[0]) fail("empty subscript");
        e->args.push_back(std::move(parts[0]));
        if (is_slice) {
            e->args.push_back(std::move(parts[1]));
            e->args.push_back(std::move(parts[2]));
        }
        return e;
    }
    // '(' args ')' after a callee, a filter or a test; the operand is args[0].
    ExprPtr call(ExprPtr operand, Expr::Kind kind, std::string name) {
        auto e = make(kind, peek().line, std::move(name));
        e->args.push_back(std::move(operand));
        e->arg_names.push_back("");
        if (!is_op("(")) return e;
        next();
        while (!is_op(")")) {
            if (is_op("*") || is_op("**")) fail("*args / **kwargs in calls are not supported");
            std::string keyword;
            if (peek().kind == Token::Kind::kName && is_op("=", 1)) {
                keyword = next().text;
                next();
            }
            e->args.push_back(expression());
            e->arg_names.push_back(keyword);
            if (!is_op(",")) break;
            next();
        }
        expect_op(")");
        return e;
    }
    ExprPtr filters_and_tests(ExprPtr node) {
        for (;;) {
            if (is_op("|")) {
                next();
                int line = peek().line;
                std::string name = expect_name("a filter name after '|'");
                if (!known_filters().count(name)) throw TemplateError(line, "unsupported filter '" + name + "'");
                node = call(std::move(node), Expr::Kind::kFilter, name);
            } else if (is_name("is")) {
                next();
                bool negated = false;
                if (is_name("not")) {
                    next();
                    negated = true;
                }
                int line = peek().line;
                std::string name = peek().kind == Token::Kind::kOp ? next().text : expect_name("a test name after 'is'");
                if (!known_tests().count(name)) throw TemplateError(line, "unsupported test '" + name + "'");
                auto e = call(std::move(node), Expr::Kind::kTest, name);
                // `is divisibleby 3`, `is sameas none`: one argument without parentheses.
                if (e->args.size() == 1 && (peek().kind == Token::Kind::kInt || peek().kind == Token::Kind::kFloat ||
                                            peek().kind == Token::Kind::kString ||
                                            (peek().kind == Token::Kind::kName && !is_name("and") &&
                                             !is_name("or") && !is_name("if") && !is_name("else") &&
                                             !is_name("is") && !is_name("in") && !is_name("not")))) {
                    e->args.push_back(unary(false));
                    e->arg_names.push_back("");
                }
                e->negated = negated;
                node = std::move(e);
            } else if (is_op("(")) {
                node = call(std::move(node), Expr::Kind::kCall, "");
            } else {
                return node;
            }
        }
    }

    std::vector<Token> t_;
    size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Stage 4: statements

class StatementParser {
public:
    explicit StatementParser(std::vector<Segment> segments) : s_(std::move(segments)) {}

    Program program() {
        Program p;
        std::string end = body(p.body, {});
        (void)end;
        return p;
    }

private:
    // Parses nodes until a statement whose keyword is in `ends`; returns that keyword and leaves
    // its parser in `last_` for the caller (for `elif cond`, `else`).
    std::string body(Body& out, const std::set<std::string>& ends) {
        while (i_ < s_.size()) {
            const Segment& seg = s_[i_++];
            if (seg.kind == Segment::Kind::kText) {
                Node n;
                n.line = seg.line;
                n.text = seg.text;
                out.push_back(std::move(n));
                continue;
            }
            ExprParser p(tokenize(seg.text, seg.line));
            if (seg.kind == Segment::Kind::kOutput) {
                Node n;
                n.kind = Node::Kind::kOutput;
                n.line = seg.line;
                n.expr = p.expression();
                p.expect_end();
                out.push_back(std::move(n));
                continue;
            }
            std::string keyword = p.expect_name("a statement keyword");
            if (ends.count(keyword)) {
                last_ = std::make_unique<ExprParser>(std::move(p));
                last_line_ = seg.line;
                return keyword;
            }
            out.push_back(statement(keyword, p, seg.line));
        }
        if (!ends.empty()) {
            std::string expected;
            for (const auto& e : ends) expected += (expected.empty() ? "" : " or ") + ("'" + e + "'");
            throw TemplateError(s_.empty() ? 1 : s_.back().line, "missing " + expected + " at the end of the template");
        }
        return {};
    }

    Node statement(const std::string& keyword, ExprParser& p, int line) {
        if (++depth_ > kMaxBlockNesting) throw TemplateError(line, "blocks nested too deeply");
        struct Leave {
            int& d;
            ~Leave() { --d; }
        } leave{depth_};
        Node n;
        n.line = line;
        if (keyword == "if") {
            n.kind = Node::Kind::kIf;
            n.conditions.push_back(p.expression());
            p.expect_end();
            for (;;) {
                n.bodies.emplace_back();
                std::string end = body(n.bodies.back(), {"elif", "else", "endif"});
                if (end == "endif") {
                    last_->expect_end();
                    break;
                }
                if (end == "elif") {
                    n.conditions.push_back(last_->expression());
                    last_->expect_end();
                } else {  // else: the final body, no condition
                    last_->expect_end();
                    n.bodies.emplace_back();
                    body(n.bodies.back(), {"endif"});
                    last_->expect_end();
                    break;
                }
            }
        } else if (keyword == "for") {
            n.kind = Node::Kind::kFor;
            n.targets.push_back(p.expect_name("a loop variable"));
            while (p.is_op(",")) {
                p.next();
                n.targets.push_back(p.expect_name("a loop variable"));
            }
            if (!p.is_name("in")) p.fail("expected 'in'");
            p.next();
            n.expr = p.expression_no_condition();
            if (p.is_name("if")) {
                p.next();
                n.filter = p.expression();
            }
            if (p.is_name("recursive")) p.fail("recursive loops are not supported");
            p.expect_end();
            n.bodies.emplace_back();
            std::string end = body(n.bodies.back(), {"else", "endfor"});
            last_->expect_end();
            if (end == "else") {
                n.bodies.emplace_back();
                body(n.bodies.back(), {"endfor"});
                last_->expect_end();
            }
        } else if (keyword == "set") {
            n.targets.push_back(p.expect_name("a variable name"));
            if (p.is_op(".")) {
                p.next();
                n.attribute = p.expect_name("an attribute name");
            }
            if (p.is_op(",")) p.fail("tuple assignment in set is not supported");
            if (p.at_end()) {
                n.kind = Node::Kind::kSetBlock;
                n.bodies.emplace_back();
                body(n.bodies.back(), {"endset"});
                last_->expect_end();
            } else {
                n.kind = Node::Kind::kSet;
                p.expect_op("=");
                n.expr = p.expression();
                p.expect_end();
            }
        } else if (keyword == "macro") {
            n.kind = Node::Kind::kMacro;
            n.targets.push_back(p.expect_name("a macro name"));
            p.expect_op("(");
            while (!p.is_op(")")) {
                n.params.push_back(p.expect_name("a parameter name"));
                if (p.is_op("=")) {
                    p.next();
                    n.defaults.push_back(p.expression());
                } else {
                    n.defaults.push_back(nullptr);
                }
                if (!p.is_op(",")) break;
                p.next();
            }
            p.expect_op(")");
            p.expect_end();
            n.bodies.emplace_back();
            body(n.bodies.back(), {"endmacro"});
            last_->expect_end();
        } else if (keyword == "generation") {
            // Hugging Face's marker of the assistant's tokens (for training masks): renders its body.
            n.kind = Node::Kind::kBlock;
            p.expect_end();
            n.bodies.emplace_back();
            body(n.bodies.back(), {"endgeneration"});
            last_->expect_end();
        } else if (keyword == "break" || keyword == "continue") {
            n.kind = keyword == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
            p.expect_end();
        } else {
            static const std::set<std::string> kEnds = {"endif", "endfor", "endmacro", "endset", "endgeneration",
                                                        "elif", "else"};
            if (kEnds.count(keyword)) throw TemplateError(line, "'" + keyword + "' without a matching opening tag");
            throw TemplateError(line, "unsupported template statement '" + keyword + "'");
        }
        return n;
    }

    static constexpr int kMaxBlockNesting = 200;
    int depth_ = 0;
    std::vector<Segment> s_;
    size_t i_ = 0;
    std::unique_ptr<ExprParser> last_;
    int last_line_ = 0;
};

}  // namespace

Program parse_template(const std::string& source) {
    return StatementParser(split_segments(source)).program();
}

}  // namespace lfm::jinja
