#include "constrain/token_trie.h"

#include <algorithm>
#include <array>
#include <string>

namespace lfm::constrain {

uint8_t byte_class(uint8_t b) {
    static const auto table = [] {
        std::array<uint8_t, 256> t{};
        const std::string punct = "!#$%&'()*+,-./:;<=>?@[]^_`{|}~";
        for (int c = 0; c < 256; ++c) {
            uint8_t k = 0;
            if (c < 0x20 || c == 0x7F) k = 0;
            else if (c == ' ') k = 1;
            else if (c == '"') k = 2;
            else if (c == '\\') k = 3;
            else if (c >= '0' && c <= '9') k = 4;
            else if (c >= 'a' && c <= 'z') k = 5;
            else if (c >= 'A' && c <= 'Z') k = 6;
            else if (c < 0x80) k = static_cast<uint8_t>(7 + punct.find(static_cast<char>(c)));
            else if (c < 0xC0) k = 38;
            else if (c < 0xE0) k = 39;
            else if (c < 0xF0) k = 40;
            else k = 41;
            t[static_cast<size_t>(c)] = k;
        }
        return t;
    }();
    return table[b];
}

std::shared_ptr<const TokenTrie> TokenTrie::from_vocab(std::vector<std::string> bytes, std::vector<uint8_t> special) {
    auto t = std::make_shared<TokenTrie>();
    t->n_vocab = static_cast<int32_t>(bytes.size());
    special.resize(bytes.size(), 0);
    std::vector<std::pair<std::string, int32_t>> words;
    words.reserve(bytes.size());
    for (int32_t id = 0; id < t->n_vocab; ++id) {
        if (special[static_cast<size_t>(id)]) {
            t->special.push_back(id);
            continue;
        }
        if (bytes[static_cast<size_t>(id)].empty()) {
            ++t->n_empty;
            continue;
        }
        words.emplace_back(bytes[static_cast<size_t>(id)], id);
    }
    t->bytes_of = std::move(bytes);
    t->is_special = std::move(special);
    // Sorted byte strings are the trie's nodes in depth-first order: each word adds the nodes of
    // its prefixes longer than what it shares with the word before.
    std::sort(words.begin(), words.end());
    std::vector<uint32_t> open;  // nodes on the current path, by depth - 1
    const std::string* prev = nullptr;
    for (const auto& [w, id] : words) {
        size_t common = 0;
        if (prev) {
            const size_t n = std::min(prev->size(), w.size());
            while (common < n && (*prev)[common] == w[common]) ++common;
        }
        if (prev && common == w.size() && common == prev->size()) {  // the same bytes again
            t->ids.push_back(id);
            continue;
        }
        while (open.size() > common) {  // close the nodes the new word leaves
            t->end[open.back()] = static_cast<uint32_t>(t->byte.size());
            open.pop_back();
        }
        for (size_t d = common; d < w.size(); ++d) {
            const auto node = static_cast<uint32_t>(t->byte.size());
            t->byte.push_back(static_cast<uint8_t>(w[d]));
            t->depth.push_back(static_cast<uint16_t>(std::min<size_t>(d + 1, UINT16_MAX)));
            t->end.push_back(0);
            t->parent.push_back(open.empty() ? UINT32_MAX : open.back());
            t->ids_begin.push_back(static_cast<uint32_t>(t->ids.size()));
            open.push_back(node);
        }
        t->ids.push_back(id);
        t->max_depth = std::max<uint16_t>(t->max_depth, static_cast<uint16_t>(std::min<size_t>(w.size(), UINT16_MAX)));
        prev = &w;
    }
    while (!open.empty()) {
        t->end[open.back()] = static_cast<uint32_t>(t->byte.size());
        open.pop_back();
    }
    t->ids_begin.push_back(static_cast<uint32_t>(t->ids.size()));
    t->below_classes.assign(t->byte.size(), 0);
    for (size_t i = t->byte.size(); i-- > 0;)  // children come after their parent
        if (t->parent[i] != UINT32_MAX)
            t->below_classes[t->parent[i]] |= t->below_classes[i] | (uint64_t{1} << byte_class(t->byte[i]));
    return t;
}

}  // namespace lfm::constrain
