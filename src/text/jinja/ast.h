#pragma once
// The parsed form of a template: expressions and statements, each with the line it came from so
// that every error can name it.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "text/jinja/value.h"

namespace lfm::jinja {

// A template that cannot be parsed or rendered; the message names the line and the construct.
class TemplateError : public std::runtime_error {
public:
    TemplateError(int line, const std::string& message)
        : std::runtime_error(line > 0 ? "line " + std::to_string(line) + ": " + message : message),
          line_(line), detail_(message) {}
    int line() const { return line_; }
    const std::string& detail() const { return detail_; }  // the message without the line

private:
    int line_;  // 0 when not known where it is raised (a global function); the caller fills it in
    std::string detail_;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    enum class Kind {
        kLiteral,   // value
        kName,      // name
        kAttr,      // args[0].name
        kIndex,     // args[0][args[1]]
        kSlice,     // args[0][args[1]:args[2]:args[3]] (missing parts are null)
        kCall,      // args[0](args[1..]) with keyword names in arg_names
        kFilter,    // args[0] | name(args[1..])
        kTest,      // args[0] is [not] name(args[1..])
        kUnary,     // name: "not" or "-" / "+", args[0]
        kBinary,    // name: operator, args[0] op args[1]
        kCondition, // args[1] if args[0] else args[2] (args[2] may be null)
        kList,      // [args...]
        kTuple,     // (args...)
        kDict,      // {args[0]: args[1], ...}
    };
    Kind kind = Kind::kLiteral;
    int line = 0;
    std::string name;
    Value value;
    std::vector<ExprPtr> args;
    std::vector<std::string> arg_names;  // kCall / kFilter / kTest: "" for positional arguments
    bool negated = false;                // kTest: `is not`
};

struct Node;
using Body = std::vector<Node>;

struct Node {
    enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kBreak, kContinue, kBlock };
    Kind kind = Kind::kText;
    int line = 0;
    std::string text;                 // kText
    ExprPtr expr;                     // kOutput, kSet (value), kFor (iterable)
    // kIf: conditions[i] guards bodies[i]; a trailing body without a condition is the else.
    std::vector<ExprPtr> conditions;
    std::vector<Body> bodies;
    // kFor: targets, optional filter (`for x in xs if cond`), bodies[0] loop, bodies[1] else.
    // kSet / kSetBlock: targets[0] (and attribute for `ns.attr`). kMacro: name, params.
    std::vector<std::string> targets;
    std::string attribute;
    ExprPtr filter;
    std::vector<std::string> params;
    std::vector<ExprPtr> defaults;   // kMacro: one per param, null when none
};

struct Program {
    Body body;
};

// Parses template source with trim_blocks and lstrip_blocks on (as Hugging Face sets Jinja up).
Program parse_template(const std::string& source);

}  // namespace lfm::jinja
