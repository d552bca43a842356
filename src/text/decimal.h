#pragma once
// Decimal numbers to double, the same under every C locale and standard library: std::stod and
// strtod read the decimal point of the C locale a program may have set (a German locale stops
// "1.5" at the '.'), and the floating-point std::from_chars is missing from libc++ before LLVM
// 20 (so from Apple's toolchains too).

#include <string_view>

namespace lfm {

enum class DecimalParse { kOk, kInvalid, kOutOfRange };

// text must be, whole: [+-] digits [. digits] [e|E [+-] digits], with at least one digit before
// or after the point ("1.", ".5" and "1e3" are numbers; "inf", "0x1p3", " 1" and "1_0" are not).
// value: the nearest double; a magnitude below the smallest gives 0 or a subnormal, as in
// Python; above the largest, kOutOfRange.
DecimalParse parse_decimal(std::string_view text, double& value);

}  // namespace lfm
