#pragma once
// Constrained decoding: output that must match a JSON Schema, a GBNF grammar, a regular
// expression, or a forced tool call. A Constraint is compiled once for a tokenizer (and may be
// shared by any number of generations, on any threads); a ConstraintMatcher follows one
// generation and gives, before each token, the set of tokens the constraint allows.
//
// Set GenerateOptions::constraint and generate() does the rest: it masks the logits first, then
// runs the usual sampler chain on the allowed tokens only, and stops when the constraint is
// complete and only the end of the turn may follow.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lfm/chat.h"
#include "lfm/error.h"
#include "lfm/tokenizer.h"

namespace lfm {

class ConstraintMatcher;

// Errors (a schema keyword that cannot be enforced, a broken grammar or pattern) are
// lfm::Error with ErrorCode::kInvalidArgument, thrown by the factory: a constraint is never
// silently dropped.
class Constraint {  // compiled once, immutable, shareable across threads
public:
    // JSON Schema (draft 2020-12 and earlier): type (and unions), properties, required,
    // additionalProperties, items, prefixItems, minItems, maxItems, enum, const, anyOf, oneOf
    // (as anyOf), allOf (merged), $ref / $defs / definitions (recursion too), minLength,
    // maxLength, pattern, format (a pattern, a format and a length together are intersected as
    // automata), patternProperties, propertyNames (pattern, lengths, enum, not), minProperties and maxProperties (objects of up to 8 declared
    // properties, and maps), dependentRequired and dependencies as lists (among up to 8 declared
    // properties), minimum, maximum, exclusiveMinimum, exclusiveMaximum (with fractions too),
    // multipleOf 1, 0.1, 0.01, ... (other multiples are an error), and the forms of `not`
    // schemas use (not {}, a type, required names, an enum or const of strings / null / booleans,
    // a pattern; several in allOf). Formats: date-time, date, time, uuid, email, uri, ipv4, ipv6,
    // hostname; others are annotations, as validators treat them by default. Object properties
    // come in any order, extra ones among them once the required ones came: each at most once
    // when an object declares up to 8; beyond that, optional ones free to repeat (a parser keeps
    // the last, which validates as the first did) and the required ones each once, in any order
    // up to 12 of them, in the schema's order among themselves beyond (the grammar grows as
    // 2^required). Tool-call arguments, which may not repeat, keep the schema's order beyond 8.
    // Numbers in enum and const compare as numbers (2.0 accepts 2); up to draft 7 (by
    // "$schema") a $ref ignores the keywords beside it, as those drafts say.
    // A part of a schema no value meets (an enum with no value of the type, false, bounds that
    // exclude each other) leaves out what needs it: an optional property, an anyOf branch, array
    // items; it is an error only when the whole schema meets no value.
    // A keyword of JSON Schema that constrains values in a way not listed here (other forms of
    // not, if, dependentSchemas, contains, propertyNames, unevaluated*, ...) is an error
    // naming it and its JSON pointer; keywords outside JSON Schema's vocabulary (x-*, vendor
    // extensions) are annotations, ignored as a validator ignores them. Strings may spell a character
    // any way JSON allows (\u00e9, a surrogate pair, \/), where the schema allows the character.
    static std::shared_ptr<const Constraint> json_schema(std::string_view schema_json, std::shared_ptr<const Tokenizer> tok);
    static std::shared_ptr<const Constraint> json_object(std::shared_ptr<const Tokenizer> tok);  // any JSON object
    // llama.cpp's GBNF (the rule `root` is the start); <|name|>-style special tokens may appear
    // as <...> elements.
    static std::shared_ptr<const Constraint> gbnf(std::string_view grammar, std::shared_ptr<const Tokenizer> tok);
    // The whole output matches the pattern (ECMAScript-like syntax; no backreferences or lookaround).
    static std::shared_ptr<const Constraint> regex(std::string_view pattern, std::shared_ptr<const Tokenizer> tok);
    // tool_choice "required" (name empty: any declared tool, one or more calls) or a named
    // function (one call); thinking: allow a <think>…</think> first. The calls are LFM's
    // <|tool_call_start|>[name(arg=value, ...)]<|tool_call_end|>, values Python literals that
    // match each parameter's schema; parse_tool_calls() reads every output the grammar allows.
    // A parameters schema is checked like any schema (annotations skipped; an unsupported keyword,
    // an unknown type, or a schema that is not an object, is an error); a parameter without a type takes any
    // value, and an object without "properties" any names with the values additionalProperties allows.
    static std::shared_ptr<const Constraint> tool_call(const std::vector<Tool>& tools, std::string_view name, bool thinking,
                                                       std::shared_ptr<const Tokenizer> tok);

    ~Constraint();
    const std::string& kind() const;  // "json_schema", "json_object", "gbnf", "regex", "tool_call"
    const Tokenizer& tokenizer() const;
    size_t n_rules() const;  // size of the compiled grammar, for diagnostics
    // Bytes of mask data this constraint keeps for all its matchers (per pair of grammar
    // positions; at most 64 MiB of entries, then masks are computed without being kept, and a
    // DFA to compute them that is rebuilt past 16 MiB).
    size_t cache_bytes() const;

    struct Impl;
    const Impl& impl() const { return *impl_; }

private:
    explicit Constraint(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> impl_;
    friend struct ConstraintAccess;
};

// One generation's position in a constraint. Not thread-safe (but any number of matchers of one
// Constraint may run on different threads); cheap to create (it builds its parser tables lazily,
// as the generation goes, and keeps them under 4 MiB).
class ConstraintMatcher {
public:
    explicit ConstraintMatcher(std::shared_ptr<const Constraint> constraint);
    ~ConstraintMatcher();
    ConstraintMatcher(ConstraintMatcher&&) noexcept;
    ConstraintMatcher& operator=(ConstraintMatcher&&) noexcept;

    // The tokens allowed next, as a bitset over the vocabulary: bit (id % 64) of words[id / 64].
    // words.size() must be at least mask_words(). End-of-turn / EOS tokens are allowed exactly
    // when the constraint is complete. Never empty before the constraint has ended.
    void fill_mask(std::span<uint64_t> words);
    size_t mask_words() const;
    bool allows(int32_t token);
    // Moves on by the token; returns false and changes nothing when it is not allowed.
    bool advance(int32_t token);
    // Moves on by raw bytes (for tests and benchmarks); false and no change when rejected.
    bool advance_bytes(std::string_view bytes);
    bool is_complete() const;  // an end-of-turn token may come now
    bool only_end() const;     // complete, and nothing but the end of the turn may follow
    bool ended() const;        // an end-of-turn token was taken
    void reset();              // back to the start
    size_t memory_bytes() const;  // this matcher's own tables (the Constraint's cache not counted)
    const Constraint& constraint() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace lfm
