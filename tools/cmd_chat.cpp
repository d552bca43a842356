// `lfm chat -m MODEL`: a terminal chat. Replies stream as they are generated, reasoning dimmed
// (or hidden); Ctrl-C stops the reply and keeps the conversation, Ctrl-D quits. Line editing
// and history come from libedit when stdin is a terminal; a line ending in '\' continues on the
// next, and a line of """ opens or closes a multi-line block. Slash commands: see kHelp.
// With --mcp FILE the model's tool calls run on MCP servers: each is asked for (y / n / a =
// always this tool; --yes: never ask), its result goes back to the model, and the model goes on
// until it answers without a call (or --max-tool-rounds). Ctrl-C stops a running call.

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <iostream>

// libedit's readline compatibility header; it uses FILE without including <cstdio> itself.
#include <editline/readline.h>

#include "agent_flags.h"
#include "commands.h"
#include "common_flags.h"

namespace lfm::cli {
namespace {

constexpr const char* kHelp =
    "  /help              this help\n"
    "  /reset             forget the conversation (the system prompt stays)\n"
    "  /system TEXT       set the system prompt (and start over)\n"
    "  /tools FILE        declare tools from a JSON file of function schemas (/tools off: none)\n"
    "  /mcp               the MCP servers (--mcp), their state and their tools\n"
    "  /think on|off      let the model think before answering, or ask it not to\n"
    "  /stats             speed of the last reply and context used\n"
    "  /retry             answer the last message again\n"
    "  /save FILE         save the conversation and its state (resume with /load or --session)\n"
    "  /load FILE         resume a conversation saved with /save\n"
    "  /quit              leave (or Ctrl-D)\n"
    "  Ctrl-C stops a reply; end a line with \\ or type \"\"\" to write several lines.\n";

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");

extern "C" void on_sigint(int) { g_interrupted.store(true); }

// One line of input: libedit on a terminal, plain getline otherwise. nullopt: end of input.
struct LineReader {
    bool tty = ::isatty(STDIN_FILENO) != 0;

    std::optional<std::string> read(const char* prompt) {
        if (!tty) {
            std::string line;
            if (!std::getline(std::cin, line)) return std::nullopt;
            return line;
        }
        for (;;) {
            g_interrupted = false;  // a Ctrl-C that libedit swallowed earlier is not this one
            char* raw = ::readline(prompt);
            if (raw == nullptr) {
                if (g_interrupted.exchange(false)) {  // Ctrl-C at the prompt: a fresh line
                    std::fputs("\n", stdout);
                    continue;
                }
                return std::nullopt;
            }
            std::string line(raw);
            std::free(raw);
            if (!line.empty()) ::add_history(line.c_str());
            return line;
        }
    }

