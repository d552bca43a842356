// `lfm template -m MODEL | --template FILE --conversation CONV.json [--date YYYY-MM-DD]`
//   prints the prompt the model would be shown, exactly (no newline added).
// `lfm template --parse [--tools FILE] < reply.txt`
//   splits a generated assistant text into {reasoning, content, tool_calls} as JSON.
// The two debugging aids of people who build agents on top.

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "common_flags.h"
#include "lfm/chat.h"

namespace lfm::cli {

Command add_template(CLI::App& app) {
    struct Opts {
        std::string model, template_file, conversation, date, tools_file;
        bool parse = false;
    };
    auto o = std::make_shared<Opts>();
    auto* m = app.add_option("-m,--model", o->model, "take the template (and BOS/EOS) from this model");
    app.add_option("--template", o->template_file, "a Jinja template file")->excludes(m);
    auto* conv = app.add_option("--conversation", o->conversation,
                                "a JSON file: a list of messages, or {messages, tools, add_generation_prompt, extra}");
    app.add_option("--date", o->date, "the date strftime_now() gives, YYYY-MM-DD (default: today)");
    auto* parse = app.add_flag("--parse", o->parse, "read an assistant reply on stdin and print it split, as JSON");
    app.add_option("--tools", o->tools_file, "with --parse: the declared tools (call names are checked)");
    parse->excludes(conv);
    return [o] {
        if (o->parse) {
            std::stringstream ss;
            ss << std::cin.rdbuf();
            std::vector<Tool> tools;
            if (!o->tools_file.empty()) tools = read_tools(o->tools_file);
            const ParsedReply r = parse_reply(ss.str(), tools);
            nlohmann::ordered_json j;
            j["reasoning"] = r.reasoning;
            j["content"] = r.content;
            j["tool_calls"] = nlohmann::ordered_json::array();
            for (const ToolCall& c : r.tool_calls) j["tool_calls"].push_back(tool_call_json(c));
            if (!r.tool_call_errors.empty()) j["tool_call_errors"] = r.tool_call_errors;
            fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
            return 0;
        }
        if (o->conversation.empty()) throw Error(ErrorCode::kInvalidArgument, "give --conversation FILE (or --parse)");
        if (o->model.empty() && o->template_file.empty())
            throw Error(ErrorCode::kInvalidArgument, "give -m MODEL or --template FILE");
        std::string source, bos = "<|startoftext|>", eos = "<|im_end|>";
        if (!o->template_file.empty()) {
            source = read_file(o->template_file, "template");
        } else {
            const auto tokenizer = Tokenizer::load(o->model);
            source = tokenizer->chat_template().empty() ? ChatTemplate::builtin_source() : tokenizer->chat_template();
            if (auto id = tokenizer->bos()) bos = tokenizer->token_bytes(*id);
            if (auto id = tokenizer->eos()) eos = tokenizer->token_bytes(*id);
        }
        const ChatTemplate tmpl(source, bos, eos);
        RenderOptions ro;
        ro.date = o->date;
        const std::string out = tmpl.render_json(read_file(o->conversation, "conversation"), ro);
        std::fwrite(out.data(), 1, out.size(), stdout);
        return 0;
    };
}

}  // namespace lfm::cli
