// Byte-level BPE encoding and decoding (tokenizer-and-chat.md §1.3, §1.4).

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <queue>

#include "tokenizer_impl.h"
#include "utf8.h"

namespace lfm {

// ---- byte mapping -----------------------------------------------------------------------------

namespace {
struct ByteMap {
    std::array<char32_t, 256> to_char{};
    std::array<int16_t, 512> to_byte{};  // every image code point is below U+0200
    ByteMap() {
        to_byte.fill(-1);
        char32_t next = 0x100;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            to_char[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
            to_byte[to_char[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
        }
    }
};
const ByteMap& byte_map() {
    static const ByteMap m;
    return m;
}

// The byte-mapped form of raw bytes: each byte becomes one character.
std::string map_bytes(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) append_utf8(out, byte_map().to_char[b]);
    return out;
}

// Raw bytes of a byte-mapped string; characters outside the mapping are kept as UTF-8.
std::string unmap_chars(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        size_t n = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
        n = std::min(n, s.size() - i);
        char32_t cp = n == 1 ? b0 : (b0 & (0xFF >> (n + 1)));
        for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        const int b = cp < 512 ? byte_map().to_byte[cp] : -1;
        if (b >= 0) out += static_cast<char>(b);
        else out.append(s.substr(i, n));
        i += n;
    }
    return out;
}
}  // namespace

char32_t byte_to_char(uint8_t b) { return byte_map().to_char[b]; }
int char_to_byte(char32_t c) { return c < 512 ? byte_map().to_byte[c] : -1; }

// ---- building ---------------------------------------------------------------------------------

void TokenIndex::build(const std::vector<std::string>& tokens) {
    size_t cap = 16;
    while (cap < tokens.size() * 3 / 2) cap *= 2;  // at most 2/3 full
    slots_.assign(cap, 0);
    mask_ = cap - 1;
    for (size_t id = 0; id < tokens.size(); ++id) {
        const uint64_t h = std::hash<std::string_view>{}(tokens[id]);
        const uint64_t tag = h >> 32 << 32;
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            if (slots_[i] == 0) {
                slots_[i] = tag | (id + 1);
                break;
            }
            if ((slots_[i] >> 32 << 32) == tag && tokens[(slots_[i] & 0xFFFFFFFFu) - 1] == tokens[id]) break;  // first wins
        }
    }
}

std::optional<int32_t> TokenIndex::find(std::string_view text, const std::vector<std::string>& tokens) const {
    if (slots_.empty()) return std::nullopt;
    const uint64_t h = std::hash<std::string_view>{}(text);
    const uint64_t tag = h >> 32 << 32;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        const uint64_t s = slots_[i];
        if (s == 0) return std::nullopt;
        const size_t id = (s & 0xFFFFFFFFu) - 1;
        if ((s >> 32 << 32) == tag && tokens[id] == text) return static_cast<int32_t>(id);
    }
}

void MergeTable::reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 3 / 2) cap *= 2;  // at most 2/3 full: 512K slots (8 MiB) for LFM2.5's 293,320
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    size_ = 0;
}

void MergeTable::insert(uint64_t key, Merge m) {
    if ((size_ + 1) * 3 > slots_.size() * 2) {  // grow: keep at most 2/3 full
        std::vector<Slot> old = std::move(slots_);
        reserve(std::max<size_t>(16, old.size()));
        for (const Slot& s : old)
            if (s.key != kEmpty) insert(s.key, s.merge);
    }
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
        if (slots_[i].key == key) return;  // first (best) rank wins
        if (slots_[i].key == kEmpty) {
            slots_[i] = {key, m};
            ++size_;
            return;
        }
    }
}

