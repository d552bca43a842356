#pragma once
// Operators, filters, tests and methods on template values, with Python's semantics. Each
// throws TemplateError (with the line given) on a type Python would reject.

#include <string>

#include "text/jinja/ast.h"
#include "text/jinja/value.h"

namespace lfm::jinja {

Value binary_op(const std::string& op, const Value& a, const Value& b, int line);
bool contains(const Value& container, const Value& item, int line);  // Python's `item in container`
Value get_item(const Value& object, const Value& key, int line);     // x[key]; missing -> undefined
Value get_attr(const Value& object, const std::string& name, int line);  // x.name; missing -> undefined
Value slice(const Value& object, const Value& start, const Value& stop, const Value& step, int line);
List iterate(const Value& value, int line);  // what `for x in value` visits

Value apply_filter(const std::string& name, const Value& operand, const CallArgs& args, int line);
bool apply_test(const std::string& name, const Value& operand, const CallArgs& args, int line);
// obj.name(args) for str, dict and list methods; *found is false when there is no such method.
Value call_method(const Value& object, const std::string& name, const CallArgs& args, int line, bool* found);

}  // namespace lfm::jinja
