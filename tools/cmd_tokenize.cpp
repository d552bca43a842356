// `lfm tokenize -m MODEL (-p TEXT | --stdin) [--ids] [--no-bos] [--no-parse-special]`
// Needs only the tokenizer: any GGUF with tokenizer.ggml.* metadata, a HF directory or a
// tokenizer.json.

#include <fmt/format.h>

#include <iostream>
#include <iterator>

#include "commands.h"
#include "lfm/tokenizer.h"

namespace lfm::cli {

Command add_tokenize(CLI::App& app) {
    struct Opts {
        std::string model, prompt;
        bool from_stdin = false, ids_only = false, no_bos = false, no_parse_special = false;
    };
    auto o = std::make_shared<Opts>();
    app.add_option("-m,--model", o->model, "GGUF file, Hugging Face directory or tokenizer.json")->required();
    auto* p = app.add_option("-p,--prompt", o->prompt, "text to tokenize");
    auto* s = app.add_flag("--stdin", o->from_stdin, "read the text from standard input, exactly as read");
    p->excludes(s);
    app.add_flag("--ids", o->ids_only, "print only the ids, as a list: [1, 2, 3]");
    app.add_flag("--no-bos", o->no_bos, "do not add the BOS token");
    app.add_flag("--no-parse-special", o->no_parse_special, "treat special-token text such as <|im_end|> as plain text");
    return [o] {
        if (o->from_stdin) {
            o->prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        } else if (o->prompt.empty()) {
            throw Error(ErrorCode::kInvalidArgument, "tokenize needs -p TEXT or --stdin");
        }
        const auto tok = Tokenizer::load(o->model);
        const bool add_bos = !o->no_bos && tok->add_bos();
        const auto ids = tok->encode(o->prompt, add_bos, !o->no_parse_special);
        if (o->ids_only) {
            std::string line = "[";
            for (size_t k = 0; k < ids.size(); ++k) line += fmt::format("{}{}", k ? ", " : "", ids[k]);
            fmt::print("{}]\n", line);
            return 0;
        }
        for (int32_t id : ids) fmt::print("{:>7} -> '{}'\n", id, tok->token_bytes(id));
        return 0;
    };
}

}  // namespace lfm::cli
