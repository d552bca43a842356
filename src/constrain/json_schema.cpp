// JSON Schema to grammar. Each schema node becomes an expression; $ref targets become named
// rules (so recursive schemas are recursive rules). Object properties follow the schema's order
// (required ones present, optional ones may be left out), which is how a grammar can say
// "these keys, each once" without listing every permutation. Keywords that cannot be enforced
// are errors naming the keyword and its JSON pointer, never ignored; annotations (title,
// description, examples, and keywords outside JSON Schema such as x-*) are skipped.
//
// The same compiler writes Python literals for tool-call arguments (Dialect::kPython): strings
// in either quote, True/False/None, dicts and lists.

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <set>

#include <nlohmann/json.hpp>

#include "constrain/char_dfa.h"
#include "constrain/numbers.h"
#include "constrain/sources.h"
#include "lfm/error.h"

namespace lfm::constrain {
namespace {

using json = nlohmann::ordered_json;

// Whitespace between tokens: JSON allows any amount; a bound keeps a generation from writing
// whitespace forever (40 covers pretty-printed documents nested ten deep).
constexpr uint32_t kMaxWs = 40;
// Objects with up to this many declared properties take them in any order, each once (see
// member_list); larger ones in any order with optional members free to repeat, the required
// ones each once, up to kMaxAnyOrderRequired of them and within a bound on the grammar's size
// (member_list_loose: 2^r rules of n + 1 alternatives; 12 required among 15 members take
// 53248 alternatives and about 100 ms to compile).
constexpr size_t kMaxAnyOrder = 8;
constexpr size_t kMaxAnyOrderRequired = 12;
constexpr size_t kMaxLooseAlternatives = 65536;
constexpr int kMaxDepth = 128;

// Internal keywords (a $ prefix no JSON Schema vocabulary uses) that carry a "not" to the kind it
// constrains: names an object must not have, strings and patterns a string must not be/match.
constexpr const char* kAbsent = "$lfm:absent";
constexpr const char* kNotStrings = "$lfm:not-strings";
constexpr const char* kNotPatterns = "$lfm:not-patterns";
constexpr const char* kNotAll = "$lfm:not-all";      // lists of names an object may not have all of
constexpr const char* kMoreNots = "$lfm:more-nots";  // the "not"s of allOf parts beyond the first
constexpr const char* kNothing = "$lfm:nothing";     // a schema no value meets, and why (none_schema)

const std::set<std::string>& handled_keywords() {
    static const std::set<std::string> k = {
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "additionalItems",
        "minItems", "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength",
        "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable",
        "minProperties", "maxProperties", "uniqueItems", "multipleOf", "patternProperties", "not", "dependencies",
        "dependentRequired", "propertyNames",
        // what value() makes of the forms of "not" it supports (see negated), read by object_of and string
        kAbsent, kNotStrings, kNotPatterns, kNotAll, kMoreNots};
    return k;
}
// Keywords of JSON Schema (drafts 3 to 2020-12) that constrain a value and that no grammar here
// enforces: an error, never a silent unconstrained value.
const std::set<std::string>& unsupported_keywords() {
    static const std::set<std::string> k = {
        "if", "dependentSchemas", "contains", "minContains",
        "maxContains", "unevaluatedItems", "unevaluatedProperties",
        "$dynamicRef", "$recursiveRef", "extends", "disallow", "divisibleBy"};
    return k;
}
// Everything else is an annotation: JSON Schema's own (title, description, $defs, ...) and the
// keywords that schemas in the wild add (x-*, javaType, markdownDescription ...), which a
// validator ignores too.
bool is_annotation(const std::string& k) { return !handled_keywords().count(k) && !unsupported_keywords().count(k); }

std::string escape_pointer(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~') out += "~0";
        else if (c == '/') out += "~1";
        else out += c;
    }
    return out;
}

// How many characters the strings of a raw (unescaped) expression have, lo..hi (hi UINT64_MAX:
// unbounded); lo > hi when that cannot be told (a byte set mixing UTF-8 lead and continuation
// bytes, a rule or a special token).
struct CharCount {
    uint64_t lo, hi;
};
CharCount char_count(const Expr& e) {
    constexpr uint64_t kInf = UINT64_MAX;
    auto add = [](uint64_t a, uint64_t b) { return a > kInf - b ? kInf : a + b; };
    auto mul = [](uint64_t a, uint64_t k) { return k == 0 ? 0 : a > kInf / k ? kInf : a * k; };
    switch (e.kind) {
        case Expr::Kind::kChars: return {1, 1};
        case Expr::Kind::kBytes: {
            bool cont = false, other = false;
            for (unsigned b = 0; b < 256; ++b)
                if (e.bytes.has(b)) (b >= 0x80 && b < 0xC0 ? cont : other) = true;
            if (cont && other) return {1, 0};
            return cont ? CharCount{0, 0} : CharCount{1, 1};
        }
        case Expr::Kind::kSeq: {
            CharCount n{0, 0};
            for (const ExprPtr& x : e.items) {
                CharCount c = char_count(*x);
                if (c.lo > c.hi) return c;
                n = {add(n.lo, c.lo), add(n.hi, c.hi)};
            }
            return n;
        }
        case Expr::Kind::kAlt: {
            CharCount n{kInf, 0};
            for (const ExprPtr& x : e.items) {
                CharCount c = char_count(*x);
                if (c.lo > c.hi) return c;
                n = {std::min(n.lo, c.lo), std::max(n.hi, c.hi)};
            }
            return n;
        }
        case Expr::Kind::kRepeat: {
            CharCount c = char_count(*e.items[0]);
            if (c.lo > c.hi) return c;
            const uint64_t hi = e.max == Expr::kUnbounded ? (c.hi == 0 ? 0 : kInf) : mul(c.hi, e.max);
            return {mul(c.lo, e.min), hi};
        }
        default: return {1, 0};
    }
}

class SchemaCompiler {
public:
    SchemaCompiler(GrammarBuilder& b, const json& doc, Dialect dialect, std::string prefix, std::string pointer_prefix)
        : b_(b), doc_(doc), dialect_(dialect), prefix_(std::move(prefix)), pointer_prefix_(std::move(pointer_prefix)) {
        reject_reserved(doc, "", 0);
        // Up to draft 7 a schema with "$ref" is the reference alone: its other keywords are
        // ignored (2019-09 on, and a schema that names no draft, apply them beside it).
        if (doc.is_object() && doc.contains("$schema") && doc["$schema"].is_string()) {
            const std::string draft = doc["$schema"].get<std::string>();
            for (const char* old : {"draft-03", "draft-04", "draft-06", "draft-07"})
                if (draft.find(old) != std::string::npos) ref_alone_ = true;
        }
    }

    // The internal keywords (kAbsent ...) are this compiler's own: a schema that writes one is
    // refused, not read with whatever shape it has.
    void reject_reserved(const json& s, const std::string& ptr, int depth) const {
        if (depth > kMaxDocumentDepth) fail("the schema document is nested too deeply", ptr);
        if (s.is_object()) {
            for (const auto& [k, v] : s.items()) {
                if (k.starts_with("$lfm:")) fail("keywords starting with \"$lfm:\" are reserved", ptr + "/" + escape_pointer(k));
                reject_reserved(v, ptr + "/" + escape_pointer(k), depth + 1);
            }
        } else if (s.is_array()) {
            for (size_t i = 0; i < s.size(); ++i) reject_reserved(s[i], ptr + "/" + std::to_string(i), depth + 1);
        }
    }
    static constexpr int kMaxDocumentDepth = 1000;

    // An error's text: what, and where in the schema.
    std::string located(const std::string& what, const std::string& ptr) const {
        const std::string where = pointer_prefix_.empty() ? "#" + ptr : pointer_prefix_ + ptr;
        return "json schema: " + what + " at " + where;
    }

    [[noreturn]] void fail(const std::string& what, const std::string& ptr) const {
        throw Error(ErrorCode::kInvalidArgument, located(what, ptr));
    }

    // What no value meets: nothing() with the error fail() would give, for the root; elsewhere the
    // alternatives that reach it are dropped (an optional property whose schema no value meets
    // is absent, as a validator reads it).
    ExprPtr none(const std::string& what, const std::string& ptr) const { return nothing(located(what, ptr)); }
    // The same, as a schema (where a schema is rewritten before it is compiled).
    json none_schema(const std::string& what, const std::string& ptr) const { return json{{kNothing, located(what, ptr)}}; }

    ExprPtr ws() {
        if (!ws_) ws_ = rule_ref(b_.add(prefix_ + "ws", repeat(chars({{' ', ' '}, {'\t', '\n'}, {'\r', '\r'}}), 0, kMaxWs)));
        return ws_;
    }

    // A rule for the value at ptr (schema s), made once per pointer.
    ExprPtr rule_for(const json& s, const std::string& ptr, int depth) {
        if (auto it = rules_.find(ptr); it != rules_.end()) return rule_ref(it->second);
        uint32_t r = b_.declare(prefix_ + "v" + std::to_string(rules_.size()) + ptr);
        rules_[ptr] = r;
        b_.define(r, value(s, ptr, depth));
        return rule_ref(r);
    }

    // s without its "not", the negation folded into what s allows. The forms schemas use: not {}
    // (nothing), not false (anything), not a type or types, not one required name (the property
    // is absent), not an enum or const of strings, null and booleans, not a pattern. Any other
    // "not" is an error (a grammar cannot take a language's complement in general).
    json negated(const json& s, const std::string& ptr, int depth) {
        json out = negated_once(s, ptr, depth);
        // allOf parts with "not"s of their own (merge keeps the first as "not"): one at a time
        while (out.contains(kMoreNots)) {
            json more = out[kMoreNots];
            out.erase(kMoreNots);
            if (more.empty()) break;
            out["not"] = more[0];
            more.erase(more.begin());
            if (!more.empty()) out[kMoreNots] = more;
            out = negated_once(out, ptr, depth);
        }
        return out;
    }

