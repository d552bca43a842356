#include "text/jinja/builtins.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "text/decimal.h"

namespace lfm::jinja {
namespace {

using K = Value::Kind;

[[noreturn]] void fail(int line, const std::string& message) { throw TemplateError(line, message); }

// A template comes with a model file: it may not make a value (or the memory) grow without bound.
constexpr size_t kMaxValueSize = size_t{64} << 20;

std::string quoted(const char* type) { return std::string("'") + type + "'"; }

bool is_int_like(const Value& v) { return v.kind() == K::kInt || v.kind() == K::kBool; }

int64_t checked(bool overflow, int64_t value, int line) {
    if (overflow) fail(line, "integer overflow");
    return value;
}

// Python's str.isspace() for the characters a template meets.
bool is_py_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1f);
}

std::string strip(const std::string& s, const Value* chars, bool left, bool right) {
    auto drop = [&](char c) {
        if (chars && chars->is_string()) return chars->as_string().find(c) != std::string::npos;
        return is_py_space(c);
    };
    size_t b = 0, e = s.size();
    if (left)
        while (b < e && drop(s[b])) ++b;
    if (right)
        while (e > b && drop(s[e - 1])) --e;
    return s.substr(b, e - b);
}

std::string ascii_case(std::string s, bool upper) {
    for (char& c : s) c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string capitalize(const std::string& s) {
    std::string out = ascii_case(s, false);
    if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return out;
}

std::string title(const std::string& s) {
    std::string out = s;
    bool start = true;
    for (char& c : out) {
        unsigned char u = static_cast<unsigned char>(c);
        if (std::isalpha(u)) {
            c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
            start = false;
        } else {
            start = true;
        }
    }
    return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
    if (from.empty()) {  // Python inserts `to` between every character
        std::u32string cps = to_code_points(s);
        std::string out;
        int64_t done = 0;
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count < 0 || done < count) {
                out += to;
                ++done;
            }
            if (i < cps.size()) out += from_code_points(cps.substr(i, 1));
        }
        return out;
    }
    std::string out;
    size_t pos = 0;
    int64_t done = 0;
    for (;;) {
        size_t hit = s.find(from, pos);
        if (hit == std::string::npos || (count >= 0 && done >= count)) break;
        out.append(s, pos, hit - pos);
        out += to;
        pos = hit + from.size();
        ++done;
    }
    out.append(s, pos);
    return out;
}

List split(const std::string& s, const Value* sep, int64_t maxsplit, int line) {
    List out;
    if (!sep || sep->is_none()) {  // runs of white space, no empty pieces
        size_t i = 0;
        while (i < s.size()) {
            while (i < s.size() && is_py_space(s[i])) ++i;
            if (i >= s.size()) break;
            size_t j = i;
            if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
                j = s.size();
                std::string rest = s.substr(i);
                while (!rest.empty() && is_py_space(rest.back())) rest.pop_back();
                out.emplace_back(rest);
                break;
            }
            while (j < s.size() && !is_py_space(s[j])) ++j;
            out.emplace_back(s.substr(i, j - i));
            i = j;
        }
        return out;
    }
    if (!sep->is_string()) fail(line, "split() separator must be a string");
    const std::string& d = sep->as_string();
    if (d.empty()) fail(line, "split(): empty separator");
    size_t pos = 0;
    for (;;) {
        size_t hit = s.find(d, pos);
        if (hit == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit)) break;
        out.emplace_back(s.substr(pos, hit - pos));
        pos = hit + d.size();
    }
    out.emplace_back(s.substr(pos));
    return out;
}

int64_t int_arg(const CallArgs& args, size_t index, const char* name, int64_t fallback, int line) {
    const Value* v = args.get(index, name);
    if (!v || v->is_none()) return fallback;
    if (!is_int_like(*v)) fail(line, std::string("argument '") + name + "' must be an integer");
    return v->as_int();
}

const Value* string_arg(const CallArgs& args, size_t index, const char* name, const char* what, int line) {
    const Value* v = args.get(index, name);
    if (!v) fail(line, std::string(what) + " needs the argument '" + name + "'");
    if (!v->is_string()) fail(line, std::string(what) + ": argument '" + name + "' must be a string");
    return v;
}

