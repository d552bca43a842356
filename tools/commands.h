#pragma once
// Each subcommand of `lfm` registers its flags on the CLI11 app and returns the function that
// runs it. The functions return the process exit code; lfm::Error propagates to main().

#include <CLI/CLI.hpp>
#include <functional>

namespace lfm::cli {

using Command = std::function<int()>;

Command add_info(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_tokenize(CLI::App& app);
Command add_synth(CLI::App& app);
Command add_bench(CLI::App& app);
Command add_system(CLI::App& app);
Command add_run(CLI::App& app);
Command add_chat(CLI::App& app);
Command add_template(CLI::App& app);
Command add_perplexity(CLI::App& app);
Command add_pull(CLI::App& app);
Command add_grammar_bench(CLI::App& app);
Command add_serve(CLI::App& app);
Command add_mcp(CLI::App& app);

}  // namespace lfm::cli