    json negated_once(const json& s, const std::string& ptr, int depth) {
        const std::string nptr = ptr + "/not";
        const json n = deref(s["not"], nptr, depth);
        json out = without(s, {"not"});
        if (n.is_boolean()) {
            if (n.get<bool>()) return none_schema("the schema matches nothing (\"not\" of a schema that allows everything)", nptr);
            return out;
        }
        if (!n.is_object()) fail("a schema must be an object or a boolean", nptr);
        json k = json::object();  // n's constraining keywords
        for (const auto& [key, v] : n.items())
            if (!is_annotation(key)) k[key] = v;
        if (k.empty()) return none_schema("the schema matches nothing (\"not\" of a schema that allows everything)", nptr);
        const std::vector<std::string> all = {"null", "boolean", "integer", "number", "string", "array", "object"};
        auto drop_types = [&](std::set<std::string> gone) {
            std::vector<std::string> types = out.contains("type") ? type_names(out["type"], ptr) : all;
            if (!out.contains("type")) types.erase(std::find(types.begin(), types.end(), "integer"));
            json kept = json::array();
            for (const std::string& t : types) {
                if (gone.count(t) || (t == "integer" && gone.count("number"))) continue;
                if (t == "number" && gone.count("integer") && !gone.count("number"))
                    fail("\"not\" of integer beside number is not supported (a number that is not an integer)", nptr);
                kept.push_back(t);
            }
            if (kept.empty()) fail("the schema matches nothing (\"not\" excludes every type it allows)", nptr);
            out["type"] = kept;
        };
        if (k.size() == 1 && k.contains("type")) {
            std::vector<std::string> gone = type_names(k["type"], nptr);
            drop_types(std::set<std::string>(gone.begin(), gone.end()));
        } else if (k.size() == 1 && k.contains("required") && k["required"].is_array() && k["required"].size() == 1 &&
                   k["required"][0].is_string()) {
            out[kAbsent].push_back(k["required"][0]);
        } else if (k.size() == 1 && k.contains("required") && k["required"].is_array() && k["required"].size() > 1 &&
                   std::all_of(k["required"].begin(), k["required"].end(), [](const json& r) { return r.is_string(); })) {
            out[kNotAll].push_back(k["required"]);  // not all of them together (object_of)
        } else if (k.size() == 1 && k.contains("pattern") && k["pattern"].is_string()) {
            out[kNotPatterns].push_back(k["pattern"]);
        } else if (k.size() == 1 && (k.contains("enum") || k.contains("const"))) {
            const json values = k.contains("const") ? json::array({k["const"]}) : k["enum"];
            if (!values.is_array()) fail("enum must be an array", nptr + "/enum");
            std::set<std::string> gone;
            bool no_true = false, no_false = false;
            for (const json& v : values) {
                if (v.is_string()) out[kNotStrings].push_back(v);
                else if (v.is_null()) gone.insert("null");
                else if (v.is_boolean()) (v.get<bool>() ? no_true : no_false) = true;
                else fail("\"not\" of an enum or const with numbers, arrays or objects is not supported", nptr);
            }
            if (no_true && no_false) gone.insert("boolean");
            else if (no_true || no_false) {
                if (out.contains("type") && type_names(out["type"], ptr) == std::vector<std::string>{"boolean"})
                    return json{{"const", !no_true}};
                fail("\"not\" of one boolean beside other types is not supported", nptr);
            }
            if (!gone.empty()) drop_types(gone);
        } else {
            fail("unsupported form of \"not\" (supported: not of {}, false, a type, required names, an enum or const "
                 "of strings, null and booleans, a pattern)", nptr);
        }
        return out;
    }

    ExprPtr value(const json& s, const std::string& ptr, int depth) {
        if (depth > kMaxDepth) fail("schema nested too deeply", ptr);
        if (s.is_boolean()) {
            if (!s.get<bool>()) return none("the schema 'false' matches nothing", ptr);
            return any_value();
        }
        if (!s.is_object()) fail("a schema must be an object or a boolean", ptr);
        if (s.contains(kNothing)) return nothing(s[kNothing].get<std::string>());
        if (ref_alone_ && s.contains("$ref")) {
            const std::string target = ref_pointer(s["$ref"], ptr);
            return rule_for(resolve(target, ptr), target.substr(1), depth + 1);
        }
        for (const auto& [k, v] : s.items())
            if (unsupported_keywords().count(k)) fail("unsupported keyword \"" + k + "\"", ptr + "/" + escape_pointer(k));
        if (s.contains("$ref")) {
            json rest = without(s, {"$ref"});
            const std::string target = ref_pointer(s["$ref"], ptr);
            if (constraining(rest)) {
                json merged = merge(resolve(target, ptr), rest, ptr, depth);
                return value(merged, ptr, depth + 1);
            }
            return rule_for(resolve(target, ptr), target.substr(1), depth + 1);
        }
        if (s.contains("allOf")) {
            const json& parts = s["allOf"];
            if (!parts.is_array() || parts.empty()) fail("allOf must be a non-empty array", ptr + "/allOf");
            return value(merge_all(s, ptr, depth), ptr, depth + 1);
        }
        if (s.contains("anyOf") || s.contains("oneOf")) {
            if (s.contains("anyOf") && s.contains("oneOf")) fail("anyOf together with oneOf is not supported", ptr);
            const char* key = s.contains("anyOf") ? "anyOf" : "oneOf";
            const json& branches = s[key];
            if (!branches.is_array() || branches.empty()) fail(std::string(key) + " must be a non-empty array", ptr + "/" + key);
            json rest = without(s, {key});
            std::vector<ExprPtr> alts;
            for (size_t i = 0; i < branches.size(); ++i) {
                const std::string bptr = ptr + "/" + key + "/" + std::to_string(i);
                if (!constraining(rest)) {
                    alts.push_back(value(branches[i], bptr, depth + 1));
                    continue;
                }
                json merged = merge(rest, deref(branches[i], bptr, depth), bptr, depth);
                alts.push_back(value(merged, bptr, depth + 1));
            }
            return alt(std::move(alts));
        }
        if (s.contains("not")) return value(negated(s, ptr, depth), ptr, depth + 1);
        if (s.contains("nullable") && s["nullable"] == true)
            return alt({value(without(s, {"nullable"}), ptr, depth + 1), null_literal()});
        if (s.contains("const")) return literal(s["const"], 0);
        if (s.contains("enum")) {
            const json& values = s["enum"];
            if (!values.is_array() || values.empty()) fail("enum must be a non-empty array", ptr + "/enum");
            std::vector<ExprPtr> alts;
            for (const json& v : values)
                if (!s.contains("type") || type_allows(s["type"], v)) alts.push_back(literal(v, 0));
            if (alts.empty()) return none("no enum value has the schema's type", ptr + "/enum");
            return alt(std::move(alts));
        }
        check_unenforceable(s, ptr);
        std::vector<std::string> types, others;
        if (s.contains("type")) {
            types = type_names(s["type"], ptr);
        } else {
            // No type: each keyword constrains the values of its own kind only (a value of a kind no
            // keyword names is valid). Every kind a keyword names gets the whole schema (each of
            // typed()'s kinds reads its own keywords); the others are unconstrained.
            const auto any_of = [&](std::initializer_list<const char*> keys) {
                return std::any_of(keys.begin(), keys.end(), [&](const char* k) { return s.contains(k); });
            };
            if (any_of({"properties", "additionalProperties", "patternProperties", "required", "minProperties", "maxProperties",
                        "dependencies", "dependentRequired", "propertyNames", kAbsent, kNotAll}))
                types.push_back("object");
            if (any_of({"items", "prefixItems", "minItems", "maxItems"})) types.push_back("array");
            if (any_of({"pattern", "format", "minLength", "maxLength", kNotStrings, kNotPatterns})) types.push_back("string");
            if (any_of({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}))
                types.push_back("number");
            if (types.empty()) return any_value();
            for (const char* t : {"null", "boolean", "number", "string", "array", "object"})
                if (std::find(types.begin(), types.end(), t) == types.end()) others.push_back(t);
        }
        std::vector<ExprPtr> alts;
        for (const std::string& t : types) alts.push_back(typed(s, t, ptr, depth));
        for (const std::string& t : others) alts.push_back(typed(json::object(), t, ptr + "/~" + t, depth));
        return alt(std::move(alts));
    }

    ExprPtr any_value() {
        if (any_) return rule_ref(*any_);
        const uint32_t any = b_.declare(prefix_ + "any");
        any_ = any;
        const uint32_t member = b_.add(prefix_ + "any_member", seq({string_any(), ws(), lit(":"), ws(), rule_ref(any)}));
        ExprPtr object = seq({lit("{"), ws(),
                              opt(seq({rule_ref(member), star(seq({ws(), lit(","), ws(), rule_ref(member)}))})), ws(),
                              lit("}")});
        ExprPtr array = seq({lit("["), ws(), opt(seq({rule_ref(any), star(seq({ws(), lit(","), ws(), rule_ref(any)}))})),
                             ws(), lit("]")});
        b_.define(any, alt({object, array, string_any(), json_number(false), true_literal(), false_literal(), null_literal()}));
        return rule_ref(any);
    }

    ExprPtr any_object() {
        any_value();
        return rule_ref(*b_.find(prefix_ + "any"));  // callers wrap: see json_object_grammar
    }

    // Any string of characters as context c spells them: one rule per context, shared by the
    // automata's states that accept whatever follows (dfa_expr).
    ExprPtr any_chars(CharContext c) {
        ExprPtr& r = any_chars_[static_cast<size_t>(c)];
        if (!r) r = rule_ref(b_.add(prefix_ + "chars" + std::to_string(static_cast<int>(c)), star(char_in(c, {{0, kMaxCodePoint}}))));
        return r;
    }

    ExprPtr string_any() {
        if (!string_any_) string_any_ = rule_ref(b_.add(prefix_ + "string", quoted([&](CharContext c) { return any_chars(c); })));
        return string_any_;
    }

