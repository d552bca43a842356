// `lfm grammar-bench -m VOCAB.gguf --json-schema SCHEMA.json --instance DOC.json [--grammar FILE] [--json]`
// (or --regex RE, --json-object, or --tools TOOLS.json [--tool-choice NAME|required]: a forced
// tool call; TOOLS.json a list of {"name", "parameters"} or OpenAI-style {"function": {...}})
// Tokenizes the instance as a model would write it (the file's text exactly, no BOS, special
// token text not parsed), walks the constraint token by token, and times each mask:
// {"accepted", "rejected_at" (byte offset or null), "tokens", "compile_ms",
//  "mask_us": {"mean", "p50", "p99", "max"}, "matcher_kib" (the matcher's own memory at the end),
//  "shared_cache_kib" (the masks the Constraint keeps for all its matchers)}; with --repeat N also
//  "warm_mask_us": the N-th walk, by a new matcher of the same constraint (a server's later request). Exit 0 whether accepted or not; exit 2 with one
// line on stderr when the constraint does not compile.
// `--batch` (with -m and --json-schema/--instance left out): many schemas in one run, the
// vocabulary loaded once. Each stdin line {"schema": SCHEMA, "instances": ["text", ...]} gives one
// stdout line: {"compiled": false, "error": "..."} or {"compiled": true, "compile_ms",
// "results": [{"accepted", "rejected_at", "tokens", "mask_us": [every mask's time]}]}, each
// instance walked by a new matcher of the one constraint (as MaskBench does).

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common_flags.h"
#include "lfm/constrain.h"

