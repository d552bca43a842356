// The constraint engine: documents accepted and rejected token by token on the Llama-3
// vocabulary (128,256 tokens), masks checked token by token against the matcher, random walks
// through the masks (never empty before the end; every finished walk validates against its
// schema with python3-jsonschema), clear errors, and constrained generation on a tiny model.

#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "constrain/grammar.h"
#include "text/utf8.h"
#include "lfm/constrain.h"
#include "lfm/generate.h"
#include "test_util.h"

namespace lfm {
namespace {

using json = nlohmann::ordered_json;

std::shared_ptr<const Tokenizer> llama3() {
    static auto tok = Tokenizer::load(test::shared_path("data/tokenizer-llama3-bpe/ggml-vocab-llama-bpe.gguf"));
    return tok;
}

#define REQUIRE_LLAMA3()                                                                                 \
    do {                                                                                                 \
        if (!std::filesystem::exists(test::shared_path("data/tokenizer-llama3-bpe/ggml-vocab-llama-bpe.gguf"))) \
            GTEST_SKIP() << "../shared/data/tokenizer-llama3-bpe is not beside the repository";          \
    } while (0)

bool bit(const std::vector<uint64_t>& mask, int32_t id) { return (mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1; }

// Walks text's tokens (as a model would write them) through the constraint; each must be in
// the mask, and the end must be allowed after the last.
// specials: <|name|> in the text are special tokens (tool calls).
bool accepts(const std::shared_ptr<const Constraint>& c, const std::string& text, bool specials = false) {
    const Tokenizer& tok = c->tokenizer();
    ConstraintMatcher m(c);
    std::vector<uint64_t> mask(m.mask_words());
    for (int32_t id : tok.encode(text, false, specials)) {
        m.fill_mask(mask);
        const bool allowed = bit(mask, id);
        EXPECT_EQ(allowed, m.allows(id)) << "mask and matcher disagree on token " << id;
        if (!allowed) return false;
        EXPECT_TRUE(m.advance(id));
    }
    m.fill_mask(mask);
    bool end = false;
    if (auto eos = tok.eos()) end = bit(mask, *eos);
    EXPECT_EQ(end, m.is_complete());
    return m.is_complete();
}

struct Case {
    const char* name;
    const char* schema;
    std::vector<std::string> valid, invalid;
};

const std::vector<Case>& schema_cases() {
    static const std::vector<Case> cases = {
        {"types", R"({"type": ["string", "null", "boolean"]})", {R"("hi")", "null", "true", " false\n"}, {"1", "{}", "nul", R"("a)"}},
        {"object", R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
                      "required": ["a"], "additionalProperties": false})",
         {R"({"a": 1})", R"({"a":-12,"b":"x"})", "{\n  \"a\": 3,\n  \"b\": \"\"\n}", R"({"b": "y", "a": 2})"},
         {R"({})", R"({"b": "x"})", R"({"a": 1, "c": 2})", R"({"a": "1"})", R"({"a": 1.5})", R"({"a": 01})",
          R"({"a": 1, "b": "x", "a": 2})", R"({"b": "x", "b": "y", "a": 1})"}},
        {"additional", R"({"type": "object", "properties": {"a": {"type": "boolean"}}, "additionalProperties": {"type": "number"}})",
         {R"({"a": true, "x": 1.5, "y": -2e3})", R"({})", R"({"z": 0})"}, {R"({"x": "s"})", R"({"a": 1})"}},
        {"array", R"({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3})",
         {"[1]", "[1, 2, 3]", "[ 4 ,5 ]"}, {"[]", "[1,2,3,4]", "[1.0]", "[\"a\"]"}},
        {"tuple", R"({"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}], "items": false})",
         {R"(["a", 1])", R"(["a"])", "[]"}, {R"(["a", 1, 2])", R"([1, "a"])"}},
        {"enum_const", R"({"type": "object", "properties": {"u": {"enum": ["celsius", "fahrenheit", 3, null]},
                          "k": {"const": {"x": [1, true]}}}, "required": ["u", "k"]})",
         {R"({"u": "celsius", "k": {"x": [1, true]}})", R"({"u": 3, "k": {"x":[1,true]}})", R"({"u": null, "k": {"x": [1, true]}})"},
         {R"({"u": "kelvin", "k": {"x": [1, true]}})", R"({"u": "celsius", "k": {"x": [2, true]}})"}},
        {"anyof", R"({"anyOf": [{"type": "integer", "minimum": 10}, {"type": "string", "maxLength": 2}]})",
         {"10", "99999", R"("ab")", R"("")"}, {"9", R"("abc")", "true"}},
        {"oneof", R"({"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "string"}}]})", {"3", R"(["a"])"}, {"3.5", "[1]"}},
        {"anyof_allof", R"({"type": "object", "allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                          {"properties": {"b": {"type": "string"}}, "required": ["b"]}],
                          "anyOf": [{"properties": {"c": {"const": 1}}}, {"properties": {"d": {"const": 2}}}]})",
         {R"({"a": 1, "b": "x"})", R"({"a": 1, "b": "x", "c": 1})", R"({"a": 1, "b": "x", "d": 2})"}, {R"({"a": 1})", R"({"b": "x"})"}},
        {"ref_recursive", R"({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
                           "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                           "required": ["v"], "additionalProperties": false}}})",
         {R"({"v": 1})", R"({"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": [{"v": 4}]}]})"}, {R"({"v": 1, "kids": [{}]})", R"({"kids": []})"}},
        {"string_length", R"({"type": "string", "minLength": 2, "maxLength": 4})",
         {R"("ab")", R"("abcd")", R"("é\n")", R"("日本語")"}, {R"("a")", R"("abcde")", "\"a\nb\""}},
        {"pattern", R"({"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"})", {R"("AB-123")"}, {R"("ab-123")", R"("AB-1234")", R"("AB123")"}},
        {"pattern_search", R"({"type": "string", "pattern": "ab+c"})", {R"("xxabbbcyy")", R"("abc")"}, {R"("ac")", R"("")"}},
        {"formats", R"({"type": "object", "properties": {"dt": {"type": "string", "format": "date-time"},
                      "d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "time"},
                      "u": {"type": "string", "format": "uuid"}, "e": {"type": "string", "format": "email"},
                      "w": {"type": "string", "format": "uri"}}})",
         {R"({"dt": "2024-02-29T13:45:00Z", "d": "1999-12-31", "t": "23:59:59+02:00",
              "u": "123e4567-e89b-12d3-a456-426614174000", "e": "a.b@example.com", "w": "https://x.org/a?b=c"})"},
         {R"({"dt": "2024-02-29 13:45"})", R"({"d": "1999-13-01"})", R"({"d": "2022-02-31"})", R"({"d": "2023-02-29"})",
          R"({"d": "2100-02-29"})", R"({"d": "2024-04-31"})", R"({"dt": "2023-02-29T00:00:00Z"})", R"({"u": "123"})", R"({"e": "nope"})", R"({"w": "no scheme"})"}},
        {"dates_by_month", R"({"type": "string", "format": "date"})",
         {R"("2024-02-29")", R"("2000-02-29")", R"("2023-02-28")", R"("2023-01-31")", R"("2023-04-30")", R"("2023-12-31")"},
         {R"("2023-02-29")", R"("1900-02-29")", R"("2023-02-30")", R"("2023-06-31")", R"("2023-11-31")", R"("2023-00-10")"}},
        // Keywords outside JSON Schema's vocabulary are annotations (as for a validator); the
        // ones beside them still hold.
        {"vendor_keywords", R"({"type": "string", "x-kubernetes-patch-merge-key": "name", "_format": "x", "javaType": "T",
                               "maxLength": 2})",
         {R"("ab")"}, {R"("abc")", "1"}},
        // allOf parts merge in the document's order: a base type's properties (named in allOf
        // before "properties") come first, as documents write them.
        {"allof_base_first", R"({"type": "object", "allOf": [{"$ref": "#/$defs/base"}],
                               "properties": {"c": {}, "d": {}, "e": {}, "f": {}, "g": {}, "h": {}, "i": {}},
                               "$defs": {"base": {"properties": {"a": {"type": "integer"}, "b": {}}, "required": ["a"]}}})",
         {R"({"a": 1, "b": 2, "c": 3, "i": 4})", R"({"a": 1})", R"({"a": 1, "z": 2})"}, {R"({"b": 2})", R"({"a": "x"})"}},
        // Up to 8 declared properties: any order, each once; extra members among them once the
        // required ones came.
        {"extras_among_members", R"({"type": "object", "required": ["a"],
                                   "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {}},
                                   "additionalProperties": {"type": "boolean"}})",
         {R"({"a": 1, "x": true, "b": "s", "y": false, "c": 3})", R"({"c": 0, "a": 1, "x": true})"},
         {R"({"a": 1, "x": 2, "b": "s"})", R"({"a": 1, "b": "s", "b": "t"})", R"({"x": true})"}},
        // An integer's fractional bounds round inwards; bounds past 18 digits (int64's, double's)
        // limit nothing a bounded number here can write, and 2^53 - 1 is a bound like any other.
        {"integer_fraction_bounds", R"({"type": "integer", "minimum": -2.5, "maximum": 2.5})", {"-2", "0", "2"}, {"-3", "3", "2.5"}},
        {"large_bounds", R"({"type": "integer", "minimum": 0, "maximum": 9007199254740991})",
         {"0", "9007199254740991", "123"}, {"9007199254740992", "-1", "10000000000000000"}},
        {"int64_bounds", R"({"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807})",
         {"0", "-999999999999999999", "999999999999999999"}, {"1.5", "\"1\""}},
        {"double_max_bound", R"({"type": "number", "maximum": 1.7976931348623157e308})", {"12.5", "-3"}, {"\"x\"", "[]"}},
        // multipleOf 1 on a number: whole values, a fraction of zeros allowed
        {"multiple_of_one", R"({"type": "number", "multipleOf": 1})", {"3", "-3.0", "0"}, {"3.5", "1e2", "0.01"}},
        // A part no value meets is left out where the schema allows that: an optional property
        // is absent, an anyOf branch dropped, an array empty (an error only for the whole schema).
        {"unsatisfiable_parts", R"({"type": "object", "properties": {
                                  "a": {"type": "object", "enum": ["x"]}, "b": false, "c": {"type": "integer"},
                                  "d": {"anyOf": [{"type": "string", "enum": [1]}, {"type": "integer"}]},
                                  "e": {"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 2}}}})",
         {R"({"c": 1})", "{}", R"({"d": 3, "e": []})"},
         {R"({"a": "x"})", R"({"b": 1})", R"({"b": null, "c": 1})", R"({"d": "s"})", R"({"e": ["abc"]})", R"({"e": [""]})"}},
        // More: any order too, optional members free to repeat (a parser keeps the last), the
        // required ones each exactly once, extra members once the required ones came.
        {"many_properties_any_order", R"({"type": "object", "required": ["a", "j"],
                                        "properties": {"a": {"type": "integer"}, "b": {}, "c": {}, "d": {}, "e": {},
                                                       "f": {}, "g": {}, "h": {}, "i": {}, "j": {"type": "string"}}})",
         {R"({"j": "s", "c": 1, "a": 2})", R"({"b": 1, "a": 2, "j": "t", "z": 0, "i": 3})", R"({"a": 1, "b": 2, "b": 3, "j": "u"})"},
         {R"({"a": 1})", R"({"j": "s", "a": 1, "a": 2})", R"({"j": "s", "a": 1, "j": "t"})", R"({"a": "1", "j": "s"})",
          R"({"j": 1, "a": 1})"}},
        // Up to 12 required in any order too (a state per set of them written).
        {"many_required", R"({"type": "object", "required": ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
                            "properties": {"a": {}, "b": {}, "c": {}, "d": {}, "e": {}, "f": {}, "g": {}, "h": {}, "i": {},
                                           "j": {"type": "integer"}}, "additionalProperties": false})",
         {R"({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9})",
          R"({"j": 0, "a": 1, "b": 2, "c": 3, "j": 1, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9})",
          R"({"i": 9, "h": 8, "j": 0, "g": 7, "f": 6, "e": 5, "d": 4, "c": 3, "b": 2, "a": 1})"},
         {R"({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8})",
          R"({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "k": 0})",
          R"({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": "s"})",
          R"({"i": 9, "h": 8, "g": 7, "f": 6, "e": 5, "d": 4, "c": 3, "b": 2})"}},
        // More than 12 required: those in the schema's order among themselves, the others anywhere.
        {"very_many_required", R"({"type": "object", "required": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"],
                                 "properties": {"z": {"type": "integer"}}})",
         {R"({"a": 1, "b": 2, "c": 3, "d": 4, "z": 0, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11, "l": 12, "m": 13})",
          R"({"z": 0, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11, "l": 12, "m": 13, "y": 0})"},
         {R"({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11, "l": 12})",
          R"({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11, "l": 12, "m": 13, "z": "s"})"}},
        // enum and const compare numbers as numbers: 2.0 is 2 (and 2.00), 0 is -0
        {"enum_numbers", R"({"enum": [2.0, 0.5, -3, 0]})", {"2", "2.0", "2.00", "0.5", "0.50", "-3", "-3.0", "0", "-0", "0.0"},
         {"2.5", "0.05", "3", "-2", "20", "05", "1"}},
        // Up to draft 7, "$ref" ignores the keywords beside it; from 2019-09 (and with no
        // "$schema") they apply too, and a string that must be an object is nothing.
        {"ref_alone_draft7", R"({"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"o": {"type": "object"}},
                               "properties": {"s": {"type": "string", "$ref": "#/definitions/o"}}})",
         {R"({"s": {}})", R"({"s": {"t": 1}})", "{}"}, {R"({"s": "x"})"}},
        {"ref_beside_2020", R"({"$defs": {"o": {"type": "object"}}, "properties": {"s": {"type": "string", "$ref": "#/$defs/o"}}})",
         {"{}", R"({"t": 1})"}, {R"({"s": {}})", R"({"s": "x"})"}},
        // A repeated group that may match nothing ((|x)*, (a?b?)+) repeats its non-empty matches
        {"pattern_nullable_repeat", R"({"type": "string", "pattern": "^\\w+(|\\.[\\w,]+)*$"})",
         {R"("ab")", R"("ab.c,d")", R"("a.b.c")"}, {R"("ab.")", R"(".a")", R"("a b")", R"("")"}},
        {"pattern_nullable_seq_repeat", R"({"type": "string", "pattern": "^(a?b?)+c$"})",
         {R"("c")", R"("abc")", R"("bac")", R"("aabbc")"}, {R"("ca")", R"("abd")", R"("")"}},
        // each top-level alternative of a pattern has its own anchors: ^a|b$ is (^a)|(b$)
        {"pattern_anchored_branches", R"({"type": "string", "pattern": "^a|b$"})", {R"("a")", R"("ab")", R"("xb")", R"("b")"},
         {R"("x")", R"("ba")", R"("")"}},
        {"pattern_empty_or_digits", R"({"type": "string", "pattern": "^$|^[0-9]+$"})", {R"("")", R"("123")"}, {R"("a1")", R"("1a")"}},
        {"pattern_empty_repeat_in_repeat", R"({"type": "string", "pattern": "^(a{0}|b)*c$"})", {R"("c")", R"("bbc")"}, {R"("ac")", R"("b")"}},
        // propertyNames: every key, declared ones included (those it does not allow cannot come)
        {"property_names_pattern", R"({"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}})",
         {"{}", R"({"ab": 1})", R"({"ab": 1, "c": [2]})"}, {R"({"Ab": 1})", R"({"a1": 2})", R"({"": 0})"}},
        {"property_names_declared", R"({"properties": {"longname": {}, "ok": {"type": "integer"}}, "propertyNames": {"maxLength": 4}})",
         {R"({"ok": 1})", R"({"abcd": null, "ok": 2})"}, {R"({"longname": 1})", R"({"abcde": 1})", R"({"ok": "s"})"}},
        {"property_names_enum_not", R"({"propertyNames": {"enum": ["a", "b", "xa"], "not": {"pattern": "^x"}}})",
         {R"({"a": 1, "b": 2})"}, {R"({"c": 1})", R"({"xa": 1})"}},
        {"property_names_with_patterns", R"({"patternProperties": {"^s_": {"type": "string"}}, "propertyNames": {"maxLength": 3}})",
         {R"({"s_a": "x"})", R"({"ab": 1})"}, {R"({"s_ab": "x"})", R"({"s_a": 1})", R"({"abcd": 1})"}},
        // A length beside a pattern or format is kept as the pattern where the pattern implies
        // it; otherwise the two are intersected (char_dfa.h), as are a pattern and a format.
        {"pattern_with_length", R"({"type": "string", "pattern": "^[a-z]+$", "maxLength": 5})",
         {R"("abc")", R"("abcde")", R"("\u0061b")"}, {R"("abcdef")", R"("")", R"("ab1")"}},
        {"search_pattern_with_length", R"({"type": "string", "pattern": "[0-9]{3}", "minLength": 4, "maxLength": 5})",
         {R"("a123")", R"("12345")", R"("x999y")", R"("é123")"}, {R"("123")", R"("a12b3")", R"("123456")", R"("abcd")"}},
        // pydantic's HttpUrl: format uri, minLength 1, maxLength 2083 (here 24, to test the bound)
        {"format_with_length", R"({"type": "object", "properties": {
                                  "url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 24},
                                  "long": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2083}}})",
         {R"({"url": "https://example.com/a"})", R"({"long": "https://example.com/a/b/c/d/e/f/g/h/i/j/k?x=1"})"},
         {R"({"url": "https://example.com/abcdefgh"})", R"({"url": "example"})", R"({"url": ""})", R"({"long": "no scheme"})"}},
        // patternProperties: a key a pattern matches takes its schema; other keys take
        // additionalProperties; a declared name a pattern matches is held to both schemas
        {"pattern_properties", R"({"type": "object", "properties": {"name": {"type": "string"}, "x-n": {"type": "number"}},
                                  "patternProperties": {"^x-": {"type": "integer"}, "^[0-9]+$": {"type": "boolean"}},
                                  "additionalProperties": false})",
         {R"({"name": "a", "x-foo": 1, "12": true})", R"({"x-n": 3})", R"({"7": false, "x-": -1})", "{}"},
         {R"({"x-foo": "s"})", R"({"other": 1})", R"({"12": 1})", R"({"x-n": 3.5})", R"({"name": 1})", R"({"1a": true})"}},
        {"pattern_properties_and_additional", R"({"type": "object", "required": ["id"],
                                  "patternProperties": {"^x-": {"type": "integer"}, "^id$": {"type": "string"}},
                                  "additionalProperties": {"type": "array"}})",
         {R"({"id": "a", "x-a": 1, "other": [1]})", R"({"id": "b"})"},
         {R"({"id": 1})", R"({"x-a": 1})", R"({"id": "a", "x-a": []})", R"({"id": "a", "other": 1})"}},
        // the forms of "not" schemas use: a type, an enum or const, a pattern, one required name
        {"not_forms", R"({"type": "object", "not": {"required": ["e"]}, "properties": {
                         "a": {"not": {"type": "null"}}, "b": {"type": "string", "not": {"enum": ["x", "y"]}},
                         "c": {"type": ["string", "null"], "not": {"pattern": "^tmp"}}, "d": {"type": "boolean", "not": {"const": true}},
                         "e": {"type": "integer"}}})",
         {R"({"a": 1, "b": "xy", "c": null, "d": false})", R"({"a": "s", "c": "file"})", R"({"z": 1})", R"({"b": ""})"},
         {R"({"a": null})", R"({"b": "x"})", R"({"c": "tmp1"})", R"({"d": true})", R"({"e": 1})", R"({"b": "\u0078"})"}},
        {"format_ipv6", R"({"type": "string", "format": "ipv6"})",
         {R"("::")", R"("::1")", R"("1:2:3:4:5:6:7:8")", R"("2001:db8::8a2e:370:7334")", R"("::ffff:192.0.2.1")",
          R"("1:2:3:4:5:6:1.2.3.4")", R"("1:2:3:4:5::1.2.3.4")", R"("ABCD:ef01::")", R"("1:2:3:4:5:6:7::")", R"("::2:3:4:5:6:7:8")"},
         {R"("1:2:3:4:5:6:7:8:9")", R"("1::2::3")", R"("12345::")", R"("1.2.3.4")", R"(":1")", R"("1:")", R"("::ffff:256.1.1.1")",
          R"("1:2:3:4:5:6:7::8")", R"("1:2:3:4:5:6:7:1.2.3.4")", R"("::01.2.3.4")", R"("g::1")"}},
        // not of several required names (not all together), and allOf parts that each have a "not"
        {"not_all_and_merged_nots", R"({"type": "object", "properties": {
                                       "x": {"type": "object", "properties": {"body": {}, "bodyValue": {}, "id": {}},
                                             "not": {"required": ["body", "bodyValue"]}},
                                       "z": {"type": "object", "not": {"required": ["p", "q"]}, "additionalProperties": {"type": "integer"}},
                                       "w": {"allOf": [{"type": "object", "not": {"required": ["p"]}}, {"not": {"required": ["p", "q"]}}]},
                                       "y": {"allOf": [{"type": "string", "not": {"const": "a"}}, {"not": {"pattern": "^b"}},
                                                       {"not": {"enum": ["c"]}}]}}})",
         {R"({"x": {"body": 1, "id": 2}})", R"({"x": {"bodyValue": 1, "extra": 3}})", R"({"x": {}})", R"({"y": "d"})",
          R"({"y": "ab"})", R"({"z": {"p": 1, "r": 2}})", R"({"z": {"q": 1}})", R"({"w": {"q": 1}})"},
         {R"({"x": {"body": 1, "bodyValue": 2}})", R"({"z": {"q": 1, "p": 2}})", R"({"z": {"p": "s"}})", R"({"w": {"p": 1}})", R"({"x": {"bodyValue": 1, "id": 0, "body": 2}})", R"({"y": "a"})",
          R"({"y": "bcd"})", R"({"y": "c"})"}},
        // minProperties / maxProperties count declared and extra members alike
        {"property_counts", R"({"type": "object", "properties": {
                               "d": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1, "maxProperties": 2},
                               "p": {"type": "object", "properties": {"x": {}, "y": {}, "z": {}}, "required": ["x"],
                                     "minProperties": 2, "maxProperties": 2, "additionalProperties": false}}})",
         {R"({"d": {"a": 1}})", R"({"d": {"a": 1, "b": 2}})", R"({"p": {"x": 1, "z": 2}})", R"({"p": {"y": 1, "x": 2}})"},
         {R"({"d": {}})", R"({"d": {"a": 1, "b": 2, "c": 3}})", R"({"p": {"x": 1}})", R"({"p": {"x": 1, "y": 1, "z": 1}})",
          R"({"p": {"y": 1, "z": 1}})"}},
        // dependentRequired / dependencies (lists): a member that needs others
        {"dependencies", R"({"type": "object", "properties": {"card": {"type": "string"}, "billing": {"type": "string"}, "name": {}},
                            "dependentRequired": {"card": ["billing"]}, "dependencies": {"billing": ["name"]},
                            "additionalProperties": false})",
         {R"({"name": 1})", R"({"card": "c", "billing": "b", "name": 2})", R"({"billing": "b", "name": 1})", "{}"},
         {R"({"card": "c"})", R"({"card": "c", "billing": "b"})", R"({"billing": "b"})"}},
        {"pattern_and_format", R"({"type": "string", "format": "email", "pattern": "^admin"})",
         {R"("admin@x.org")", R"("admin.b@x.org")"}, {R"("root@x.org")", R"("admin")", R"("xadmin@x.org")"}},
        {"length_implied_by_pattern", R"({"type": "object", "properties": {"z": {"type": "string", "pattern": "^[0-9]{9}$", "maxLength": 9},
                                        "u": {"type": "string", "format": "uuid", "minLength": 1},
                                        "n": {"type": "string", "pattern": "^[a-z][a-z0-9_]+$", "minLength": 2}}})",
         {R"({"z": "123456789", "u": "123e4567-e89b-12d3-a456-426614174000", "n": "ab"})"},
         {R"({"z": "12345678"})", R"({"n": "a"})", R"({"u": ""})"}},
        // Without "type", keywords hold for values of their kind only (a validator's reading).
        {"untyped_keywords", R"({"type": "object", "properties": {"o": {"properties": {"a": {"type": "integer"}}},
                                "f": {"format": "positiveInteger"}, "n": {"minimum": 3}}})",
         {R"({"o": [1, "x"], "f": 1, "n": "s"})", R"({"o": {"a": 1}, "f": "x", "n": 4})", R"({"o": null, "n": true})"},
         {R"({"o": {"a": "x"}})", R"({"n": 2})"}},
        // keywords of two kinds without "type": each holds the values of its own kind
        {"untyped_mixed_kinds", R"({"minLength": 2, "minimum": 0, "items": {"type": "integer"}})",
         {R"("ab")", "3", "0.5", "null", "[1, 2]", R"({"k": "v"})", "true"}, {R"("a")", "-5", R"(["x"])"}},
        {"integer_bounds", R"({"type": "integer", "minimum": -15, "maximum": 120})", {"-15", "0", "7", "99", "120"}, {"-16", "121", "1000", "-0"}},
        {"exclusive", R"({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10})", {"0.5", "9.999", "1", "5.25"}, {"0", "10", "10.0", "-1", "0.0"}},
        {"number_bounds", R"({"type": "number", "minimum": -2, "maximum": 3})", {"-2", "-1.5", "3", "3.000", "0"}, {"-2.01", "3.1", "4"}},
        {"draft4_exclusive", R"({"type": "integer", "minimum": 5, "exclusiveMinimum": true})", {"6", "600"}, {"5", "4"}},
        {"any", R"({})", {R"({"a": [1, {"b": null}], "c": "d"})", "1.5e10", "[]"}, {"{a: 1}", "[1,]"}},
        {"nullable_required", R"({"type": "object", "properties": {"x": {"type": "string", "nullable": true}}, "required": ["x", "y"]})",
         {R"({"x": null, "y": [1]})", R"({"x": "s", "y": 2})"}, {R"({"x": null})"}},
        // JSON's escapes: \uXXXX (either case) for any character the schema allows, surrogate
        // pairs beyond the BMP (one character), the short ones; never a lone surrogate
        {"unicode_escapes", R"({"type": "string", "maxLength": 3})",
         {R"("\u00e9")", R"("\u00E9t\u00e9")", R"("\ud83d\ude00")", R"("\uD83D\uDE00ab")", R"("\/\b\u0000")", R"("\u0022\"\\")"},
         {R"("\ud83d")", R"("\ude00\ud83d")", R"("\ud83dx")", R"("\u00e")", R"("\x41")", R"("\u0041bcd")", R"("\a")"}},
        {"escapes_in_patterns_enums_keys", R"({"type": "object", "properties": {
                           "p": {"type": "string", "pattern": "^[a-z]+$"}, "e": {"enum": ["été", "a\"b"]},
                           "é": {"type": "integer"}}, "additionalProperties": {"type": "string"}})",
         {R"({"p": "\u0061b"})", R"({"e": "\u00E9t\u00e9"})", R"({"e": "\u00e9t\u00e9"})", R"({"e": "a\u0022b"})",
          R"({"\u00e9": 1})", R"({"\u0070": "x"})", R"({"\u00e8": "x"})", R"({"\ud83d\ude00": "x"})"},
         {R"({"p": "\u0041"})", R"({"e": "\u00e9t"})", R"({"e": "\u00e9t\u00C9"})", R"({"\u00e9": "x"})", R"({"\u0070": 1})", R"({"\u0065": 1})"}},
    };
    return cases;
}

