// The vocabulary trie of a tokenizer, built once and shared by every constraint made for it.

#include <map>
#include <mutex>

#include "constrain/token_trie.h"

namespace lfm::constrain {

std::shared_ptr<const TokenTrie> TokenTrie::build(const Tokenizer& tokenizer) {
    std::vector<std::string> bytes(static_cast<size_t>(tokenizer.n_vocab()));
    std::vector<uint8_t> special(bytes.size(), 0);
    for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) {
        special[static_cast<size_t>(id)] = tokenizer.is_special(id);
        if (!special[static_cast<size_t>(id)]) bytes[static_cast<size_t>(id)] = tokenizer.token_bytes(id, false);
    }
    return from_vocab(std::move(bytes), std::move(special));
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
