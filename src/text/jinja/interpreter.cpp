// Walks a parsed template. Scopes follow Jinja: a `for` body and a macro body get their own
// scope (an assignment inside does not leak out, which is why templates use namespace()); `if`
// does not. Macros see the template's top-level scope and their own arguments.

#include <unordered_map>

#include "text/jinja/builtins.h"
#include "text/jinja/jinja.h"

namespace lfm::jinja {
namespace {

struct Scope {
    std::unordered_map<std::string, Value> vars;
    Scope* parent = nullptr;

    const Value* lookup(const std::string& name) const {
        for (const Scope* s = this; s; s = s->parent) {
            auto it = s->vars.find(name);
            if (it != s->vars.end()) return &it->second;
        }
        return nullptr;
    }
};

enum class Flow { kNormal, kBreak, kContinue };

constexpr int kMaxDepth = 200;  // macro recursion
// A template comes with a model file: rendering it may not run or grow without bound. Real chat
// templates take a few thousand steps and produce kilobytes.
constexpr int64_t kMaxSteps = 10'000'000;
constexpr size_t kMaxOutput = size_t{64} << 20;

class Interpreter {
public:
    explicit Interpreter(Scope& root) : root_(root) {}

    Flow run(const Body& body, Scope& scope, std::string& out) {
        for (const Node& node : body) {
            Flow f = run(node, scope, out);
            if (f != Flow::kNormal) return f;
        }
        return Flow::kNormal;
    }

    Value eval(const Expr& e, Scope& scope);

private:
    Flow run(const Node& n, Scope& scope, std::string& out);
    Flow run_for(const Node& n, Scope& scope, std::string& out);
    Value call(const Expr& e, Scope& scope);
    Value make_macro(const Node& n);
    CallArgs eval_args(const Expr& e, Scope& scope, size_t first);

    Scope& root_;
    int depth_ = 0;
    int64_t steps_ = 0;

