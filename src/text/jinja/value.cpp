#include "text/jinja/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "text/utf8.h"

namespace lfm::jinja {

const Value* Dict::find(std::string_view key) const {
    for (const auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}

void Dict::set(const std::string& key, Value value) {
    for (auto& [k, v] : items)
        if (k == key) {
            v = std::move(value);
            return;
        }
    items.emplace_back(key, std::move(value));
}

const Value* CallArgs::get(size_t index, std::string_view name) const {
    if (index < positional.size()) return &positional[index];
    for (const auto& [k, v] : keyword)
        if (k == name) return &v;
    return nullptr;
}

Value Value::none() {
    Value v;
    v.data_ = nullptr;
    return v;
}
Value::Value(bool b) : data_(b) {}
Value::Value(int64_t i) : data_(i) {}
Value::Value(double d) : data_(d) {}
Value::Value(std::string s) : data_(std::move(s)) {}
Value::Value(List list) : data_(std::make_shared<List>(std::move(list))) {}
Value::Value(std::shared_ptr<Dict> dict) : data_(std::move(dict)) {}
Value::Value(Function fn) : data_(std::make_shared<Function>(std::move(fn))) {}

int64_t Value::as_int() const {
    if (kind() == Kind::kBool) return as_bool() ? 1 : 0;
    return std::get<int64_t>(data_);
}

double Value::as_float() const {
    if (kind() == Kind::kFloat) return std::get<double>(data_);
    return static_cast<double>(as_int());
}

bool Value::truthy() const {
    switch (kind()) {
        case Kind::kUndefined:
        case Kind::kNone: return false;
        case Kind::kBool: return as_bool();
        case Kind::kInt: return as_int() != 0;
        case Kind::kFloat: return as_float() != 0.0;
        case Kind::kString: return !as_string().empty();
        case Kind::kList: return !as_list().empty();
        case Kind::kDict: return as_dict().is_namespace || !as_dict().items.empty();
        case Kind::kFunction: return true;
    }
    return false;
}

const char* Value::type_name() const {
    switch (kind()) {
        case Kind::kUndefined: return "undefined";
        case Kind::kNone: return "NoneType";
        case Kind::kBool: return "bool";
        case Kind::kInt: return "int";
        case Kind::kFloat: return "float";
        case Kind::kString: return "str";
        case Kind::kList: return "list";
        case Kind::kDict: return as_dict().is_namespace ? "Namespace" : "dict";
        case Kind::kFunction: return "function";
    }
    return "?";
}

// Python's float repr: the shortest digits that read back to the same double, written in fixed
// notation for decimal exponents -4..15 and as d.ddde±XX otherwise.
std::string python_float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    (void)ec;
    std::string sci(buf, end);  // "-1.2345e+02"
    bool negative = sci[0] == '-';
    if (negative) sci.erase(0, 1);
    size_t e = sci.find('e');
    int exp10 = std::stoi(sci.substr(e + 1));
    std::string digits;
    for (size_t i = 0; i < e; ++i)
        if (sci[i] != '.') digits += sci[i];
    std::string out;
    if (negative) out += '-';
    int n = static_cast<int>(digits.size());
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            out += "0.";
            out.append(static_cast<size_t>(-exp10 - 1), '0');
            out += digits;
        } else if (n <= exp10 + 1) {
            out += digits;
            out.append(static_cast<size_t>(exp10 + 1 - n), '0');
            out += ".0";
        } else {
            out.append(digits, 0, static_cast<size_t>(exp10 + 1));
            out += '.';
            out.append(digits, static_cast<size_t>(exp10 + 1));
        }
    } else {
        out += digits[0];
        if (n > 1) {
            out += '.';
            out.append(digits, 1);
        }
        char exp_buf[16];
        std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
        out += exp_buf;
    }
    return out;
}

namespace {

// repr() of a str: single quotes unless the text holds ' and no ", escapes as Python writes them.
std::string python_string_repr(const std::string& s) {
    char quote = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
    std::string out(1, quote);
    for (unsigned char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == static_cast<unsigned char>(quote)) (out += '\\') += static_cast<char>(c);
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else out += static_cast<char>(c);
    }
    out += quote;
    return out;
}

// A JSON string as json.dumps(ensure_ascii=False) writes it.
void append_json_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