bool affix_match(const std::string& s, const Value& affix, bool prefix, int line) {
    auto one = [&](const Value& a) {
        if (!a.is_string()) fail(line, std::string(prefix ? "startswith" : "endswith") + "() needs a string");
        const std::string& x = a.as_string();
        if (x.size() > s.size()) return false;
        return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
    };
    if (affix.is_list()) return std::any_of(affix.as_list().begin(), affix.as_list().end(), one);
    return one(affix);
}

int compare_values(const Value& a, const Value& b, const std::string& op, int line) {
    if (a.is_number() && b.is_number()) {
        double x = a.as_float(), y = b.as_float();
        if (a.kind() != K::kFloat && b.kind() != K::kFloat) {
            int64_t i = a.as_int(), j = b.as_int();
            return i < j ? -1 : i > j ? 1 : 0;
        }
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        int c = a.as_string().compare(b.as_string());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    fail(line, "'" + op + "' not supported between instances of " + quoted(a.type_name()) + " and " +
                   quoted(b.type_name()));
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Value binary_op(const std::string& op, const Value& a, const Value& b, int line) {
    if (op == "==") return Value(a == b);
    if (op == "!=") return Value(!(a == b));
    if (op == "in") return Value(contains(b, a, line));
    if (op == "not in") return Value(!contains(b, a, line));
    if (op == "~") {
        std::string x = a.to_output(), y = b.to_output();
        if (x.size() + y.size() > kMaxValueSize) fail(line, "string too long (over 64 MB)");
        return Value(x + y);
    }
    if (op == "<") return Value(compare_values(a, b, op, line) < 0);
    if (op == "<=") return Value(compare_values(a, b, op, line) <= 0);
    if (op == ">") return Value(compare_values(a, b, op, line) > 0);
    if (op == ">=") return Value(compare_values(a, b, op, line) >= 0);

    if (a.is_undefined() || b.is_undefined())
        fail(line, "an undefined value used with '" + op + "'");
    bool ints = is_int_like(a) && is_int_like(b);
    bool numbers = a.is_number() && b.is_number();
    if (op == "+") {
        if (ints) {
            int64_t r = 0;
            bool overflow = __builtin_add_overflow(a.as_int(), b.as_int(), &r);
            return Value(checked(overflow, r, line));
        }
        if (numbers) return Value(a.as_float() + b.as_float());
        if (a.is_string() && b.is_string()) {
            if (a.as_string().size() + b.as_string().size() > kMaxValueSize) fail(line, "string too long (over 64 MB)");
            return Value(a.as_string() + b.as_string());
        }
        if (a.is_list() && b.is_list()) {
            if (a.as_list().size() + b.as_list().size() > kMaxValueSize) fail(line, "list too long");
            List out = a.as_list();
            out.insert(out.end(), b.as_list().begin(), b.as_list().end());
            return Value(std::move(out));
        }
        if (a.is_string() || a.is_list())
            fail(line, std::string("can only concatenate ") + a.type_name() + " (not \"" + b.type_name() + "\") to " +
                           a.type_name());
    } else if (op == "-") {
        if (ints) {
            int64_t r = 0;
            bool overflow = __builtin_sub_overflow(a.as_int(), b.as_int(), &r);
            return Value(checked(overflow, r, line));
        }
        if (numbers) return Value(a.as_float() - b.as_float());
    } else if (op == "*") {
        if (ints) {
            int64_t r = 0;
            bool overflow = __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
            return Value(checked(overflow, r, line));
        }
        if (numbers) return Value(a.as_float() * b.as_float());
        const Value* seq = a.is_string() || a.is_list() ? &a : b.is_string() || b.is_list() ? &b : nullptr;
        const Value* times = seq == &a ? &b : &a;
        if (seq && is_int_like(*times)) {
            int64_t n = std::max<int64_t>(0, times->as_int());
            const size_t unit = seq->is_string() ? seq->as_string().size() : seq->as_list().size();
            if (n > (1 << 20) || static_cast<size_t>(n) * unit > kMaxValueSize) fail(line, "repetition too large");
            if (seq->is_string()) {
                std::string out;
                for (int64_t i = 0; i < n; ++i) out += seq->as_string();
                return Value(std::move(out));
            }
            List out;
            for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq->as_list().begin(), seq->as_list().end());
            return Value(std::move(out));
        }
    } else if (op == "/" || op == "//" || op == "%") {
        if (numbers) {
            if (b.as_float() == 0.0) fail(line, "division by zero");
            if (op == "/") return Value(a.as_float() / b.as_float());
            if (ints) {
                int64_t x = a.as_int(), y = b.as_int();
                if (x == INT64_MIN && y == -1) fail(line, "integer overflow");
                int64_t q = x / y, r = x % y;
                if (r != 0 && ((r < 0) != (y < 0))) {  // Python floors toward negative infinity
                    --q;
                    r += y;
                }
                return Value(op == "//" ? q : r);
            }
            double x = a.as_float(), y = b.as_float();
            double q = std::floor(x / y);
            return Value(op == "//" ? q : x - q * y);
        }
        if (op == "%" && a.is_string()) fail(line, "'%' string formatting is not supported");
    } else if (op == "**") {
        if (ints && b.as_int() >= 0) {
            int64_t r = 1;
            for (int64_t i = 0; i < b.as_int(); ++i)
                if (__builtin_mul_overflow(r, a.as_int(), &r)) fail(line, "integer overflow");
            return Value(r);
        }
        if (numbers) return Value(std::pow(a.as_float(), b.as_float()));
    }
    fail(line, "unsupported operand type(s) for " + op + ": " + quoted(a.type_name()) + " and " +
                   quoted(b.type_name()));
}

bool contains(const Value& container, const Value& item, int line) {
    switch (container.kind()) {
        case K::kString:
            if (!item.is_string())
                fail(line, std::string("'in <string>' requires string as left operand, not ") + item.type_name());
            return container.as_string().find(item.as_string()) != std::string::npos;
        case K::kList:
            return std::any_of(container.as_list().begin(), container.as_list().end(),
                               [&](const Value& v) { return v == item; });
        case K::kDict: return item.is_string() && container.as_dict().find(item.as_string()) != nullptr;
        case K::kUndefined: return false;
        default: fail(line, std::string("argument of type ") + quoted(container.type_name()) + " is not iterable");
    }
}

Value get_item(const Value& object, const Value& key, int line) {
    if (object.is_undefined()) fail(line, "cannot index an undefined value");
    if ((object.is_list() || object.is_string()) && is_int_like(key)) {
        if (object.is_list()) {
            const List& list = object.as_list();
            int64_t i = key.as_int(), n = static_cast<int64_t>(list.size());
            if (i < 0) i += n;
            if (i < 0 || i >= n) return Value();
            return list[static_cast<size_t>(i)];
        }
        std::u32string cps = to_code_points(object.as_string());
        int64_t i = key.as_int(), n = static_cast<int64_t>(cps.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return Value();
        return Value(from_code_points(cps.substr(static_cast<size_t>(i), 1)));
    }
    if (object.is_dict() && key.is_string()) {
        const Value* v = object.as_dict().find(key.as_string());
        return v ? *v : Value();
    }
    return Value();
}

Value get_attr(const Value& object, const std::string& name, int line) {
    if (object.is_undefined()) fail(line, "cannot read attribute '" + name + "' of an undefined value");
    if (object.is_dict()) {
        const Value* v = object.as_dict().find(name);
        return v ? *v : Value();
    }
    return Value();
}

Value slice(const Value& object, const Value& start, const Value& stop, const Value& step, int line) {
    auto bound = [&](const Value& v, const char* what) -> std::optional<int64_t> {
        if (v.is_undefined() || v.is_none()) return std::nullopt;
        if (!is_int_like(v)) fail(line, std::string("slice ") + what + " must be an integer");
        return v.as_int();
    };
    std::optional<int64_t> b = bound(start, "start"), e = bound(stop, "stop"), s = bound(step, "step");
    int64_t st = s.value_or(1);
    if (st == 0) fail(line, "slice step cannot be zero");
    auto pick = [&](int64_t n, auto&& take) {
        int64_t lo, hi;
        auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
            if (!v) return fallback;
            int64_t x = *v < 0 ? *v + n : *v;
            return st > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
        };
        lo = clamp(b, st > 0 ? 0 : n - 1);
        hi = clamp(e, st > 0 ? n : -1);
        for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) take(static_cast<size_t>(i));
    };
    if (object.is_list()) {
        const List& list = object.as_list();
        List out;
        pick(static_cast<int64_t>(list.size()), [&](size_t i) { out.push_back(list[i]); });
        return Value(std::move(out));
    }
    if (object.is_string()) {
        std::u32string cps = to_code_points(object.as_string()), out;
        pick(static_cast<int64_t>(cps.size()), [&](size_t i) { out += cps[i]; });
        return Value(from_code_points(out));
    }
    fail(line, std::string("cannot slice a value of type ") + quoted(object.type_name()));
}