TEST(Constrain, SchemasAcceptValidAndRejectInvalidTokenByToken) {
    REQUIRE_LLAMA3();
    for (const Case& c : schema_cases()) {
        SCOPED_TRACE(c.name);
        auto constraint = Constraint::json_schema(c.schema, llama3());
        for (const std::string& v : c.valid) EXPECT_TRUE(accepts(constraint, v)) << v;
        for (const std::string& v : c.invalid) EXPECT_FALSE(accepts(constraint, v)) << v;
    }
}

// Integer and number bounds, value by value.
TEST(Constrain, NumericBoundsAreExact) {
    REQUIRE_LLAMA3();
    for (auto [lo, hi] : std::vector<std::pair<int, int>>{{-15, 120}, {0, 9}, {7, 1003}, {-300, -12}, {99, 101}}) {
        auto c = Constraint::json_schema(json{{"type", "integer"}, {"minimum", lo}, {"maximum", hi}}.dump(), llama3());
        ConstraintMatcher m(c);
        for (int v = lo - 40; v <= hi + 40; ++v) {
            m.reset();
            const bool ok = m.advance_bytes(std::to_string(v)) && m.is_complete();
            EXPECT_EQ(ok, v >= lo && v <= hi) << v << " in [" << lo << ", " << hi << "]";
        }
    }
    auto c = Constraint::json_schema(R"({"type": "number", "exclusiveMinimum": -3, "maximum": 2})", llama3());
    ConstraintMatcher m(c);
    for (int tenths = -50; tenths <= 50; ++tenths) {
        char text[32];
        std::snprintf(text, sizeof text, "%.1f", tenths / 10.0);
        m.reset();
        const bool ok = m.advance_bytes(text) && m.is_complete();
        EXPECT_EQ(ok, tenths > -30 && tenths <= 20) << text;
    }
    // Bounds with fractions, and multipleOf 10^-k, on every value in thousandths around them,
    // written with three decimals and in the shortest form. Values in thousandths: exact.
    struct Decimals {
        int lo, hi;  // thousandths
        bool lo_ex, hi_ex;
        int step;  // multipleOf in thousandths (1: none)
    };
    for (const Decimals& d : std::vector<Decimals>{{250, 99990, false, true, 1},
                                                   {-1500, -500, false, false, 1},
                                                   {-1250, 2500, true, false, 1},
                                                   {-5, 5, true, true, 1},
                                                   {0, 12340, false, false, 10},
                                                   {-2000, 3000, false, true, 1000},
                                                   {1230, 1230, false, false, 1}}) {
        auto thousandths = [](int v) {
            char text[32];
            std::snprintf(text, sizeof text, "%s%d.%03d", v < 0 ? "-" : "", std::abs(v) / 1000, std::abs(v) % 1000);
            return std::string(text);
        };
        json schema = {{"type", "number"}, {d.lo_ex ? "exclusiveMinimum" : "minimum", json::parse(thousandths(d.lo))},
                       {d.hi_ex ? "exclusiveMaximum" : "maximum", json::parse(thousandths(d.hi))}};
        if (d.step > 1) schema["multipleOf"] = json::parse(thousandths(d.step));
        SCOPED_TRACE(schema.dump());
        auto dc = Constraint::json_schema(schema.dump(), llama3());
        ConstraintMatcher dm(dc);
        const int span = std::max(100, (d.hi - d.lo) / 50);
        for (int v = d.lo - span; v <= d.hi + span; v += (d.hi - d.lo > 20000 && v > d.lo + 2000 && v < d.hi - 2000) ? 97 : 1) {
            const bool in = (d.lo_ex ? v > d.lo : v >= d.lo) && (d.hi_ex ? v < d.hi : v <= d.hi) && v % d.step == 0;
            std::string full = thousandths(v), shortest = full;
            while (shortest.back() == '0') shortest.pop_back();
            if (shortest.back() == '.') shortest.pop_back();
            if (shortest == "-0") shortest = "0";
            for (const std::string& text : {full, shortest}) {
                dm.reset();
                EXPECT_EQ(dm.advance_bytes(text) && dm.is_complete(), in) << text;
            }
        }
    }
}

