// Sessions at full size: what prefix reuse and batching buy on a real-shape model.
//   bench_sessions [-m FILE | --synthetic TYPE] [-t THREADS] [--turns N]
// 1. Regenerate: a conversation of about 4,000 tokens is prefilled once (cold), then its last
//    reply is dropped and answered again: the second prompt should cost the last message's
//    tokens, not the conversation's (issue 23). Prints both prompts' tokens and milliseconds.
// 2. Edit: the first user message is changed, so nothing but the system prompt is shared; for
//    comparison with a cold prefill of the same length.
// One JSON object per line. (Aggregate decode speed for B sequences: `lfm bench --parallel`.)

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lfm/generate.h"
#include "lfm/synth.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string filler(int turn, size_t bytes) {
    std::string s = fmt::format("Turn {}: ", turn);
    const char* words[] = {"model", "token", "memory", "expert", "layer", "cache", "thread", "prompt"};
    for (size_t i = 0; s.size() < bytes; ++i) s += std::string(words[(i * 7 + static_cast<size_t>(turn)) % 8]) + " ";
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    std::string model_path, synthetic = "Q4_K_M";
    int threads = 0, turns = 12;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "-m")) model_path = argv[i + 1];
        else if (!std::strcmp(argv[i], "--synthetic")) synthetic = argv[i + 1];
        else if (!std::strcmp(argv[i], "-t")) threads = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--turns")) turns = std::atoi(argv[i + 1]);
    }
    try {
        lfm::ModelOptions mo;
        mo.n_threads = threads;
        std::shared_ptr<const lfm::Model> model;
        if (model_path.empty()) {
            lfm::SynthOptions so;
            so.type = synthetic;
            model = lfm::synthetic_model(so, mo);
        } else {
            model = lfm::Model::load(model_path, mo);
        }
        lfm::Chat::Options co;
        co.session.n_ctx = 8192;
        co.session.n_threads = threads;
        co.render.date = "2026-12-06";
        lfm::Chat chat(model, co);
        chat.set_system("You are a helpful assistant.");
        for (int t = 0; t < turns; ++t) {  // ~4,000 tokens in all with the default 12 turns
            chat.add_message(lfm::Message::user(filler(t, 170)));
            chat.add_message(lfm::Message::assistant(filler(t + 100, 170)));
        }
        chat.add_message(lfm::Message::user("And now the last question: what did we talk about?"));
        lfm::GenerateOptions go;
        go.max_tokens = 1;
        go.sampler.temperature = 0;
        go.ignore_eos = true;

        const lfm::GenerateResult cold = chat.reply(go);
        chat.truncate(chat.messages().size() - 1);
        const lfm::GenerateResult again = chat.reply(go);
        fmt::print(R"({{"test": "regenerate", "conversation_tokens": {}, "cold_prompt_tokens": {}, "cold_prompt_ms": {:.1f}, )"
                   R"("regen_prompt_tokens": {}, "regen_cached_tokens": {}, "regen_prompt_ms": {:.1f}, "speedup": {:.1f}}})"
                   "\n",
                   cold.timings.prompt_tokens + cold.cached_tokens, cold.timings.prompt_tokens, cold.timings.prompt_ms,
                   again.timings.prompt_tokens, again.cached_tokens, again.timings.prompt_ms,
                   cold.timings.prompt_ms / again.timings.prompt_ms);

        // an edit of the first user message: everything after it runs again
        std::vector<lfm::Message> messages = chat.messages();
        messages.pop_back();  // the reply
        chat.truncate(0);
        messages[1].content = "An edited first message. " + messages[1].content;
        for (const auto& m : messages) chat.add_message(m);
        const lfm::GenerateResult edited = chat.reply(go);
        fmt::print(R"({{"test": "edit first message", "prompt_tokens": {}, "cached_tokens": {}, "prompt_ms": {:.1f}}})" "\n",
                   edited.timings.prompt_tokens, edited.cached_tokens, edited.timings.prompt_ms);
    } catch (const std::exception& e) {
        fmt::print(stderr, "bench_sessions: {}\n", e.what());
        return 1;
    }
    return 0;
}
