// `lfm`: the command-line face of the library. Flags and output live here; logic lives in the
// library. Errors become one line on stderr and exit code 1.

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <map>

#include "commands.h"
#include "lfm/error.h"
#include "lfm/version.h"

int main(int argc, char** argv) {
    CLI::App app{"lfm: CPU inference for Liquid AI's LFM2 / LFM2.5 (MoE) models", "lfm"};
    app.set_version_flag("--version", std::string("lfm ") + lfm::kVersionString);
    app.require_subcommand(1);
    std::map<CLI::App*, lfm::cli::Command> commands;
    auto add = [&](const char* name, const char* help, lfm::cli::Command (*make)(CLI::App&)) {
        CLI::App* sub = app.add_subcommand(name, help);
        commands[sub] = make(*sub);
    };
    add("info", "Show a model's architecture, configuration, tensors and sizes", lfm::cli::add_info);
    add("eval", "Evaluate token ids and print or save the logits of every position", lfm::cli::add_eval);
    add("tokenize", "Turn text into token ids with a model's tokenizer", lfm::cli::add_tokenize);
    add("bench", "Measure prompt and generation speed (llama-bench's table and JSON)", lfm::cli::add_bench);
    add("system", "Show the CPU features found and the kernel path chosen", lfm::cli::add_system);
    add("synth", "Write a full-shape model with random weights (for benchmarks)", lfm::cli::add_synth);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
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