    // A Python keyword-argument list for a tool's parameters: name=value, declared parameters in
    // any order (see member_list). The parameters schema is checked like any other: annotations
    // are skipped, an unknown keyword or type is an error, and it must describe an object.
    // Without "properties", any names may come, each with a value that additionalProperties allows.
    ExprPtr kwargs(const std::string& ptr) {
        json s = doc_.is_boolean() && doc_.get<bool>() ? json::object() : deref(doc_, ptr, 0);
        if (!s.is_object()) fail("tool parameters must be a JSON Schema object", ptr);
        if (s.contains("allOf")) s = merge_all(s, ptr, 0);
        if (s.contains(kNothing)) throw Error(ErrorCode::kInvalidArgument, s[kNothing].get<std::string>());
        for (const auto& [k, v] : s.items())
            if (unsupported_keywords().count(k)) fail("unsupported keyword \"" + k + "\"", ptr + "/" + escape_pointer(k));
        if (s.contains("patternProperties"))
            fail("unsupported keyword \"patternProperties\" in tool parameters (argument names are identifiers)", ptr + "/patternProperties");
        if (s.contains("not")) fail("unsupported keyword \"not\" at the top of tool parameters", ptr + "/not");
        if (s.contains("maxProperties")) fail("unsupported keyword \"maxProperties\" in tool parameters", ptr + "/maxProperties");
        for (const char* k : {"dependencies", "dependentRequired", "propertyNames"})
            if (s.contains(k)) fail(std::string("unsupported keyword \"") + k + "\" in tool parameters", ptr + "/" + k);
        if (s.contains("minProperties") &&
            property_counts(s, ptr).first > (s.contains("required") && s["required"].is_array() ? s["required"].size() : 0))
            fail("unsupported keyword \"minProperties\" in tool parameters (more than the required parameters)", ptr + "/minProperties");
        for (const char* k : {"anyOf", "oneOf", "enum", "const", "$ref"})
            if (s.contains(k)) fail(std::string("\"") + k + "\" at the top of tool parameters is not supported (they must be one object schema)", ptr + "/" + k);
        if (s.contains("type")) {
            bool object = false;
            for (const std::string& t : type_names(s["type"], ptr)) object = object || t == "object";
            if (!object) fail("tool parameters must be an object (type \"object\")", ptr + "/type");
        }
        check_unenforceable(s, ptr);
        auto check_name = [&](const std::string& k, const std::string& where) {
            bool ok = !k.empty() && !(k[0] >= '0' && k[0] <= '9');
            for (char ch : k) ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_');
            if (!ok) fail("parameter name \"" + k + "\" is not a Python identifier (a call could not name it)", where);
        };
        if (s.contains("properties") && s["properties"].is_object())
            for (const auto& [k, v] : s["properties"].items()) check_name(k, ptr + "/properties");
        if (s.contains("required") && s["required"].is_array())
            for (const json& r : s["required"])
                if (r.is_string()) check_name(r.get<std::string>(), ptr + "/required");
        std::vector<Member> members = declared_members(s, ptr, 0, [](const std::string& name) { return lit(name + "="); });
        ExprPtr extra;  // undeclared parameters: only when the schema declares none
        const json& add = s.contains("additionalProperties") ? s["additionalProperties"] : json(true);
        if (!s.contains("properties") && !(add.is_boolean() && !add.get<bool>())) {
            ExprPtr ident = seq({chars({{'A', 'Z'}, {'_', '_'}, {'a', 'z'}}),
                                 repeat(chars({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}), 0, 64)});
            extra = seq({ident, lit("="), rule_for(add, ptr + "/additionalProperties", 1)});
        }
        return member_list(members, extra, lit(","), opt(lit(" ")), ptr);
    }

private:
    struct Member {
        ExprPtr expr;
        bool required;
        std::string name;
    };

    static json without(const json& s, std::initializer_list<const char*> keys) {
        json out = s;
        for (const char* k : keys) out.erase(k);
        return out;
    }
    static bool constraining(const json& s) {
        for (const auto& [k, v] : s.items())
            if (!is_annotation(k)) return true;
        return false;
    }

    std::string ref_pointer(const json& ref, const std::string& ptr) const {
        if (!ref.is_string()) fail("$ref must be a string", ptr + "/$ref");
        std::string r = ref.get<std::string>();
        if (r.empty() || r[0] != '#') fail("only local references (#/...) are supported, not \"" + r + "\"", ptr + "/$ref");
        return r;
    }

    const json& resolve(const std::string& target, const std::string& ptr) const {
        if (target == "#") return doc_;
        try {
            return doc_.at(json::json_pointer(target.substr(1)));
        } catch (const json::exception&) {
            fail("$ref \"" + target + "\" points at nothing", ptr + "/$ref");
        }
    }

    json deref(const json& s, const std::string& ptr, int depth) const {
        if (depth > kMaxDepth) fail("$ref chain too long (or circular inside allOf)", ptr);
        if (s.is_object() && s.contains("$ref")) {
            json rest = without(s, {"$ref"});
            json target = deref(resolve(ref_pointer(s["$ref"], ptr), ptr), ptr, depth + 1);
            return !ref_alone_ && constraining(rest) ? merge(target, rest, ptr, depth + 1) : target;
        }
        return s;
    }

    // allOf: one schema that means both (where that can be written as one).
    json merge(const json& a0, const json& b0, const std::string& ptr, int depth) const {
        json a = deref(a0, ptr, depth + 1), b = deref(b0, ptr, depth + 1);
        if (a.is_boolean()) {
            if (!a.get<bool>()) return none_schema("allOf with 'false' matches nothing", ptr);
            return b;
        }
        if (b.is_boolean()) {
            if (!b.get<bool>()) return none_schema("allOf with 'false' matches nothing", ptr);
            return a;
        }
        if (a.contains(kNothing)) return a;
        if (b.contains(kNothing)) return b;
        if (a.contains("allOf")) a = merge_all(a, ptr, depth);
        if (b.contains("allOf")) b = merge_all(b, ptr, depth);
        json out = a;
        json more_nots = json::array();  // "not" meets "not": both hold (negated takes them in turn)
        for (const auto& [k, v] : b.items()) {
            if (!out.contains(k)) {
                out[k] = v;
                continue;
            }
            json& o = out[k];
            if (o == v || is_annotation(k)) continue;
            if (k == "not") {
                more_nots.push_back(v);
                continue;
            }
            if (k == kMoreNots) {
                for (const json& x : v) more_nots.push_back(x);
                continue;
            }
            if ((k == "properties" || k == "patternProperties") && o.is_object() && v.is_object()) {
                for (const auto& [pk, pv] : v.items()) o[pk] = o.contains(pk) ? json{{"allOf", json::array({o[pk], pv})}} : pv;
            } else if (k == "required" && o.is_array() && v.is_array()) {
                for (const json& r : v)
                    if (std::find(o.begin(), o.end(), r) == o.end()) o.push_back(r);
            } else if (k == "type") {
                auto list = [](const json& t) {
                    std::set<std::string> s;
                    if (t.is_string()) s.insert(t.get<std::string>());
                    else if (t.is_array())
                        for (const json& x : t)
                            if (x.is_string()) s.insert(x.get<std::string>());
                    return s;
                };
                std::set<std::string> x = list(o), y = list(v);
                json both = json::array();
                for (const std::string& t : x) {
                    if (y.count(t)) both.push_back(t);
                    else if (t == "integer" && y.count("number")) both.push_back("integer");
                    else if (t == "number" && y.count("integer")) both.push_back("integer");
                }
                if (both.empty()) return none_schema("allOf combines types that share no value", ptr);
                o = both;
            } else if (k == "minimum" || k == "minLength" || k == "minItems" || k == "minProperties") {
                if (v > o) o = v;
            } else if (k == "maximum" || k == "maxLength" || k == "maxItems" || k == "maxProperties") {
                if (v < o) o = v;
            } else if ((k == "items" || k == "additionalProperties") && (o == false || v == false)) {
                o = false;
            } else if (k == "items" || k == "additionalProperties") {
                o = json{{"allOf", json::array({o, v})}};
            } else if (k == "enum" && o.is_array() && v.is_array()) {
                json both = json::array();
                for (const json& x : o)
                    if (std::find(v.begin(), v.end(), x) != v.end()) both.push_back(x);
                if (both.empty()) return none_schema("allOf combines enums that share no value", ptr);
                o = both;
            } else {
                fail("allOf combines two different \"" + k + "\" (not supported)", ptr);
            }
        }
        for (const json& n : more_nots) out[kMoreNots].push_back(n);
        return out;
    }

    // s and its allOf parts as one schema, keywords in the document's order: the properties of
    // parts named before s's own "properties" come first (a base type's fields, then the
    // extension's), which matters where members must follow the schema's order.
    json merge_all(const json& s, const std::string& ptr, int depth) const {
        if (!s["allOf"].is_array()) fail("allOf must be an array", ptr + "/allOf");
        json out = json::object();
        for (const auto& [k, v] : s.items()) {
            if (k != "allOf") {
                out = merge(out, json{{k, v}}, ptr, depth + 1);
                continue;
            }
            for (size_t i = 0; i < v.size(); ++i)
                out = merge(out, deref(v[i], ptr + "/allOf/" + std::to_string(i), depth + 1), ptr, depth + 1);
        }
        return out;
    }

    // The names in "type" (one or a list), each one of JSON Schema's seven.
    std::vector<std::string> type_names(const json& t, const std::string& ptr) const {
        std::vector<std::string> types;
        if (t.is_string()) types.push_back(t.get<std::string>());
        else if (t.is_array())
            for (const json& x : t) {
                if (!x.is_string()) fail("type must be a string or an array of strings", ptr + "/type");
                types.push_back(x.get<std::string>());
            }
        else fail("type must be a string or an array of strings", ptr + "/type");
        if (types.empty()) fail("an empty type list matches nothing", ptr + "/type");
        static const std::set<std::string> known = {"null", "boolean", "integer", "number", "string", "array", "object"};
        for (const std::string& x : types)
            if (!known.count(x)) fail("unknown type \"" + x + "\"", ptr + "/type");
        return types;
    }

    static bool type_allows(const json& type, const json& v) {
        auto one = [&](const std::string& t) {
            if (t == "null") return v.is_null();
            if (t == "boolean") return v.is_boolean();
            if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
            if (t == "number") return v.is_number();
            if (t == "string") return v.is_string();
            if (t == "array") return v.is_array();
            if (t == "object") return v.is_object();
            return false;
        };
        if (type.is_string()) return one(type.get<std::string>());
        if (type.is_array())
            for (const json& t : type)
                if (t.is_string() && one(t.get<std::string>())) return true;
        return !type.is_string() && !type.is_array();
    }