// The mask is what the matcher says of each token, for the whole vocabulary, in a few states.
TEST(Constrain, MaskMatchesTokenByTokenCheck) {
    REQUIRE_LLAMA3();
    auto c = Constraint::json_schema(schema_cases()[1].schema, llama3());
    ConstraintMatcher m(c);
    std::vector<uint64_t> mask(m.mask_words());
    for (const char* prefix : {"", "{", "{\"a\": 1", "{\"a\": 1, \"b\": \"x"}) {
        m.reset();
        ASSERT_TRUE(m.advance_bytes(prefix));
        m.fill_mask(mask);
        size_t n = 0;
        for (int32_t id = 0; id < llama3()->n_vocab(); ++id) {
            ASSERT_EQ(bit(mask, id), m.allows(id)) << "token " << id << " after '" << prefix << "'";
            n += bit(mask, id);
        }
        EXPECT_GT(n, 0u);
    }
}

// The same, at every token of a document, for constraints whose masks come from several shared
// per-position entries and their context-dependent tokens (string ends, whitespace, nesting).
TEST(Constrain, MaskMatchesTokenByTokenCheckAlongDocuments) {
    REQUIRE_LLAMA3();
    const std::vector<std::pair<std::shared_ptr<const Constraint>, std::string>> cases = {
        {Constraint::json_schema(R"({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3},
            "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "number"}}}}, "d": {"enum": ["x", "yz"]}}})",
                                 llama3()),
         "{\"a\": \"ab\", \"b\": [{\"c\": -1.5e3}, {}], \"d\": \"yz\"}"},
        {Constraint::json_object(llama3()), "{ \"k\": [1, \"two\", {\"three\": null}],\n  \"e\": \"\u00e9t\\n\" }"},
        {Constraint::gbnf("root ::= (\"- \" [a-z]+ \" \"? \"\\n\")+\n", llama3()), "- apples\n- eggs \n"},
        // deep turns of a bounded repetition share the entries of a shallower one (Grammar::mask_alias)
        {Constraint::json_schema(R"({"type": "array", "items": {"type": "string", "maxLength": 24}})", llama3()),
         "[\"The quick brown fox jum\", \"                        \", \"é\\\"\\n\", \"ok\"]"},
        {Constraint::gbnf("root ::= [a-z ]{0,30} \".\"\n", llama3()), "the quick brown fox jumps ove."},
        // the characters of a string (a repetition) know what follows it (MaskCache::sees_past):
        // keys, values, array items, extra members, each ended by other bytes
        {Constraint::json_schema(R"({"type": "object", "properties": {"name": {"type": "string"}, "tags": {"type": "array",
            "items": {"type": "string"}}}, "required": ["name"], "additionalProperties": {"type": "string"}})",
                                 llama3()),
         "{\"name\": \"a \\\"b\\\"\", \"tags\": [\"x\",\"\", \"yz.\"],\"other key\":\"v\" , \"k\": \"\"}"},
        {Constraint::gbnf("root ::= word (\",\" \" \"? word)* \".\"\nword ::= [a-z]+ | \"(\" [a-z ]* \")\"\n", llama3()),
         "ab,cde, f,(in a word),g."},
    };
    for (const auto& [c, text] : cases) {
        ConstraintMatcher m(c);
        std::vector<uint64_t> mask(m.mask_words());
        std::vector<int32_t> ids = llama3()->encode(text, false, false);
        for (size_t step = 0; step <= ids.size(); ++step) {
            m.fill_mask(mask);
            size_t n = 0;
            for (int32_t id = 0; id < llama3()->n_vocab(); ++id) {
                ASSERT_EQ(bit(mask, id), m.allows(id)) << "token " << id << " at step " << step << " of " << text;
                n += bit(mask, id);
            }
            EXPECT_GT(n, 0u);
            if (step < ids.size()) {
                ASSERT_TRUE(m.advance(ids[step])) << text << " step " << step;
            }
        }
        EXPECT_TRUE(m.is_complete());
    }
}