namespace lfm::cli {

namespace {

struct Walk {
    bool accepted = true;
    int64_t rejected_at = -1;
    std::vector<double> mask_us;  // one per mask, the end's included
    size_t matcher_bytes = 0;     // the matcher's own memory at the end
};

// Walks the token ids through a new matcher, timing each mask; accepted when every token is
// allowed and an end-of-turn token is allowed after the last.
Walk walk_tokens(const std::shared_ptr<const Constraint>& constraint, const Tokenizer& tokenizer,
                 const std::vector<int32_t>& ids, size_t text_size) {
    using Clock = std::chrono::steady_clock;
    Walk w;
    ConstraintMatcher matcher(constraint);
    std::vector<uint64_t> mask(matcher.mask_words());
    w.mask_us.reserve(ids.size() + 1);
    auto timed_mask = [&] {
        const auto t = Clock::now();
        matcher.fill_mask(mask);
        w.mask_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    };
    auto allowed = [&](int32_t id) { return (mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1; };
    size_t offset = 0;
    for (int32_t id : ids) {
        timed_mask();
        if (!allowed(id) || !matcher.advance(id)) {
            w.accepted = false;
            w.rejected_at = static_cast<int64_t>(offset);
            w.matcher_bytes = matcher.memory_bytes();
            return w;
        }
        offset += tokenizer.token_bytes(id, false).size();
    }
    timed_mask();  // the end: an end-of-turn token must be allowed now
    bool can_end = false;
    for (const char* t : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = tokenizer.find_token(t)) can_end = can_end || allowed(*id);
    if (auto eos = tokenizer.eos()) can_end = can_end || allowed(*eos);
    if (!can_end || !matcher.is_complete()) {
        w.accepted = false;
        w.rejected_at = static_cast<int64_t>(text_size);
    }
    w.matcher_bytes = matcher.memory_bytes();
    return w;
}

// --batch: one JSON line in, one out, until stdin ends (see the top of this file).
int run_batch(const std::shared_ptr<const Tokenizer>& tokenizer) {
    using Clock = std::chrono::steady_clock;
    Constraint::regex("x", tokenizer);  // the shared vocabulary trie first: compile_ms is the schema's own cost
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        nlohmann::ordered_json out;
        nlohmann::ordered_json in;  // ordered: the schema's property order is the order members come in
        try {
            in = nlohmann::ordered_json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            throw Error(ErrorCode::kInvalidArgument, fmt::format("--batch: a line that is not JSON: {}", e.what()));
        }
        if (!in.is_object() || !in.contains("schema"))
            throw Error(ErrorCode::kInvalidArgument, "--batch: each line must be {\"schema\": ..., \"instances\": [...]}");
        std::shared_ptr<const Constraint> constraint;
        const auto t0 = Clock::now();
        try {
            constraint = Constraint::json_schema(in["schema"].dump(), tokenizer);
        } catch (const Error& e) {
            out["compiled"] = false;
            out["error"] = e.what();
        }
        if (constraint) {
            out["compiled"] = true;
            out["compile_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            out["results"] = nlohmann::ordered_json::array();
            for (const auto& inst : in.value("instances", nlohmann::ordered_json::array())) {
                if (!inst.is_string()) throw Error(ErrorCode::kInvalidArgument, "--batch: each instance must be a string");
                const std::string text = inst.get<std::string>();
                const std::vector<int32_t> ids = tokenizer->encode(text, false, false);
                Walk w = walk_tokens(constraint, *tokenizer, ids, text.size());
                nlohmann::ordered_json r;
                r["accepted"] = w.accepted;
                r["rejected_at"] = w.accepted ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(w.rejected_at);
                r["tokens"] = ids.size();
                r["mask_us"] = w.mask_us;
                out["results"].push_back(std::move(r));
            }
        }
        std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    }
    return 0;
}

}  // namespace

Command add_grammar_bench(CLI::App& app) {
    struct Opts {
        std::string model, schema, grammar, regex, instance, tools, tool_choice = "required";
        bool json = false, json_object = false, batch = false;
        int repeat = 1;
    };
    auto o = std::make_shared<Opts>();
    app.add_option("-m,--model", o->model, "a GGUF file (a vocabulary-only one will do) or tokenizer.json")->required();
    auto* s = app.add_option("--json-schema", o->schema, "the JSON Schema file");
    auto* g = app.add_option("--grammar", o->grammar, "a GBNF grammar file instead of a schema")->excludes(s);
    auto* r = app.add_option("--regex", o->regex, "a regular expression instead of a schema")->excludes(s)->excludes(g);
    app.add_flag("--json-object", o->json_object, "any JSON object instead of a schema")->excludes(s)->excludes(g)->excludes(r);
    auto* tools_opt = app.add_option("--tools", o->tools, "a JSON file of tools: bench the forced tool-call grammar")
                  ->excludes(s)->excludes(g)->excludes(r);
    app.add_option("--tool-choice", o->tool_choice, "with --tools: required (any tool) or a tool's name")->needs(tools_opt);
    auto* inst = app.add_option("--instance", o->instance, "the document to walk through the constraint");
    app.add_flag("--batch", o->batch, "read {\"schema\", \"instances\"} JSON lines on stdin, write one result line each")
        ->excludes(inst)->excludes(s)->excludes(g)->excludes(r)->excludes(tools_opt);
    app.add_flag("--json", o->json, "print one JSON object");
    app.add_option("--repeat", o->repeat, "walk the instance this many times, each with a new matcher of the same constraint "
                                          "(as a server's later requests): warm_mask_us times the last walk")
        ->check(CLI::Range(1, 1000));
    return [o] {
        using Clock = std::chrono::steady_clock;
        auto tokenizer = Tokenizer::load(o->model);
        if (o->batch) return run_batch(tokenizer);
        if (o->instance.empty()) throw Error(ErrorCode::kInvalidArgument, "give --instance FILE (or --batch)");
        const std::string text = read_file(o->instance, "instance");
        std::string source;
        if (!o->schema.empty()) source = read_file(o->schema, "JSON schema");
        else if (!o->grammar.empty()) source = read_file(o->grammar, "grammar");
        else if (!o->tools.empty()) source = read_file(o->tools, "tools");
        else if (o->regex.empty() && !o->json_object)
            throw Error(ErrorCode::kInvalidArgument, "give --json-schema FILE, --grammar FILE, --regex RE or --json-object");
        // The vocabulary trie is built once per tokenizer and shared by every constraint: build
        // it first, so compile_ms is the constraint's own cost.
        Constraint::regex("x", tokenizer);
        std::shared_ptr<const Constraint> constraint;
        const auto t0 = Clock::now();
        try {
            if (!o->schema.empty()) constraint = Constraint::json_schema(source, tokenizer);
            else if (!o->grammar.empty()) constraint = Constraint::gbnf(source, tokenizer);
            else if (!o->regex.empty()) constraint = Constraint::regex(o->regex, tokenizer);
            else if (!o->tools.empty()) {
                std::vector<Tool> tools;
                for (const auto& x : nlohmann::json::parse(source)) {
                    const auto& f = x.contains("function") ? x["function"] : x;
                    Tool tool;
                    tool.name = f.at("name").get<std::string>();
                    if (f.contains("parameters")) tool.parameters = f["parameters"].dump();
                    tools.push_back(std::move(tool));
                }
                const std::string name = o->tool_choice == "required" ? "" : o->tool_choice;
                constraint = Constraint::tool_call(tools, name, false, tokenizer);
            }
            else constraint = Constraint::json_object(tokenizer);
        } catch (const nlohmann::json::exception& e) {
            fmt::print(stderr, "lfm: error: {}: {}\n", o->tools, e.what());
            return 2;
        } catch (const Error& e) {
            const std::string& file = !o->schema.empty() ? o->schema : !o->grammar.empty() ? o->grammar : o->tools;
            fmt::print(stderr, "lfm: error: {}{}\n", file.empty() ? "" : file + ": ", e.what());
            return 2;
        }
        const double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

        const std::vector<int32_t> ids = tokenizer->encode(text, false, !o->tools.empty());  // a tool call names its special tokens
        Walk first = walk_tokens(constraint, *tokenizer, ids, text.size());
        const bool accepted = first.accepted;
        const int64_t rejected_at = first.rejected_at;
        const std::vector<double>& times = first.mask_us;
        // Later walks: new matchers of the same constraint, as a server's later requests.
        std::vector<double> warm;
        for (int walk = 1; walk < o->repeat; ++walk) warm = walk_tokens(constraint, *tokenizer, ids, text.size()).mask_us;
        auto summary = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            auto pct = [&](double p) {
                if (v.empty()) return 0.0;
                size_t k = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
                return v[std::min(k, v.size() - 1)];
            };
            double mean = 0;
            for (double t : v) mean += t;
            mean = v.empty() ? 0 : mean / static_cast<double>(v.size());
            return nlohmann::ordered_json{{"mean", mean}, {"p50", pct(0.5)}, {"p99", pct(0.99)}, {"max", v.empty() ? 0.0 : v.back()}};
        };
        nlohmann::ordered_json j;
        j["accepted"] = accepted;
        j["rejected_at"] = rejected_at < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(rejected_at);
        j["tokens"] = ids.size();
        j["compile_ms"] = compile_ms;
        j["mask_us"] = summary(times);
        if (o->repeat > 1) j["warm_mask_us"] = summary(warm);
        j["matcher_kib"] = static_cast<double>(first.matcher_bytes) / 1024;
        j["shared_cache_kib"] = static_cast<double>(constraint->cache_bytes()) / 1024;
        if (o->json) {
            fmt::print("{}\n", j.dump());
        } else {
            fmt::print("{} ({} tokens{}); compile {:.2f} ms; mask mean {:.1f} us, p50 {:.1f}, p99 {:.1f}, max {:.1f}; "
                       "matcher {:.0f} KiB, shared cache {:.0f} KiB\n",
                       accepted ? "accepted" : "rejected", ids.size(),
                       accepted ? "" : fmt::format(", at byte {}", rejected_at), compile_ms,
                       j["mask_us"]["mean"].get<double>(), j["mask_us"]["p50"].get<double>(), j["mask_us"]["p99"].get<double>(),
                       j["mask_us"]["max"].get<double>(), j["matcher_kib"].get<double>(), j["shared_cache_kib"].get<double>());
            if (o->repeat > 1)
                fmt::print("walk {} (same constraint, new matcher): mask mean {:.1f} us, p50 {:.1f}, p99 {:.1f}, max {:.1f}\n",
                           o->repeat, j["warm_mask_us"]["mean"].get<double>(), j["warm_mask_us"]["p50"].get<double>(),
                           j["warm_mask_us"]["p99"].get<double>(), j["warm_mask_us"]["max"].get<double>());
        }
        return 0;
    };
}

}  // namespace lfm::cli