void Tokenizer::Impl::build(const std::vector<std::pair<std::string_view, std::string_view>>& merge_pairs) {
    if (tokens.empty()) throw Error(ErrorCode::kInvalidFile, source + ": the tokenizer has an empty vocabulary");
    types.resize(tokens.size(), TokenType::kNormal);
    ids.build(tokens);
    for (int b = 0; b < 256; ++b) {
        std::string c;
        append_utf8(c, byte_to_char(static_cast<uint8_t>(b)));
        const auto id = id_of(c);
        if (!id)
            throw Error(ErrorCode::kInvalidFile, fmt::format("{}: byte-level vocabulary lacks the token for byte 0x{:02X}", source, b));
        byte_token[static_cast<size_t>(b)] = *id;
    }
    merges.reserve(merge_pairs.size());
    std::string joined;
    for (size_t rank = 0; rank < merge_pairs.size(); ++rank) {
        const auto& [a, b] = merge_pairs[rank];
        joined.assign(a);
        joined += b;
        const auto ia = id_of(a), ib = id_of(b), ir = id_of(joined);
        if (!ia || !ib || !ir) continue;  // unreachable merge
        merges.insert(MergeTable::key(*ia, *ib), {static_cast<int32_t>(rank), *ir});
    }
    for (size_t i = 0; i < tokens.size(); ++i) {
        if ((types[i] == TokenType::kControl || types[i] == TokenType::kUserDefined) && !tokens[i].empty()) {
            specials.push_back(static_cast<int32_t>(i));
            special_first_byte[static_cast<unsigned char>(tokens[i][0])] = true;
        }
    }
    std::stable_sort(specials.begin(), specials.end(),
                     [&](int32_t x, int32_t y) { return tokens[static_cast<size_t>(x)].size() > tokens[static_cast<size_t>(y)].size(); });
}

// ---- encoding ---------------------------------------------------------------------------------

// BPE over one pre-token piece (raw bytes): start from one token per byte, then repeatedly merge
// the adjacent pair of lowest rank, leftmost first, until no pair has a merge.
int32_t Tokenizer::Impl::bpe(std::string_view piece, std::vector<int32_t>& out) const {
    if (ignore_merges) {
        if (const auto id = id_of(map_bytes(piece))) {
            out.push_back(*id);
            return 1;
        }
    }
    const size_t n = piece.size();
    if (n == 1) {
        out.push_back(byte_token[static_cast<unsigned char>(piece[0])]);
        return 1;
    }
    struct Symbol {
        int32_t id;
        int32_t prev, next;  // linked list over positions; -1 at the ends
    };
    std::vector<Symbol> sym(n);
    for (size_t i = 0; i < n; ++i)
        sym[i] = {byte_token[static_cast<unsigned char>(piece[i])], static_cast<int32_t>(i) - 1,
                  i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
    struct Candidate {
        int32_t rank, left, right, left_id, right_id;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto consider = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0) return;
        const uint64_t key = MergeTable::key(sym[static_cast<size_t>(left)].id, sym[static_cast<size_t>(right)].id);
        if (const MergeTable::Merge* m = merges.find(key))
            queue.push({m->rank, left, right, sym[static_cast<size_t>(left)].id, sym[static_cast<size_t>(right)].id});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(n); ++i) consider(i, i + 1);
    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol& l = sym[static_cast<size_t>(c.left)];
        // stale: one side was merged away or changed since this candidate was queued
        if (l.id != c.left_id || l.next != c.right || sym[static_cast<size_t>(c.right)].id != c.right_id) continue;
        Symbol& r = sym[static_cast<size_t>(c.right)];
        l.id = merges.find(MergeTable::key(c.left_id, c.right_id))->result;
        l.next = r.next;
        if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = c.left;
        r.id = -1;  // removed
        consider(l.prev, c.left);
        consider(c.left, l.next);
    }
    int32_t count = 0;
    for (int32_t i = 0; i >= 0; i = sym[static_cast<size_t>(i)].next, ++count) out.push_back(sym[static_cast<size_t>(i)].id);
    return count;
}

