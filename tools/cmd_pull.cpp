// `lfm pull ORG/NAME[:QUANT]`: download a GGUF from the Hugging Face hub into the hub's cache
// (or find it there) and print its local path. Resumes a download that was cut.

#include <fmt/format.h>

#include "commands.h"
#include "common_flags.h"
#include "lfm/hub.h"

namespace lfm::cli {

Command add_pull(CLI::App& app) {
    struct Opts {
        std::string spec;
        int retries = 3;
    };
    auto o = std::make_shared<Opts>();
    app.add_option("repo", o->spec, "ORG/NAME[:QUANT], e.g. LiquidAI/LFM2.5-8B-A1B-GGUF:Q4_K_M")->required();
    app.add_option("--retries", o->retries, "further attempts after a dropped connection, each resuming (default 3)")
        ->check(CLI::Range(0, 100));
    app.footer("Files go to $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub; HF_TOKEN is sent when set;\n"
               "HF_ENDPOINT changes the hub; HF_HUB_OFFLINE=1 uses the cache only.");
    return [o] {
        HubOptions options = hub_options_with_progress();
        options.retries = o->retries;
        fmt::print("{}\n", hub_fetch(o->spec, options));
        return 0;
    };
}

}  // namespace lfm::cli
