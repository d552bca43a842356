// The scheduler thread: admit queued jobs to idle slots, then one forward pass for every busy
// slot (its next decode token, or its next prompt chunk within the batch's row budget), then a
// generation step for each slot whose logits are new.

#include "scheduler.h"

#include <algorithm>

#include "generate/generation.h"

namespace lfm::serve {

void Job::push(Event e) {
    {
        std::lock_guard lock(mutex_);
        events_.push_back(std::move(e));
    }
    cv_.notify_one();
}

std::optional<Event> Job::pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
}

struct Scheduler::Slot {
    Slot(std::shared_ptr<const Model> m, const SessionOptions& o) : session(std::move(m), o) {}
    Session session;
    std::shared_ptr<Job> job;
    int64_t prompt_done = 0;  // tokens of the job's prompt the session holds
    int64_t cached = 0;       // of those, reused from before the job (not computed again)
    std::chrono::steady_clock::time_point prompt_start;
    double prompt_ms = 0;
    GenerateEvents events;
    std::unique_ptr<Generation> generation;
    std::vector<int32_t> feed;  // tokens for the next pass
    uint64_t last_admission = 0;
};

namespace {

// A slot's state is worth keeping when a new request drops at least this many of its tokens
// (fewer are the tail of a reply that the next turn renders differently anyway) and more than
// half of them: a request that keeps most of it (the same conversation going on, its last
// reasoning block dropped) leaves nothing another request would come back for. (The copy runs
// on the scheduler thread: tens of MiB, a few ms, for a long conversation.)
constexpr size_t kMinTokensWorthCaching = 64;

bool worth_caching(size_t held, size_t common) {
    return held - common >= kMinTokensWorthCaching && common < held / 2;
}

}  // namespace

Scheduler::Scheduler(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer,
                     const SessionOptions& session, int n_slots, size_t max_queue, size_t cache_bytes)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), n_batch_(std::min(session.n_batch, session.n_ctx)),
      max_queue_(max_queue), cache_(cache_bytes) {
    SessionOptions o = session;
    if (!o.runtime) o.runtime = Runtime::shared(o.n_threads);  // one pool and workspace for every slot
    for (int i = 0; i < n_slots; ++i) slots_.push_back(std::make_unique<Slot>(model_, o));
    thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        for (auto& slot : slots_)
            if (slot->job) slot->job->cancelled = true;
    }
    cv_.notify_all();
    thread_.join();
    for (auto& job : queue_) job->push({Event::Kind::kError, "the server is shutting down", {}, {}, {}});
}

bool Scheduler::submit(std::shared_ptr<Job> job) {
    {
        std::lock_guard lock(mutex_);
        // room: the queue's, plus the slots that are free now (a burst no larger than --parallel
        // is never refused, even with --queue 0)
        const auto free_slots = static_cast<size_t>(std::max(0, static_cast<int>(slots_.size()) - stats_.busy_slots));
        if (queue_.size() >= max_queue_ + free_slots || stop_) {
            ++stats_.rejected;
            return false;
        }
        queue_.push_back(std::move(job));
        stats_.queued = static_cast<int>(queue_.size());
    }
    cv_.notify_one();
    return true;
}

void Scheduler::cancel_all() {
    std::lock_guard lock(mutex_);
    for (auto& job : queue_) job->cancelled = true;
    for (auto& slot : slots_)
        if (slot->job) slot->job->cancelled = true;
}

SchedulerStats Scheduler::stats() const {
    std::lock_guard lock(mutex_);
    SchedulerStats s = stats_;
    s.cache = cache_.stats();
    return s;
}

void Scheduler::start(Slot& slot, std::shared_ptr<Job> job) {
    (void)job;  // slot.job was set to it at admission, under the lock (cancel_all reads it)
    const std::vector<int32_t>& prompt = slot.job->request.prompt;
    slot.prompt_start = std::chrono::steady_clock::now();
    // The prompt cache may hold more of this prompt than the slot does; and what the slot holds
    // beyond the shared prefix is kept there before the slot moves on.
    const size_t held = slot.session.tokens().size(), common = common_prefix(slot.session.tokens(), prompt);
    const SessionSnapshot hit = cache_.take(prompt, common);
    if (worth_caching(held, common)) cache_.store(slot.session);
    if (!hit.empty()) slot.session.restore(hit);
    const Session::PrefixReuse reuse = slot.session.reuse_prefix(prompt);
    slot.prompt_done = reuse.kept;
    slot.cached = reuse.kept - reuse.replayed;
    slot.session.checkpoint();  // where this request's new tokens begin
    slot.generation.reset();
    Job* j = slot.job.get();
    const bool logprobs = j->request.top_logprobs >= 0;
    slot.events = {};
    slot.events.reasoning = [j](std::string_view s) { j->push({Event::Kind::kReasoning, std::string(s), {}, {}, {}}); };
    slot.events.content = [j](std::string_view s) { j->push({Event::Kind::kContent, std::string(s), {}, {}, {}}); };
    slot.events.tool_call = [j](const ToolCall& c) { j->push({Event::Kind::kToolCall, {}, c, {}, {}}); };
    if (logprobs) {
        Session* session = &slot.session;
        const int top = j->request.top_logprobs;
        slot.events.token = [j, session, top](int32_t id) {
            Event e{Event::Kind::kLogprob, {}, {}, token_logprob(session->logits(), id, top), {}};
            j->push(std::move(e));
        };
    }
}

