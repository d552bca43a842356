#pragma once
// The constraint sources, each compiling its text to a Grammar (errors: lfm::Error with
// kInvalidArgument naming what is wrong and where).

#include <functional>
#include <string_view>
#include <vector>

#include "constrain/grammar.h"
#include "lfm/chat.h"

namespace lfm::constrain {

// How a character the pattern asks for is written in the output: as itself (a plain regex), or
// inside a JSON or Python string literal, escaped where the literal needs it.
enum class CharContext { kRaw, kJsonString, kPythonSingle, kPythonDouble };
ExprPtr char_in(CharContext context, std::vector<CodeRange> ranges);
// One UTF-8 character at the front of s; *used = 0 when it is not valid UTF-8.
char32_t decode_utf8_char(std::string_view s, size_t* used);

// A regular expression as an expression tree. search: JSON Schema's "pattern" semantics (the
// pattern may match anywhere unless anchored with ^ / $); otherwise the whole text must match.
ExprPtr regex_expr(std::string_view pattern, CharContext context, bool search);
Grammar regex_grammar(std::string_view pattern);

Grammar gbnf_grammar(std::string_view text);

// JSON values as JSON, or as the Python literals of LFM tool calls.
enum class Dialect { kJson, kPython };
Grammar json_schema_grammar(std::string_view schema_json);
Grammar json_object_grammar();
// The schema's value grammar as a rule of b (tool calls put several into one grammar).
// pointer_prefix names the schema's place in error messages.
uint32_t add_schema_rules(GrammarBuilder& b, std::string_view schema_json, Dialect dialect, const std::string& prefix,
                          const std::string& pointer_prefix);
// The arguments of one call, `a=1, b='x'`, from the tool's parameters schema.
ExprPtr python_kwargs(GrammarBuilder& b, const Tool& tool, const std::string& prefix);

Grammar tool_call_grammar(const std::vector<Tool>& tools, std::string_view name, bool thinking);

}  // namespace lfm::constrain