    void step(int line) {
        if (++steps_ > kMaxSteps) throw TemplateError(line, "the template runs too long (over 10 million steps)");
    }
};

Flow Interpreter::run(const Node& n, Scope& scope, std::string& out) {
    step(n.line);
    if (out.size() > kMaxOutput) throw TemplateError(n.line, "the template's output is too large (over 64 MB)");
    switch (n.kind) {
        case Node::Kind::kText: out += n.text; return Flow::kNormal;
        case Node::Kind::kOutput: out += eval(*n.expr, scope).to_output(); return Flow::kNormal;
        case Node::Kind::kIf:
            for (size_t i = 0; i < n.bodies.size(); ++i) {
                if (i >= n.conditions.size() || eval(*n.conditions[i], scope).truthy())
                    return run(n.bodies[i], scope, out);
            }
            return Flow::kNormal;
        case Node::Kind::kFor: return run_for(n, scope, out);
        case Node::Kind::kSet:
        case Node::Kind::kSetBlock: {
            Value v;
            if (n.kind == Node::Kind::kSet) {
                v = eval(*n.expr, scope);
            } else {
                std::string captured;
                run(n.bodies[0], scope, captured);
                v = Value(std::move(captured));
            }
            if (n.attribute.empty()) {
                scope.vars[n.targets[0]] = std::move(v);
                return Flow::kNormal;
            }
            const Value* target = scope.lookup(n.targets[0]);
            if (!target || !target->is_dict() || !target->as_dict().is_namespace)
                throw TemplateError(n.line, "cannot set attribute '" + n.attribute + "' of '" + n.targets[0] +
                                                "': only namespace() objects can be changed");
            target->as_dict().set(n.attribute, std::move(v));
            return Flow::kNormal;
        }
        case Node::Kind::kMacro: scope.vars[n.targets[0]] = make_macro(n); return Flow::kNormal;
        case Node::Kind::kBreak: return Flow::kBreak;
        case Node::Kind::kContinue: return Flow::kContinue;
        case Node::Kind::kBlock: return run(n.bodies[0], scope, out);
    }
    return Flow::kNormal;
}

Flow Interpreter::run_for(const Node& n, Scope& scope, std::string& out) {
    List items;
    for (Value& item : iterate(eval(*n.expr, scope), n.line)) {
        if (n.filter) {  // `for x in xs if cond`: cond sees x
            Scope probe{{}, &scope};
            probe.vars[n.targets[0]] = item;
            if (!eval(*n.filter, probe).truthy()) continue;
        }
        items.push_back(std::move(item));
    }
    if (items.empty()) {
        if (n.bodies.size() > 1) return run(n.bodies[1], scope, out);
        return Flow::kNormal;
    }
    Scope body_scope{{}, &scope};
    auto loop = std::make_shared<Dict>();
    const int64_t length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
        step(n.line);  // an empty body still costs a step per iteration
        const Value& item = items[static_cast<size_t>(i)];
        if (n.targets.size() == 1) {
            body_scope.vars[n.targets[0]] = item;
        } else {
            if (!item.is_list() || item.as_list().size() != n.targets.size())
                throw TemplateError(n.line, "cannot unpack " + std::string(item.type_name()) + " into " +
                                                std::to_string(n.targets.size()) + " loop variables");
            for (size_t k = 0; k < n.targets.size(); ++k) body_scope.vars[n.targets[k]] = item.as_list()[k];
        }
        loop->items.clear();
        loop->set("index0", Value(i));
        loop->set("index", Value(i + 1));
        loop->set("revindex", Value(length - i));
        loop->set("revindex0", Value(length - i - 1));
        loop->set("first", Value(i == 0));
        loop->set("last", Value(i == length - 1));
        loop->set("length", Value(length));
        loop->set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value());
        loop->set("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value());
        body_scope.vars["loop"] = Value(loop);
        if (run(n.bodies[0], body_scope, out) == Flow::kBreak) break;
    }
    return Flow::kNormal;
}

Value Interpreter::make_macro(const Node& n) {
    const Node* macro = &n;
    return Value(Function([this, macro](const CallArgs& args) -> Value {
        if (depth_ >= kMaxDepth) throw TemplateError(macro->line, "macro recursion too deep");
        if (args.positional.size() > macro->params.size())
            throw TemplateError(macro->line, "macro '" + macro->targets[0] + "' takes " +
                                                 std::to_string(macro->params.size()) + " arguments");
        Scope local{{}, &root_};
        for (const auto& [k, v] : args.keyword) {
            bool known = false;
            for (const auto& p : macro->params) known |= p == k;
            if (!known) throw TemplateError(macro->line, "macro '" + macro->targets[0] + "' has no parameter '" + k + "'");
        }
        for (size_t i = 0; i < macro->params.size(); ++i) {
            const Value* given = args.get(i, macro->params[i]);
            if (given) local.vars[macro->params[i]] = *given;
            else if (macro->defaults[i]) local.vars[macro->params[i]] = eval(*macro->defaults[i], local);
            else local.vars[macro->params[i]] = Value();
        }
        std::string out;
        ++depth_;
        try {
            run(macro->bodies[0], local, out);
        } catch (...) {
            --depth_;
            throw;
        }
        --depth_;
        return Value(std::move(out));
    }));
}

CallArgs Interpreter::eval_args(const Expr& e, Scope& scope, size_t first) {
    CallArgs args;
    for (size_t i = first; i < e.args.size(); ++i) {
        Value v = eval(*e.args[i], scope);
        if (e.arg_names[i].empty()) {
            if (!args.keyword.empty()) throw TemplateError(e.line, "positional argument after a keyword argument");
            args.positional.push_back(std::move(v));
        } else {
            args.keyword.emplace_back(e.arg_names[i], std::move(v));
        }
    }
    return args;
}

Value Interpreter::call(const Expr& e, Scope& scope) {
    const Expr& callee = *e.args[0];
    CallArgs args = eval_args(e, scope, 1);
    if (callee.kind == Expr::Kind::kAttr) {  // obj.method(...)
        Value object = eval(*callee.args[0], scope);
        bool found = false;
        Value result = call_method(object, callee.name, args, e.line, &found);
        if (found) return result;
        Value member = get_attr(object, callee.name, e.line);
        if (member.kind() == Value::Kind::kFunction) return member.as_function()(args);
        throw TemplateError(e.line, std::string("'") + object.type_name() + "' object has no method '" + callee.name + "'");
    }
    Value fn = eval(callee, scope);
    if (fn.kind() != Value::Kind::kFunction) {
        std::string what = callee.kind == Expr::Kind::kName ? "'" + callee.name + "'" : "this value";
        throw TemplateError(e.line, what + (fn.is_undefined() ? " is undefined" : " is not callable"));
    }
    try {
        return fn.as_function()(args);
    } catch (const TemplateError& err) {
        if (err.line() != 0) throw;
        throw TemplateError(e.line, err.detail());
    }
}

Value Interpreter::eval(const Expr& e, Scope& scope) {
    step(e.line);
    switch (e.kind) {
        case Expr::Kind::kLiteral: return e.value;
        case Expr::Kind::kName: {
            const Value* v = scope.lookup(e.name);
            return v ? *v : Value();
        }
        case Expr::Kind::kAttr: return get_attr(eval(*e.args[0], scope), e.name, e.line);
        case Expr::Kind::kIndex: return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope), e.line);
        case Expr::Kind::kSlice: {
            Value object = eval(*e.args[0], scope);
            Value parts[3];
            for (int i = 0; i < 3; ++i)
                if (e.args[static_cast<size_t>(i) + 1]) parts[i] = eval(*e.args[static_cast<size_t>(i) + 1], scope);
            return slice(object, parts[0], parts[1], parts[2], e.line);
        }
        case Expr::Kind::kCall: return call(e, scope);
        case Expr::Kind::kFilter:
            return apply_filter(e.name, eval(*e.args[0], scope), eval_args(e, scope, 1), e.line);
        case Expr::Kind::kTest: {
            bool r = apply_test(e.name, eval(*e.args[0], scope), eval_args(e, scope, 1), e.line);
            return Value(e.negated ? !r : r);
        }
        case Expr::Kind::kUnary: {
            Value v = eval(*e.args[0], scope);
            if (e.name == "not") return Value(!v.truthy());
            if (v.kind() == Value::Kind::kFloat) return Value(e.name == "-" ? -v.as_float() : v.as_float());
            if (v.kind() == Value::Kind::kInt || v.kind() == Value::Kind::kBool)
                return e.name == "-" ? binary_op("-", Value(0), v, e.line) : Value(v.as_int());
            throw TemplateError(e.line, "bad operand type for unary " + e.name + ": '" + v.type_name() + "'");
        }
        case Expr::Kind::kBinary: {
            Value a = eval(*e.args[0], scope);
            if (e.name == "and") return a.truthy() ? eval(*e.args[1], scope) : a;
            if (e.name == "or") return a.truthy() ? a : eval(*e.args[1], scope);
            return binary_op(e.name, a, eval(*e.args[1], scope), e.line);
        }
        case Expr::Kind::kCondition:
            if (eval(*e.args[0], scope).truthy()) return eval(*e.args[1], scope);
            return e.args[2] ? eval(*e.args[2], scope) : Value();
        case Expr::Kind::kList:
        case Expr::Kind::kTuple: {
            List items;
            for (const auto& a : e.args) items.push_back(eval(*a, scope));
            return Value(std::move(items));
        }
        case Expr::Kind::kDict: {
            auto dict = std::make_shared<Dict>();
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
                Value key = eval(*e.args[i], scope);
                if (!key.is_string()) throw TemplateError(e.line, "dict keys must be strings in templates");
                dict->set(key.as_string(), eval(*e.args[i + 1], scope));
            }
            return Value(std::move(dict));
        }
    }
    return Value();
}