void Scheduler::finish(Slot& slot, const std::string& error) {
    Job& job = *slot.job;
    if (!error.empty()) {
        job.push({Event::Kind::kError, error, {}, {}, {}});
    } else {
        Event done{Event::Kind::kDone, {}, {}, {}, slot.generation->finish()};
        done.result.timings.prompt_tokens = static_cast<int64_t>(job.request.prompt.size()) - slot.cached;
        done.result.timings.prompt_ms = slot.prompt_ms;
        done.result.cached_tokens = slot.cached;
        done.prompt_tokens = static_cast<int64_t>(job.request.prompt.size());
        done.cached_tokens = slot.cached;
        {
            std::lock_guard lock(mutex_);
            ++stats_.requests;
            stats_.prompt_tokens += done.result.timings.prompt_tokens;
            stats_.cached_tokens += slot.cached;
            stats_.generated_tokens += done.result.timings.generated_tokens;
            stats_.prompt_ms += slot.prompt_ms;
            stats_.generate_ms += done.result.timings.generate_ms;
        }
        job.push(std::move(done));
    }
    if (!error.empty()) slot.session.reset();  // a failed pass leaves nothing to reuse
    slot.generation.reset();
    slot.feed.clear();
    std::lock_guard lock(mutex_);  // cancel_all() reads slot.job from another thread
    slot.job.reset();
}

void Scheduler::loop() {
    for (;;) {
        // 1. admit queued jobs to idle slots: the one sharing the longest prefix first
        {
            std::unique_lock lock(mutex_);
            const auto idle = [&] {
                return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return !s->job; });
            };
            const auto busy = [&] {
                return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->job != nullptr; });
            };
            cv_.wait(lock, [&] { return stop_ || busy() || (!queue_.empty() && idle()); });
            if (stop_) break;
            std::vector<std::pair<Slot*, std::shared_ptr<Job>>> admitted;
            while (!queue_.empty() && idle()) {
                std::shared_ptr<Job> job = std::move(queue_.front());
                queue_.pop_front();
                if (job->cancelled) {
                    job->push({Event::Kind::kError, "cancelled", {}, {}, {}});
                    continue;
                }
                // the idle slot sharing the longest prefix; among equals, the least recently used
                Slot* best = nullptr;
                size_t best_common = 0;
                for (auto& s : slots_) {
                    if (s->job) continue;
                    const size_t common = common_prefix(s->session.tokens(), job->request.prompt);
                    if (best == nullptr || common > best_common ||
                        (common == best_common && s->last_admission < best->last_admission))
                        best = s.get(), best_common = common;
                }
                best->job = job;  // reserved; started below, outside the lock
                best->last_admission = ++admissions_;
                admitted.emplace_back(best, std::move(job));
            }
            stats_.queued = static_cast<int>(queue_.size());
            stats_.busy_slots = static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s->job != nullptr; }));
            lock.unlock();
            for (auto& [slot, job] : admitted) {
                try {
                    start(*slot, std::move(job));
                } catch (const std::exception& e) {
                    finish(*slot, e.what());
                }
            }
        }

        // 2. one forward pass: decode tokens first (one row each), then prompt chunks in the rows left
        std::vector<BatchStep> steps;
        std::vector<Slot*> stepped;
        int64_t rows = 0;
        for (auto& s : slots_) {
            if (s->job && s->generation && !s->feed.empty()) {
                steps.push_back({&s->session, s->feed});
                stepped.push_back(s.get());
                rows += static_cast<int64_t>(s->feed.size());
            }
        }
        for (auto& s : slots_) {
            if (!s->job || s->generation) continue;
            const auto& prompt = s->job->request.prompt;
            const auto n = static_cast<int64_t>(prompt.size());
            // The prompt's last token runs on its own after a checkpoint, so that a regenerated
            // reply (the same prompt again) re-runs one token.
            const int64_t end = s->prompt_done < n - 1 ? n - 1 : n;
            const int64_t take = std::min(end - s->prompt_done, std::max<int64_t>(n_batch_ - rows, 0));
            if (take <= 0) continue;
            steps.push_back({&s->session, std::span<const int32_t>(prompt).subspan(static_cast<size_t>(s->prompt_done), static_cast<size_t>(take))});
            stepped.push_back(s.get());
            rows += take;
        }
        if (!steps.empty()) {
            try {
                run_batch(steps);
            } catch (const std::exception& e) {
                for (Slot* s : stepped) finish(*s, e.what());
                continue;
            }
        }

        // 3. a generation step for each slot with new logits
        for (size_t i = 0; i < stepped.size(); ++i) {
            Slot* s = stepped[i];
            if (!s->job) continue;  // failed above
            try {
                if (!s->generation) {
                    const auto n = static_cast<int64_t>(s->job->request.prompt.size());
                    s->prompt_done += static_cast<int64_t>(steps[i].tokens.size());
                    s->job->push({Event::Kind::kPromptProgress, {}, {}, {}, {}, n, s->cached, s->prompt_done});
                    if (s->prompt_done == n - 1) s->session.checkpoint();
                    if (s->prompt_done < n) continue;
                    s->session.checkpoint();  // where the reply begins
                    s->prompt_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s->prompt_start).count();
                    s->generation = std::make_unique<Generation>(s->session, *tokenizer_, s->job->request.options, s->events);
                }
                s->feed = s->generation->step();
                if (s->generation->done()) finish(*s);
            } catch (const std::exception& e) {
                finish(*s, e.what());
            }
        }
        // cancelled jobs whose slot waits for nothing (a prompt not started) end here too
        for (auto& s : slots_)
            if (s->job && s->job->cancelled && !s->generation) finish(*s, "cancelled");
        {
            std::lock_guard lock(mutex_);
            stats_.busy_slots = static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const auto& x) { return x->job != nullptr; }));
        }
    }
}

}  // namespace lfm::serve