    void check_unenforceable(const json& s, const std::string& ptr) const {
        if (s.contains("uniqueItems") && s["uniqueItems"] == true)
            fail("unsupported keyword \"uniqueItems\" (true)", ptr + "/uniqueItems");
        if (s.contains("multipleOf") && !power_of_ten_digits(s["multipleOf"]))
            fail("unsupported keyword \"multipleOf\" (only 1, 0.1, 0.01, ... are supported)", ptr + "/multipleOf");
    }

    // minProperties / maxProperties as counts (UINT32_MAX: no maximum).
    std::pair<uint32_t, uint32_t> property_counts(const json& s, const std::string& ptr) const {
        auto read = [&](const char* k, uint32_t none) {
            if (!s.contains(k)) return none;
            const json& v = s[k];
            if (!v.is_number_unsigned() && !(v.is_number_float() && v.get<double>() >= 0 && v.get<double>() == std::floor(v.get<double>())))
                fail(std::string(k) + " must be a non-negative integer", ptr + "/" + k);
            const double d = v.get<double>();
            if (d > 1000) fail(std::string(k) + " above 1000 is not supported", ptr + "/" + k);
            return static_cast<uint32_t>(d);
        };
        const uint32_t lo = read("minProperties", 0), hi = read("maxProperties", UINT32_MAX);
        if (lo > hi) fail("minProperties > maxProperties", ptr);
        return {lo, hi};
    }

    ExprPtr null_literal() { return dialect_ == Dialect::kJson ? lit("null") : alt({lit("None"), lit("null")}); }
    ExprPtr true_literal() { return dialect_ == Dialect::kJson ? lit("true") : alt({lit("True"), lit("true")}); }
    ExprPtr false_literal() { return dialect_ == Dialect::kJson ? lit("false") : alt({lit("False"), lit("false")}); }

    // A string literal whose characters body(context) gives, in each quote the dialect allows.
    template <typename Body>
    ExprPtr quoted(Body body) {
        if (dialect_ == Dialect::kJson) return seq({lit("\""), body(CharContext::kJsonString), lit("\"")});
        return alt({seq({lit("'"), body(CharContext::kPythonSingle), lit("'")}),
                    seq({lit("\""), body(CharContext::kPythonDouble), lit("\"")})});
    }

    ExprPtr string_literal(const std::string& text) {
        return quoted([&](CharContext c) {
            std::vector<ExprPtr> parts;
            for (size_t i = 0; i < text.size();) {
                size_t used = 0;
                char32_t cp = decode_utf8_char(std::string_view(text).substr(i), &used);
                if (used == 0) fail("a string that is not valid UTF-8", "");
                parts.push_back(char_in(c, {{cp, cp}}));  // every spelling of it (é, \u00e9, \u00E9)
                i += used;
            }
            return seq(std::move(parts));
        });
    }

    // A number equal to v, as JSON compares numbers (2.0 is 2): its digits, with zeros after
    // the last fraction digit (2, 2.0, 2.00; 0.5, 0.50) and a minus on zero. Not written with an
    // exponent unless v was (then as v wrote it).
    ExprPtr number_literal(const json& v) {
        const std::string text = v.dump();
        const std::optional<Decimal> d = parse_decimal(text);
        if (!d || text.find_first_of("eE") != std::string::npos) return lit(text);
        const bool zero = d->int_part == 0 && d->frac.empty();
        ExprPtr sign = d->negative ? lit("-") : zero ? opt(lit("-")) : empty();
        ExprPtr zeros = repeat(lit("0"), d->frac.empty() ? 1 : 0, static_cast<uint32_t>(kMaxFracDigits - d->frac.size()));
        ExprPtr fraction = d->frac.empty() ? opt(seq({lit("."), zeros})) : seq({lit("." + d->frac), zeros});
        return seq({sign, lit(std::to_string(d->int_part)), fraction});
    }

    // Exactly this JSON value (const, enum), with any whitespace inside.
    ExprPtr literal(const json& v, int depth) {
        if (depth > kMaxDepth) fail("a const/enum value nested too deeply", "");
        if (v.is_null()) return null_literal();
        if (v.is_boolean()) return v.get<bool>() ? true_literal() : false_literal();
        if (v.is_number()) return number_literal(v);
        if (v.is_string()) return string_literal(v.get<std::string>());
        std::vector<ExprPtr> parts;
        const bool object = v.is_object();
        parts.push_back(lit(object ? "{" : "["));
        parts.push_back(ws());
        bool first = true;
        for (const auto& [k, x] : v.items()) {
            if (!first) parts.insert(parts.end(), {ws(), lit(","), ws()});
            first = false;
            if (object) parts.insert(parts.end(), {string_literal(k), ws(), lit(":"), ws()});
            parts.push_back(literal(x, depth + 1));
        }
        parts.push_back(ws());
        parts.push_back(lit(object ? "}" : "]"));
        return seq(std::move(parts));
    }

    static std::optional<uint64_t> count(const json& s, const char* key, const std::string& ptr, const SchemaCompiler& c) {
        if (!s.contains(key)) return std::nullopt;
        const json& v = s[key];
        if (v.is_number_unsigned()) return v.get<uint64_t>();
        if (v.is_number_float() && v.get<double>() >= 0 && std::floor(v.get<double>()) == v.get<double>())
            return static_cast<uint64_t>(v.get<double>());
        c.fail(std::string(key) + " must be a non-negative integer", ptr + "/" + key);
    }

    ExprPtr typed(const json& s, const std::string& t, const std::string& ptr, int depth) {
        if (t == "null") return null_literal();
        if (t == "boolean") return alt({true_literal(), false_literal()});
        if (t == "integer" || t == "number") return number(s, t == "integer", ptr);
        if (t == "string") return string(s, ptr);
        if (t == "array") return array(s, ptr, depth);
        if (t == "object") return object(s, ptr, depth);
        fail("unknown type \"" + t + "\"", ptr + "/type");
    }

    ExprPtr number(const json& s, bool integer, const std::string& ptr) {
        std::optional<Decimal> lo, hi;
        bool lo_ex = false, hi_ex = false;
        // a bound as decimal digits; an integer's rounds inwards and becomes inclusive
        auto bound = [&](const char* key, std::optional<Decimal>& out, bool& ex, bool exclusive, bool is_lower) {
            if (!s.contains(key)) return;
            const json& v = s[key];
            if (v.is_boolean()) return;  // draft 4's exclusiveMinimum: true, read below
            if (!v.is_number()) fail(std::string(key) + " must be a number", ptr + "/" + key);
            const double d = v.get<double>();
            std::optional<Decimal> value = parse_decimal(v.dump());
            bool e = exclusive;
            if (!value && std::fabs(d) >= 1e18) {
                // Past the 18 integer digits a bounded number has here (int64's and double's
                // limits, 2^53 ...): a maximum is then no limit to them, nor a negative minimum.
                if (is_lower != (d < 0))
                    fail(std::string(key) + " beyond 1e18 is not supported (no number of 18 digits satisfies it)", ptr + "/" + key);
                value = Decimal{d < 0, 999999999999999999ull, ""};
                e = false;
            }
            if (!value) fail(std::string(key) + " with more than " + std::to_string(kMaxFracDigits) + " fraction digits is not supported", ptr + "/" + key);
            if (integer && !value->frac.empty()) {
                // an integer's bound rounds inwards: up for a minimum, down for a maximum
                const bool away_from_zero = is_lower != value->negative;
                value = Decimal{value->negative, value->int_part + (away_from_zero ? 1 : 0), ""};
                if (value->int_part == 0) value->negative = false;
                e = false;
            }
            if (!out || (is_lower ? less(*out, *value) || (!less(*value, *out) && e) : less(*value, *out) || (!less(*out, *value) && e))) {
                out = value;
                ex = e;
            }
        };
        bound("minimum", lo, lo_ex, false, true);
        bound("maximum", hi, hi_ex, false, false);
        bound("exclusiveMinimum", lo, lo_ex, true, true);
        bound("exclusiveMaximum", hi, hi_ex, true, false);
        if (s.contains("exclusiveMinimum") && s["exclusiveMinimum"] == true) lo_ex = true;
        if (s.contains("exclusiveMaximum") && s["exclusiveMaximum"] == true) hi_ex = true;
        const uint32_t frac = integer ? kMaxFracDigits : multiple_of_digits(s, ptr);
        if (!lo && !hi) return json_number(integer, frac);
        ExprPtr e = bounded_number(lo, lo_ex, hi, hi_ex, integer, frac);
        if (!e) return none("no number satisfies minimum/maximum" + std::string(frac < kMaxFracDigits ? " and multipleOf" : ""), ptr);
        return e;
    }

    // multipleOf 10^-k on a number: k, the fraction digits that may be nonzero (kMaxFracDigits
    // without one). Other multiples are refused (check_unenforceable).
    uint32_t multiple_of_digits(const json& s, const std::string& ptr) const {
        if (!s.contains("multipleOf")) return kMaxFracDigits;
        const std::optional<uint32_t> k = power_of_ten_digits(s["multipleOf"]);
        if (!k) fail("unsupported keyword \"multipleOf\" (only 1, 0.1, 0.01, ... are supported)", ptr + "/multipleOf");
        return *k;
    }

    // k when v is 10^-k (1, 0.1, 0.01, ...), else nullopt.
    static std::optional<uint32_t> power_of_ten_digits(const json& v) {
        if (!v.is_number()) return std::nullopt;
        const std::optional<Decimal> d = parse_decimal(v.dump());
        if (!d || d->negative) return std::nullopt;
        if (d->int_part == 1 && d->frac.empty()) return 0;
        if (d->int_part != 0 || d->frac.empty() || d->frac.back() != '1' ||
            d->frac.find_first_not_of('0') != d->frac.size() - 1)
            return std::nullopt;
        return static_cast<uint32_t>(d->frac.size());
    }