List iterate(const Value& value, int line) {
    switch (value.kind()) {
        case K::kList: return value.as_list();
        case K::kUndefined: return {};
        case K::kDict: {
            List keys;
            for (const auto& [k, v] : value.as_dict().items) keys.emplace_back(k);
            return keys;
        }
        case K::kString: {
            List chars;
            std::u32string cps = to_code_points(value.as_string());
            for (char32_t c : cps) chars.emplace_back(from_code_points(std::u32string(1, c)));
            return chars;
        }
        default: fail(line, quoted(value.type_name()) + " object is not iterable");
    }
}

// ---------------------------------------------------------------------------------------------

bool apply_test(const std::string& name, const Value& v, const CallArgs& args, int line) {
    auto arg = [&]() -> const Value& {
        const Value* a = args.get(0, "value");
        if (!a) fail(line, "test '" + name + "' needs an argument");
        return *a;
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "mapping") return v.is_dict();
    if (name == "number") return v.kind() == K::kInt || v.kind() == K::kFloat;
    if (name == "integer") return v.kind() == K::kInt;
    if (name == "float") return v.kind() == K::kFloat;
    if (name == "boolean") return v.kind() == K::kBool;
    if (name == "true") return v.kind() == K::kBool && v.as_bool();
    if (name == "false") return v.kind() == K::kBool && !v.as_bool();
    if (name == "sequence" || name == "iterable") return v.is_list() || v.is_string() || v.is_dict();
    if (name == "callable") return v.kind() == K::kFunction;
    if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") return v == arg();
    if (name == "ne" || name == "!=") return !(v == arg());
    if (name == "lt" || name == "<") return compare_values(v, arg(), "<", line) < 0;
    if (name == "le" || name == "<=") return compare_values(v, arg(), "<=", line) <= 0;
    if (name == "gt" || name == ">") return compare_values(v, arg(), ">", line) > 0;
    if (name == "ge" || name == ">=") return compare_values(v, arg(), ">=", line) >= 0;
    if (name == "in") return contains(arg(), v, line);
    if (name == "odd" || name == "even" || name == "divisibleby") {
        if (!is_int_like(v)) fail(line, "test '" + name + "' needs an integer");
        if (name == "odd") return v.as_int() % 2 != 0;
        if (name == "even") return v.as_int() % 2 == 0;
        if (!is_int_like(arg()) || arg().as_int() == 0) fail(line, "divisibleby needs a non-zero integer");
        return v.as_int() % arg().as_int() == 0;
    }
    if (name == "lower" || name == "upper") {
        if (!v.is_string()) return false;
        return v.as_string() == ascii_case(v.as_string(), name == "upper");
    }
    fail(line, "unsupported test '" + name + "'");
}

