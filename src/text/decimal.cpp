#include "text/decimal.h"

#include <cmath>
#include <limits>
#include <locale>
#include <sstream>
#include <string>

namespace lfm {

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_decimal(std::string_view s) {
    size_t i = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t digits = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) ++digits;
    if (i < s.size() && s[i] == '.')
        for (++i; i < s.size() && is_digit(s[i]); ++i) ++digits;
    if (digits == 0) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        size_t exponent_digits = 0;
        for (; i < s.size() && is_digit(s[i]); ++i) ++exponent_digits;
        if (exponent_digits == 0) return false;
    }
    return i == s.size();
}

}  // namespace

DecimalParse parse_decimal(std::string_view text, double& value) {
    if (!is_decimal(text)) return DecimalParse::kInvalid;
    // The classic locale's num_get: correctly rounded (both libraries hand it to strtod_l or
    // the like in the "C" locale). The text is known to be a number, so a failure is a range
    // error: libstdc++ flags overflow (and gives the largest double), libc++ flags overflow
    // (giving infinity) and underflow too (giving the rounded value, 0 or subnormal).
    std::istringstream in{std::string(text)};
    in.imbue(std::locale::classic());
    double d = 0;
    in >> d;
    const bool overflow = std::isinf(d) || (in.fail() && std::fabs(d) == std::numeric_limits<double>::max());
    if (overflow) return DecimalParse::kOutOfRange;
    value = d;
    return DecimalParse::kOk;
}

}  // namespace lfm