    ExprPtr string(const json& s, const std::string& ptr) {
        std::optional<uint64_t> min = count(s, "minLength", ptr, *this), max = count(s, "maxLength", ptr, *this);
        if (min && max && *min > *max) return none("minLength > maxLength", ptr);
        if (max && *max > 100000) fail("maxLength above 100000 is not supported", ptr + "/maxLength");
        if (min && *min > 100000) fail("minLength above 100000 is not supported", ptr + "/minLength");
        // The patterns the string must match: its format's and its own ("pattern" matches
        // anywhere unless anchored; a format is the whole string).
        struct Pattern {
            std::string text, ptr;
            bool search;
        };
        std::vector<Pattern> patterns;
        if (s.contains("format") && s["format"].is_string()) {
            std::string f = format_pattern(s["format"].get<std::string>());
            if (!f.empty()) patterns.push_back({std::move(f), ptr + "/format", false});
        }
        if (s.contains("pattern")) {
            if (!s["pattern"].is_string()) fail("pattern must be a string", ptr + "/pattern");
            patterns.push_back({s["pattern"].get<std::string>(), ptr + "/pattern", true});
        }
        auto regex = [&](const Pattern& p, CharContext c) {
            try {
                return regex_expr(p.text, c, p.search);
            } catch (const Error& e) {
                fail(e.what(), p.ptr);
            }
        };
        // strings excluded by "not" (negated): the words and the patterns, as one expression
        std::vector<ExprPtr> excluded;
        if (s.contains(kNotStrings)) {
            for (const json& w : s[kNotStrings]) {
                const std::string text = w.get<std::string>();
                std::vector<ExprPtr> cs;
                for (size_t i = 0; i < text.size();) {
                    size_t used = 0;
                    const char32_t cp = decode_utf8_char(std::string_view(text).substr(i), &used);
                    if (used == 0) fail("a string that is not valid UTF-8", ptr + "/not");
                    cs.push_back(chars({{cp, cp}}));
                    i += used;
                }
                excluded.push_back(seq(std::move(cs)));
            }
        }
        if (s.contains(kNotPatterns))
            for (const json& p : s[kNotPatterns]) excluded.push_back(regex({p.get<std::string>(), ptr + "/not/pattern", true}, CharContext::kRaw));
        if (!patterns.empty() || !excluded.empty()) {
            // One pattern with no length beyond what it implies (every string it matches is that
            // long) stays a pattern; otherwise the patterns and the length are intersected as
            // automata (char_dfa.h).
            bool implied = true;
            if (patterns.empty()) {
                implied = !(min && *min > 0) && !max;
            } else if ((min && *min > 0) || max) {
                const CharCount n = char_count(*regex(patterns[0], CharContext::kRaw));
                implied = n.lo <= n.hi && (!min || n.lo >= *min) && (!max || n.hi <= *max);
            }
            if (patterns.size() == 1 && implied && excluded.empty())
                return quoted([&](CharContext c) { return regex(patterns[0], c); });
            CharDfa d;
            try {
                const uint64_t cap = max ? *max : UINT64_MAX;
                d = patterns.empty() ? length_dfa(0, Expr::kUnbounded) : char_dfa(*regex(patterns[0], CharContext::kRaw), cap);
                if (patterns.size() > 1) d = intersect(d, char_dfa(*regex(patterns[1], CharContext::kRaw), cap));
                if (!excluded.empty()) d = intersect(d, complement(char_dfa(*alt(excluded))));
                if (!implied)
                    d = intersect(d, length_dfa(min ? static_cast<uint32_t>(*min) : 0,
                                                max ? static_cast<uint32_t>(*max) : Expr::kUnbounded));
            } catch (const Error& e) {
                fail(e.what(), ptr);
            }
            if (is_empty(d)) return none("no string satisfies the pattern, format and length together", ptr);
            const std::string name = prefix_ + "str" + std::to_string(counter_++) + ptr;
            return quoted([&](CharContext c) { return dfa_expr(d, c, b_, name + "/" + std::to_string(static_cast<int>(c)), any_chars(c)); });
        }
        const uint32_t lo = min ? static_cast<uint32_t>(*min) : 0;
        const uint32_t hi = max ? static_cast<uint32_t>(*max) : Expr::kUnbounded;
        return quoted([&](CharContext c) { return repeat(char_in(c, {{0, kMaxCodePoint}}), lo, hi); });
    }

