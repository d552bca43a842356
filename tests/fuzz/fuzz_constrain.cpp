// libFuzzer target for constraint compilation. The first byte picks the source:
//   0: a JSON Schema, 1: a GBNF grammar, 2: a regular expression, 3: tool parameters (a tool call).
// What compiles is then walked over a made-up vocabulary (the 256 single bytes, a few longer
// strings, and one special token per token the grammar names), choosing among the allowed tokens
// with the input's last bytes: the mask must never be empty before the end, and every allowed
// token must be accepted. Anything may be rejected with lfm::Error; nothing may crash or hang.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "constrain/matcher.h"
#include "constrain/sources.h"
#include "lfm/error.h"

namespace {

using namespace lfm::constrain;

void walk(Grammar g, const uint8_t* choices, size_t n_choices) {
    std::vector<std::string> bytes;
    for (int b = 0; b < 256; ++b) bytes.emplace_back(1, static_cast<char>(b));
    for (const char* w : {"\"", "\": ", "true", "null", ", \"", "[{", "}]", "12", "\xc3\xa9", "\xe6\x97", "\xa5", "abc"})
        bytes.emplace_back(w);
    std::vector<uint8_t> special(bytes.size(), 0);
    auto c = std::make_shared<Compiled>();
    c->end_tokens = {static_cast<int32_t>(bytes.size())};
    bytes.emplace_back();
    special.push_back(1);
    for (size_t i = 0; i < g.tokens.size(); ++i) {
        c->token_ids.push_back(static_cast<int32_t>(bytes.size()));
        bytes.emplace_back();
        special.push_back(1);
    }
    c->grammar = std::move(g);
    c->trie = TokenTrie::from_vocab(bytes, special);
    Matcher m(c);
    std::vector<uint64_t> mask((bytes.size() + 63) / 64);
    for (size_t step = 0; step < 48 && !m.ended(); ++step) {
        m.fill_mask(mask);
        std::vector<int32_t> allowed;
        for (size_t id = 0; id < bytes.size(); ++id) {
            const bool bit = (mask[id / 64] >> (id % 64)) & 1;
            if (bit != m.allows(static_cast<int32_t>(id))) std::abort();  // the mask is exact
            if (bit) allowed.push_back(static_cast<int32_t>(id));
        }
        if (allowed.empty()) std::abort();  // a dead end: the grammar checks should make this impossible
        const int32_t pick = allowed[(n_choices ? choices[step % n_choices] : step) % allowed.size()];
        if (!m.advance(pick)) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const size_t n_choices = std::min<size_t>(size - 1, 16);
    const uint8_t* choices = data + size - n_choices;
    try {
        switch (data[0] % 4) {
            case 0: walk(json_schema_grammar(text), choices, n_choices); break;
            case 1: walk(gbnf_grammar(text), choices, n_choices); break;
            case 2: walk(regex_grammar(text), choices, n_choices); break;
            case 3: {
                lfm::Tool t;
                t.name = "f";
                t.parameters = text;
                walk(tool_call_grammar({t}, "", true), choices, n_choices);
                break;
            }
        }
    } catch (const lfm::Error&) {
    }
    return 0;
}
