// The sampler chain (tokenizer-and-chat.md §5). Cheap on a 128K vocabulary: the penalty touches
// at most repeat_last_n logits, top-k is one pass with a k-element heap (most logits are
// rejected by one comparison with the heap's minimum), and everything after works on k
// candidates. Only top_k = 0 with top_p < 1 sorts the whole vocabulary.

#include <algorithm>
#include <cmath>

#include "lfm/generate.h"

namespace lfm {

void SamplerConfig::validate() const {
    auto bad = [](const std::string& what) { throw Error(ErrorCode::kInvalidArgument, "sampler: " + what); };
    if (!(temperature >= 0.0f) || !std::isfinite(temperature)) bad("temperature must be >= 0");
    if (top_k < 0) bad("top-k must be >= 0 (0 turns it off)");
    if (!(top_p > 0.0f && top_p <= 1.0f)) bad("top-p must be in (0, 1]");
    if (!(min_p >= 0.0f && min_p <= 1.0f)) bad("min-p must be in [0, 1]");
    if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) bad("repetition penalty must be > 0");
    if (repeat_last_n < -1) bad("repeat-last-n must be >= -1 (-1: the whole sequence)");
}

Sampler::Sampler(const SamplerConfig& config) : config_(config) {
    config_.validate();
    seed_ = config.seed == SamplerConfig::kRandomSeed ? std::random_device{}() : config.seed;
    rng_.seed(seed_);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    const auto n = static_cast<int32_t>(logits.size());
    if (n == 0) throw Error(ErrorCode::kInvalidArgument, "sampler: no logits");

    // Repetition penalty (HF): each distinct recent token's logit divided by the penalty when
    // positive, multiplied when negative. Kept aside; the logits are not copied.
    penalized_.clear();
    if (config_.repetition_penalty != 1.0f) {
        size_t window = config_.repeat_last_n < 0 ? history.size()
                                                  : std::min(history.size(), static_cast<size_t>(config_.repeat_last_n));
        for (int32_t id : history.subspan(history.size() - window)) {
            if (id < 0 || id >= n) continue;
            if (std::any_of(penalized_.begin(), penalized_.end(), [&](const auto& p) { return p.first == id; })) continue;
            float v = logits[static_cast<size_t>(id)];
            penalized_.emplace_back(id, v > 0 ? v / config_.repetition_penalty : v * config_.repetition_penalty);
        }
        std::sort(penalized_.begin(), penalized_.end());
    }
    // The penalized logits as a sorted list walked alongside the ids.
    auto for_each_logit = [&](auto&& visit) {
        size_t next = 0;
        for (int32_t id = 0; id < n; ++id) {
            float v = logits[static_cast<size_t>(id)];
            if (next < penalized_.size() && penalized_[next].first == id) v = penalized_[next++].second;
            visit(id, v);
        }
    };

    if (config_.temperature <= 0.0f) {  // greedy
        int32_t best = 0;
        float best_v = -INFINITY;
        for_each_logit([&](int32_t id, float v) {
            if (v > best_v) best_v = v, best = id;
        });
        return best;
    }

    // Top-k by a min-heap of k candidates (all tokens when top-k is off).
    candidates_.clear();
    const bool use_top_k = config_.top_k > 0 && config_.top_k < n;
    if (use_top_k) {
        const auto k = static_cast<size_t>(config_.top_k);
        auto greater = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
        for_each_logit([&](int32_t id, float v) {
            if (candidates_.size() < k) {
                candidates_.emplace_back(v, id);
                std::push_heap(candidates_.begin(), candidates_.end(), greater);
            } else if (v > candidates_.front().first) {
                std::pop_heap(candidates_.begin(), candidates_.end(), greater);
                candidates_.back() = {v, id};
                std::push_heap(candidates_.begin(), candidates_.end(), greater);
            }
        });
        std::sort_heap(candidates_.begin(), candidates_.end(), greater);  // most likely first
    } else {
        candidates_.reserve(static_cast<size_t>(n));
        for_each_logit([&](int32_t id, float v) { candidates_.emplace_back(v, id); });
        if (config_.top_p < 1.0f)
            std::sort(candidates_.begin(), candidates_.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    }

    // Temperature, then softmax over the candidates.
    float max_v = -INFINITY;
    for (const auto& c : candidates_) max_v = std::max(max_v, c.first);
    probs_.resize(candidates_.size());
    double sum = 0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
        probs_[i] = std::exp((candidates_[i].first - max_v) / config_.temperature);
        sum += probs_[i];
    }
    size_t keep = candidates_.size();
    if (config_.top_p < 1.0f) {  // candidates are sorted here
        double cumulative = 0;
        for (size_t i = 0; i < keep; ++i) {
            cumulative += probs_[i] / sum;
            if (cumulative >= config_.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    // min-p: probs_ are relative to the top candidate (its weight is exp(0) = 1), so the rule
    // p < min_p * p_max is simply probs_[i] < min_p.
    double total = 0;
    for (size_t i = 0; i < keep; ++i) {
        if (probs_[i] < config_.min_p) probs_[i] = 0;
        total += probs_[i];
    }
    std::uniform_real_distribution<double> uniform(0.0, total);
    double r = uniform(rng_);
    for (size_t i = 0; i < keep; ++i) {
        r -= probs_[i];
        if (r < 0 && probs_[i] > 0) return candidates_[i].second;
    }
    for (size_t i = keep; i-- > 0;)  // rounding left r >= 0: the last kept candidate
        if (probs_[i] > 0) return candidates_[i].second;
    return candidates_.front().second;
}

}  // namespace lfm
