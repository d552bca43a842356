#pragma once
// Slots and the scheduler: --parallel N sessions on one runtime, and one thread that advances
// every busy slot in each forward pass (run_batch): decode steps and prompt chunks side by side
// (continuous batching). Requests wait in a bounded queue; a new request goes to the idle slot
// whose session shares the longest prefix with its prompt (the next turn of a conversation, a
// regenerated reply, the same system prompt and tools), conv-state checkpoints included; a
// conversation that a slot gives up for another waits in the prompt cache (--cache-ram).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

#include "openai.h"
#include "prompt_cache.h"

namespace lfm::serve {

// What a running request sends back to the HTTP thread that waits for it.
struct Event {
    enum class Kind { kReasoning, kContent, kToolCall, kLogprob, kPromptProgress, kDone, kError };
    Kind kind;
    std::string text;  // reasoning / content delta; error message
    ToolCall call;
    TokenLogprob logprob;
    GenerateResult result;  // kDone
    int64_t prompt_tokens = 0, cached_tokens = 0, prompt_done = 0;
};

// One request's life: the scheduler pushes events, the HTTP thread pops them; either side may
// cancel (a client gone, a server stopping).
class Job {
public:
    explicit Job(Request r) : request(std::move(r)) { request.options.cancel = &cancelled; }
    Request request;
    std::atomic<bool> cancelled{false};

    void push(Event e);
    // The next event, or nullopt after `timeout` (the caller writes a keep-alive and checks
    // whether its client is still there).
    std::optional<Event> pop(std::chrono::milliseconds timeout);

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Event> events_;
};

struct SchedulerStats {
    int64_t requests = 0, prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
    double prompt_ms = 0, generate_ms = 0;
    int busy_slots = 0, queued = 0, rejected = 0;
    PromptCache::Stats cache;
};

class Scheduler {
public:
    Scheduler(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer, const SessionOptions& session,
              int n_slots, size_t max_queue, size_t cache_bytes = 0);
    ~Scheduler();  // stops the thread; waiting jobs end with an error

    // Queues the job; false when the queue is full (the caller answers 503).
    bool submit(std::shared_ptr<Job> job);
    // Cancels every queued and running job (a server stopping): each ends at its next token.
    void cancel_all();
    SchedulerStats stats() const;

private:
    struct Slot;
    void loop();
    void start(Slot& slot, std::shared_ptr<Job> job);
    void finish(Slot& slot, const std::string& error = {});

    std::shared_ptr<const Model> model_;
    std::shared_ptr<const Tokenizer> tokenizer_;
    int64_t n_batch_;
    std::vector<std::unique_ptr<Slot>> slots_;
    size_t max_queue_;
    PromptCache cache_;
    uint64_t admissions_ = 0;  // a clock for choosing the least recently used idle slot
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<Job>> queue_;
    bool stop_ = false;
    SchedulerStats stats_;
    std::thread thread_;
};

}  // namespace lfm::serve