namespace {

// `selectattr("a", "equalto", 1)` / `select("defined")`: the test and its arguments from args[k..].
bool run_test_from(const Value& item, const CallArgs& args, size_t first, int line) {
    if (args.positional.size() <= first) return item.truthy();
    const Value& test = args.positional[first];
    if (!test.is_string()) fail(line, "a test name must be a string");
    CallArgs rest;
    rest.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(first) + 1, args.positional.end());
    return apply_test(test.as_string(), item, rest, line);
}

}  // namespace

Value apply_filter(const std::string& name, const Value& v, const CallArgs& args, int line) {
    if (name == "default" || name == "d") {
        const Value* fallback = args.get(0, "default_value");
        const Value* boolean = args.get(1, "boolean");
        bool use = v.is_undefined() || (boolean && boolean->truthy() && !v.truthy());
        return use ? (fallback ? *fallback : Value(std::string())) : v;
    }
    if (name == "safe") return v;
    if (name == "string") return v.is_string() ? v : Value(v.to_output());
    if (name == "tojson") {
        const Value* indent = args.get(0, "indent");
        try {
            return Value(v.to_json(indent && is_int_like(*indent) ? static_cast<int>(indent->as_int()) : -1));
        } catch (const std::runtime_error& e) {
            fail(line, std::string("tojson: ") + e.what());
        }
    }
    if (name == "length" || name == "count") {
        if (v.is_string()) return Value(static_cast<int64_t>(to_code_points(v.as_string()).size()));
        if (v.is_list()) return Value(static_cast<int64_t>(v.as_list().size()));
        if (v.is_dict()) return Value(static_cast<int64_t>(v.as_dict().items.size()));
        if (v.is_undefined()) return Value(0);
        fail(line, "object of type " + quoted(v.type_name()) + " has no len()");
    }
    if (name == "list") return Value(iterate(v, line));
    if (name == "items") {
        if (v.is_undefined()) return Value(List{});
        if (!v.is_dict()) fail(line, "items: not a mapping but " + quoted(v.type_name()));
        List out;
        for (const auto& [k, x] : v.as_dict().items) out.emplace_back(List{Value(k), x});
        return Value(std::move(out));
    }
    if (name == "join") {
        const Value* sep = args.get(0, "d");
        const Value* attribute = args.get(1, "attribute");
        std::string out;
        bool first = true;
        for (const Value& item : iterate(v, line)) {
            if (!first) out += sep ? sep->to_output() : "";
            first = false;
            out += (attribute ? get_attr(item, attribute->to_output(), line) : item).to_output();
        }
        return Value(std::move(out));
    }
    if (name == "first" || name == "last") {
        List items = iterate(v, line);
        if (items.empty()) return Value();
        return name == "first" ? items.front() : items.back();
    }
    if (name == "reverse") {
        if (v.is_string()) {
            std::u32string cps = to_code_points(v.as_string());
            std::reverse(cps.begin(), cps.end());
            return Value(from_code_points(cps));
        }
        List items = iterate(v, line);
        std::reverse(items.begin(), items.end());
        return Value(std::move(items));
    }
    if (name == "unique") {
        List out;
        for (const Value& item : iterate(v, line))
            if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return o == item; })) out.push_back(item);
        return Value(std::move(out));
    }
    if (name == "int") {
        if (is_int_like(v)) return Value(v.as_int());
        if (v.kind() == K::kFloat) return Value(static_cast<int64_t>(v.as_float()));
        if (v.is_string()) {
            try {
                size_t used = 0;
                int64_t i = std::stoll(v.as_string(), &used);
                if (used == v.as_string().size()) return Value(i);
            } catch (const std::exception&) {
            }
        }
        const Value* fallback = args.get(0, "default");
        return fallback ? *fallback : Value(0);
    }
    if (name == "float") {
        if (v.is_number()) return Value(v.as_float());
        if (v.is_string()) {  // Python's float(): surrounding spaces, inf, nan; never the C locale's point
            std::string text = ascii_case(strip(v.as_string(), nullptr, true, true), false);
            const bool negative = !text.empty() && text[0] == '-';
            const std::string unsigned_text = !text.empty() && (text[0] == '-' || text[0] == '+') ? text.substr(1) : text;
            if (unsigned_text == "inf" || unsigned_text == "infinity")
                return Value(negative ? -HUGE_VAL : HUGE_VAL);
            if (unsigned_text == "nan") return Value(std::nan(""));
            double d = 0;
            if (parse_decimal(text, d) == DecimalParse::kOk) return Value(d);
        }
        const Value* fallback = args.get(0, "default");
        return fallback ? *fallback : Value(0.0);
    }
    if (name == "abs") {
        if (is_int_like(v)) {
            if (v.as_int() == INT64_MIN) fail(line, "integer overflow");
            return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
        }
        if (v.kind() == K::kFloat) return Value(std::fabs(v.as_float()));
        fail(line, "abs: not a number but " + quoted(v.type_name()));
    }
    if (name == "map" || name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
        List out;
        for (const Value& item : iterate(v, line)) {
            if (name == "map") {
                if (const Value* attribute = args.get(99, "attribute")) {
                    Value x = get_attr(item, attribute->to_output(), line);
                    const Value* fallback = args.get(99, "default");
                    out.push_back(x.is_undefined() && fallback ? *fallback : x);
                } else {
                    if (args.positional.empty() || !args.positional[0].is_string())
                        fail(line, "map needs a filter name or attribute=");
                    CallArgs rest;
                    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
                    out.push_back(apply_filter(args.positional[0].as_string(), item, rest, line));
                }
                continue;
            }
            bool by_attr = name == "selectattr" || name == "rejectattr";
            Value subject = item;
            if (by_attr) {
                if (args.positional.empty()) fail(line, name + " needs an attribute name");
                subject = get_attr(item, args.positional[0].to_output(), line);
            }
            bool keep = run_test_from(subject, args, by_attr ? 1 : 0, line);
            if (name == "rejectattr" || name == "reject") keep = !keep;
            if (keep) out.push_back(item);
        }
        return Value(std::move(out));
    }
    // The rest work on strings.
    if (!v.is_string()) fail(line, "filter '" + name + "' needs a string, not " + quoted(v.type_name()));
    const std::string& s = v.as_string();
    if (name == "trim") return Value(strip(s, args.get(0, "chars"), true, true));
    if (name == "lower") return Value(ascii_case(s, false));
    if (name == "upper") return Value(ascii_case(s, true));
    if (name == "capitalize") return Value(capitalize(s));
    if (name == "title") return Value(title(s));
    if (name == "replace") {
        const Value* from = string_arg(args, 0, "old", "replace", line);
        const Value* to = string_arg(args, 1, "new", "replace", line);
        return Value(replace_all(s, from->as_string(), to->as_string(), int_arg(args, 2, "count", -1, line)));
    }
    fail(line, "unsupported filter '" + name + "'");
}