// One Constraint, several generations on several threads at once (the server's case): every
// thread gets the masks a lone matcher gets.
TEST(Constrain, SharedConstraintAcrossThreads) {
    REQUIRE_LLAMA3();
    const std::string text = "{\"a\": \"some text\", \"b\": [{\"c\": 12.5}, {\"c\": -3}], \"d\": \"x\"}";
    auto make = [] {
        return Constraint::json_schema(R"({"type": "object", "properties": {"a": {"type": "string"},
            "b": {"type": "array", "items": {"type": "object", "properties": {"c": {"type": "number"}}}}, "d": {"enum": ["x", "yz"]}}})",
                                       llama3());
    };
    const std::vector<int32_t> ids = llama3()->encode(text, false, false);
    auto masks_of = [&](const std::shared_ptr<const Constraint>& c) {
        std::vector<std::vector<uint64_t>> out;
        ConstraintMatcher m(c);
        for (size_t step = 0; step <= ids.size(); ++step) {
            out.emplace_back(m.mask_words());
            m.fill_mask(out.back());
            if (step < ids.size() && !m.advance(ids[step])) return out;
        }
        return out;
    };
    const auto expected = masks_of(make());
    ASSERT_EQ(expected.size(), ids.size() + 1);
    auto shared = make();
    std::vector<std::vector<std::vector<uint64_t>>> got(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t) threads.emplace_back([&, t] { got[t] = masks_of(shared); });
    for (auto& th : threads) th.join();
    for (const auto& g : got) EXPECT_TRUE(g == expected);
}

