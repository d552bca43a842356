#pragma once
// The regex split that runs before BPE (tokenizer-and-chat.md §1.2), on PCRE2 with its JIT:
// Unicode letter/number/space classes for all of Unicode without tables of our own.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lfm {

// The LLaMA-3 pattern, which LFM2 uses (GGUF pre "lfm2", "llama-bpe").
extern const char* const kLlama3SplitPattern;
// GPT-2's original pattern (GGUF pre "gpt2" / "default").
extern const char* const kGpt2SplitPattern;

class PreTokenizer {
public:
    explicit PreTokenizer(const std::string& pattern);  // throws lfm::Error if it does not compile
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // Appends the pieces of valid UTF-8 `text`, in order; together they cover all of it.
    void split(std::string_view text, std::vector<std::string_view>& pieces) const;

private:
    struct Code;
    std::unique_ptr<Code> code_;
};

}  // namespace lfm
