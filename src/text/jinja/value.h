#pragma once
// The values a chat template computes with, with Python's semantics where a template can see
// them: `True`/`None` when printed, `['a', 1]` from `| string`, dicts that keep insertion order,
// strings indexed and measured in code points. Lists and dicts are shared, as in Python: a
// namespace() changed inside a loop is changed for everyone who holds it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace lfm::jinja {

class Value;
using List = std::vector<Value>;

// A dict in insertion order (templates print tools and arguments in the order they were given).
struct Dict {
    std::vector<std::pair<std::string, Value>> items;
    bool is_namespace = false;  // namespace(): the one kind of object `set x.attr = ...` may change

    const Value* find(std::string_view key) const;
    void set(const std::string& key, Value value);
};

// Arguments of a call: positional values, then keyword arguments in the order written.
struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
    const Value* get(size_t index, std::string_view name) const;  // by position or by name
};

using Function = std::function<Value(const CallArgs&)>;

class Value {
public:
    enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

    Value() = default;  // undefined
    static Value none();
    Value(bool b);
    Value(int64_t i);
    Value(int i) : Value(static_cast<int64_t>(i)) {}
    Value(double d);
    Value(std::string s);
    Value(const char* s) : Value(std::string(s)) {}
    Value(List list);
    Value(std::shared_ptr<Dict> dict);
    Value(Function fn);

    Kind kind() const { return static_cast<Kind>(data_.index()); }
    bool is_undefined() const { return kind() == Kind::kUndefined; }
    bool is_none() const { return kind() == Kind::kNone; }
    bool is_string() const { return kind() == Kind::kString; }
    bool is_number() const { return kind() == Kind::kInt || kind() == Kind::kFloat || kind() == Kind::kBool; }
    bool is_list() const { return kind() == Kind::kList; }
    bool is_dict() const { return kind() == Kind::kDict; }

    bool as_bool() const { return std::get<bool>(data_); }
    int64_t as_int() const;   // bool or int
    double as_float() const;  // bool, int or float
    const std::string& as_string() const { return std::get<std::string>(data_); }
    const List& as_list() const { return *std::get<std::shared_ptr<List>>(data_); }
    Dict& as_dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
    const Function& as_function() const { return *std::get<std::shared_ptr<Function>>(data_); }

    bool truthy() const;                // Python's bool()
    std::string to_output() const;      // what {{ x }} prints (str(x); undefined prints nothing)
    std::string repr() const;           // Python's repr(x)
    std::string to_json(int indent = -1) const;  // json.dumps(x, ensure_ascii=False[, indent])
    const char* type_name() const;      // Python's type name, for error messages

    static Value from_json(const nlohmann::ordered_json& j);

private:
    std::variant<std::monostate, std::nullptr_t, bool, int64_t, double, std::string,
                 std::shared_ptr<List>, std::shared_ptr<Dict>, std::shared_ptr<Function>>
        data_;
};

bool operator==(const Value& a, const Value& b);  // Python's ==
std::string python_float_repr(double d);

// Strings as code points, for len(), indexing and slicing with Python's meaning.
std::u32string to_code_points(std::string_view utf8);
std::string from_code_points(std::u32string_view cps);

}  // namespace lfm::jinja