// A matcher's tables stay bounded: a long bounded repetition makes a new parser state per byte,
// and the matcher rebuilds its DFA from the current state when it grows past its bound, its
// masks still exact after.
TEST(Constrain, MatcherMemoryIsBounded) {
    REQUIRE_LLAMA3();
    auto c = Constraint::regex("[a-z]{0,6000}!", llama3());
    ConstraintMatcher m(c);
    std::vector<uint64_t> mask(m.mask_words());
    size_t peak = 0;
    for (int i = 0; i < 6000; ++i) {
        ASSERT_TRUE(m.advance_bytes(std::string(1, static_cast<char>('a' + i % 26))));
        if (i % 500 == 0 || i > 5990) {
            m.fill_mask(mask);
            for (int32_t id : llama3()->encode("abc! x!! zz", false, false)) ASSERT_EQ(bit(mask, id), m.allows(id)) << i;
        }
        peak = std::max(peak, m.memory_bytes());
    }
    EXPECT_LT(peak, size_t{6} << 20);
    EXPECT_FALSE(m.advance_bytes("a"));
    EXPECT_TRUE(m.advance_bytes("!"));
    EXPECT_TRUE(m.is_complete());
    EXPECT_LT(c->cache_bytes(), size_t{80} << 20);
}

// Random walks: each step picks an allowed token at random (closing tokens favoured so walks
// end). The mask must never be empty before the end; finished walks are valid JSON.
std::vector<std::string> random_walks(const std::shared_ptr<const Constraint>& c, int n, uint64_t seed, size_t max_steps) {
    const Tokenizer& tok = c->tokenizer();
    std::vector<int32_t> ends;
    if (auto eos = tok.eos()) ends.push_back(*eos);
    for (const char* e : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = tok.find_token(e)) ends.push_back(*id);
    std::mt19937_64 rng(seed);
    std::vector<char> closing(static_cast<size_t>(tok.n_vocab()), 0);
    for (int32_t id = 0; id < tok.n_vocab(); ++id) {
        const std::string b = tok.token_bytes(id, true);
        closing[static_cast<size_t>(id)] = b.find_first_of("\"]})'") != std::string::npos || tok.is_special(id);
    }
    std::vector<std::string> out;
    ConstraintMatcher m(c);
    std::vector<uint64_t> mask(m.mask_words());
    for (int w = 0; w < n; ++w) {
        m.reset();
        std::vector<int32_t> ids;
        bool done = false;
        for (size_t step = 0; step < max_steps && !done; ++step) {
            m.fill_mask(mask);
            std::vector<int32_t> allowed, close;
            for (int32_t id = 0; id < tok.n_vocab(); ++id)
                if (bit(mask, id)) {
                    allowed.push_back(id);
                    if (closing[static_cast<size_t>(id)]) close.push_back(id);
                }
            EXPECT_FALSE(allowed.empty()) << "empty mask after " << tok.decode(ids);
            if (allowed.empty()) break;
            if (m.is_complete() && (rng() % 3 == 0 || m.only_end())) {
                done = true;
                break;
            }
            const auto& pool = !close.empty() && rng() % 5 < 2 ? close : allowed;
            int32_t id = pool[rng() % pool.size()];
            if (std::find(ends.begin(), ends.end(), id) != ends.end()) {  // the end: allowed only when complete
                EXPECT_TRUE(m.is_complete());
                done = true;
                break;
            }
            EXPECT_TRUE(m.advance(id));
            ids.push_back(id);
        }
        if (done) out.push_back(tok.decode(ids, true));
    }
    return out;
}

// Validates documents against schemas with python3-jsonschema (formats checked too);
// returns an empty string or the failures.
std::string python_validate(const json& cases) {
    const std::string in = test::temp_path("validate.json");
    std::ofstream(in) << cases.dump();
    const std::string script = test::temp_path("validate.py");
    std::ofstream(script) << R"PY(import json, sys
import jsonschema
cases = json.load(open(sys.argv[1]))
bad = []
for c in cases:
    cls = jsonschema.validators.validator_for(c["schema"])
    v = cls(c["schema"], format_checker=cls.FORMAT_CHECKER)
    for d in c["docs"]:
        try:
            doc = json.loads(d)
        except Exception as e:
            bad.append("not JSON: %r (%s)" % (d, e)); continue
        errs = list(v.iter_errors(doc))
        if errs: bad.append("%r: %s" % (d, errs[0].message))
print("\n".join(bad))
)PY";
    FILE* p = ::popen(("python3 " + script + " " + in + " 2>&1").c_str(), "r");
    if (!p) return "cannot run python3";
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int rc = ::pclose(p);
    if (rc != 0) return "python3 failed: " + out;
    while (!out.empty() && (out.back() == '\n')) out.pop_back();
    return out;
}

bool have_python_jsonschema() { return std::system("python3 -c 'import jsonschema' >/dev/null 2>&1") == 0; }

TEST(Constrain, RandomWalksValidateAgainstTheirSchemas) {
    REQUIRE_LLAMA3();
    if (!have_python_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed (.ci/deps installs it)";
    json cases = json::array();
    size_t finished = 0;
    uint64_t seed = 1;
    for (const Case& c : schema_cases()) {
        SCOPED_TRACE(c.name);
        auto constraint = Constraint::json_schema(c.schema, llama3());
        std::vector<std::string> docs = random_walks(constraint, 4, seed++, 400);
        finished += docs.size();
        for (const std::string& d : docs) EXPECT_TRUE(json::accept(d)) << d;
        cases.push_back({{"schema", json::parse(c.schema)}, {"docs", docs}});
    }
    EXPECT_GT(finished, schema_cases().size() * 2);
    EXPECT_EQ(python_validate(cases), "");
}

TEST(Constrain, JsonObjectGbnfAndRegex) {
    REQUIRE_LLAMA3();
    auto obj = Constraint::json_object(llama3());
    EXPECT_TRUE(accepts(obj, R"({"a": [1, 2, {"b": null}]})"));
    EXPECT_TRUE(accepts(obj, "{}"));
    EXPECT_FALSE(accepts(obj, "[1]"));
    EXPECT_FALSE(accepts(obj, "\"s\""));

    auto g = Constraint::gbnf(R"(# a list of moves
root   ::= move ("," ws move)* "."?
move   ::= piece? [a-h] [1-8] ( "=" [QRBN] )?
piece  ::= [KQRBN]
ws     ::= [ \t]*
)", llama3());
    EXPECT_TRUE(accepts(g, "e4, Nf3, a8=Q."));
    EXPECT_TRUE(accepts(g, "Kb1"));
    EXPECT_FALSE(accepts(g, "e9"));
    EXPECT_FALSE(accepts(g, "e4,"));

    auto arith = Constraint::gbnf("root ::= expr\nexpr ::= term (([-+*/]) term)*\nterm ::= [0-9]+ | \"(\" expr \")\"\n", llama3());
    EXPECT_TRUE(accepts(arith, "(1+2)*34-(5/(6))"));
    EXPECT_FALSE(accepts(arith, "(1+2"));

    auto re = Constraint::regex(R"((\+\d{1,3} )?\(\d{3}\) \d{3}-\d{4}|[a-z]+@[a-z]+\.(com|org))", llama3());
    EXPECT_TRUE(accepts(re, "(555) 123-4567"));
    EXPECT_TRUE(accepts(re, "+33 (555) 123-4567"));
    EXPECT_TRUE(accepts(re, "me@example.org"));
    EXPECT_FALSE(accepts(re, "me@example.net"));
    EXPECT_FALSE(accepts(re, "555-1234"));
    auto unicode = Constraint::regex("[à-ÿ]{2}\\u00e9.", llama3());
    EXPECT_TRUE(accepts(unicode, "àÿé日"));
    EXPECT_FALSE(accepts(unicode, "abé日"));
}

// Walks doc token by token (Llama-3's tokens); at every step the mask holds exactly the tokens
// allows() takes, and the document completes the constraint.
void expect_masks_exact_along(const std::shared_ptr<const Constraint>& c, const std::string& doc) {
    ConstraintMatcher m(c);
    std::vector<uint64_t> mask(m.mask_words());
    const std::vector<int32_t> ids = llama3()->encode(doc, false, false);
    for (size_t step = 0; step <= ids.size(); ++step) {
        m.fill_mask(mask);
        for (int32_t id = 0; id < llama3()->n_vocab(); ++id)
            ASSERT_EQ(bit(mask, id), m.allows(id)) << "token " << id << " at step " << step;
        if (step < ids.size()) {
            ASSERT_TRUE(m.advance(ids[step])) << "step " << step;
        }
    }
    EXPECT_TRUE(m.is_complete());
}

// Objects that allow extra members: their keys are any string but the declared names, and once
// a key leaves every name it is in one rule all such keys share (as is a pattern's tail), where
// the mask cache reuses what walking the vocabulary gave for the objects before. Masks equal the
// token-by-token check at every step, for the third object as for the first; the names stay out.
TEST(Constrain, SharedKeyTailsAreExactInEveryObject) {
    REQUIRE_LLAMA3();
    auto c = Constraint::json_schema(R"({"type": "object", "properties": {
        "a": {"type": "object", "properties": {"name": {"type": "integer"}, "nick": {"type": "boolean"}}},
        "b": {"type": "object", "properties": {"title": {"type": "integer"}}},
        "c": {"type": "object", "properties": {"type": {"type": "null"}}},
        "d": {"type": "object", "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": false}},
        "required": ["a", "b", "c", "d"]})",
                                     llama3());
    const std::string doc = R"({"a": {"name": 1, "nick": true, "names": "n", "nickname": [1]}, "b": {"title": 2, "titles": "t"}, )"
                            R"("c": {"type": null, "typed": {"name": "x"}}, "d": {"x-long-key-here": 3, "x-": 4}})";
    EXPECT_TRUE(accepts(c, doc));
    EXPECT_FALSE(accepts(c, R"({"a": {"name": "one"}, "b": {}, "c": {}, "d": {}})"));  // a declared name is no extra key
    EXPECT_FALSE(accepts(c, R"({"a": {}, "b": {"title": "t"}, "c": {}, "d": {}})"));
    EXPECT_FALSE(accepts(c, R"({"a": {}, "b": {}, "c": {"type": 1}, "d": {}})"));
    EXPECT_FALSE(accepts(c, R"({"a": {}, "b": {}, "c": {}, "d": {"y-key": 1}})"));
    EXPECT_FALSE(accepts(c, R"({"a": {}, "b": {}, "c": {}, "d": {"x-key": "s"}})"));
    expect_masks_exact_along(c, doc);
}

