// JSON numbers, and numbers within bounds. A bound becomes digits the grammar can check one at a
// time: [13, 247] is 1[3-9] | [2-9][0-9] | 1[0-9][0-9] | 2[0-3][0-9] | 24[0-7]; a bound's fraction
// the same way, digit by digit after the point (0.25 <= x: x's first digit above 2, or 2 and the
// next at least 5, ...). Numbers under bounds or a multipleOf 10^-k carry no exponent.

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

// Fraction digits from position p on (0: the first after the point), positions from
// frac_digits on zeros only (a multipleOf 10^-frac_digits), at most kMaxFracDigits in all.
ExprPtr free_fraction_digits(uint32_t p, uint32_t frac_digits) {
    const uint32_t sig = frac_digits > p ? frac_digits - p : 0;
    const uint32_t total = kMaxFracDigits > p ? kMaxFracDigits - p : 0;
    return seq({digits(0, std::min(sig, total)), repeat(lit("0"), 0, total - std::min(sig, total))});
}

// The fraction digits D (from position p on, possibly none) with lo <= 0.(...)D <= hi, where lo
// and hi are the bounds' remaining digits while every digit so far equalled theirs (nullptr:
// that bound was passed, so it no longer constrains); inclusive or not.
struct FractionBounds {
    const std::string* lo;
    bool lo_inclusive;
    const std::string* hi;
    bool hi_inclusive;
    uint32_t frac_digits;
};

// Whether no more digits (the rest zeros) meets the bounds.
bool ends_within(const FractionBounds& b) {
    const bool lo_ok = !b.lo || (b.lo->empty() && b.lo_inclusive);  // a bound's digits end in a nonzero one
    const bool hi_ok = !b.hi || !b.hi->empty() || b.hi_inclusive;
    return lo_ok && hi_ok;
}

ExprPtr bounded_fraction_digits(uint32_t p, FractionBounds b, bool allow_end) {
    if (b.lo && b.lo->empty() && b.lo_inclusive) b.lo = nullptr;  // met whatever follows
    if (!b.lo && !b.hi) return allow_end ? free_fraction_digits(p, b.frac_digits)
                                         : (p < kMaxFracDigits ? seq({p < b.frac_digits ? digits(1, 1) : lit("0"),
                                                                      free_fraction_digits(p + 1, b.frac_digits)})
                                                               : nothing("no fraction digit left"));
    std::vector<ExprPtr> alts;
    if (allow_end && ends_within(b)) alts.push_back(empty());
    if (p < kMaxFracDigits) {
        const char top = p < b.frac_digits ? '9' : '0';
        const char l0 = b.lo ? (b.lo->empty() ? '0' : (*b.lo)[0]) : '0';
        const char h0 = b.hi ? (b.hi->empty() ? '0' : (*b.hi)[0]) : '9';
        const std::string lo_rest = b.lo && !b.lo->empty() ? b.lo->substr(1) : std::string();
        const std::string hi_rest = b.hi && !b.hi->empty() ? b.hi->substr(1) : std::string();
        // digits strictly between the bounds' digits: the rest is free
        const char free_lo = b.lo ? static_cast<char>(l0 + 1) : '0', free_hi = b.hi ? static_cast<char>(h0 - 1) : top;
        if (free_lo <= std::min(free_hi, top))
            alts.push_back(seq({digit_range(free_lo, std::min(free_hi, top)), free_fraction_digits(p + 1, b.frac_digits)}));
        // a bound's own digit: that bound stays tight
        if (b.lo && l0 <= top && (!b.hi || l0 <= h0)) {
            FractionBounds next{&lo_rest, b.lo_inclusive, b.hi && l0 == h0 ? &hi_rest : nullptr, b.hi_inclusive, b.frac_digits};
            alts.push_back(seq({digit_range(l0, l0), bounded_fraction_digits(p + 1, next, true)}));
        }
        if (b.hi && h0 <= top && (!b.lo || h0 > l0)) {
            FractionBounds next{nullptr, b.lo_inclusive, &hi_rest, b.hi_inclusive, b.frac_digits};
            alts.push_back(seq({digit_range(h0, h0), bounded_fraction_digits(p + 1, next, true)}));
        }
    }
    if (alts.empty()) return nothing("no fraction within the bounds");
    return alt(std::move(alts));
}

// The fraction's text: none, or a point and digits; bounds as in bounded_fraction_digits.
ExprPtr fraction(const FractionBounds& b) {
    ExprPtr digits_after_point = seq({lit("."), bounded_fraction_digits(0, b, false)});
    return ends_within(b) ? alt({empty(), digits_after_point}) : digits_after_point;
}

struct Bound {
    bool present = false;
    uint64_t int_part = 0;
    std::string frac;
    bool exclusive = false;
};

