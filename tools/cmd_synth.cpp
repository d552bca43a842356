// `lfm synth -o FILE [--shape lfm2.5-8b-a1b|lfm2-8b-a1b|CONFIG.json] [--type Q4_K_M] [--seed N]`

#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "lfm/synth.h"

namespace lfm::cli {

Command add_synth(CLI::App& app) {
    auto o = std::make_shared<SynthOptions>();
    auto out = std::make_shared<std::string>();
    app.add_option("-o,--output", *out, "GGUF file to write")->required();
    app.add_option("--shape", o->shape, "lfm2.5-8b-a1b (default), lfm2-8b-a1b, or a JSON config file");
    app.add_option("--type", o->type, "weight types: Q4_0, Q4_K_M, Q5_K_M, Q6_K, Q8_0, F16, BF16, F32, and Q2_K, Q3_K, IQ4_NL, IQ4_XS, MXFP4 (every matrix that type; default Q4_K_M)");
    app.add_option("--seed", o->seed, "random seed (the same seed writes the same file)");
    return [o, out] {
        write_synthetic_gguf(*out, *o);
        fmt::print("wrote {} ({:.2f} GiB): shape {}, type {}, seed {}\n", *out,
                   static_cast<double>(std::filesystem::file_size(*out)) / (1 << 30), o->shape, o->type, o->seed);
        return 0;
    };
}

}  // namespace lfm::cli