// A class of scattered ranges, many sharing their lead bytes (the grammar factors them into a
// byte trie past 24 UTF-8 sequences): exact at each range's edges, for 2-, 3- and 4-byte characters, and its masks
// agree with the token-by-token check along a document of such characters.
TEST(Constrain, ScatteredUnicodeClassesAreExact) {
    REQUIRE_LLAMA3();
    const std::vector<std::pair<char32_t, char32_t>> base = {
        {0xAA, 0xAA}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0x370, 0x374}, {0x37A, 0x37D}, {0x531, 0x556},
        {0x800, 0x815}, {0x3041, 0x3096}, {0x30A1, 0x30FA}, {0xAC00, 0xD7A3}, {0xFF10, 0xFF19}, {0x1F600, 0x1F64F}};
    auto ranges = base;
    for (char32_t k = 0; k < 40; ++k) ranges.push_back({0x4E00 + 48 * k, 0x4E00 + 48 * k + 9});  // more than the flat form takes
    std::string cls = "[a-z";
    for (auto [lo, hi] : ranges) {
        append_utf8(cls, lo);
        cls += '-';
        append_utf8(cls, hi);
    }
    cls += "]";
    auto c = Constraint::regex(cls + "{1,40}!", llama3());
    auto inside = [&](char32_t cp) {
        if (cp >= 'a' && cp <= 'z') return true;
        for (auto [lo, hi] : ranges)
            if (cp >= lo && cp <= hi) return true;
        return false;
    };
    for (auto [lo, hi] : ranges)
        for (char32_t cp : {char32_t(lo - 1), lo, hi, char32_t(hi + 1)}) {
            std::string text = "x";
            append_utf8(text, cp);
            text += "!";
            EXPECT_EQ(accepts(c, text), inside(cp)) << std::hex << static_cast<uint32_t>(cp);
        }
    expect_masks_exact_along(c, "añÀぁカ가힣😀ͰՖࠀ０ª一丰!");  // each in the class
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
    try {
        f();
        ADD_FAILURE() << "no error (expected one mentioning " << parts[0] << ")";
    } catch (const Error& e) {
        for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
}

TEST(Constrain, ClearErrors) {
    REQUIRE_LLAMA3();
    auto tok = llama3();
    auto schema = [&](const char* s) { return [=] { Constraint::json_schema(s, tok); }; };
    expect_error(schema(R"({"type": "object", "properties": {"a": {"not": {"minimum": 3}}}})"), {"\"not\"", "#/properties/a/not"});
    // a required property no value meets (an optional one is left out: see unsatisfiable_parts)
    expect_error(schema(R"({"type": "object", "properties": {"a": {"not": {}}}, "required": ["a"]})"),
                 {"matches nothing", "#/properties/a/not"});
    expect_error(schema(R"({"type": "string", "enum": [1, null]})"), {"no enum value has the schema's type", "#/enum"});
    expect_error(schema(R"({"type": "integer", "minimum": 1e20})"), {"minimum beyond 1e18", "#/minimum"});
    expect_error(schema(R"({"type": "array", "items": {"allOf": [{"type": "string"}, {"type": "integer"}]}, "minItems": 1})"),
                 {"share no value", "#/items"});
    expect_error(schema(R"({"type": "null", "not": {"type": "null"}})"), {"matches nothing", "#/not"});
    expect_error(schema(R"({"properties": {"a": {"type": "object", "$lfm:not-all": 5}}})"), {"reserved", "#/properties/a/$lfm:not-all"});
    const std::string deep = "{\"enum\": [" + std::string(5000, '[') + std::string(5000, ']') + "]}";
    expect_error(schema(deep.c_str()), {"nested too deeply"});
    expect_error(schema(R"({"type": "object", "patternProperties": {"^x": {}}, "properties": {"a": {}}, "not": {"required": ["a", "b"]}})"),
                 {"not a declared property", "#/not"});
    expect_error(schema(R"({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a", "b"], "not": {"required": ["a", "b"]}})"),
                 {"no object satisfies", "#"});
    expect_error(schema(R"({"patternProperties": {"^a": {"type": "integer"}, "b$": {"type": "string"}}})"),
                 {"same keys", "#/patternProperties/b$"});
    expect_error(schema(R"({"patternProperties": {"(": {}}})"), {"regex", "#/patternProperties/("});
    expect_error(schema(R"({"items": {"if": {}, "then": {}}})"), {"\"if\"", "#/items/if"});
    expect_error(schema(R"({"type": "array", "uniqueItems": true})"), {"uniqueItems"});
    expect_error(schema(R"({"type": "number", "multipleOf": 5})"), {"multipleOf", "#/multipleOf"});
    expect_error(schema(R"({"type": "number", "multipleOf": 0.25, "minimum": 0})"), {"multipleOf", "#/multipleOf"});
    expect_error(schema(R"({"type": "object", "propertyNames": {"format": "email"}})"), {"propertyNames", "#/propertyNames/format"});
    expect_error(schema(R"({"type": "object", "required": ["Foo"], "propertyNames": {"pattern": "^[a-z]+$"}})"), {"\"Foo\" does not meet propertyNames"});
    expect_error(schema(R"({"dependencies": {"a": ["b"]}})"), {"not declared", "#/dependencies/a"});
    expect_error(schema(R"({"properties": {"a": {}}, "dependencies": {"a": {"required": ["b"]}}})"), {"dependentSchemas", "#/dependencies/a"});
    expect_error(schema(R"({"type": "object", "properties": {"x": {}}, "required": ["x"], "maxProperties": 0})"),
                 {"maxProperties", "#"});
    expect_error(schema(R"({"type": "object", "properties": {"a": {}, "b": {}, "c": {}, "d": {}, "e": {}, "f": {}, "g": {},
                           "h": {}, "i": {}}, "minProperties": 2})"), {"minProperties", "more than 8"});
    // a pattern and a length (or a format) that no string satisfies together
    expect_error(schema(R"({"type": "string", "pattern": "^[a-z]{2}$", "minLength": 3})"), {"no string satisfies", "#"});
    expect_error(schema(R"({"type": "object", "properties": {"d": {"type": "string", "format": "date", "pattern": "^x"}}, "required": ["d"]})"),
                 {"no string satisfies", "#/properties/d"});
    // an intersection too large to hold: an error, not an endless compile
    expect_error(schema(R"({"type": "string", "format": "uri", "maxLength": 90000})"), {"automaton states", "#"});
    expect_error(schema(R"({"type": "string", "pattern": "^[a-z]{1,40000}$", "minLength": 10})"), {"automaton states", "#"});
    expect_error(schema(R"({"$ref": "#/$defs/missing"})"), {"$defs/missing"});
    expect_error(schema(R"({"$ref": "https://example.com/s.json"})"), {"local"});
    expect_error(schema(R"({"type": "number", "minimum": 1e-25})"), {"minimum", "fraction digits", "#/minimum"});
    expect_error(schema(R"({"type": "string", "pattern": "(a)\\1"})"), {"backreference", "#/pattern"});
    expect_error(schema(R"({"type": "strin"})"), {"unknown type"});
    expect_error(schema("{not json"), {"not valid JSON"});
    expect_error(schema(R"({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})"), {"never finish"});

    auto gbnf = [&](const char* g) { return [=] { Constraint::gbnf(g, tok); }; };
    expect_error(gbnf("root ::= foo\n"), {"'foo'", "not defined"});
    expect_error(gbnf("start ::= \"a\"\n"), {"root"});
    expect_error(gbnf("root ::= root \"a\" | \"b\"\n"), {"left-recursive"});
    expect_error(gbnf("root ::= \"abc\n"), {"unterminated", "line 1"});
    expect_error(gbnf("root ::= [a-\n"), {"line 1"});
    expect_error(gbnf("root ::= \"a\"\nroot ::= \"b\"\n"), {"defined twice", "line 2"});
    expect_error(gbnf("root ::= (\"a\"\n"), {"')'"});
    expect_error(gbnf("root ::= \"a\" x ::= \"b\"\n"), {"newline"});

    auto regex = [&](const char* r) { return [=] { Constraint::regex(r, tok); }; };
    expect_error(regex("(?=a)b"), {"lookaround"});
    expect_error(regex("(ab"), {"')'"});
    expect_error(regex("a)"), {"unbalanced"});
    expect_error(regex("\\bword"), {"word boundaries"});
    expect_error(regex("[z-a]"), {"out of order"});

    // The Llama-3 vocabulary has no LFM tool-call tokens.
    std::vector<Tool> tools(1);
    tools[0].name = "f";
    expect_error([&] { Constraint::tool_call(tools, "", false, tok); }, {"<|tool_call_start|>"});
    expect_error([&] { Constraint::tool_call(tools, "g", false, tok); }, {"'g'", "not a declared tool"});
    expect_error([&] { Constraint::tool_call({}, "", false, tok); }, {"no tools"});
}

// The expression lowering: UTF-8 ranges split into byte sequences that cover exactly the range.
TEST(Constrain, Utf8RangeSplitting) {
    for (constrain::CodeRange r : std::vector<constrain::CodeRange>{{0, 0x10FFFF}, {0x7F, 0x801}, {0xD000, 0xE100}, {0x10000, 0x10FFFF}}) {
        size_t covered = 0;
        for (const auto& s : constrain::utf8_sequences(r)) {
            size_t n = 1;
            for (auto [lo, hi] : s) n *= static_cast<size_t>(hi - lo + 1);
            covered += n;
        }
        size_t expected = r.hi - r.lo + 1;
        if (r.lo <= 0xDFFF && r.hi >= 0xD800) expected -= std::min<size_t>(r.hi, 0xDFFF) - std::max<size_t>(r.lo, 0xD800) + 1;
        EXPECT_EQ(covered, expected) << std::hex << static_cast<uint32_t>(r.lo) << "-" << static_cast<uint32_t>(r.hi);
    }
}

// The tiny reference model: its vocabulary has <|tool_call_start|> / <|tool_call_end|>.
struct Tiny {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
};
Tiny tiny() {
    Tiny t;
    t.model = Model::load(test::ref_path("tinyB-q8_0.gguf"));
    t.tokenizer = t.model->tokenizer();
    return t;
}
SessionOptions small_session() {
    SessionOptions o;
    o.n_ctx = 1024;
    o.n_threads = 2;
    return o;
}

const char* kTools = R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "maxLength": 12},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14}},
      "required": ["city"]}}},
  {"type": "function", "function": {"name": "set_alarm", "parameters": {"type": "object", "properties": {
        "time": {"type": "string", "format": "time"}, "repeat": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 2},
        "opts": {"type": "object", "properties": {"volume": {"type": "number", "minimum": 0, "maximum": 1}}, "additionalProperties": false}},
      "required": ["time", "repeat"]}}}
])";

