// `lfm run -m MODEL -p TEXT | -f FILE | < stdin [--raw] [--json] [--prompt-ids IDS] [--print-ids]`
// One-shot generation through the model's chat template (or plain completion with --raw).
// The answer goes to stdout as it is generated; reasoning to stderr (dimmed on a terminal;
// --hide-thinking drops it); tool calls to stdout as JSON lines. --json prints one object
// {reasoning, content, tool_calls, stop_reason, timings, messages, prompt} at the end instead.
// --json-schema, --grammar, --regex, --json-object and --tool-choice constrain what is generated.
// --mcp FILE runs the tools of MCP servers: the model's calls are run (without asking), their
// results go back to it, until it answers without a call; calls and results are shown on stderr,
// and --json's messages hold the whole transcript.

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent_flags.h"
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
        AgentFlags agent;
        std::string prompt, file, prompt_ids;
        bool raw = false, json = false, print_ids = false, hide_thinking = false, timings = false;
    };
    auto o = std::make_shared<Opts>();
    add_model_flags(app, o->model);
    add_sampling_flags(app, o->sampling);
    add_constraint_flags(app, o->constraint);
    add_agent_flags(app, o->agent, false);
    auto* p = app.add_option("-p,--prompt", o->prompt, "the prompt (or -f FILE, or standard input)");
    app.add_option("-f,--file", o->file, "read the prompt from a file")->excludes(p);
    app.add_option("--prompt-ids", o->prompt_ids, "the prompt as token ids (1,2,3 or @FILE); implies --raw")->excludes(p);
    app.add_flag("--raw", o->raw, "plain completion: no chat template, BOS + the prompt text");
    app.add_flag("--json", o->json,
                 "print {reasoning, content, tool_calls, stop_reason, timings, messages, prompt} as JSON at the end");
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
        const bool agent = o->agent.enabled();
        if (agent && raw) throw Error(ErrorCode::kInvalidArgument, "--mcp needs the chat template: drop --raw / --prompt-ids");
        if (agent && !o->sampling.tools_file.empty())
            throw Error(ErrorCode::kInvalidArgument, "--tools and --mcp: give the tools one way (--mcp runs them)");
        std::vector<Tool> tools;
        if (!o->sampling.tools_file.empty()) tools = read_tools(o->sampling.tools_file);
        LoadedModel m = load_model(o->model);
        std::shared_ptr<McpTools> mcp = agent ? start_mcp(o->agent) : nullptr;

        GenerateOptions go = generate_options(o->sampling);
        go.tools = tools;
        go.parse_reply = !raw;
        ConstraintFlags constraint = o->constraint;
        if (agent) constraint.tool_choice.clear();  // the agent forces the first reply's call itself
        go.constraint = make_constraint(constraint, tools, !o->sampling.no_think, m.tokenizer);
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
            if (!agent) ev.tool_call = [](const ToolCall& c) { fmt::print("\n{}\n", tool_call_json(c).dump()); };
        }

        GenerateResult r;
        std::unique_ptr<Chat> chat;
        AgentResult transcript;
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
            chat = std::make_unique<Chat>(m.model, m.tokenizer, co);
            if (!o->sampling.system.empty()) chat->set_system(o->sampling.system);
            chat->set_tools(tools);
            if (agent) {
                AgentOptions ao = agent_options(o->agent);
                ao.tool_choice = o->constraint.tool_choice.empty() ? "auto" : o->constraint.tool_choice;
                ao.thinking = !o->sampling.no_think;
                if (!o->json) {
                    ao.on_call = [color_err](const ToolCall& c) {
                        fmt::print(stderr, "\n{}→ {}{}\n", color_err ? kCyan : "", describe_call(c), color_err ? kReset : "");
                    };
                    ao.on_result = [color_err](const ToolCall&, const ToolResult& res) {
                        fmt::print(stderr, "{}← {}{}\n", color_err ? kDim : "", describe_result(res), color_err ? kReset : "");
                    };
                }
                Agent loop(*chat, *mcp, ao);
                transcript = loop.send(text, go, ev);
                r = transcript.last;
            } else {
                r = chat->send(text, go, ev);
            }
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
            if (chat) {
                // The conversation (OpenAI's message format) and the tools the template showed:
                // rendering all messages but the last gives `prompt`, what the last reply was given.
                const auto& all = chat->messages();
                j["messages"] = nlohmann::ordered_json::parse(Message::list_to_json(all));
                j["tools"] = nlohmann::ordered_json::array();
                for (const Tool& t : chat->tools()) j["tools"].push_back(nlohmann::ordered_json::parse(t.to_json()));
                if (agent) {
                    j["tool_rounds"] = transcript.tool_rounds;
                    j["round_limit"] = transcript.round_limit;
                }
                RenderOptions ro;
                ro.date = o->sampling.date;
                std::string prompt = chat->chat_template().render(std::span(all).first(all.size() - 1), chat->tools(), ro);
                if (go.reasoning_budget == 0) prompt += "<think></think>";
                j["prompt"] = prompt;
            }
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
