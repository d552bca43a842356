// ChatTemplate::for_tokenizer: the template a model's own tokenizer names (or lfm's built-in one),
// with that vocabulary's BOS / EOS text. Apart from chat_template.cpp so that the template engine
// (and its fuzzer) does not need the tokenizer.

#include "lfm/chat.h"
#include "lfm/tokenizer.h"

namespace lfm {

ChatTemplate ChatTemplate::for_tokenizer(const Tokenizer& tokenizer, const std::string& source) {
    const std::string& chosen = !source.empty() ? source
                                : !tokenizer.chat_template().empty() ? tokenizer.chat_template()
                                                                     : builtin_source();
    auto text_of = [&](std::optional<int32_t> id, const char* fallback) {
        return id ? tokenizer.token_bytes(*id, true) : std::string(fallback);
    };
    return ChatTemplate(chosen, text_of(tokenizer.bos(), "<|startoftext|>"), text_of(tokenizer.eos(), "<|im_end|>"));
}

}  // namespace lfm
