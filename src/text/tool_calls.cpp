// The Pythonic tool-call list LFM models write between <|tool_call_start|> and
// <|tool_call_end|> (tokenizer-and-chat.md §3.1), parsed by recursive descent into OpenAI
// tool calls with JSON arguments. Python literals map to JSON: strings in either quote (and
// triple quotes) with their escapes decoded, ints, floats, True/False/None, lists, tuples
// (arrays), dicts. The JSON form `[{"name": ..., "arguments": {...}}]` is accepted too.

#include <charconv>

#include <nlohmann/json.hpp>

#include "lfm/chat.h"
#include "text/decimal.h"
#include "text/jinja/value.h"
#include "text/utf8.h"

namespace lfm {
namespace {

using ordered_json = nlohmann::ordered_json;

struct ParseFailure {
    std::string message;
};

class PythonicParser {
public:
    explicit PythonicParser(std::string_view s) : s_(s) {}

    std::vector<std::pair<std::string, ordered_json>> call_list() {
        std::vector<std::pair<std::string, ordered_json>> calls;
        skip_ws();
        bool bracketed = peek() == '[';
        if (bracketed) ++i_;
        skip_ws();
        while (!(bracketed && peek() == ']') && i_ < s_.size()) {
            calls.push_back(call());
            skip_ws();
            if (peek() != ',') break;
            ++i_;
            skip_ws();
        }
        if (bracketed) expect(']');
        skip_ws();
        if (i_ != s_.size()) fail("unexpected text after the call list");
        if (calls.empty()) fail("no call in the list");
        return calls;
    }

private:
    char peek(size_t ahead = 0) const { return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0'; }
    [[noreturn]] void fail(const std::string& what) const {
        throw ParseFailure{what + " at offset " + std::to_string(i_)};
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++i_;
    }
    void skip_ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    static bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
    static bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

    std::string identifier(bool dotted) {
        if (!ident_start(peek())) fail("expected a name");
        size_t b = i_;
        while (i_ < s_.size() && (ident_char(s_[i_]) || (dotted && (s_[i_] == '.' || s_[i_] == '-')))) ++i_;
        return std::string(s_.substr(b, i_ - b));
    }

    std::pair<std::string, ordered_json> call() {
        std::string name = identifier(true);
        skip_ws();
        expect('(');
        ordered_json args = ordered_json::object();
        skip_ws();
        while (peek() != ')') {
            size_t at = i_;
            std::string key = identifier(false);
            skip_ws();
            if (peek() != '=') {
                i_ = at;
                fail("expected a keyword argument name=value");
            }
            ++i_;
            skip_ws();
            if (args.contains(key)) fail("argument '" + key + "' given twice");
            args[key] = value(0);
            skip_ws();
            if (peek() != ',') break;
            ++i_;
            skip_ws();
        }
        expect(')');
        return {name, std::move(args)};
    }

    ordered_json value(int depth) {
        if (depth > 64) fail("values nested too deeply");
        char c = peek();
        if (c == '\'' || c == '"') return ordered_json(string_literal());
        if (c == '[' || c == '(') return sequence(c == '[' ? ']' : ')', depth);
        if (c == '{') return mapping(depth);
        if (c == '-' || c == '+' || c == '.' || std::isdigit(static_cast<unsigned char>(c))) return number();
        if (ident_start(c)) {
            size_t at = i_;
            std::string word = identifier(false);
            if (word == "True" || word == "true") return true;
            if (word == "False" || word == "false") return false;
            if (word == "None" || word == "null") return nullptr;
            i_ = at;
            fail("'" + word + "' is not a value (strings need quotes)");
        }
        fail(c ? std::string("unexpected '") + c + "'" : "unexpected end of text");
    }

    ordered_json sequence(char close, int depth) {
        ++i_;
        ordered_json out = ordered_json::array();
        skip_ws();
        while (peek() != close) {
            out.push_back(value(depth + 1));
            skip_ws();
            if (peek() != ',') break;
            ++i_;
            skip_ws();
        }
        expect(close);
        return out;
    }

    ordered_json mapping(int depth) {
        ++i_;
        ordered_json out = ordered_json::object();
        skip_ws();
        while (peek() != '}') {
            ordered_json key = value(depth + 1);
            std::string k;
            if (key.is_string()) k = key.get<std::string>();
            else if (key.is_number() || key.is_boolean() || key.is_null()) k = key.dump();
            else fail("a dict key must be a string or a number");
            skip_ws();
            expect(':');
            skip_ws();
            out[k] = value(depth + 1);
            skip_ws();
            if (peek() != ',') break;
            ++i_;
            skip_ws();
        }
        expect('}');
        return out;
    }

    // Python's numeric literal: [+-] digits [. digits] [e [+-] digits], '_' allowed only between two digits.
    ordered_json number() {
        size_t b = i_;
        if (peek() == '-' || peek() == '+') ++i_;
        auto digit_run = [&] {
            size_t start = i_;
            while (std::isdigit(static_cast<unsigned char>(peek())) ||
                   (peek() == '_' && i_ > start && std::isdigit(static_cast<unsigned char>(peek(1)))))
                ++i_;
            return i_ > start;
        };
        bool is_float = false;
        bool digits = digit_run();
        if (peek() == '.') {
            is_float = true;
            ++i_;
            digits = digit_run() || digits;
        }
        if (!digits) fail("bad number");
        if (peek() == 'e' || peek() == 'E') {
            is_float = true;
            ++i_;
            if (peek() == '-' || peek() == '+') ++i_;
            if (!digit_run()) fail("bad exponent");
        }
        std::string text(s_.substr(b, i_ - b));
        std::erase(text, '_');
        if (text[0] == '+') text.erase(0, 1);
        const char* first = text.data();
        const char* last = text.data() + text.size();
        if (!is_float) {
            int64_t v = 0;
            auto [end, ec] = std::from_chars(first, last, v);
            if (ec == std::errc() && end == last) return v;
            // a Python int beyond int64: JSON keeps it as a float
        }
        double d = 0;
        const DecimalParse parsed = parse_decimal(text, d);
        if (parsed == DecimalParse::kInvalid) fail("bad number");
        if (parsed == DecimalParse::kOutOfRange) fail("number out of range");
        return d;
    }

    std::string string_literal() {
        char quote = peek();
        bool triple = s_.substr(i_, 3) == std::string(3, quote);
        i_ += triple ? 3 : 1;
        std::string out;
        for (;;) {
            if (i_ >= s_.size()) fail("unterminated string");
            char c = s_[i_];
            if (c == quote) {
                if (!triple) {
                    ++i_;
                    return out;
                }
                if (s_.substr(i_, 3) == std::string(3, quote)) {
                    i_ += 3;
                    return out;
                }
            }
            if (c == '\n' && !triple) fail("newline inside a string");
            if (c != '\\') {
                out += c;
                ++i_;
                continue;
            }
            if (i_ + 1 >= s_.size()) fail("unterminated string");
            char e = s_[i_ + 1];
            i_ += 2;
            auto hex = [&](size_t n) {
                if (i_ + n > s_.size()) fail("bad escape");
                uint32_t cp = 0;
                for (size_t k = 0; k < n; ++k) {
                    char h = s_[i_ + k];
                    int v = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                            : (h >= 'a' && h <= 'f')                    ? h - 'a' + 10
                            : (h >= 'A' && h <= 'F')                    ? h - 'A' + 10
                                                                        : -1;
                    if (v < 0) fail("bad hex digit in escape");
                    cp = cp * 16 + static_cast<uint32_t>(v);
                }
                i_ += n;
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
                append_utf8(out, static_cast<char32_t>(cp));
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
                default: out += '\\'; out += e;  // Python keeps unknown escapes
            }
        }
    }

    std::string_view s_;
    size_t i_ = 0;
};

// The declared JSON-schema type of a tool's parameter ("" when not declared).
std::string declared_type(const ordered_json& parameters, const std::string& name) {
    if (!parameters.is_object() || !parameters.contains("properties") || !parameters["properties"].is_object()) return "";
    const auto& props = parameters["properties"];
    if (!props.contains(name) || !props[name].is_object()) return "?";  // "?" = not a declared parameter
    const auto& p = props[name];
    return p.contains("type") && p["type"].is_string() ? p["type"].get<std::string>() : "";
}

void check_against_tools(const std::string& name, const ordered_json& args, std::span<const Tool> tools) {
    if (tools.empty()) return;
    const Tool* tool = nullptr;
    for (const Tool& t : tools)
        if (t.name == name) tool = &t;
    if (!tool) throw ParseFailure{"'" + name + "' is not one of the declared tools"};
    ordered_json schema;
    try {
        schema = ordered_json::parse(tool->parameters);
    } catch (const nlohmann::json::parse_error&) {
        return;
    }
    bool has_properties = schema.is_object() && schema.contains("properties") && schema["properties"].is_object();
    for (const auto& [key, value] : args.items()) {
        std::string type = declared_type(schema, key);
        if (type == "?" && has_properties)
            throw ParseFailure{"'" + key + "' is not a parameter of '" + name + "'"};
        if (type == "string" && !value.is_string())
            throw ParseFailure{"'" + name + "' parameter '" + key + "' must be a quoted string"};
    }
}

std::vector<std::pair<std::string, ordered_json>> parse_json_calls(std::string_view text) {
    ordered_json j;
    try {
        j = ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw ParseFailure{std::string("bad JSON call list: ") + e.what()};
    }
    if (j.is_object()) j = ordered_json::array({j});
    if (!j.is_array() || j.empty()) throw ParseFailure{"a JSON call list must be a non-empty list"};
    std::vector<std::pair<std::string, ordered_json>> calls;
    for (const auto& c : j) {
        if (!c.is_object() || !c.contains("name") || !c["name"].is_string())
            throw ParseFailure{"a JSON call needs a string \"name\""};
        ordered_json args = c.contains("arguments") ? c["arguments"] : ordered_json::object();
        if (args.is_string()) {
            try {
                args = ordered_json::parse(args.get<std::string>());
            } catch (const nlohmann::json::parse_error&) {
                throw ParseFailure{"\"arguments\" of '" + c["name"].get<std::string>() + "' is not a JSON object"};
            }
        }
        if (!args.is_object()) throw ParseFailure{"\"arguments\" must be an object"};
        calls.emplace_back(c["name"].get<std::string>(), args);
    }
    return calls;
}

}  // namespace

ToolCallParse parse_tool_calls(std::string_view text, std::span<const Tool> tools) {
    ToolCallParse result;
    try {
        size_t first = text.find_first_not_of(" \t\r\n");
        size_t second = first == std::string_view::npos ? first : text.find_first_not_of(" \t\r\n", first + 1);
        bool json_form = first != std::string_view::npos &&
                         (text[first] == '{' || (text[first] == '[' && second != std::string_view::npos && text[second] == '{'));
        auto calls = json_form ? parse_json_calls(text) : PythonicParser(text).call_list();
        for (size_t i = 0; i < calls.size(); ++i) {
            check_against_tools(calls[i].first, calls[i].second, tools);
            // Arguments are printed as json.dumps would (", " and ": "), in the order written.
            result.calls.push_back({"call_" + std::to_string(i), calls[i].first,
                                    jinja::Value::from_json(calls[i].second).to_json()});
        }
    } catch (const ParseFailure& f) {
        result.calls.clear();
        result.error = f.message;
    }
    return result;
}

}  // namespace lfm