    // A whole message: continuation lines after '\', or a """ ... """ block.
    std::optional<std::string> read_message() {
        auto first = read(tty ? "> " : "");
        if (!first) return std::nullopt;
        std::string text = *first;
        if (text == "\"\"\"") {
            text.clear();
            for (;;) {
                auto more = read(tty ? ". " : "");
                if (!more || *more == "\"\"\"") break;
                text += (text.empty() ? "" : "\n") + *more;
            }
            return text;
        }
        while (!text.empty() && text.back() == '\\') {
            text.back() = '\n';
            auto more = read(tty ? ". " : "");
            if (!more) break;
            text += *more;
        }
        return text;
    }
};

std::string trim(std::string s) {
    size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

Command add_chat(CLI::App& app) {
    struct Opts {
        ModelFlags model;
        SamplingFlags sampling;
        AgentFlags agent;
        bool hide_thinking = false;
        std::string session_file;
    };
    auto o = std::make_shared<Opts>();
    add_model_flags(app, o->model);
    add_sampling_flags(app, o->sampling);
    add_agent_flags(app, o->agent, true);
    app.add_flag("--hide-thinking", o->hide_thinking, "do not show the reasoning");
    app.add_option("--session", o->session_file,
                   "resume the conversation saved in FILE (if it exists) and save it there after every reply");
    return [o] {
        if (o->sampling.n_predict > o->model.ctx)
            throw Error(ErrorCode::kInvalidArgument, fmt::format("-n {} is more than the context size ({}); raise -c",
                                                                 o->sampling.n_predict, o->model.ctx));
        if (o->agent.enabled() && !o->sampling.tools_file.empty())
            throw Error(ErrorCode::kInvalidArgument, "--tools and --mcp: give the tools one way (--mcp runs them)");
        std::vector<Tool> tools;
        if (!o->sampling.tools_file.empty()) tools = read_tools(o->sampling.tools_file);
        const bool color = use_color(STDOUT_FILENO);
        auto paint = [color](const char* c) { return color ? c : ""; };

        LoadedModel m = load_model(o->model);
        Chat::Options co;
        co.session = m.session;
        co.template_source = m.template_source;
        co.render.date = o->sampling.date;
        Chat chat(m.model, m.tokenizer, co);
        chat.set_system(o->sampling.system);
        chat.set_tools(tools);
        GenerateOptions go = generate_options(o->sampling);

        std::shared_ptr<McpTools> mcp = o->agent.enabled() ? start_mcp(o->agent) : nullptr;
        const ModelInfo& info = m.model->info();
        const int threads = m.session.n_threads > 0 ? m.session.n_threads : default_thread_count();
        fmt::print("{}lfm chat{} · {} ({}, {}) · {} threads · {} · context {}\n", paint(kBold), paint(kReset),
                   info.path, info.architecture, info.file_type, threads, kernel_isa(), chat.context_size());
        if (mcp) fmt::print("{} tools from {} MCP servers (/mcp lists them)\n", mcp->tools().size(), mcp->servers().size());
        fmt::print("Type /help for commands, Ctrl-C to stop a reply, Ctrl-D to quit.\n");
        if (!o->session_file.empty() && std::filesystem::exists(o->session_file)) {
            chat.load(o->session_file);  // the saved conversation's system prompt and tools replace the flags'
            fmt::print("{}(resumed {} messages, {} tokens, from {}){}\n", paint(kDim), chat.messages().size(),
                       chat.context_used(), o->session_file, paint(kReset));
        }
        std::fflush(stdout);

        struct sigaction sa {};
        sa.sa_handler = on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, nullptr);

        LineReader reader;
        Timings last;
        GenerateEvents ev;
        bool in_thought = false;
        ev.reasoning = [&](std::string_view s) {
            if (o->hide_thinking) return;
            if (!in_thought) fmt::print("{}", paint(kDim));
            in_thought = true;
            fmt::print("{}", s);
            std::fflush(stdout);
        };
        auto end_thought = [&] {
            if (in_thought) fmt::print("{}\n", paint(kReset));
            in_thought = false;
        };
        ev.content = [&](std::string_view s) {
            end_thought();
            fmt::print("{}", s);
            std::fflush(stdout);
        };
        ev.tool_call = [&](const ToolCall& c) {
            end_thought();
            fmt::print("\n{}→ {}{}", paint(kCyan), describe_call(c), paint(kReset));
            std::fflush(stdout);
        };

        // The tool loop (--mcp): each call is asked for unless --yes or allowed "always".
        std::unique_ptr<Agent> agent;
        if (mcp) {
            AgentOptions ao = agent_options(o->agent);
            ao.thinking = !o->sampling.no_think;
            if (!o->agent.yes)
                ao.approve = [&](const ToolCall&) {
                    fmt::print("\n");
                    for (;;) {
                        auto answer = reader.read("run it? [y]es, [n]o, [a]lways for this tool > ");
                        if (!answer) return ToolApproval::kDeny;
                        const std::string a = trim(*answer);
                        if (a == "y" || a == "yes") return ToolApproval::kAllow;
                        if (a == "n" || a == "no") return ToolApproval::kDeny;
                        if (a == "a" || a == "always") return ToolApproval::kAlwaysAllow;
                    }
                };
            ao.on_result = [&](const ToolCall&, const ToolResult& res) {
                fmt::print("\n{}← {}{}\n", paint(kDim), describe_result(res), paint(kReset));
                std::fflush(stdout);
            };
            agent = std::make_unique<Agent>(chat, *mcp, ao);
        }

        // One reply (or, with tools that run, a user message and the rounds it takes).
        auto respond = [&](std::optional<Message> message) {
            g_interrupted = false;
            go.cancel = &g_interrupted;
            GenerateResult r;
            if (agent && message) {
                AgentResult ar = agent->send(std::move(*message), go, ev);
                r = std::move(ar.last);
                if (ar.round_limit)
                    fmt::print("\n{}[stopped after {} tool rounds: --max-tool-rounds]{}", paint(kDim), ar.tool_rounds,
                               paint(kReset));
            } else {
                r = message ? chat.send(std::move(*message), go, ev) : chat.reply(go, ev);
            }
            end_thought();
            if (r.stop_reason == StopReason::kCancelled) fmt::print(" {}[stopped]{}", paint(kDim), paint(kReset));
            if (r.stop_reason == StopReason::kContextFull)
                fmt::print("\n{}[the context is full: the reply was cut]{}", paint(kDim), paint(kReset));
            fmt::print("\n");
            if (r.messages_dropped > 0)
                fmt::print("{}(the context was full: the {} oldest messages were dropped){}\n", paint(kDim),
                           r.messages_dropped, paint(kReset));
            if (!o->session_file.empty()) chat.save(o->session_file);
            g_interrupted = false;
            last = r.timings;
            return r;
        };

        for (;;) {
            auto input = reader.read_message();
            if (!input) {
                fmt::print("\n");
                return 0;
            }
            std::string line = trim(*input);
            if (line.empty()) continue;
            if (line[0] == '/') {
                std::string cmd = line.substr(0, line.find(' '));
                std::string arg = line.size() > cmd.size() ? trim(line.substr(cmd.size())) : "";
                try {
                    if (cmd == "/help") {
                        fmt::print("{}", kHelp);
                    } else if (cmd == "/quit" || cmd == "/exit") {
                        return 0;
                    } else if (cmd == "/reset") {
                        chat.reset();
                        fmt::print("(conversation cleared)\n");
                    } else if (cmd == "/system") {
                        chat.set_system(arg);
                        chat.reset();
                        fmt::print("{}", arg.empty() ? "(system prompt removed)\n" : "(system prompt set; conversation cleared)\n");
                    } else if (cmd == "/mcp") {
                        fmt::print("{}", mcp ? describe_servers(*mcp) : "(no MCP servers: start with --mcp FILE)\n");
                    } else if (cmd == "/tools") {
                        if (mcp) throw Error(ErrorCode::kInvalidArgument, "/tools: the tools come from the MCP servers (--mcp)");
                        chat.set_tools(arg.empty() || arg == "off" ? std::vector<Tool>{} : read_tools(arg));
                        fmt::print("({} tools declared)\n", chat.tools().size());
                    } else if (cmd == "/think") {
                        if (arg != "on" && arg != "off") throw Error(ErrorCode::kInvalidArgument, "/think on or /think off");
                        go.reasoning_budget = arg == "on" ? o->sampling.reasoning_budget : 0;
                        fmt::print("(thinking {})\n", arg);
                    } else if (cmd == "/stats") {
                        fmt::print("last reply: {} tokens at {:.1f} t/s; prompt {} tokens at {:.1f} t/s; context {} / {}\n",
                                   last.generated_tokens, last.generate_tokens_per_second(), last.prompt_tokens,
                                   last.prompt_tokens_per_second(), chat.context_used(), chat.context_size());
                    } else if (cmd == "/save" || cmd == "/load") {
                        if (arg.empty()) throw Error(ErrorCode::kInvalidArgument, cmd + " FILE");
                        if (cmd == "/save") chat.save(arg);
                        else chat.load(arg);
                        fmt::print("({} {} messages, {} tokens, {} {})\n", cmd == "/save" ? "saved" : "loaded",
                                   chat.messages().size(), chat.context_used(), cmd == "/save" ? "to" : "from", arg);
                    } else if (cmd == "/retry") {
                        const auto& msgs = chat.messages();
                        size_t keep = msgs.size();
                        while (keep > 0 && msgs[keep - 1].role == "assistant") --keep;
                        if (keep == 0 || msgs[keep - 1].role == "system")
                            throw Error(ErrorCode::kInvalidArgument, "/retry: there is no message to answer again");
                        chat.truncate(keep);
                        respond(std::nullopt);
                    } else {
                        fmt::print("unknown command {} (try /help)\n", cmd);
                    }
                } catch (const Error& e) {
                    fmt::print("error: {}\n", e.what());
                }
                std::fflush(stdout);
                continue;
            }
            try {
                GenerateResult r = respond(Message::user(line));
                // Tool calls without --mcp: ask the user for each result, then let the model go on.
                while (!agent && !r.reply.tool_calls.empty() && r.stop_reason == StopReason::kEndOfTurn) {
                    for (const ToolCall& c : r.reply.tool_calls) {
                        auto result = reader.read(fmt::format("result of {}> ", c.name).c_str());
                        if (!result) return 0;
                        Message tool = Message::tool(*result);
                        tool.tool_call_id = c.id;
                        chat.add_message(std::move(tool));
                    }
                    r = respond(std::nullopt);
                }
            } catch (const Error& e) {
                end_thought();
                fmt::print("\nerror: {}\n", e.what());
            }
            std::fflush(stdout);
        }
    };
}

}  // namespace lfm::cli
