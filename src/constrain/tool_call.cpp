// The grammar of a forced LFM tool call:
//   [<think> ... </think>] <|tool_call_start|>[name(arg=value, ...), ...]<|tool_call_end|>
// with each call's arguments written as Python literals that match the tool's parameter schema,
// in the schema's order. Everything it allows is what parse_tool_calls() reads back into a call
// to a declared tool (tests/test_constrain.cpp walks it to check).

#include "constrain/sources.h"
#include "lfm/error.h"

namespace lfm::constrain {

Grammar tool_call_grammar(const std::vector<Tool>& tools, std::string_view name, bool thinking) {
    if (tools.empty()) throw Error(ErrorCode::kInvalidArgument, "tool call constraint: no tools are declared");
    GrammarBuilder b;
    std::vector<ExprPtr> calls;
    for (size_t i = 0; i < tools.size(); ++i) {
        const Tool& t = tools[i];
        if (!name.empty() && t.name != name) continue;
        // parse_tool_calls reads a name as [A-Za-z_][A-Za-z0-9_.-]*
        bool ok = !t.name.empty() && (std::isalpha(static_cast<unsigned char>(t.name[0])) || t.name[0] == '_');
        for (char c : t.name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
        if (!ok) throw Error(ErrorCode::kInvalidArgument, "tool call constraint: the tool name '" + t.name + "' cannot be written as a call");
        std::string prefix = std::to_string(i);  // (not "t" + ...: g++ 12's -Wrestrict false positive)
        prefix.insert(0, 1, 't');
        prefix += '_';
        ExprPtr args = python_kwargs(b, t, prefix);
        calls.push_back(seq({lit(t.name + "("), args, lit(")")}));
    }
    if (calls.empty())
        throw Error(ErrorCode::kInvalidArgument, "tool call constraint: tool_choice names '" + std::string(name) +
                                                     "', which is not a declared tool");
    const uint32_t call = b.add("call", alt(std::move(calls)));
    // "required": one or more calls; a named function: exactly one
    ExprPtr list = name.empty() ? seq({rule_ref(call), star(seq({lit(","), opt(lit(" ")), rule_ref(call)}))}) : rule_ref(call);
    std::vector<ExprPtr> root;
    if (thinking) {
        root.push_back(opt(seq({special_token("<think>"), star(any_char()), special_token("</think>")})));
        root.push_back(repeat(chars({{' ', ' '}, {'\n', '\n'}}), 0, 4));
    }
    root.push_back(special_token("<|tool_call_start|>"));
    root.push_back(lit("["));
    root.push_back(list);
    root.push_back(lit("]"));
    root.push_back(special_token("<|tool_call_end|>"));
    return b.build(b.add("root", seq(std::move(root))), true);  // a parameter no value meets is left out
}

}  // namespace lfm::constrain
