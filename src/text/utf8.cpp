#include "utf8.h"

namespace lfm {

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

namespace {

// The sequence starting at s[i]: `need` bytes announced by the lead byte (0 for a byte that
// cannot start a character) and `ok` bytes that are valid so far (ok == need: complete).
struct Sequence {
    size_t need, ok;
};

Sequence examine(std::string_view s, size_t i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) return {1, 1};
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
        if (b0 == 0xED) hi = 0x9F;  // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        return {0, 0};
    }
    size_t k = 1;
    for (; k < need && i + k < s.size(); ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) break;
    }
    return {need, k};
}

}  // namespace

std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const Sequence q = examine(s, i);
        if (q.need != 0 && q.ok == q.need) {
            out.append(s.substr(i, q.need));
            i += q.need;
        } else {
            out += "\xEF\xBF\xBD";  // U+FFFD for the maximal invalid subpart
            i += q.ok > 0 ? q.ok : 1;
        }
    }
    return out;
}

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const Sequence q = examine(s, i);
        if (q.need == 0 || q.ok != q.need) return false;
        i += q.need;
    }
    return true;
}

size_t utf8_complete_prefix(std::string_view s) {
    // Only the last 3 bytes can begin an unfinished character.
    for (size_t i = s.size() > 3 ? s.size() - 3 : 0; i < s.size(); ++i) {
        const Sequence q = examine(s, i);
        if (q.need > 1 && q.ok < q.need && i + q.ok == s.size()) return i;
    }
    return s.size();
}

}  // namespace lfm
