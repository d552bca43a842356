#include "constrain/token_trie.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

namespace lfm::constrain {

std::shared_ptr<const TokenTrie> TokenTrie::build(const Tokenizer& tokenizer) {
    auto t = std::make_shared<TokenTrie>();
    t->n_vocab = tokenizer.n_vocab();
    std::vector<std::pair<std::string, int32_t>> words;
    words.reserve(static_cast<size_t>(t->n_vocab));
    for (int32_t id = 0; id < t->n_vocab; ++id) {
        if (tokenizer.is_special(id)) {
            t->special.push_back(id);
            continue;
        }
        std::string bytes = tokenizer.token_bytes(id, false);
        if (bytes.empty()) {
            ++t->n_empty;
            continue;
        }
        words.emplace_back(std::move(bytes), id);
    }
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
    return t;
}

std::shared_ptr<const TokenTrie> TokenTrie::for_tokenizer(const std::shared_ptr<const Tokenizer>& tokenizer) {
    // Keyed by the tokenizer's address, checked against a weak pointer so that a new tokenizer
    // at a freed one's address does not get its trie.
    static std::mutex mutex;
    static std::map<const Tokenizer*, std::pair<std::weak_ptr<const Tokenizer>, std::shared_ptr<const TokenTrie>>> cache;
    std::lock_guard lock(mutex);
    std::erase_if(cache, [](const auto& entry) { return entry.second.first.expired(); });
    auto it = cache.find(tokenizer.get());
    if (it != cache.end()) return it->second.second;
    auto trie = build(*tokenizer);
    cache[tokenizer.get()] = {tokenizer, trie};
    return trie;
}

}  // namespace lfm::constrain
