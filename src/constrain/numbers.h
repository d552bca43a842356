#pragma once
// Number grammars for JSON values (and the Python literals of tool calls, which share them).

#include <cstdint>
#include <optional>

#include "constrain/grammar.h"

namespace lfm::constrain {

// Digit limits keep a generation from writing digits forever; values beyond them (more than
// 19 integer digits, 20 fraction digits) are rejected.
inline constexpr uint32_t kMaxIntDigits = 19;
inline constexpr uint32_t kMaxFracDigits = 20;
inline constexpr uint32_t kMaxExpDigits = 3;

ExprPtr json_number(bool integer);
// Numbers within integer bounds (each optional, inclusive or exclusive); no exponent. nullptr
// when no number satisfies the bounds. |bounds| must stay below 1e18.
ExprPtr bounded_number(std::optional<int64_t> lo, bool lo_exclusive, std::optional<int64_t> hi, bool hi_exclusive,
                       bool integer);

}  // namespace lfm::constrain
