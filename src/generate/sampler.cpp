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
    if (!std::isfinite(frequency_penalty) || !std::isfinite(presence_penalty)) bad("frequency and presence penalties must be finite");
}

Sampler::Sampler(const SamplerConfig& config) : config_(config) {
    config_.validate();
    seed_ = config.seed == SamplerConfig::kRandomSeed ? std::random_device{}() : config.seed;
    rng_.seed(seed_);
}

// The m largest logits into candidates_ (unordered), ties to the lower id. A min-heap of m;
// blocks of 16 logits whose maximum cannot enter the heap are skipped after one vector max,
// which is almost every block once the heap has filled.
void Sampler::select_top(std::span<const float> logits, size_t m) {
    auto worse = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    const size_t n = logits.size();
    m = std::min(m, n);
    auto push = [&](size_t i) {
        const std::pair<float, int32_t> c{logits[i], static_cast<int32_t>(i)};
        if (candidates_.size() < m) {
            candidates_.push_back(c);
            std::push_heap(candidates_.begin(), candidates_.end(), worse);
        } else if (worse(c, candidates_.front())) {
            std::pop_heap(candidates_.begin(), candidates_.end(), worse);
            candidates_.back() = c;
            std::push_heap(candidates_.begin(), candidates_.end(), worse);
        }
    };
    constexpr size_t kBlock = 16;
    size_t i = 0;
    for (; i + kBlock <= n; i += kBlock) {
        float lane[8];
        for (size_t j = 0; j < 8; ++j) lane[j] = std::max(logits[i + j], logits[i + 8 + j]);
        float block_max = lane[0];
        for (size_t j = 1; j < 8; ++j) block_max = std::max(block_max, lane[j]);
        if (candidates_.size() == m && block_max < candidates_.front().first) continue;
        for (size_t j = 0; j < kBlock; ++j) push(i + j);
    }
    for (; i < n; ++i) push(i);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    const auto n = static_cast<int32_t>(logits.size());
    if (n == 0) throw Error(ErrorCode::kInvalidArgument, "sampler: no logits");

    // Penalties on each distinct recent token: HF's repetition penalty (its logit divided by the
    // penalty when positive, multiplied when negative), then OpenAI's frequency and presence
    // penalties. Kept aside, sorted by id; the logits are not copied.
    penalized_.clear();
    if (config_.repetition_penalty != 1.0f || config_.frequency_penalty != 0.0f || config_.presence_penalty != 0.0f) {
        const size_t window = config_.repeat_last_n < 0 ? history.size()
                                                        : std::min(history.size(), static_cast<size_t>(config_.repeat_last_n));
        recent_.assign(history.end() - static_cast<std::ptrdiff_t>(window), history.end());
        std::sort(recent_.begin(), recent_.end());
        for (size_t i = 0; i < recent_.size();) {
            const int32_t id = recent_[i];
            size_t count = 0;
            for (; i < recent_.size() && recent_[i] == id; ++i) ++count;
            if (id < 0 || id >= n) continue;
            float v = logits[static_cast<size_t>(id)];
            if (config_.repetition_penalty != 1.0f) v = v > 0 ? v / config_.repetition_penalty : v * config_.repetition_penalty;
            v -= config_.frequency_penalty * static_cast<float>(count) + config_.presence_penalty;
            penalized_.emplace_back(id, v);
        }
    }
    // Candidates: the top k by logit (all tokens when top-k is off; the top 1 when greedy).
    // With P penalized tokens, the top k after the penalty are among the top k + P before it and
    // the penalized tokens themselves (a penalty below 1 raises logits): select those on the raw
    // logits, apply the penalties, keep k.
    candidates_.clear();
    const bool greedy = config_.temperature <= 0.0f;
    const size_t k = greedy ? 1 : config_.top_k > 0 && config_.top_k < n ? static_cast<size_t>(config_.top_k) : 0;
    auto better = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    auto penalize = [&] {
        for (auto& c : candidates_) {
            auto it = std::lower_bound(penalized_.begin(), penalized_.end(), std::make_pair(c.second, -INFINITY));
            if (it != penalized_.end() && it->first == c.second) c.first = it->second;
        }
    };
    if (k > 0) {
        select_top(logits, k + penalized_.size());
        for (const auto& [id, v] : penalized_)
            if (std::none_of(candidates_.begin(), candidates_.end(), [&, token = id](const auto& c) { return c.second == token; }))
                candidates_.emplace_back(logits[static_cast<size_t>(id)], id);
        penalize();
        std::sort(candidates_.begin(), candidates_.end(), better);  // most likely first
        candidates_.resize(std::min(k, candidates_.size()));
        if (greedy) return candidates_.front().second;
    } else {
        candidates_.reserve(static_cast<size_t>(n));
        for (int32_t id = 0; id < n; ++id) candidates_.emplace_back(logits[static_cast<size_t>(id)], id);
        penalize();
        if (config_.top_p < 1.0f) std::sort(candidates_.begin(), candidates_.end(), better);
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

// Masked sampling: the allowed tokens' logits are gathered (in id order, so ties still go to the
// lower id) and the usual chain runs on them alone. The penalty's history keeps only allowed ids,
// mapped to their place in the gathered list: a disallowed token is no candidate anyway.
int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history, std::span<const uint64_t> allowed) {
    const size_t n = logits.size();
    if (allowed.size() < (n + 63) / 64) throw Error(ErrorCode::kInvalidArgument, "sampler: the mask is shorter than the vocabulary");
    masked_.clear();
    masked_ids_.clear();
    for (size_t w = 0; w < (n + 63) / 64; ++w) {
        for (uint64_t bits = allowed[w]; bits != 0; bits &= bits - 1) {
            const size_t id = w * 64 + static_cast<size_t>(__builtin_ctzll(bits));
            if (id >= n) break;
            masked_.push_back(logits[id]);
            masked_ids_.push_back(static_cast<int32_t>(id));
        }
    }
    if (masked_ids_.empty()) throw Error(ErrorCode::kInvalidArgument, "sampler: the mask allows no token");
    masked_history_.clear();
    for (int32_t id : history) {
        auto it = std::lower_bound(masked_ids_.begin(), masked_ids_.end(), id);
        if (it != masked_ids_.end() && *it == id) masked_history_.push_back(static_cast<int32_t>(it - masked_ids_.begin()));
        else masked_history_.push_back(-1);  // keeps the window's length: repeat_last_n counts positions
    }
    const int32_t pick = sample(masked_, masked_history_);
    return masked_ids_[static_cast<size_t>(pick)];
}

}  // namespace lfm