// The namespaces one render made. A namespace is the one mutable object, so the only way to a
// reference cycle (`{% set ns.me = ns %}`); emptying them all when the render ends frees them.
struct Namespaces {
    std::vector<std::shared_ptr<Dict>> made;
    ~Namespaces() {
        for (auto& ns : made) ns->items.clear();
    }
};

// The functions every template can call.
void add_globals(Scope& root, const std::tm& now, Namespaces& namespaces) {
    auto& g = root.vars;
    g["namespace"] = Value(Function([&namespaces](const CallArgs& args) {
        auto ns = std::make_shared<Dict>();
        ns->is_namespace = true;
        namespaces.made.push_back(ns);
        for (const Value& p : args.positional)
            if (p.is_dict())
                for (const auto& [k, v] : p.as_dict().items) ns->set(k, v);
        for (const auto& [k, v] : args.keyword) ns->set(k, v);
        return Value(ns);
    }));
    g["dict"] = Value(Function([](const CallArgs& args) {
        auto d = std::make_shared<Dict>();
        for (const auto& [k, v] : args.keyword) d->set(k, v);
        return Value(d);
    }));
    g["range"] = Value(Function([](const CallArgs& args) {
        int64_t a[3] = {0, 0, 1};
        size_t n = args.positional.size();
        if (n < 1 || n > 3) throw TemplateError(0, "range() takes 1 to 3 integers");
        for (size_t i = 0; i < n; ++i) {
            const Value& v = args.positional[i];
            if (v.kind() != Value::Kind::kInt && v.kind() != Value::Kind::kBool)
                throw TemplateError(0, "range() takes integers");
        }
        if (n == 1) a[1] = args.positional[0].as_int();
        else
            for (size_t i = 0; i < n; ++i) a[i] = args.positional[i].as_int();
        if (a[2] == 0) throw TemplateError(0, "range() step must not be zero");
        List out;
        for (int64_t i = a[0]; a[2] > 0 ? i < a[1] : i > a[1]; i += a[2]) {
            if (out.size() >= 1'000'000) throw TemplateError(0, "range() too long");
            out.emplace_back(i);
        }
        return Value(std::move(out));
    }));
    g["raise_exception"] = Value(Function([](const CallArgs& args) -> Value {
        throw TemplateError(0, "the template raised an error: " + (args.positional.empty() ? std::string()
                                                                                           : args.positional[0].to_output()));
    }));
    const std::tm* when = &now;
    g["strftime_now"] = Value(Function([when](const CallArgs& args) {
        const Value* fmt = args.get(0, "format");
        if (!fmt || !fmt->is_string()) throw TemplateError(0, "strftime_now() needs a format string");
        char buf[256];
        // The format comes from the template, as in Python; strftime is given no other arguments.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        size_t n = std::strftime(buf, sizeof buf, fmt->as_string().c_str(), when);
#pragma GCC diagnostic pop
        return Value(std::string(buf, n));
    }));
}

}  // namespace

Template::Template(const std::string& source) : program_(std::make_shared<Program>(parse_template(source))) {}

std::string Template::render(const Dict& variables, const std::tm& now) const {
    Namespaces namespaces;  // outlives root: cleared after every value that holds one is gone
    Scope root;
    add_globals(root, now, namespaces);
    for (const auto& [k, v] : variables.items) root.vars[k] = v;
    Interpreter interpreter(root);
    std::string out;
    interpreter.run(program_->body, root, out);
    return out;
}

}  // namespace lfm::jinja
