#pragma once
// Number grammars for JSON values (and the Python literals of tool calls, which share them).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "constrain/grammar.h"

namespace lfm::constrain {

// Digit limits keep a generation from writing digits forever; values beyond them (more than
// 19 integer digits, 20 fraction digits) are rejected.
inline constexpr uint32_t kMaxIntDigits = 19;
inline constexpr uint32_t kMaxFracDigits = 20;
inline constexpr uint32_t kMaxExpDigits = 3;

// A bound as decimal digits: |value| = int_part.frac (frac without trailing zeros).
struct Decimal {
    bool negative = false;
    uint64_t int_part = 0;
    std::string frac;
};
// The decimal digits of a JSON number's text ("-12.5", "1e-06"); nullopt past 1e18 or for a
// fraction of more than kMaxFracDigits digits.
std::optional<Decimal> parse_decimal(std::string_view text);
bool less(const Decimal& a, const Decimal& b);  // a < b as numbers

// Any JSON number (integer: no fraction or exponent); frac_digits: a multipleOf 10^-frac_digits,
// the fraction digits past it zeros.
ExprPtr json_number(bool integer, uint32_t frac_digits = kMaxFracDigits);
// Numbers within bounds (each optional, inclusive or exclusive; an integer's bounds must be
// whole); no exponent. nullptr when no number satisfies the bounds. |bounds| must stay below 1e18.
ExprPtr bounded_number(const std::optional<Decimal>& lo, bool lo_exclusive, const std::optional<Decimal>& hi, bool hi_exclusive,
                       bool integer, uint32_t frac_digits = kMaxFracDigits);

}  // namespace lfm::constrain