TEST(Constrain, ToolCallWalksParseToDeclaredToolsWithValidArguments) {
    LFM_REQUIRE_SHARED();
    if (!have_python_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed";
    Tiny t = tiny();
    std::vector<Tool> tools = Tool::parse_list(kTools);
    std::map<std::string, json> params;
    for (const Tool& tool : tools) params[tool.name] = json::parse(tool.parameters);
    json cases = json::array();
    for (const char* name : {"", "set_alarm"}) {
        auto c = Constraint::tool_call(tools, name, true, t.tokenizer);
        std::vector<std::string> walks = random_walks(c, 12, 7, 600);
        EXPECT_GE(walks.size(), 6u);
        for (const std::string& w : walks) {
            const size_t b = w.find("<|tool_call_start|>"), e = w.find("<|tool_call_end|>");
            ASSERT_TRUE(b != std::string::npos && e != std::string::npos) << w;
            ToolCallParse p = parse_tool_calls(std::string_view(w).substr(b + 19, e - b - 19), tools);
            ASSERT_TRUE(p.ok()) << p.error << "\n" << w;
            ASSERT_FALSE(p.calls.empty());
            if (*name) {
                EXPECT_EQ(p.calls.size(), 1u);
            }
            for (const ToolCall& call : p.calls) {
                if (*name) {
                    EXPECT_EQ(call.name, name);
                }
                cases.push_back({{"schema", params.at(call.name)}, {"docs", {call.arguments}}});
            }
        }
    }
    EXPECT_EQ(python_validate(cases), "");
}

// Parameter schemas as agent clients send them (MCP servers' inputSchema from pydantic or zod:
// $schema, title, default, examples, $defs, anyOf with null, a parameter with no type, a
// dict-like object, a tool without parameters): annotations are accepted, every keyword that
// constrains is enforced, and invalid schemas are errors, not free-form calls.
const char* kAgentTools = R"([
  {"type": "function", "function": {"name": "search", "parameters": {
    "$schema": "http://json-schema.org/draft-07/schema#", "title": "SearchArgs", "type": "object",
    "properties": {
      "query": {"type": "string", "title": "Query", "description": "what to look for", "minLength": 1, "examples": ["cats"]},
      "limit": {"type": "integer", "default": 10, "minimum": 1, "maximum": 50, "title": "Limit"},
      "since": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "default": null},
      "filter": {"description": "anything the server understands"},
      "opts": {"$ref": "#/$defs/Opts"}},
    "required": ["query", "filter"], "additionalProperties": false,
    "$defs": {"Opts": {"type": "object", "title": "Opts", "properties": {"deep": {"type": "boolean", "default": false}},
                       "additionalProperties": false}}}}},
  {"type": "function", "function": {"name": "set_env", "parameters": {"type": "object", "additionalProperties": {"type": "integer"}}}},
  {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
  {"type": "function", "function": {"name": "free", "parameters": {}}}
])";

TEST(Constrain, ToolParametersAsAgentClientsWriteThem) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny();
    std::vector<Tool> tools = Tool::parse_list(kAgentTools);
    auto c = Constraint::tool_call(tools, "", false, t.tokenizer);
    auto call = [](const std::string& s) {
        std::string text = "<|tool_call_start|>[";
        text += s;
        text += "]<|tool_call_end|>";
        return text;
    };
    for (const char* ok : {"search(query='cats', filter={'a': [1, None]})",
                           "search(filter=3, query=\"x\", limit=50, since=None, opts={'deep': True})",
                           "search(query='a', filter='b', since='2024-01-01T00:00:00Z')",
                           R"(search(query='\u00e9t\xe9\U0001F600', filter=1))", "set_env(A=1, b_2=-3)", "set_env()",
                           "ping()", "free(x=[1, 'a'], y={'k': None})", "free()", "ping(), set_env(X=0)"})
        EXPECT_TRUE(accepts(c, call(ok), true)) << ok;
    for (const char* bad : {"set_env(A='s')", "search(query='', filter=1)", "search(filter=1)", "search(query='a')",
                            "search(query='a', filter=1, limit=0)", "search(query='a', filter=1, extra=1)", "ping(x=1)",
                            "search(query='a', filter=1, opts={'deep': 1})", "search(query='a', filter=1, since='yesterday')",
                            R"(search(query='\ud83d', filter=1))"})
        EXPECT_FALSE(accepts(c, call(bad), true)) << bad;

    if (have_python_jsonschema()) {  // whatever the grammar lets through validates
        std::map<std::string, json> params;
        for (const Tool& tool : tools) params[tool.name] = json::parse(tool.parameters);
        json cases = json::array();
        for (const std::string& w : random_walks(c, 16, 3, 600)) {
            const size_t b = w.find("<|tool_call_start|>"), e = w.find("<|tool_call_end|>");
            ASSERT_TRUE(b != std::string::npos && e != std::string::npos) << w;
            ToolCallParse p = parse_tool_calls(std::string_view(w).substr(b + 19, e - b - 19), tools);
            ASSERT_TRUE(p.ok()) << p.error << "\n" << w;
            for (const ToolCall& x : p.calls) cases.push_back({{"schema", params.at(x.name)}, {"docs", {x.arguments}}});
        }
        EXPECT_FALSE(cases.empty());
        EXPECT_EQ(python_validate(cases), "");
    }

    auto with_params = [&](const char* params) {
        return [=] {
            std::vector<Tool> one(1);
            one[0].name = "tool_f";
            one[0].parameters = params;
            Constraint::tool_call(one, "", false, t.tokenizer);
        };
    };
    expect_error(with_params(R"({"type": "frobnicate"})"), {"unknown type \"frobnicate\"", "tool 'tool_f' parameters #/type"});
    expect_error(with_params(R"({"type": "string"})"), {"must be an object"});
    expect_error(with_params(R"({"type": "object", "properties": {"a": {"type": "custom"}}})"), {"unknown type \"custom\"", "#/properties/a/type"});
    expect_error(with_params(R"({"type": "object", "patternProperties": {"^x": {}}})"), {"patternProperties"});
    expect_error(with_params(R"({"type": "object", "not": {"required": ["a"]}})"), {"\"not\"", "parameters #/not"});
    expect_error(with_params(R"({"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]})"), {"anyOf"});
    expect_error(with_params(R"({"type": "object", "required": ["not-an-identifier"]})"), {"not-an-identifier"});
}