    // Patterns for the formats JSON Schema names (RFC 3339 dates and times, RFC 4122 UUIDs, IPv4
    // and IPv6 addresses, a practical subset of emails and URIs). Unknown formats are annotations:
    // no constraint.
    static std::string format_pattern(const std::string& f) {
        // (leap seconds, :60, are left out: valid only at the end of a UTC day, which a pattern cannot check)
        // (days per month exact, February 29th in leap years of the Gregorian calendar only)
        static const std::string date = R"((\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|)"
                                        R"(02-(0[1-9]|1\d|2[0-8]))|(\d\d(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29))";
        static const std::string time = R"(([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d))";
        if (f == "date") return date;
        if (f == "time") return time;
        if (f == "date-time") return date + "[Tt]" + time;
        if (f == "uuid") return "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
        if (f == "email") return R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)";
        if (f == "uri") return R"([A-Za-z][A-Za-z0-9+.-]*:[^\s"\\<>{}|^`]+)";
        static const std::string ipv4 = R"(((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))";
        if (f == "ipv4") return ipv4;
        if (f == "ipv6") {  // RFC 4291 2.2: eight groups, or fewer around one "::", the last two may be an IPv4 address
            const std::string h = "[0-9a-fA-F]{1,4}";
            std::string re = "(" + h + ":){7}" + h + "|(" + h + ":){6}" + ipv4;
            for (int a = 0; a <= 7; ++a) {  // a groups before "::", at most 7 - a after (5 - a and an IPv4 address)
                const std::string left = a == 0 ? "" : "(" + h + ":){" + std::to_string(a - 1) + "}" + h;
                re += "|" + left + "::";
                if (a <= 6) re += "(" + h + "(:" + h + "){0," + std::to_string(6 - a) + "})?";
                if (a <= 5) re += "|" + left + "::(" + h + ":){0," + std::to_string(5 - a) + "}" + ipv4;
            }
            return re;
        }
        if (f == "hostname") return R"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)";
        return "";
    }

    ExprPtr array(const json& s, const std::string& ptr, int depth) {
        std::vector<ExprPtr> prefix;
        ExprPtr items;  // nullptr: no items after the prefix
        bool items_allowed = true;
        const json* items_schema = nullptr;
        std::string items_ptr;
        if (s.contains("prefixItems")) {
            const json& p = s["prefixItems"];
            if (!p.is_array()) fail("prefixItems must be an array", ptr + "/prefixItems");
            for (size_t i = 0; i < p.size(); ++i)
                prefix.push_back(rule_for(p[i], ptr + "/prefixItems/" + std::to_string(i), depth + 1));
            if (s.contains("items")) items_schema = &s["items"], items_ptr = ptr + "/items";
        } else if (s.contains("items") && s["items"].is_array()) {  // draft 4-2019 tuples
            const json& p = s["items"];
            for (size_t i = 0; i < p.size(); ++i) prefix.push_back(rule_for(p[i], ptr + "/items/" + std::to_string(i), depth + 1));
            if (s.contains("additionalItems")) items_schema = &s["additionalItems"], items_ptr = ptr + "/additionalItems";
        } else if (s.contains("items")) {
            items_schema = &s["items"], items_ptr = ptr + "/items";
        }
        if (items_schema && items_schema->is_boolean() && !items_schema->get<bool>()) items_allowed = false;
        else if (items_schema) items = rule_for(*items_schema, items_ptr, depth + 1);
        else items = any_value();
        const uint64_t n_prefix = prefix.size();
        uint64_t min = count(s, "minItems", ptr, *this).value_or(0);
        std::optional<uint64_t> max = count(s, "maxItems", ptr, *this);
        if (!items_allowed) max = max ? std::min(*max, n_prefix) : n_prefix;
        if (max && min > *max) return none("minItems > maxItems (or more items required than the tuple allows)", ptr);
        if (min > 10000 || (max && *max > 10000 && *max != UINT64_MAX)) {
            if (min > 10000) fail("minItems above 10000 is not supported", ptr + "/minItems");
            max.reset();  // large maxItems: effectively unbounded
        }
        ExprPtr comma = seq({ws(), lit(","), ws()});
        // rest(k): elements k, k+1, ... each after a comma (at least one came before)
        std::function<ExprPtr(uint64_t)> rest = [&](uint64_t k) -> ExprPtr {
            if (max && k >= *max) return empty();
            if (k >= n_prefix) {
                const auto lo = static_cast<uint32_t>(min > k ? min - k : 0);
                const uint32_t hi = max ? static_cast<uint32_t>(*max - k) : Expr::kUnbounded;
                return repeat(seq({comma, items}), lo, hi);
            }
            ExprPtr one = seq({comma, prefix[k], rest(k + 1)});
            return k < min ? one : opt(one);
        };
        ExprPtr first_item = n_prefix > 0 ? prefix[0] : items;
        ExprPtr body;
        if (max && *max == 0) body = empty();
        else {
            body = seq({first_item, rest(1)});
            if (min == 0) body = opt(body);
        }
        return seq({lit("["), ws(), body, ws(), lit("]")});
    }

    std::vector<Member> declared_members(const json& s, const std::string& ptr, int depth,
                                         const std::function<ExprPtr(const std::string&)>& key_of) {
        std::vector<Member> members;
        std::set<std::string> required;
        if (s.contains("required")) {
            if (!s["required"].is_array()) fail("required must be an array", ptr + "/required");
            for (const json& r : s["required"]) {
                if (!r.is_string()) fail("required must list strings", ptr + "/required");
                required.insert(r.get<std::string>());
            }
        }
        std::set<std::string> declared;
        if (s.contains("properties")) {
            const json& props = s["properties"];
            if (!props.is_object()) fail("properties must be an object", ptr + "/properties");
            for (const auto& [k, v] : props.items()) {
                declared.insert(k);
                const std::string pptr = ptr + "/properties/" + escape_pointer(k);
                members.push_back({seq({key_of(k), rule_for(v, pptr, depth + 1)}), required.count(k) > 0, k});
            }
        }
        for (const std::string& r : required)  // required but not described: any value
            if (!declared.count(r)) {
                const json& extra = s.contains("additionalProperties") ? s["additionalProperties"] : json(true);
                if (extra == false) fail("\"" + r + "\" is required but additionalProperties is false", ptr + "/required");
                members.push_back({seq({key_of(r), rule_for(extra, ptr + "/additionalProperties", depth + 1)}), true, r});
            }
        for (const std::string& n : not_all_names(s))  // optional members, so that the member sets know when they came
            if (!declared.count(n) && !required.count(n)) {
                declared.insert(n);
                const json extra = s.contains("additionalProperties") ? s["additionalProperties"] : json(true);
                members.push_back({seq({key_of(n), rule_for(extra, ptr + "/additionalProperties", depth + 1)}), false, n});
            }
        return members;
    }

    // The names of "not" of required names (never all together) that no property describes,
    // where an extra member could have them: additionalProperties allowed, no patternProperties
    // (with them, an error in never_all). Their values are extra members' values.
    std::vector<std::string> not_all_names(const json& s) const {
        std::vector<std::string> out;
        if (!s.contains(kNotAll) || s.contains("patternProperties") ||
            (s.contains("additionalProperties") && s["additionalProperties"] == false))
            return out;
        for (const json& group : s[kNotAll])
            for (const json& name : group)
                if (!is_absent(s, name)) out.push_back(name.get<std::string>());
        return out;
    }

    // A name "not": {"required": [name]} keeps out of the object.
    static bool is_absent(const json& s, const json& name) {
        return s.contains(kAbsent) && std::find(s[kAbsent].begin(), s[kAbsent].end(), name) != s[kAbsent].end();
    }

    // The characters of a string that is none of the given words: a trie of the words, where
    // leaving it (a character no word continues with, in any spelling) frees the rest, and the
    // string may end anywhere but at a word's end.
    ExprPtr key_not_in(const std::vector<std::string>& words, CharContext c) {
        struct Node {
            std::map<char32_t, size_t> next;
            bool word = false;
        };
        std::vector<Node> trie(1);
        for (const std::string& w : words) {
            size_t n = 0;
            for (size_t i = 0; i < w.size();) {
                size_t used = 0;
                char32_t cp = decode_utf8_char(std::string_view(w).substr(i), &used);
                if (used == 0) fail("a property name that is not valid UTF-8", "");
                i += used;
                auto it = trie[n].next.find(cp);
                if (it == trie[n].next.end()) {
                    trie.push_back({});
                    it = trie[n].next.emplace(cp, trie.size() - 1).first;
                }
                n = it->second;
            }
            trie[n].word = true;
        }
        // shared: every object's keys reach the same grammar positions once they leave the trie
        ExprPtr rest = any_chars(c);
        const std::string base = prefix_ + "key" + std::to_string(counter_++);
        std::vector<uint32_t> ids(trie.size());
        for (size_t n = 0; n < trie.size(); ++n) ids[n] = b_.declare(base + "/" + std::to_string(n));
        for (size_t n = 0; n < trie.size(); ++n) {
            std::vector<ExprPtr> alts;
            if (!trie[n].word) alts.push_back(empty());
            std::vector<CodeRange> taken;
            for (const auto& [cp, child] : trie[n].next) {  // the character in any spelling
                alts.push_back(seq({char_in(c, {{cp, cp}}), rule_ref(ids[child])}));
                taken.push_back({cp, cp});
            }
            std::vector<CodeRange> other = normalize_ranges(taken, true);
            if (!other.empty()) alts.push_back(seq({char_in(c, other), rest}));
            b_.define(ids[n], alt(std::move(alts)));
        }
        return rule_ref(ids[0]);
    }


    // The members patternProperties describes, and those additionalProperties then allows (add:
    // null when it is false). A key that matches a pattern and is not declared takes that
    // pattern's schema; a key that matches none takes additionalProperties. The key sets are
    // automata (char_dfa.h): each pattern's keys less the declared names, and the keys no
    // pattern or name matches. A key two patterns share would need both schemas (an error unless
    // the schemas are the same); a declared name a pattern matches is held to both schemas
    // (with_pattern_schemas).
    std::vector<ExprPtr> pattern_members(const json& pp, const std::vector<std::string>& names, const json* add,
                                         const std::string& ptr, int depth, const CharDfa* key_names) {
        if (!pp.is_object()) fail("patternProperties must be an object", ptr + "/patternProperties");
        std::vector<ExprPtr> words;
        for (const std::string& n : names) words.push_back(code_points(n, ptr));
        auto key_member = [&](const CharDfa& keys, const json& schema, const std::string& where) {
            const std::string name = prefix_ + "keys" + std::to_string(counter_++) + where;
            ExprPtr key = quoted([&](CharContext c) { return dfa_expr(keys, c, b_, name + "/" + std::to_string(static_cast<int>(c)), any_chars(c)); });
            return seq({key, ws(), lit(":"), ws(), rule_for(schema, where, depth + 1)});
        };
        std::vector<ExprPtr> out, patterns;
        std::vector<CharDfa> dfas;
        std::vector<const json*> schemas;
        try {
            CharDfa not_declared = complement(char_dfa(*alt(words)));
            if (key_names) not_declared = intersect(not_declared, *key_names);
            for (const auto& [pattern, schema] : pp.items()) {
                const std::string where = ptr + "/patternProperties/" + escape_pointer(pattern);
                ExprPtr raw;
                try {
                    raw = regex_expr(pattern, CharContext::kRaw, true);
                } catch (const Error& e) {
                    fail(e.what(), where);
                }
                CharDfa d = char_dfa(*raw);
                for (size_t j = 0; j < dfas.size(); ++j)
                    if (*schemas[j] != schema && !is_empty(intersect(d, dfas[j])))
                        fail("patterns that match the same keys with different schemas are not supported", where);
                const CharDfa keys = intersect(d, not_declared);
                if (!is_empty(keys)) out.push_back(key_member(keys, schema, where));
                patterns.push_back(raw);
                dfas.push_back(std::move(d));
                schemas.push_back(&schema);
            }
            if (add) {
                for (const ExprPtr& w : words) patterns.push_back(w);
                CharDfa rest = complement(char_dfa(*alt(std::move(patterns))));
                if (key_names) rest = intersect(rest, *key_names);
                if (!is_empty(rest)) out.push_back(key_member(rest, *add, ptr + "/additionalProperties"));
            }
        } catch (const Error& e) {
            if (std::string_view(e.what()).starts_with("json schema:")) throw;
            fail(e.what(), ptr + "/patternProperties");
        }
        return out;
    }

    // s with each declared property that a pattern of patternProperties matches held to both
    // schemas (allOf), as a validator holds it.
    json with_pattern_schemas(const json& s, const std::string& ptr) {
        json out = s;
        if (!s["patternProperties"].is_object()) return out;
        if (!out.contains("properties")) out["properties"] = json::object();
        if (!out["properties"].is_object()) return out;  // object_of names the error
        // a required name that is not described is described by the patterns it matches
        if (s.contains("required") && s["required"].is_array())
            for (const json& r : s["required"])
                if (r.is_string() && !out["properties"].contains(r.get<std::string>())) {
                    std::string name = r.get<std::string>();
                    for (const auto& [pattern, schema] : s["patternProperties"].items())
                        if (accepts(pattern_dfa(pattern, ptr), name)) out["properties"][name] = true;
                }
        for (const auto& [pattern, schema] : s["patternProperties"].items()) {
            const CharDfa d = pattern_dfa(pattern, ptr);
            for (auto& [name, v] : out["properties"].items())
                if (accepts(d, name)) v = v == true || v == json::object() ? schema : json{{"allOf", json::array({v, schema})}};
        }
        if (out["properties"].empty()) out.erase("properties");
        return out;
    }

    CharDfa pattern_dfa(const std::string& pattern, const std::string& ptr) {
        try {
            return char_dfa(*regex_expr(pattern, CharContext::kRaw, true));
        } catch (const Error& e) {
            fail(e.what(), ptr + "/patternProperties/" + escape_pointer(pattern));
        }
    }

    ExprPtr object(const json& schema, const std::string& ptr, int depth) {
        json s = schema.contains("patternProperties") ? with_pattern_schemas(schema, ptr) : schema;
        std::optional<CharDfa> key_names;
        if (s.contains("propertyNames")) {
            key_names = key_language(s["propertyNames"], ptr + "/propertyNames", depth);
            if (key_names) {  // a declared name it does not allow cannot come
                if (s.contains("required") && s["required"].is_array())
                    for (const json& r : s["required"])
                        if (r.is_string() && !accepts(*key_names, r.get<std::string>()))
                            return none("the required name \"" + r.get<std::string>() + "\" does not meet propertyNames", ptr);
                if (s.contains("properties") && s["properties"].is_object())
                    for (auto it = s["properties"].begin(); it != s["properties"].end();)
                        it = accepts(*key_names, it.key()) ? std::next(it) : s["properties"].erase(it);
            }
        }
        if (s.contains(kAbsent)) {  // names the object must not have ("not": {"required": [name]})
            for (const json& name : s[kAbsent]) {
                const std::string n = name.get<std::string>();
                if (s.contains("required") && s["required"].is_array() &&
                    std::find(s["required"].begin(), s["required"].end(), name) != s["required"].end())
                    return none("the schema matches no object (\"" + n + "\" is both required and excluded by \"not\")", ptr);
                if (s.contains("properties") && s["properties"].is_object()) s["properties"].erase(n);
            }
        }
        return object_of(s, ptr, depth, key_names ? &*key_names : nullptr);
    }

    // propertyNames: the keys it allows, as an automaton (nullopt: any key). A string schema of
    // pattern, minLength / maxLength, enum / const, a "not" of those, $ref; anything else is an
    // error.
    std::optional<CharDfa> key_language(const json& schema, const std::string& ptr, int depth) {
        if (depth > kMaxDepth) fail("schema nested too deeply", ptr);
        const json k = deref(schema, ptr, depth);
        if (k.is_boolean()) {
            if (k.get<bool>()) return std::nullopt;
            return complement(length_dfa(0, Expr::kUnbounded));  // no key at all
        }
        if (!k.is_object()) fail("a schema must be an object or a boolean", ptr);
        std::optional<CharDfa> out;
        auto meet = [&](CharDfa d) { out = out ? intersect(*out, d) : std::move(d); };
        try {
            for (const auto& [key, v] : k.items()) {
                const std::string kptr = ptr + "/" + escape_pointer(key);
                if (key == "type") {
                    const bool string = v == "string" || (v.is_array() && std::find(v.begin(), v.end(), "string") != v.end());
                    if (!string) return complement(length_dfa(0, Expr::kUnbounded));  // keys are strings
                } else if (key == "pattern") {
                    if (!v.is_string()) fail("pattern must be a string", kptr);
                    meet(char_dfa(*regex_expr(v.get<std::string>(), CharContext::kRaw, true)));
                } else if (key == "minLength" || key == "maxLength") {
                    const std::optional<uint64_t> n = count(k, key.c_str(), ptr, *this);
                    const auto bound = static_cast<uint32_t>(std::min<uint64_t>(*n, 100000));
                    meet(key == "minLength" ? length_dfa(bound, Expr::kUnbounded) : length_dfa(0, bound));
                } else if (key == "enum" || key == "const") {
                    const json values = key == "const" ? json::array({v}) : v;
                    if (!values.is_array()) fail("enum must be an array", kptr);
                    std::vector<ExprPtr> words;
                    for (const json& w : values)
                        if (w.is_string()) words.push_back(code_points(w.get<std::string>(), kptr));
                    meet(words.empty() ? complement(length_dfa(0, Expr::kUnbounded)) : char_dfa(*alt(std::move(words))));
                } else if (key == "not") {
                    const std::optional<CharDfa> inner = key_language(v, kptr, depth + 1);
                    meet(inner ? complement(*inner) : complement(length_dfa(0, Expr::kUnbounded)));
                } else if (!is_annotation(key) && key != "$ref") {
                    fail("propertyNames with \"" + key + "\" is not supported (supported: pattern, minLength, maxLength, enum, const, not)",
                         kptr);
                }
            }
        } catch (const Error& e) {
            if (std::string_view(e.what()).starts_with("json schema:")) throw;
            fail(e.what(), ptr);
        }
        return out;
    }

    // A name as an expression of its code points (for char_dfa).
    ExprPtr code_points(const std::string& name, const std::string& ptr) {
        std::vector<ExprPtr> cs;
        for (size_t i = 0; i < name.size();) {
            size_t used = 0;
            const char32_t cp = decode_utf8_char(std::string_view(name).substr(i), &used);
            if (used == 0) fail("a property name that is not valid UTF-8", ptr);
            cs.push_back(chars({{cp, cp}}));
            i += used;
        }
        return seq(std::move(cs));
    }

    // key_names: the keys propertyNames allows (null: any); declared names it does not allow are
    // gone already (object).
    ExprPtr object_of(const json& s, const std::string& ptr, int depth, const CharDfa* key_names = nullptr) {
        auto key_of = [&](const std::string& k) { return seq({string_literal(k), ws(), lit(":"), ws()}); };
        std::vector<Member> members = declared_members(s, ptr, depth, key_of);
        ExprPtr extra;
        const json& add = s.contains("additionalProperties") ? s["additionalProperties"] : json(true);
        const bool add_allowed = !(add.is_boolean() && !add.get<bool>());
        // an extra key is none of the declared ones (which have their own schemas)
        std::vector<std::string> names;
        if (s.contains("properties") && s["properties"].is_object())
            for (const auto& [k, v] : s["properties"].items()) names.push_back(k);
        if (s.contains("required") && s["required"].is_array())
            for (const json& r : s["required"])
                if (r.is_string()) names.push_back(r.get<std::string>());
        if (s.contains(kAbsent))
            for (const json& r : s[kAbsent]) names.push_back(r.get<std::string>());
        for (const std::string& n : not_all_names(s)) names.push_back(n);
        if (s.contains("patternProperties")) {
            std::vector<ExprPtr> extras = pattern_members(s["patternProperties"], names, add_allowed ? &add : nullptr, ptr, depth, key_names);
            if (!extras.empty()) extra = alt(std::move(extras));
        } else if (add_allowed && key_names) {  // the keys propertyNames allows but the declared ones
            std::vector<ExprPtr> words;
            for (const std::string& n : names) words.push_back(code_points(n, ptr));
            CharDfa keys = *key_names;
            try {
                if (!words.empty()) keys = intersect(keys, complement(char_dfa(*alt(std::move(words)))));
            } catch (const Error& e) {
                fail(e.what(), ptr + "/propertyNames");
            }
            if (!is_empty(keys)) {
                const std::string name = prefix_ + "keys" + std::to_string(counter_++) + ptr;
                ExprPtr key = rule_ref(b_.add(name, quoted([&](CharContext c) {
                    return dfa_expr(keys, c, b_, name + "/" + std::to_string(static_cast<int>(c)), any_chars(c));
                })));
                extra = seq({key, ws(), lit(":"), ws(), rule_for(add, ptr + "/additionalProperties", depth + 1)});
            }
        } else if (add_allowed) {
            // The key and the extra member are rules of their own: a position inside them then has
            // the same rest (one mask entry) wherever member_list places them, in every state.
            ExprPtr key = names.empty() ? string_any()
                                        : rule_ref(b_.add(prefix_ + "key" + std::to_string(counter_++) + ptr,
                                                          quoted([&](CharContext c) { return key_not_in(names, c); })));
            extra = seq({key, ws(), lit(":"), ws(), rule_for(add, ptr + "/additionalProperties", depth + 1)});
        }
        if (extra) extra = rule_ref(b_.add(prefix_ + "extra" + std::to_string(counter_++) + ptr, extra));
        const auto [min_count, max_count] = property_counts(s, ptr);
        const bool extras = add_allowed || s.contains("patternProperties");
        MemberRules rules{dependencies(s, members, extras, ptr), never_all(s, members, extras, ptr)};
        return seq({lit("{"), ws(), member_list(members, extra, seq({ws(), lit(",")}), ws(), ptr, min_count, max_count, rules, true),
                    ws(), lit("}")});
    }

    // Which members may come together: when the member of bit `first` is present, those of
    // `second` must be too (needs); never all the members of one mask (never_all).
    struct MemberRules {
        std::vector<std::pair<uint32_t, uint32_t>> needs;
        std::vector<uint32_t> never_all;
        bool empty() const { return needs.empty() && never_all.empty(); }
    };

    // "not": {"required": [a, b, ...]}: never all of them. Among declared members only (the
    // member sets know which came); a name the object cannot have makes it vacuous.
    std::vector<uint32_t> never_all(const json& s, const std::vector<Member>& m, bool extras, const std::string& ptr) {
        std::vector<uint32_t> out;
        if (!s.contains(kNotAll)) return out;
        for (const json& names : s[kNotAll]) {
            uint32_t mask = 0;
            bool possible = true;
            for (const json& name : names) {
                uint32_t b = 0;
                for (size_t i = 0; i < m.size() && i < 32; ++i)
                    if (m[i].name == name.get<std::string>()) b = 1u << i;
                if (!b && extras && !is_absent(s, name))
                    fail("\"not\" of required names one of which is not a declared property is not supported", ptr + "/not");
                if (!b) possible = false;
                mask |= b;
            }
            if (possible) out.push_back(mask);
        }
        return out;
    }

    // dependentRequired (and dependencies whose values are lists): when the member with bit
    // `first` is present, those of `second` must be too. Only among declared members (an object
    // of up to 8: the member sets know which came); a dependency on a name the object cannot
    // have is vacuous. dependentSchemas (dependencies with a schema) is an error.
    std::vector<std::pair<uint32_t, uint32_t>> dependencies(const json& s, const std::vector<Member>& m, bool extras,
                                                             const std::string& ptr) {
        std::vector<std::pair<uint32_t, uint32_t>> out;
        for (const char* key : {"dependentRequired", "dependencies"}) {
            if (!s.contains(key)) continue;
            const std::string kptr = ptr + "/" + key;
            if (!s[key].is_object()) fail(std::string(key) + " must be an object", kptr);
            auto bit = [&](const std::string& name) -> uint32_t {
                for (size_t i = 0; i < m.size() && i < 32; ++i)
                    if (m[i].name == name) return 1u << i;
                return 0;
            };
            for (const auto& [name, v] : s[key].items()) {
                const std::string vptr = kptr + "/" + escape_pointer(name);
                if (!v.is_array()) fail("a dependency with a schema (dependentSchemas) is not supported", vptr);
                const uint32_t a = bit(name);
                if (!a) {
                    if (extras) fail("a dependency of a property that is not declared is not supported", vptr);
                    continue;  // the object cannot have it
                }
                uint32_t need = 0;
                for (const json& d : v) {
                    if (!d.is_string()) fail("dependencies must list property names", vptr);
                    const uint32_t b = bit(d.get<std::string>());
                    if (!b) fail("a dependency on a property that is not declared is not supported", vptr);
                    need |= b;
                }
                if (need) out.emplace_back(a, need);
            }
        }
        return out;
    }

    // Declared members in any order (each at most once, required ones present), separated by sep,
    // with extra members among them once the required ones came. Up to kMaxAnyOrder declared
    // members: one rule per set of members already written, after(S) = what may follow them (2^n
    // rules of up to n + 1 alternatives, each member's key and value one shared rule). More
    // members: member_list_loose, or in the schema's order (member_list_in_order) where a member
    // may not repeat. minProperties / maxProperties (min_count, max_count) count the members: the
    // set knows how many declared ones came, and the extra members come at the end, a counted
    // repetition.
    // (Extras before a required member would be exact too, but in a union of objects each such
    // state runs its own "any key but these names" automaton over the vocabulary: on MaskBench
    // that made masks 30 % slower on average for 2 more valid documents in 2322.)
    ExprPtr member_list(const std::vector<Member>& m, ExprPtr extra, ExprPtr sep, ExprPtr gap, const std::string& ptr,
                        uint32_t min_count = 0, uint32_t max_count = UINT32_MAX,
                        const MemberRules& rules = {}, bool repeats_allowed = false) {
        const size_t n = m.size();
        uint32_t required = 0;
        for (size_t i = 0; i < n; ++i)
            if (m[i].required) required |= 1u << std::min<size_t>(i, 31);
        const auto n_required = static_cast<uint32_t>(std::count_if(m.begin(), m.end(), [](const Member& x) { return x.required; }));
        // counts the required members imply (or, without extra members, the declared ones) need no counting
        const bool counted = min_count > n_required || (max_count != UINT32_MAX && (extra || max_count < n));
        if (!counted && rules.empty() && n > kMaxAnyOrder) {
            if (repeats_allowed) return member_list_loose(m, extra, sep, gap, ptr);
            return member_list_in_order(m, extra, sep, gap, ptr);  // Python keyword arguments may not repeat
        }
        if (n > kMaxAnyOrder)
            fail("minProperties, maxProperties, dependencies or \"not\" of required names on an object that declares more than " +
                 std::to_string(kMaxAnyOrder) + " properties is not supported", ptr);
        // extra members may come between declared ones unless they are counted
        const bool interleaved = extra && !counted;
        // the object may end after the members of set: the required ones and every dependency there
        auto complete = [&](uint32_t set) {
            if ((set & required) != required) return false;
            for (auto [a, need] : rules.needs)
                if ((set & a) && (set & need) != need) return false;
            for (uint32_t all : rules.never_all)
                if ((set & all) == all) return false;
            return true;
        };
        if (max_count < n_required) return none("maxProperties is less than the required properties", ptr);
        if (!extra && min_count > n) return none("minProperties is more than the properties the object may have", ptr);
        const std::string base = prefix_ + "obj" + std::to_string(counter_++) + ptr;
        ExprPtr separator = seq({sep, gap});
        // The extra members that may end the object once `written` members came: as many as the
        // counts leave (nullptr: the object cannot end there).
        auto tail = [&](uint32_t written, bool first) -> ExprPtr {
            if (interleaved) return empty();  // the extra members came between
            const uint32_t lo = min_count > written ? min_count - written : 0;
            const uint32_t hi = max_count == UINT32_MAX ? Expr::kUnbounded : max_count - written;
            if (!extra || hi == 0) return lo == 0 ? empty() : nullptr;
            if (!first) return repeat(seq({separator, extra}), lo, hi);
            ExprPtr some = seq({extra, repeat(seq({separator, extra}), lo > 0 ? lo - 1 : 0,
                                              hi == Expr::kUnbounded ? Expr::kUnbounded : hi - 1)});
            return lo == 0 ? opt(some) : some;
        };
        std::vector<ExprPtr> member(n);
        for (size_t i = 0; i < n; ++i) member[i] = rule_ref(b_.add(base + "/m" + std::to_string(i), m[i].expr));
        const uint32_t all = (1u << n) - 1;
        // viable[S]: after the members of S an object can still be finished within the counts
        std::vector<uint8_t> viable(all + 1, 0);
        for (uint32_t set = all + 1; set-- > 0;) {
            const auto written = static_cast<uint32_t>(std::popcount(set));
            if (written > max_count) continue;
            bool ok = complete(set) && tail(written, false) != nullptr;
            for (size_t i = 0; i < n && !ok; ++i)
                if (!(set & (1u << i)) && written + 1 <= max_count && viable[set | (1u << i)]) ok = true;
            viable[set] = ok;
        }
        std::vector<uint32_t> after(all + 1);
        for (uint32_t set = 0; set <= all; ++set) after[set] = b_.declare(base + "/a" + std::to_string(set));
        std::vector<ExprPtr> first;
        for (uint32_t set = 0; set <= all; ++set) {
            if (!viable[set]) {  // never referenced
                b_.define(after[set], empty());
                continue;
            }
            const auto written = static_cast<uint32_t>(std::popcount(set));
            std::vector<ExprPtr> alts;
            for (size_t i = 0; i < n; ++i) {
                const uint32_t next = set | (1u << i);
                if (next == set || !viable[next] || written + 1 > max_count) continue;
                alts.push_back(seq({separator, member[i], rule_ref(after[next])}));
                if (set == 0) first.push_back(seq({member[i], rule_ref(after[next])}));
            }
            if (interleaved && complete(set)) {
                alts.push_back(seq({separator, extra, rule_ref(after[set])}));
                if (set == 0) first.push_back(seq({extra, rule_ref(after[0])}));
            }
            if (complete(set))
                if (ExprPtr t = tail(written, false)) alts.push_back(t);
            b_.define(after[set], alt(std::move(alts)));
        }
        if (complete(0))
            if (ExprPtr t = tail(0, true)) first.push_back(t);
        if (first.empty()) return none("no object satisfies minProperties, maxProperties, dependencies or \"not\" with these properties", ptr);
        return rule_ref(b_.add(base + "/first", alt(std::move(first))));
    }

    // More declared members than subsets can follow: the optional ones in any order, the required
    // ones each once among them, extra members among them once the required ones came. An
    // optional member may then come twice; a JSON parser keeps the last, which matches its schema
    // as the first did, so the document still validates. (The schema's order would reject valid
    // documents written in another, such as MaskBench's docker-compose services.) Up to
    // kMaxAnyOrderRequired required members, with the grammar under kMaxLooseAlternatives, they come in
    // any order: one rule per set of required members written (2^r rules of up to n + 1
    // alternatives). More: in the schema's order among themselves, one rule per count written.
    ExprPtr member_list_loose(const std::vector<Member>& m, ExprPtr extra, ExprPtr sep, ExprPtr gap, const std::string& ptr) {
        const std::string base = prefix_ + "objl" + std::to_string(counter_++) + ptr;
        ExprPtr separator = seq({sep, gap});
        std::vector<ExprPtr> required, optional;
        for (size_t i = 0; i < m.size(); ++i)
            (m[i].required ? required : optional).push_back(rule_ref(b_.add(base + "/m" + std::to_string(i), m[i].expr)));
        const size_t r = required.size();
        const bool any_order = r <= kMaxAnyOrderRequired && (size_t{1} << r) * (m.size() + 1) <= kMaxLooseAlternatives;
        // a state: the set of required members written (any_order) or how many of them
        const size_t states = any_order ? size_t{1} << r : r + 1, done = states - 1;
        std::vector<uint32_t> after(states);
        for (size_t st = 0; st < states; ++st) after[st] = b_.declare(base + "/a" + std::to_string(st));
        std::vector<ExprPtr> first;
        for (size_t st = 0; st < states; ++st) {
            std::vector<ExprPtr> alts;
            for (size_t i = 0; i < r; ++i) {
                size_t next;
                if (any_order) {
                    if (st & (size_t{1} << i)) continue;
                    next = st | (size_t{1} << i);
                } else {
                    if (i != st) continue;
                    next = st + 1;
                }
                alts.push_back(seq({separator, required[i], rule_ref(after[next])}));
                if (st == 0) first.push_back(seq({required[i], rule_ref(after[next])}));
            }
            for (const ExprPtr& o : optional) {
                alts.push_back(seq({separator, o, rule_ref(after[st])}));
                if (st == 0) first.push_back(seq({o, rule_ref(after[0])}));
            }
            if (st == done && extra) {  // as in member_list: extra members once the required ones came
                alts.push_back(seq({separator, extra, rule_ref(after[st])}));
                if (st == 0) first.push_back(seq({extra, rule_ref(after[0])}));
            }
            if (st == done) alts.push_back(empty());
            b_.define(after[st], alt(std::move(alts)));
        }
        if (done == 0) first.push_back(empty());
        return rule_ref(b_.add(base + "/first", alt(std::move(first))));
    }

    // Members in the schema's order, required ones present, separated by sep; then any number of
    // extra members. Built from the end as rules: first(i) = members from i on with none before,
    // after(i) = the same when one came before (so each starts with a separator).
    ExprPtr member_list_in_order(const std::vector<Member>& m, ExprPtr extra, ExprPtr sep, ExprPtr gap, const std::string& ptr) {
        const std::string base = prefix_ + "obj" + std::to_string(counter_++) + ptr;
        ExprPtr separator = seq({sep, gap});
        ExprPtr after_tail = extra ? star(seq({separator, extra})) : empty();
        ExprPtr first_tail = extra ? opt(seq({extra, star(seq({separator, extra}))})) : empty();
        ExprPtr after = after_tail, first = first_tail;
        for (size_t i = m.size(); i-- > 0;) {
            ExprPtr a_next = after;
            ExprPtr with = seq({separator, m[i].expr, a_next});
            ExprPtr new_after = m[i].required ? with : alt({with, a_next});
            ExprPtr f_with = seq({m[i].expr, a_next});
            ExprPtr new_first = m[i].required ? f_with : alt({f_with, first});
            after = rule_ref(b_.add(base + "/a" + std::to_string(i), new_after));
            first = rule_ref(b_.add(base + "/f" + std::to_string(i), new_first));
        }
        return first;
    }

    GrammarBuilder& b_;
    const json& doc_;
    Dialect dialect_;
    std::string prefix_, pointer_prefix_;
    std::map<std::string, uint32_t> rules_;
    ExprPtr ws_, string_any_;
    std::array<ExprPtr, 4> any_chars_;  // by CharContext
    std::optional<uint32_t> any_;
    int counter_ = 0;
    bool ref_alone_ = false;  // "$ref" ignores the keywords beside it (draft 7 and before)
};

json parse_schema(std::string_view text, const std::string& what) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        throw Error(ErrorCode::kInvalidArgument, what + " is not valid JSON: " + e.what());
    }
}

}  // namespace

uint32_t add_schema_rules(GrammarBuilder& b, std::string_view schema_json, Dialect dialect, const std::string& prefix,
                          const std::string& pointer_prefix) {
    json doc = parse_schema(schema_json, "the JSON schema");
    SchemaCompiler c(b, doc, dialect, prefix, pointer_prefix);
    return b.add(prefix + "root", c.value(doc, "", 0));
}

Grammar json_schema_grammar(std::string_view schema_json) {
    json doc = parse_schema(schema_json, "the JSON schema");
    GrammarBuilder b;
    SchemaCompiler c(b, doc, Dialect::kJson, "", "");
    ExprPtr v = c.value(doc, "", 0);
    uint32_t root = b.add("root", seq({c.ws(), v, c.ws()}));
    return b.build(root, true);
}

Grammar json_object_grammar() {
    json doc = {{"type", "object"}};
    GrammarBuilder b;
    SchemaCompiler c(b, doc, Dialect::kJson, "", "");
    ExprPtr v = c.value(doc, "", 0);
    uint32_t root = b.add("root", seq({c.ws(), v, c.ws()}));
    return b.build(root);
}

ExprPtr python_kwargs(GrammarBuilder& b, const Tool& tool, const std::string& prefix) {
    auto doc = std::make_shared<json>(parse_schema(tool.parameters, "the parameters of tool '" + tool.name + "'"));
    SchemaCompiler c(b, *doc, Dialect::kPython, prefix, "tool '" + tool.name + "' parameters #");
    return c.kwargs("");
}

}  // namespace lfm::constrain