Value call_method(const Value& object, const std::string& name, const CallArgs& args, int line, bool* found) {
    *found = true;
    if (object.is_string()) {
        const std::string& s = object.as_string();
        if (name == "strip") return Value(strip(s, args.get(0, "chars"), true, true));
        if (name == "lstrip") return Value(strip(s, args.get(0, "chars"), true, false));
        if (name == "rstrip") return Value(strip(s, args.get(0, "chars"), false, true));
        if (name == "split") return Value(split(s, args.get(0, "sep"), int_arg(args, 1, "maxsplit", -1, line), line));
        if (name == "startswith" || name == "endswith") {
            const Value* affix = args.get(0, "prefix");
            if (!affix) fail(line, name + "() needs an argument");
            return Value(affix_match(s, *affix, name == "startswith", line));
        }
        if (name == "upper" || name == "lower") return Value(ascii_case(s, name == "upper"));
        if (name == "capitalize") return Value(capitalize(s));
        if (name == "title") return Value(title(s));
        if (name == "replace") {
            const Value* from = string_arg(args, 0, "old", "replace", line);
            const Value* to = string_arg(args, 1, "new", "replace", line);
            return Value(replace_all(s, from->as_string(), to->as_string(), int_arg(args, 2, "count", -1, line)));
        }
        if (name == "find" || name == "count") {
            const std::string& needle = string_arg(args, 0, "sub", name.c_str(), line)->as_string();
            if (name == "find") {
                size_t at = s.find(needle);
                if (at == std::string::npos) return Value(-1);
                return Value(static_cast<int64_t>(to_code_points(s.substr(0, at)).size()));
            }
            if (needle.empty()) return Value(static_cast<int64_t>(to_code_points(s).size() + 1));
            int64_t n = 0;
            for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + needle.size())) ++n;
            return Value(n);
        }
        if (name == "join") {
            const Value* items = args.get(0, "iterable");
            if (!items) fail(line, "join() needs an argument");
            std::string out;
            bool first = true;
            for (const Value& item : iterate(*items, line)) {
                if (!item.is_string()) fail(line, "join(): sequence item is " + quoted(item.type_name()) + ", not str");
                if (!first) out += s;
                first = false;
                out += item.as_string();
            }
            return Value(std::move(out));
        }
    } else if (object.is_dict() && !object.as_dict().is_namespace) {
        const Dict& d = object.as_dict();
        if (name == "get") {
            const Value* key = args.get(0, "key");
            if (!key) fail(line, "get() needs a key");
            const Value* hit = key->is_string() ? d.find(key->as_string()) : nullptr;
            if (hit) return *hit;
            const Value* fallback = args.get(1, "default");
            return fallback ? *fallback : Value::none();
        }
        if (name == "items" || name == "keys" || name == "values") {
            List out;
            for (const auto& [k, x] : d.items) {
                if (name == "items") out.emplace_back(List{Value(k), x});
                else if (name == "keys") out.emplace_back(k);
                else out.push_back(x);
            }
            return Value(std::move(out));
        }
    } else if (object.is_list()) {
        if (name == "append" || name == "extend" || name == "pop" || name == "insert" || name == "remove" ||
            name == "clear" || name == "sort" || name == "reverse")
            fail(line, "lists cannot be changed in a template ('" + name + "'); build a new one with +");
    } else if (object.is_undefined()) {
        fail(line, "cannot call '" + name + "' on an undefined value");
    }
    *found = false;
    return Value();
}

}  // namespace lfm::jinja
