// `lfm run -m MODEL -p TEXT | -f FILE | < stdin [--raw] [--json] [--prompt-ids IDS] [--print-ids]`
// One-shot generation through the model's chat template (or plain completion with --raw).
// The answer goes to stdout as it is generated; reasoning to stderr (dimmed on a terminal;
// --hide-thinking drops it); tool calls to stdout as JSON lines. --json prints one object
// {reasoning, content, tool_calls, stop_reason, timings} at the end instead. --json-schema,
// --grammar, --regex, --json-object and --tool-choice constrain what is generated.

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "common_flags.h"

namespace lfm::cli {

namespace {

std::string read_prompt(const std::string& prompt, const std::string& file, bool* from_stdin) {
    *from_stdin = false;
    if (!prompt.empty()) return prompt;
    if (!file.empty()) return read_file(file, "prompt");
    if (::isatty(STDIN_FILENO)) throw Error(ErrorCode::kInvalidArgument, "no prompt: give -p TEXT, -f FILE or text on standard input");
    *from_stdin = true;
    std::stringstream ss;
    ss << std::cin.rdbuf();
    std::string text = ss.str();
    if (text.empty()) throw Error(ErrorCode::kInvalidArgument, "no prompt: standard input was empty or closed");
    return text;
}

}  // namespace

Command add_run(CLI::App& app) {
    struct Opts {
        ModelFlags model;
        SamplingFlags sampling;
        ConstraintFlags constraint;
        std::string prompt, file, prompt_ids;
        bool raw = false, json = false, print_ids = false, hide_thinking = false, timings = false;
    };
    auto o = std::make_shared<Opts>();
    add_model_flags(app, o->model);
    add_sampling_flags(app, o->sampling);
    add_constraint_flags(app, o->constraint);
    auto* p = app.add_option("-p,--prompt", o->prompt, "the prompt (or -f FILE, or standard input)");
    app.add_option("-f,--file", o->file, "read the prompt from a file")->excludes(p);
    app.add_option("--prompt-ids", o->prompt_ids, "the prompt as token ids (1,2,3 or @FILE); implies --raw")->excludes(p);
    app.add_flag("--raw", o->raw, "plain completion: no chat template, BOS + the prompt text");
    app.add_flag("--json", o->json, "print {reasoning, content, tool_calls, stop_reason, timings} as JSON at the end");
    app.add_flag("--print-ids", o->print_ids, "print the generated token ids (with --json: a \"tokens\" field)");
    app.add_flag("--hide-thinking", o->hide_thinking, "do not print the reasoning");
    app.add_flag("--timings", o->timings, "print prompt and generation speed on stderr at the end");
    return [o] {
        bool from_stdin = false;
        const bool raw = o->raw || !o->prompt_ids.empty();
        std::string text;
        if (o->prompt_ids.empty()) text = read_prompt(o->prompt, o->file, &from_stdin);
        if (o->sampling.n_predict > o->model.ctx)
            throw Error(ErrorCode::kInvalidArgument, fmt::format("-n {} is more than the context size ({}); raise -c",
                                                                 o->sampling.n_predict, o->model.ctx));
        std::vector<Tool> tools;
        if (!o->sampling.tools_file.empty()) tools = read_tools(o->sampling.tools_file);
        LoadedModel m = load_model(o->model);

        GenerateOptions go = generate_options(o->sampling);
        go.tools = tools;
        go.parse_reply = !raw;
        go.constraint = make_constraint(o->constraint, tools, !o->sampling.no_think, m.tokenizer);
        const bool color_err = use_color(STDERR_FILENO);
        GenerateEvents ev;
        if (!o->json) {
            ev.content = [](std::string_view s) {
                std::fwrite(s.data(), 1, s.size(), stdout);
                std::fflush(stdout);
            };
            if (!o->hide_thinking)
                ev.reasoning = [color_err](std::string_view s) {
                    fmt::print(stderr, "{}{}{}", color_err ? kDim : "", s, color_err ? kReset : "");
                    std::fflush(stderr);
                };
            ev.tool_call = [](const ToolCall& c) { fmt::print("\n{}\n", tool_call_json(c).dump()); };
        }

        GenerateResult r;
        if (raw) {
            std::vector<int32_t> prompt = !o->prompt_ids.empty() ? parse_ids(o->prompt_ids)
                                                                 : m.tokenizer->encode(text, m.tokenizer->add_bos(), true);
            Session session(m.model, m.session);
            r = generate(session, *m.tokenizer, prompt, go, ev);
        } else {
            Chat::Options co;
            co.session = m.session;
            co.template_source = m.template_source;
            co.render.date = o->sampling.date;
            Chat chat(m.model, m.tokenizer, co);
            if (!o->sampling.system.empty()) chat.set_system(o->sampling.system);
            chat.set_tools(tools);
            r = chat.send(text, go, ev);
        }

        if (o->json) {
            nlohmann::ordered_json j;
            j["reasoning"] = r.reply.reasoning;
            j["content"] = r.reply.content;
            j["tool_calls"] = nlohmann::ordered_json::array();
            for (const ToolCall& c : r.reply.tool_calls) j["tool_calls"].push_back(tool_call_json(c));
            j["stop_reason"] = to_string(r.stop_reason);
            j["timings"] = {{"prompt_tokens", r.timings.prompt_tokens},
                            {"prompt_ms", r.timings.prompt_ms},
                            {"prompt_tokens_per_second", r.timings.prompt_tokens_per_second()},
                            {"generated_tokens", r.timings.generated_tokens},
                            {"generate_ms", r.timings.generate_ms},
                            {"generate_tokens_per_second", r.timings.generate_tokens_per_second()}};
            if (o->print_ids) j["tokens"] = r.tokens;
            fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
        } else {
            if (!r.reply.content.empty() || !r.reply.tool_calls.empty()) fmt::print("\n");
            if (o->print_ids) fmt::print("[{}]\n", fmt::join(r.tokens, ", "));
        }
        if (o->timings)
            fmt::print(stderr, "prompt: {} tokens, {:.1f} t/s | generation: {} tokens, {:.1f} t/s | stop: {}\n",
                       r.timings.prompt_tokens, r.timings.prompt_tokens_per_second(), r.timings.generated_tokens,
                       r.timings.generate_tokens_per_second(), to_string(r.stop_reason));
        return 0;
    };
}

}  // namespace lfm::cli
