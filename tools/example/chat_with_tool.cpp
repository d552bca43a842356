// Load a model, declare one tool, ask a question, print the reply and any tool call.
// Usage: chat_with_tool MODEL.gguf "What's the weather in Paris?"
#include <cstdio>

#include <lfm/generate.h>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s MODEL QUESTION\n", argv[0]);
        return 2;
    }
    try {
        auto model = lfm::Model::load(argv[1]);
        lfm::Chat chat(model, model->tokenizer());  // the tokenizer of the same file
        chat.set_tools(lfm::Tool::parse_list(R"([{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])"));

        lfm::GenerateOptions options;
        options.max_tokens = 256;
        lfm::GenerateEvents events;
        events.content = [](std::string_view text) { std::printf("%.*s", int(text.size()), text.data()); };
        lfm::GenerateResult result = chat.send(argv[2], options, events);

        for (const lfm::ToolCall& call : result.reply.tool_calls)
            std::printf("\ntool call: %s(%s)", call.name.c_str(), call.arguments.c_str());
        std::printf("\n[%s, %lld tokens, %.1f tokens/s]\n", lfm::to_string(result.stop_reason),
                    static_cast<long long>(result.timings.generated_tokens), result.timings.generate_tokens_per_second());
    } catch (const lfm::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
