#pragma once
// Open-addressing tables for the matcher's hottest lookups: building a DFA state means a
// stack-node lookup per parse alive and a state lookup per new set of tops, millions per
// schema, and std::unordered_map's node per entry (with a std::string key for a state) made
// them most of a cold mask's cost.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace lfm::constrain {

inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    return x;
}

// Ids by a 64-bit tag: the key itself (same(id) always true), or a hash of a larger key that
// same(id) compares with the key the id stands for. Linear probing, kept at most half full.
class IdTable {
public:
    static constexpr uint32_t kNone = UINT32_MAX;

    // The id whose tag and key match, or fresh_id added (second: true).
    template <class Same>
    std::pair<uint32_t, bool> find_or_add(uint64_t tag, uint32_t fresh_id, Same same) {
        if (2 * (n_ + 1) > slots_.size()) grow();
        const size_t mask = slots_.size() - 1;
        for (size_t i = mix64(tag) & mask;; i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.id == kNone) {
                s = {tag, fresh_id};
                ++n_;
                return {fresh_id, true};
            }
            if (s.tag == tag && same(s.id)) return {s.id, false};
        }
    }
    void clear() {
        slots_.assign(16, Slot{});
        n_ = 0;
    }
    size_t size() const { return n_; }
    size_t bytes() const { return slots_.size() * sizeof(Slot); }

private:
    struct Slot {
        uint64_t tag = 0;
        uint32_t id = kNone;
    };
    void grow() {
        std::vector<Slot> old = std::move(slots_);
        slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
        const size_t mask = slots_.size() - 1;
        for (const Slot& s : old) {
            if (s.id == kNone) continue;
            size_t i = mix64(s.tag) & mask;
            while (slots_[i].id != kNone) i = (i + 1) & mask;
            slots_[i] = s;
        }
    }
    std::vector<Slot> slots_ = std::vector<Slot>(16);
    size_t n_ = 0;
};

// A set of 64-bit keys emptied in O(1) (slots stamped with a generation): scratch for one step.
class ScratchSet {
public:
    // False when the key is already in.
    bool insert(uint64_t key) {
        if (2 * (n_ + 1) > keys_.size()) grow();
        const size_t mask = keys_.size() - 1;
        for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
            if (gens_[i] != gen_) {
                gens_[i] = gen_;
                keys_[i] = key;
                ++n_;
                return true;
            }
            if (keys_[i] == key) return false;
        }
    }
    void clear() {
        n_ = 0;
        if (++gen_ == 0) {  // wrapped: stale stamps could read as current
            std::fill(gens_.begin(), gens_.end(), 0);
            gen_ = 1;
        }
    }

private:
    void grow() {
        std::vector<uint64_t> keys;
        for (size_t i = 0; i < keys_.size(); ++i)
            if (gens_[i] == gen_) keys.push_back(keys_[i]);
        keys_.assign(keys_.empty() ? 64 : keys_.size() * 2, 0);
        gens_.assign(keys_.size(), 0);
        n_ = 0;
        for (uint64_t k : keys) insert(k);
    }
    std::vector<uint64_t> keys_;
    std::vector<uint32_t> gens_;
    uint32_t gen_ = 1;
    size_t n_ = 0;
};

}  // namespace lfm::constrain
