#include "prompt_cache.h"

#include <algorithm>
#include <new>

namespace lfm::serve {

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
    return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

void PromptCache::store(const Session& session) {
    const std::span<const int32_t> tokens = session.tokens();
    if (max_bytes_ == 0 || tokens.empty()) return;
    {
        std::lock_guard lock(mutex_);
        for (const SessionSnapshot& e : entries_)
            if (common_prefix(e.tokens(), tokens) == tokens.size()) return;  // held already, or more
    }
    if (session.snapshot_bytes() > max_bytes_) return;
    // Copied outside the lock: tens of MiB for a long conversation. The cache is optional: a
    // copy that does not fit in memory is skipped, not an error for the request.
    SessionSnapshot snapshot;
    try {
        snapshot = session.snapshot();
    } catch (const std::bad_alloc&) {
        return;
    }
    const size_t size = snapshot.bytes();
    std::lock_guard lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (common_prefix(it->tokens(), tokens) == it->tokens().size()) {  // a prefix of the new one
            bytes_ -= it->bytes();
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    while (!entries_.empty() && bytes_ + size > max_bytes_) {
        bytes_ -= entries_.back().bytes();
        entries_.pop_back();
        ++evicted_;
    }
    entries_.push_front(std::move(snapshot));
    bytes_ += size;
    ++stored_;
}

SessionSnapshot PromptCache::take(std::span<const int32_t> prompt, size_t at_least) {
    std::lock_guard lock(mutex_);
    auto best = entries_.end();
    size_t best_common = at_least;
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        const size_t common = common_prefix(it->tokens(), prompt);
        if (common > best_common) best = it, best_common = common;
    }
    if (best == entries_.end()) return {};
    SessionSnapshot snapshot = std::move(*best);
    bytes_ -= snapshot.bytes();
    entries_.erase(best);
    ++hits_;
    return snapshot;
}

PromptCache::Stats PromptCache::stats() const {
    std::lock_guard lock(mutex_);
    return {entries_.size(), bytes_, max_bytes_, stored_, hits_, evicted_};
}

}  // namespace lfm::serve