// Magnitudes m (int part I, then a fraction) with lo <= m <= hi (or < when exclusive), lo
// present. integer: no fraction at all (the bounds are whole).
void magnitude_pieces(const Bound& lo, const Bound& hi, bool integer, uint32_t frac_digits, std::vector<ExprPtr>& out) {
    const uint64_t a = lo.int_part;
    if (integer) {
        uint64_t first = lo.exclusive ? a + 1 : a;
        std::optional<uint64_t> last;
        if (hi.present) {
            if (hi.exclusive && hi.int_part == 0) return;
            const uint64_t h = hi.exclusive ? hi.int_part - 1 : hi.int_part;
            if (h < first) return;
            last = h;
        }
        out.push_back(nonneg(first, last));
        return;
    }
    if (hi.present && (hi.int_part < a || (hi.int_part == a && hi.frac < lo.frac))) return;
    const FractionBounds free{nullptr, true, nullptr, true, frac_digits};
    // I strictly between the bounds' int parts: any fraction
    if (!hi.present) out.push_back(seq({nonneg(a + 1, std::nullopt), fraction(free)}));
    else if (hi.int_part >= a + 2) out.push_back(seq({nonneg(a + 1, hi.int_part - 1), fraction(free)}));
    // I at a bound's int part: the fraction within that bound (both when they share it)
    const bool shared = hi.present && hi.int_part == a;
    out.push_back(seq({nonneg(a, a), fraction({&lo.frac, !lo.exclusive, shared ? &hi.frac : nullptr, !hi.exclusive, frac_digits})}));
    if (hi.present && !shared)
        out.push_back(seq({nonneg(hi.int_part, hi.int_part), fraction({nullptr, true, &hi.frac, !hi.exclusive, frac_digits})}));
}

bool is_zero(const Decimal& d) { return d.int_part == 0 && d.frac.empty(); }

}  // namespace

std::optional<Decimal> parse_decimal(std::string_view text) {
    Decimal d;
    size_t i = 0;
    if (i < text.size() && text[i] == '-') d.negative = true, ++i;
    std::string digits_all;  // every mantissa digit, the point at point_at
    size_t point_at = std::string::npos;
    for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
        if (text[i] == '.') point_at = digits_all.size();
        else if (text[i] >= '0' && text[i] <= '9') digits_all += text[i];
        else return std::nullopt;
    }
    if (digits_all.empty()) return std::nullopt;
    long exp = 0;
    if (i < text.size()) {
        const std::string e(text.substr(i + 1));
        if (e.empty() || e.size() > 6) return std::nullopt;
        exp = std::stol(e);
    }
    long int_len = static_cast<long>(point_at == std::string::npos ? digits_all.size() : point_at) + exp;
    if (int_len > 18) return std::nullopt;
    if (int_len < 0) {
        digits_all.insert(0, static_cast<size_t>(-int_len), '0');
        int_len = 0;
    }
    if (static_cast<size_t>(int_len) > digits_all.size()) digits_all.append(static_cast<size_t>(int_len) - digits_all.size(), '0');
    const std::string ip = digits_all.substr(0, static_cast<size_t>(int_len));
    d.frac = digits_all.substr(static_cast<size_t>(int_len));
    while (!d.frac.empty() && d.frac.back() == '0') d.frac.pop_back();
    if (d.frac.size() > kMaxFracDigits) return std::nullopt;
    d.int_part = ip.empty() ? 0 : std::stoull(ip);
    if (is_zero(d)) d.negative = false;
    return d;
}

bool less(const Decimal& a, const Decimal& b) {
    if (a.negative != b.negative) return a.negative;
    const bool magnitude_less = a.int_part != b.int_part ? a.int_part < b.int_part : a.frac < b.frac;  // frac: no trailing zeros
    const bool magnitude_equal = a.int_part == b.int_part && a.frac == b.frac;
    return a.negative ? !magnitude_less && !magnitude_equal : magnitude_less;
}

ExprPtr json_number(bool integer, uint32_t frac_digits) {
    ExprPtr exp = opt(seq({chars({{'e', 'e'}, {'E', 'E'}}), opt(chars({{'+', '+'}, {'-', '-'}})), digits(1, kMaxExpDigits)}));
    if (integer) return seq({opt(lit("-")), int_digits_any()});
    // a multipleOf 10^-k: no exponent (which could shift digits past the k-th)
    if (frac_digits < kMaxFracDigits) return seq({opt(lit("-")), int_digits_any(), fraction({nullptr, true, nullptr, true, frac_digits})});
    return seq({opt(lit("-")), int_digits_any(), fraction_any(), exp});
}

ExprPtr bounded_number(const std::optional<Decimal>& lo, bool lo_exclusive, const std::optional<Decimal>& hi, bool hi_exclusive,
                       bool integer, uint32_t frac_digits) {
    std::vector<ExprPtr> out;
    const bool lo_negative = lo && lo->negative, hi_negative = hi && hi->negative;
    // v >= 0: magnitudes in [max(lo, 0), hi]
    if (!hi || (!hi_negative && (!is_zero(*hi) || !hi_exclusive))) {
        Bound l{true, 0, "", false}, h;
        if (lo && !lo_negative) l = {true, lo->int_part, lo->frac, lo_exclusive};
        if (hi) h = {true, hi->int_part, hi->frac, hi_exclusive};
        magnitude_pieces(l, h, integer, frac_digits, out);
    }
    // v < 0 (written -m): magnitudes in [max(-hi, 0), -lo]
    if (!lo || lo_negative) {
        Bound l{true, 0, "", false}, h;
        if (hi && (hi_negative || (is_zero(*hi) && hi_exclusive))) l = {true, hi->int_part, hi->frac, hi_exclusive};
        else if (integer) l = {true, 1, "", false};  // no "-0"
        if (lo) h = {true, lo->int_part, lo->frac, lo_exclusive};
        std::vector<ExprPtr> neg;
        magnitude_pieces(l, h, integer, frac_digits, neg);
        for (ExprPtr& e : neg) out.push_back(seq({lit("-"), e}));
    }
    std::erase_if(out, is_nothing);
    if (out.empty()) return nullptr;
    return alt(std::move(out));
}

}  // namespace lfm::constrain