void append_json(std::string& out, const Value& v, int indent, int depth) {
    using K = Value::Kind;
    auto newline = [&](int d) {
        if (indent < 0) return;
        out += '\n';
        out.append(static_cast<size_t>(indent * d), ' ');
    };
    const char* item_sep = indent < 0 ? ", " : ",";
    switch (v.kind()) {
        case K::kUndefined:
            throw std::runtime_error("Object of type Undefined is not JSON serializable");
        case K::kFunction:
            throw std::runtime_error("Object of type function is not JSON serializable");
        case K::kNone: out += "null"; break;
        case K::kBool: out += v.as_bool() ? "true" : "false"; break;
        case K::kInt: out += std::to_string(v.as_int()); break;
        case K::kFloat: {
            double d = v.as_float();
            if (std::isnan(d)) out += "NaN";
            else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
            else out += python_float_repr(d);
            break;
        }
        case K::kString: append_json_string(out, v.as_string()); break;
        case K::kList: {
            const List& list = v.as_list();
            if (list.empty()) {
                out += "[]";
                break;
            }
            out += '[';
            for (size_t i = 0; i < list.size(); ++i) {
                if (i) out += item_sep;
                newline(depth + 1);
                append_json(out, list[i], indent, depth + 1);
            }
            newline(depth);
            out += ']';
            break;
        }
        case K::kDict: {
            // Python's json.dumps rejects a Namespace; here it also stops a namespace that holds
            // itself from recursing forever.
            if (v.as_dict().is_namespace) throw std::runtime_error("Object of type Namespace is not JSON serializable");
            const auto& items = v.as_dict().items;
            if (items.empty()) {
                out += "{}";
                break;
            }
            out += '{';
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += item_sep;
                newline(depth + 1);
                append_json_string(out, items[i].first);
                out += ": ";
                append_json(out, items[i].second, indent, depth + 1);
            }
            newline(depth);
            out += '}';
            break;
        }
    }
}

}  // namespace

std::string Value::repr() const {
    switch (kind()) {
        case Kind::kString: return python_string_repr(as_string());
        case Kind::kList: {
            std::string out = "[";
            const List& list = as_list();
            for (size_t i = 0; i < list.size(); ++i) {
                if (i) out += ", ";
                out += list[i].repr();
            }
            return out + "]";
        }
        case Kind::kDict: {
            if (as_dict().is_namespace) return "<Namespace>";
            std::string out = "{";
            const auto& items = as_dict().items;
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                out += python_string_repr(items[i].first);
                out += ": ";
                out += items[i].second.repr();
            }
            return out + "}";
        }
        default: return to_output();
    }
}

std::string Value::to_output() const {
    switch (kind()) {
        case Kind::kUndefined: return "";
        case Kind::kNone: return "None";
        case Kind::kBool: return as_bool() ? "True" : "False";
        case Kind::kInt: return std::to_string(as_int());
        case Kind::kFloat: return python_float_repr(as_float());
        case Kind::kString: return as_string();
        case Kind::kFunction: return "<function>";
        default: return repr();
    }
}

std::string Value::to_json(int indent) const {
    std::string out;
    append_json(out, *this, indent, 0);
    return out;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null: return none();
        case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            uint64_t u = j.get<uint64_t>();
            if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
            return Value(static_cast<int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
        case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            List list;
            list.reserve(j.size());
            for (const auto& e : j) list.push_back(from_json(e));
            return Value(std::move(list));
        }
        case nlohmann::ordered_json::value_t::object: {
            auto dict = std::make_shared<Dict>();
            for (const auto& [k, e] : j.items()) dict->items.emplace_back(k, from_json(e));
            return Value(std::move(dict));
        }
        default: return none();
    }
}

bool operator==(const Value& a, const Value& b) {
    using K = Value::Kind;
    if (a.is_number() && b.is_number()) {
        if (a.kind() == K::kFloat || b.kind() == K::kFloat) return a.as_float() == b.as_float();
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case K::kUndefined:
        case K::kNone: return true;
        case K::kString: return a.as_string() == b.as_string();
        case K::kList: {
            const List &x = a.as_list(), &y = b.as_list();
            if (x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i)
                if (!(x[i] == y[i])) return false;
            return true;
        }
        case K::kDict: {
            const auto &x = a.as_dict().items, &y = b.as_dict().items;
            if (&a.as_dict() == &b.as_dict()) return true;
            if (a.as_dict().is_namespace || b.as_dict().is_namespace) return false;  // by identity, as Python
            if (x.size() != y.size()) return false;
            for (const auto& [k, v] : x) {
                const Value* other = b.as_dict().find(k);
                if (!other || !(v == *other)) return false;
            }
            return true;
        }
        default: return false;
    }
}

std::u32string to_code_points(std::string_view utf8) {
    std::u32string out;
    std::string clean = sanitize_utf8(utf8);
    for (size_t i = 0; i < clean.size();) {
        unsigned char c = static_cast<unsigned char>(clean[i]);
        int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(clean[i + static_cast<size_t>(k)]) & 0x3F);
        out += cp;
        i += static_cast<size_t>(len);
    }
    return out;
}

std::string from_code_points(std::u32string_view cps) {
    std::string out;
    for (char32_t cp : cps) append_utf8(out, cp);
    return out;
}

}  // namespace lfm::jinja