std::vector<int32_t> Tokenizer::encode(std::string_view raw, bool add_bos_token, bool parse_special) const {
    const Impl& t = *impl_;
    std::vector<int32_t> out;
    if (add_bos_token) {
        if (!t.bos) throw Error(ErrorCode::kInvalidArgument, t.source + ": this tokenizer has no BOS token to add");
        out.push_back(*t.bos);
    }
    const std::string text = is_valid_utf8(raw) ? std::string(raw) : sanitize_utf8(raw);
    std::vector<std::string_view> pieces;
    auto encode_plain = [&](std::string_view segment) {
        pieces.clear();
        t.pretokenizer->split(segment, pieces);
        for (std::string_view p : pieces) t.bpe(p, out);
    };
    if (!parse_special || t.specials.empty()) {
        encode_plain(text);
        return out;
    }
    // Split on special-token text: leftmost occurrence; at one position the longest token wins
    // (specials are sorted longest first).
    size_t start = 0, pos = 0;
    while (pos < text.size()) {
        if (!t.special_first_byte[static_cast<unsigned char>(text[pos])]) {  // most bytes start none
            ++pos;
            continue;
        }
        int32_t hit = -1;
        for (int32_t id : t.specials) {
            const std::string& s = t.tokens[static_cast<size_t>(id)];
            if (text.compare(pos, s.size(), s) == 0) {
                hit = id;
                break;
            }
        }
        if (hit < 0) {
            ++pos;
            continue;
        }
        if (pos > start) encode_plain(std::string_view(text).substr(start, pos - start));
        out.push_back(hit);
        pos += t.tokens[static_cast<size_t>(hit)].size();
        start = pos;
    }
    if (start < text.size()) encode_plain(std::string_view(text).substr(start));
    return out;
}

// ---- decoding ---------------------------------------------------------------------------------

std::string Tokenizer::token_bytes(int32_t id, bool render_special) const {
    const Impl& t = *impl_;
    if (id < 0 || static_cast<size_t>(id) >= t.tokens.size())
        throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} is out of range (vocabulary has {} tokens)", id, t.tokens.size()));
    const TokenType type = t.types[static_cast<size_t>(id)];
    if (type == TokenType::kControl) return render_special ? t.tokens[static_cast<size_t>(id)] : std::string();
    if (type == TokenType::kUserDefined) return t.tokens[static_cast<size_t>(id)];
    return unmap_chars(t.tokens[static_cast<size_t>(id)]);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
    std::string out;
    for (int32_t id : ids) out += token_bytes(id, render_special);
    return out;
}

// ---- accessors --------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::shared_ptr<const Tokenizer> make_tokenizer(std::unique_ptr<Tokenizer::Impl> impl) {
    return std::shared_ptr<const Tokenizer>(new Tokenizer(std::move(impl)));
}

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->tokens.size()); }
const std::string& Tokenizer::token_text(int32_t id) const {
    if (id < 0 || id >= n_vocab()) throw Error(ErrorCode::kInvalidArgument, fmt::format("token id {} is out of range", id));
    return impl_->tokens[static_cast<size_t>(id)];
}
std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
    return impl_->id_of(text);
}
bool Tokenizer::is_special(int32_t id) const {
    if (id < 0 || id >= n_vocab()) return false;
    const TokenType t = impl_->types[static_cast<size_t>(id)];
    return t == TokenType::kControl || t == TokenType::kUserDefined;
}
std::optional<int32_t> Tokenizer::bos() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos() const { return impl_->eos; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }

// ---- streaming --------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(std::shared_ptr<const Tokenizer> tokenizer, bool render_special)
    : tokenizer_(std::move(tokenizer)), render_special_(render_special) {}

std::string StreamDecoder::push(int32_t id) {
    pending_ += tokenizer_->token_bytes(id, render_special_);
    const size_t complete = utf8_complete_prefix(pending_);
    std::string out = sanitize_utf8(std::string_view(pending_).substr(0, complete));
    pending_.erase(0, complete);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out = sanitize_utf8(pending_);
    pending_.clear();
    return out;
}

}  // namespace lfm
