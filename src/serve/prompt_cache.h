#pragma once
// --cache-ram: conversations that no slot holds any more, kept in memory as session snapshots
// (tokens, KV rows, conv state and checkpoints), so that a request continuing one of them (the
// next turn of a conversation that lost its slot to another client) reuses its prefix instead of
// running it again. Bounded in bytes; the least recently stored entry leaves first.

#include <cstddef>
#include <list>
#include <mutex>
#include <span>

#include "lfm/model.h"

namespace lfm::serve {

// Tokens a and b share from their start.
size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

class PromptCache {
  public:
    explicit PromptCache(size_t max_bytes) : max_bytes_(max_bytes) {}

    // Keeps a copy of the session's state. Nothing is kept when the cache is off, the state is
    // larger than the whole bound, or an entry already holds the same tokens or more of them;
    // entries whose tokens are a prefix of the session's are dropped (it supersedes them).
    void store(const Session& session);
    // The entry that shares the longest prefix with prompt, when that is more than `at_least`
    // tokens; it leaves the cache (the slot that restores it holds it now). Empty otherwise.
    SessionSnapshot take(std::span<const int32_t> prompt, size_t at_least);

    struct Stats {
        size_t entries = 0, bytes = 0, max_bytes = 0;
        int64_t stored = 0, hits = 0, evicted = 0;
    };
    Stats stats() const;

  private:
    size_t max_bytes_;
    mutable std::mutex mutex_;
    std::list<SessionSnapshot> entries_;  // most recent first
    size_t bytes_ = 0;
    int64_t stored_ = 0, hits_ = 0, evicted_ = 0;
};

}  // namespace lfm::serve
