#pragma once
// UTF-8 helpers: validation with replacement, code-point encoding, and the length of the
// complete prefix of a byte string (for streaming output that must not split a character).

#include <cstdint>
#include <string>
#include <string_view>

namespace lfm {

// Appends the UTF-8 encoding of code point cp (U+0000..U+10FFFF, not a surrogate).
void append_utf8(std::string& out, char32_t cp);

// Copies s, replacing every invalid or truncated UTF-8 sequence with U+FFFD (one replacement per
// maximal invalid subpart, as the Unicode standard recommends).
std::string sanitize_utf8(std::string_view s);
bool is_valid_utf8(std::string_view s);

// Bytes at the front of s that form complete characters; an incomplete but so far valid
// sequence at the end is held back. Invalid bytes count as complete (they are not waiting).
size_t utf8_complete_prefix(std::string_view s);

}  // namespace lfm