TEST(Constrain, GenerationOnATinyModelFollowsTheSchema) {
    LFM_REQUIRE_SHARED();
    if (!have_python_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed";
    Tiny t = tiny();
    const char* schema = R"({"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 10}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3}, "ok": {"type": "boolean"}},
      "required": ["name", "age", "tags", "ok"], "additionalProperties": false})";
    auto c = Constraint::json_schema(schema, t.tokenizer);
    json cases = json::array({{{"schema", json::parse(schema)}, {"docs", json::array()}}});
    const std::vector<int32_t> prompt = t.tokenizer->encode("Give me a JSON person:", true, false);
    for (uint64_t seed : {1, 2, 3, 4}) {
        Session session(t.model, small_session());
        GenerateOptions o;
        o.sampler.seed = seed;
        o.sampler.temperature = seed == 1 ? 0.0f : 1.0f;
        o.max_tokens = 600;
        o.parse_reply = false;
        o.constraint = c;
        GenerateResult r = generate(session, *t.tokenizer, prompt, o);
        EXPECT_EQ(r.stop_reason, StopReason::kEndOfTurn) << r.text;
        cases[0]["docs"].push_back(r.text);
    }
    EXPECT_EQ(python_validate(cases), "");
}

TEST(Constrain, ForcedToolCallOnATinyModel) {
    LFM_REQUIRE_SHARED();
    if (!have_python_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed";
    Tiny t = tiny();
    std::vector<Tool> tools = Tool::parse_list(kTools);
    json cases = json::array();
    for (const char* name : {"", "get_weather"}) {
        Chat::Options co;
        co.session = small_session();
        co.render.date = "2026-01-01";
        Chat chat(t.model, t.tokenizer, co);
        chat.set_tools(tools);
        GenerateOptions o;
        o.sampler.seed = 5;
        o.max_tokens = 400;
        o.constraint = Constraint::tool_call(tools, name, true, t.tokenizer);
        GenerateResult r = chat.send("Weather in Paris?", o);
        EXPECT_EQ(r.stop_reason, StopReason::kEndOfTurn) << r.text;
        ASSERT_FALSE(r.reply.tool_calls.empty()) << r.text;
        for (const ToolCall& call : r.reply.tool_calls) {
            const Tool* tool = nullptr;
            for (const Tool& x : tools)
                if (x.name == call.name) tool = &x;
            ASSERT_NE(tool, nullptr) << call.name;
            if (*name) {
                EXPECT_EQ(call.name, name);
            }
            cases.push_back({{"schema", json::parse(tool->parameters)}, {"docs", {call.arguments}}});
        }
    }
    EXPECT_EQ(python_validate(cases), "");
}

// GenerateOptions::strict_tool_calls (lfm chat/run --strict-tool-calls): the reply is free, but
// each call the model starts on its own, by sampling <|tool_call_start|>, is held to the tools'
// grammar until its <|tool_call_end|>, and the reply goes on freely after it. The tiny model has
// random weights: sampled near-uniformly (temperature 50) it picks the start token now and then
// (1 in 1,536), and writes garbage after it unless held. Every call it starts must parse to a
// declared tool with arguments that validate; the same runs without the flag must not.
TEST(Constrain, StrictToolCallsHoldTheCallsTheModelStarts) {
    LFM_REQUIRE_SHARED();
    if (!have_python_jsonschema()) GTEST_SKIP() << "python3-jsonschema is not installed";
    Tiny t = tiny();
    std::vector<Tool> tools = Tool::parse_list(kTools);
    auto run = [&](uint64_t seed, bool strict) {
        Chat::Options co;
        co.session = small_session();
        co.session.n_ctx = 4096;
        co.render.date = "2026-01-01";
        Chat chat(t.model, t.tokenizer, co);
        chat.set_tools(tools);
        GenerateOptions o;
        o.sampler.seed = seed;
        o.sampler.temperature = 50;
        o.sampler.top_k = 0;
        o.sampler.repetition_penalty = 1;
        o.max_tokens = 2500;
        o.ignore_eos = true;
        o.strict_tool_calls = strict;
        return chat.send("Weather in Paris?", o).text;
    };
    struct Call {
        std::string body;  // between the markers
        bool closed;       // <|tool_call_end|> came (else the reply ended inside the call)
        bool last;         // nothing follows it
    };
    auto calls_in = [](const std::string& text) {
        std::vector<Call> out;
        const std::string start = "<|tool_call_start|>", end = "<|tool_call_end|>";
        for (size_t b = text.find(start); b != std::string::npos; b = text.find(start, b + 1)) {
            const size_t e = text.find(end, b);
            const size_t body = b + start.size();
            out.push_back({text.substr(body, e == std::string::npos ? std::string::npos : e - body), e != std::string::npos,
                           e == std::string::npos || e + end.size() == text.size()});
        }
        return out;
    };
    json cases = json::array();
    size_t held = 0, continued = 0, loose_broken = 0;
    for (uint64_t seed = 1; seed <= 12 && held < 3; ++seed) {
        const std::vector<Call> strict = calls_in(run(seed, true));
        if (strict.empty()) continue;
        for (const Call& c : strict) {
            if (!c.closed) {  // only the reply's end (max_tokens) may cut a call short
                EXPECT_TRUE(c.last);
                continue;
            }
            ToolCallParse p = parse_tool_calls(c.body, tools);
            ASSERT_TRUE(p.ok()) << p.error << "\n" << c.body;
            ASSERT_FALSE(p.calls.empty());
            for (const ToolCall& call : p.calls)
                for (const Tool& tool : tools)
                    if (tool.name == call.name) cases.push_back({{"schema", json::parse(tool.parameters)}, {"docs", {call.arguments}}});
            ++held;
            if (!c.last) ++continued;
        }
        for (const Call& c : calls_in(run(seed, false)))
            if (!c.closed || !parse_tool_calls(c.body, tools).ok()) ++loose_broken;
    }
    std::printf("held calls %zu (%zu with text after them), calls broken without the flag %zu\n", held, continued, loose_broken);
    if (!cases.empty()) std::printf("e.g. %s\n", cases[0]["docs"][0].get<std::string>().c_str());
    EXPECT_GE(held, 2u) << "the tiny model started too few calls: try more seeds";
    EXPECT_GE(continued, 1u) << "no reply went on after a call";
    EXPECT_GE(loose_broken, 1u) << "without the flag, the calls the model starts should be garbage";
    EXPECT_EQ(python_validate(cases), "");

    // generate() takes the constraint itself; it must be one that a call's start token opens
    Session session(t.model, small_session());
    GenerateOptions o;
    o.max_tokens = 4;
    o.tool_call_constraint = Constraint::json_object(t.tokenizer);
    expect_error([&] { generate(session, *t.tokenizer, t.tokenizer->encode("Hi", true, false), o); }, {"<|tool_call_start|>"});
}

// The mask comes before the sampler chain: a full mask changes nothing, and top-k / greedy
// choose among allowed tokens only.
TEST(Constrain, MaskedSamplingComesFirst) {
    std::vector<float> logits(5000);
    std::mt19937 gen(3);
    std::normal_distribution<float> dist(0, 2);
    for (float& x : logits) x = dist(gen);
    std::vector<uint64_t> all((logits.size() + 63) / 64, ~uint64_t{0});
    SamplerConfig c;
    c.temperature = 1.0f;
    c.seed = 11;
    Sampler a(c), b(c);
    std::vector<int32_t> history = {1, 2, 3};
    for (int i = 0; i < 50; ++i) EXPECT_EQ(a.sample(logits, history), b.sample(logits, history, all));
    const auto best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    std::vector<uint64_t> some(all.size(), 0);
    for (int32_t id : {7, 700, 4999}) some[static_cast<size_t>(id) / 64] |= uint64_t{1} << (id % 64);
    c.top_k = 1;
    Sampler k1(c);
    const int32_t pick = k1.sample(logits, {}, some);
    EXPECT_NE(pick, best);
    int32_t want = 7;
    for (int32_t id : {700, 4999})
        if (logits[static_cast<size_t>(id)] > logits[static_cast<size_t>(want)]) want = id;
    EXPECT_EQ(pick, want);
    c.top_k = 80;
    c.min_p = 0.5f;
    Sampler mp(c);
    for (int i = 0; i < 20; ++i) {
        const int32_t x = mp.sample(logits, {}, some);
        EXPECT_TRUE(x == 7 || x == 700 || x == 4999);
    }
}

}  // namespace
}  // namespace lfm
