#pragma once
// Reading request fields with errors that name them (ApiError 400 with the field as param).

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "api_error.h"
#include "openai.h"

namespace lfm::serve::fields {

[[noreturn]] inline void bad(const std::string& param, const std::string& message) { throw ApiError(400, message, param); }

// Nesting depth of a JSON text, counted outside strings: checked before parsing, so a body of a
// million '[' is refused without recursing a million deep.
inline size_t json_depth(const std::string& s) {
    size_t depth = 0, max_depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            max_depth = std::max(max_depth, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return max_depth;
}

inline const json* field(const json& body, const char* key) {
    auto it = body.find(key);
    return it == body.end() || it->is_null() ? nullptr : &*it;
}

inline double number(const json& body, const char* key, double lo, double hi, double fallback) {
    const json* v = field(body, key);
    if (v == nullptr) return fallback;
    if (!v->is_number()) bad(key, fmt::format("'{}' must be a number", key));
    const double x = v->get<double>();
    if (!(x >= lo && x <= hi)) bad(key, fmt::format("'{}' must be between {} and {}, not {}", key, lo, hi, x));
    return x;
}

inline int64_t integer(const json& body, const char* key, int64_t lo, int64_t hi, int64_t fallback) {
    const json* v = field(body, key);
    if (v == nullptr) return fallback;
    if (!v->is_number_integer()) bad(key, fmt::format("'{}' must be an integer", key));
    const auto x = v->get<int64_t>();
    if (x < lo || x > hi) bad(key, fmt::format("'{}' must be between {} and {}, not {}", key, lo, hi, x));
    return x;
}

inline bool boolean(const json& body, const char* key, bool fallback) {
    const json* v = field(body, key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) bad(key, fmt::format("'{}' must be true or false", key));
    return v->get<bool>();
}

}  // namespace lfm::serve::fields
