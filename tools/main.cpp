// `lfm`: the command-line face of the library. Flags and output live here; logic lives in the
// library. Errors become one line on stderr and exit code 1.

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "commands.h"
#include "lfm/error.h"
#include "lfm/version.h"

int main(int argc, char** argv) {
    // llama.cpp spells the hub option -hf; CLI11 takes one-letter short options only.
    std::vector<std::string> arg_storage(argv, argv + argc);
    std::vector<char*> args;
    for (std::string& a : arg_storage) {
        if (a == "-hf") a = "--hf-repo";
        args.push_back(a.data());
    }
    argc = static_cast<int>(args.size());
    argv = args.data();

    CLI::App app{"lfm: CPU inference for Liquid AI's LFM2 / LFM2.5 (MoE) models", "lfm"};
    app.set_version_flag("--version", std::string("lfm ") + lfm::kVersionString);
    app.require_subcommand(1);
    std::map<CLI::App*, lfm::cli::Command> commands;
    auto add = [&](const char* name, const char* help, lfm::cli::Command (*make)(CLI::App&)) {
        CLI::App* sub = app.add_subcommand(name, help);
        commands[sub] = make(*sub);
    };
    add("chat", "Chat with a model in the terminal", lfm::cli::add_chat);
    add("serve", "Serve the model over HTTP: OpenAI's chat completions and completions APIs", lfm::cli::add_serve);
    add("run", "Generate one reply (through the chat template) or a plain completion", lfm::cli::add_run);
    add("perplexity", "Perplexity of a text, and KL divergence against saved logits", lfm::cli::add_perplexity);
    add("template", "Render a conversation with a chat template, or split a reply (--parse)", lfm::cli::add_template);
    add("pull", "Download a GGUF from the Hugging Face hub into its cache", lfm::cli::add_pull);
    add("info", "Show a model's architecture, configuration, tensors and sizes", lfm::cli::add_info);
    add("eval", "Evaluate token ids and print or save the logits of every position", lfm::cli::add_eval);
    add("tokenize", "Turn text into token ids with a model's tokenizer", lfm::cli::add_tokenize);
    add("bench", "Measure prompt and generation speed (llama-bench's table and JSON)", lfm::cli::add_bench);
    add("system", "Show the CPU features found and the kernel path chosen", lfm::cli::add_system);
    add("synth", "Write a full-shape model with random weights (for benchmarks)", lfm::cli::add_synth);
    add("grammar-bench", "Walk a document through a constraint token by token and time the masks",
        lfm::cli::add_grammar_bench);
    add("mcp", "List MCP servers' tools, or call one (checks an --mcp configuration)", lfm::cli::add_mcp);

    if (argc > 1 && argv[1][0] != '-') {
        bool known = false;
        for (const auto& [sub, run] : commands) known |= sub->get_name() == argv[1];
        if (!known) {
            fmt::print(stderr, "lfm: error: unknown command '{}' (see lfm --help)\n", argv[1]);
            return 2;
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One line: what is wrong, and where to look.
        std::string what = e.what();
        for (char& c : what)
            if (c == '\n') c = ' ';
        while (!what.empty() && what.back() == ' ') what.pop_back();
        fmt::print(stderr, "lfm: error: {} (see lfm --help)\n", what);
        return 2;
    }
    try {
        for (const auto& [sub, run] : commands)
            if (sub->parsed()) return run();
    } catch (const lfm::Error& e) {
        fmt::print(stderr, "lfm: error: {}\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "lfm: error: {}\n", e.what());
        return 1;
    }
    return 0;
}
