// JSON numbers, and numbers within bounds. A bound becomes digits the grammar can check one at a
// time: [13, 247] is 1[3-9] | [2-9][0-9] | 1[0-9][0-9] | 2[0-3][0-9] | 24[0-7]. Non-integer bounds
// on numbers are refused (the caller says so); numbers under bounds carry no exponent.

#include "constrain/numbers.h"

#include <string>

namespace lfm::constrain {
namespace {

ExprPtr digit_range(char lo, char hi) {
    ByteSet s;
    s.add(static_cast<unsigned char>(lo), static_cast<unsigned char>(hi));
    return byte_set(s);
}

ExprPtr digits(uint32_t min, uint32_t max) { return repeat(digit_range('0', '9'), min, max); }

// Decimal strings of the same length n, lo <= x <= hi (leading zeros allowed inside).
ExprPtr same_length(const std::string& lo, const std::string& hi) {
    if (lo.empty()) return empty();
    if (lo[0] == hi[0]) return seq({digit_range(lo[0], lo[0]), same_length(lo.substr(1), hi.substr(1))});
    const std::string rest_lo = lo.substr(1), rest_hi = hi.substr(1);
    const bool lo_zeros = rest_lo.find_first_not_of('0') == std::string::npos;
    const bool hi_nines = rest_hi.find_first_not_of('9') == std::string::npos;
    const auto n = static_cast<uint32_t>(rest_lo.size());
    std::vector<ExprPtr> alts;
    char mid_lo = static_cast<char>(lo[0] + 1), mid_hi = static_cast<char>(hi[0] - 1);
    if (lo_zeros) mid_lo = lo[0];
    else alts.push_back(seq({digit_range(lo[0], lo[0]), same_length(rest_lo, std::string(n, '9'))}));
    if (hi_nines) mid_hi = hi[0];
    if (mid_lo <= mid_hi) alts.push_back(seq({digit_range(mid_lo, mid_hi), digits(n, n)}));
    if (!hi_nines) alts.push_back(seq({digit_range(hi[0], hi[0]), same_length(std::string(n, '0'), rest_hi)}));
    return alt(std::move(alts));
}

// Canonical non-negative integers (no leading zeros) in [lo, hi]; hi empty: no upper bound
// (up to kMaxDigits digits).
ExprPtr nonneg(uint64_t lo, std::optional<uint64_t> hi) {
    const std::string slo = std::to_string(lo);
    const size_t len_lo = slo.size();
    const size_t len_hi = hi ? std::to_string(*hi).size() : kMaxIntDigits;
    std::vector<ExprPtr> alts;
    for (size_t len = len_lo; len <= len_hi; ++len) {
        std::string a = slo;
        if (len != len_lo) {
            a.assign(len, '0');
            a[0] = '1';
        }
        std::string b = hi && len == len_hi ? std::to_string(*hi) : std::string(len, '9');
        if (len == 1 && len != len_lo) a.assign(1, '0');
        if (a.size() != len || b.size() != len || a > b) continue;
        alts.push_back(same_length(a, b));
    }
    if (alts.empty()) return chars({});  // nothing: the caller checks for empty ranges first
    return alt(std::move(alts));
}

ExprPtr int_digits_any() {  // 0 | [1-9][0-9]*
    return alt({lit("0"), seq({digit_range('1', '9'), digits(0, kMaxIntDigits - 1)})});
}

ExprPtr fraction_any() { return opt(seq({lit("."), digits(1, kMaxFracDigits)})); }
ExprPtr fraction_zero() { return opt(seq({lit("."), repeat(lit("0"), 1, kMaxFracDigits)})); }
ExprPtr fraction_nonzero() {
    return seq({lit("."), digits(0, kMaxFracDigits - 1), digit_range('1', '9'), digits(0, kMaxFracDigits - 1)});
}

struct Bound {
    bool present = false;
    int64_t value = 0;
    bool exclusive = false;
};

// Magnitudes m (int part I, then a fraction) with lo <= m <= hi (or < when exclusive);
// lo >= 0. integer: no fraction at all.
void magnitude_pieces(Bound lo, Bound hi, bool integer, std::vector<ExprPtr>& out) {
    const int64_t mlo = lo.value;
    if (integer) {
        int64_t a = lo.exclusive ? mlo + 1 : mlo;
        std::optional<uint64_t> b;
        if (hi.present) {
            int64_t h = hi.exclusive ? hi.value - 1 : hi.value;
            if (h < a) return;
            b = static_cast<uint64_t>(h);
        }
        out.push_back(nonneg(static_cast<uint64_t>(a), b));
        return;
    }
    // I in [a, b] with any fraction
    const int64_t a = lo.exclusive ? mlo + 1 : mlo;
    if (!hi.present) {
        out.push_back(seq({nonneg(static_cast<uint64_t>(a), std::nullopt), fraction_any()}));
    } else if (hi.value - 1 >= a) {
        out.push_back(seq({nonneg(static_cast<uint64_t>(a), static_cast<uint64_t>(hi.value - 1)), fraction_any()}));
    }
    // exclusive lower bound: mlo itself with a nonzero fraction
    if (lo.exclusive && (!hi.present || hi.value > mlo)) out.push_back(seq({nonneg(static_cast<uint64_t>(mlo), static_cast<uint64_t>(mlo)), fraction_nonzero()}));
    // inclusive upper bound: hi itself, exactly
    if (hi.present && !hi.exclusive && (hi.value > mlo || (hi.value == mlo && !lo.exclusive)))
        out.push_back(seq({nonneg(static_cast<uint64_t>(hi.value), static_cast<uint64_t>(hi.value)), fraction_zero()}));
}

}  // namespace

ExprPtr json_number(bool integer) {
    ExprPtr exp = opt(seq({chars({{'e', 'e'}, {'E', 'E'}}), opt(chars({{'+', '+'}, {'-', '-'}})), digits(1, kMaxExpDigits)}));
    if (integer) return seq({opt(lit("-")), int_digits_any()});
    return seq({opt(lit("-")), int_digits_any(), fraction_any(), exp});
}

ExprPtr bounded_number(std::optional<int64_t> lo, bool lo_exclusive, std::optional<int64_t> hi, bool hi_exclusive,
                       bool integer) {
    std::vector<ExprPtr> out;
    // v >= 0: magnitudes in [max(lo, 0), hi]
    if (!hi || *hi > 0 || (*hi == 0 && !hi_exclusive)) {
        Bound l{true, 0, false}, h;
        if (lo && *lo >= 0) l = {true, *lo, lo_exclusive};
        if (hi) h = {true, *hi, hi_exclusive};
        magnitude_pieces(l, h, integer, out);
    }
    // v < 0 (written -m): magnitudes in [max(-hi, 0), -lo]
    if (!lo || *lo < 0) {
        Bound l{true, 0, false}, h;
        if (hi && (*hi < 0 || (*hi == 0 && hi_exclusive))) l = {true, -*hi, hi_exclusive};
        else if (integer) l = {true, 1, false};  // no "-0"
        if (lo) h = {true, -*lo, lo_exclusive};
        std::vector<ExprPtr> neg;
        magnitude_pieces(l, h, integer, neg);
        for (ExprPtr& e : neg) out.push_back(seq({lit("-"), e}));
    }
    if (out.empty()) return nullptr;
    return alt(std::move(out));
}

}  // namespace lfm::constrain
