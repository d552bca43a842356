#include "pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "lfm/error.h"

namespace lfm {

const char* const kLlama3SplitPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";
const char* const kGpt2SplitPattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct PreTokenizer::Code {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Code() {
        if (code != nullptr) pcre2_code_free(code);
    }
};

PreTokenizer::PreTokenizer(const std::string& pattern) : code_(std::make_unique<Code>()) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err,
                                &err_offset, nullptr);
    if (code_->code == nullptr) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        throw Error(ErrorCode::kUnsupported, "pre-tokenizer pattern does not compile at offset " + std::to_string(err_offset) +
                                                 ": " + reinterpret_cast<const char*>(msg));
    }
    code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
    // match data per call: the tokenizer is shared between threads
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->code, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;
    while (pos < text.size()) {
        const int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr)
                                  : pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc < 0) {  // nothing more matches: the rest is one piece
            pieces.push_back(text.substr(pos));
            break;
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        if (ov[0] > pos) pieces.push_back(text.substr(pos, ov[0] - pos));  // a gap the pattern skipped
        if (ov[1] == ov[0]) {  // empty match: step over one character
            size_t next = ov[0] + 1;
            while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
            pieces.push_back(text.substr(ov[0], next - ov[0]));
            pos = next;
            continue;
        }
        pieces.push_back(text.substr(ov[0], ov[1] - ov[0]));
        pos = ov[1];
    }
    pcre2_match_data_free(md);
}

}  // namespace lfm
