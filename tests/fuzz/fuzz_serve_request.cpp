// libFuzzer target for the server's request parsing (src/serve/openai.cpp, anthropic.cpp,
// responses.cpp). The first byte picks the endpoint:
//   0: POST /v1/chat/completions  1: POST /v1/completions  2: POST /v1/messages
//   3: POST /v1/responses         4: POST /apply-template  else: the body parser alone
// and the rest is the request body. A malformed request must end as an ApiError with a 4xx
// status (or an lfm::Error that http.cpp answers with 400); anything the server would answer
// with a 5xx, a crash or a hang is a bug.
// The requests are rendered with the tiny reference model's tokenizer and chat template
// (LFM_FUZZ_MODEL, default ../shared/reference/tinyB-q8_0.gguf); without it, only the body
// parser is fuzzed.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>

#include "lfm/chat.h"
#include "lfm/error.h"
#include "lfm/tokenizer.h"
#include "serve/openai.h"

namespace {

using namespace lfm::serve;

struct Context {
    std::shared_ptr<const lfm::Tokenizer> tok;
    std::unique_ptr<lfm::ChatTemplate> tmpl;
    ApiContext ctx;
};

const Context* context() {
    static const Context* c = []() -> const Context* {
        const char* env = std::getenv("LFM_FUZZ_MODEL");
        const std::string path = env != nullptr ? env : LFM_SHARED_DIR "/reference/tinyB-q8_0.gguf";
        if (!std::filesystem::exists(path)) {
            std::fprintf(stderr, "fuzz_serve_request: %s is absent: fuzzing the body parser only\n", path.c_str());
            return nullptr;
        }
        auto* out = new Context;
        out->tok = lfm::Tokenizer::load(path);
        out->tmpl = std::make_unique<lfm::ChatTemplate>(lfm::ChatTemplate::for_tokenizer(*out->tok));
        out->ctx.tokenizer = out->tok;
        out->ctx.chat_template = out->tmpl.get();
        out->ctx.n_ctx = 2048;
        out->ctx.model_name = "tiny";
        out->ctx.max_json_depth = 64;
        return out;
    }();
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t endpoint = data[0];
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        const json j = parse_body(body, 64);
        const Context* c = context();
        if (c == nullptr) return 0;
        switch (endpoint) {
            case 0: {
                const Request r = parse_chat_request(j, c->ctx);
                if (r.prompt.empty() || static_cast<int64_t>(r.prompt.size()) >= c->ctx.n_ctx) std::abort();
                break;
            }
            case 1: {
                const Request r = parse_completion_request(j, c->ctx);
                if (r.prompt.empty() || static_cast<int64_t>(r.prompt.size()) >= c->ctx.n_ctx) std::abort();
                break;
            }
            case 2: parse_anthropic_request(j, c->ctx); break;
            case 3: parse_responses_request(j, c->ctx); break;
            case 4: apply_template(j, c->ctx); break;
            default: break;
        }
    } catch (const ApiError& e) {
        if (e.status < 400 || e.status >= 500) std::abort();  // a malformed request is the client's error
    } catch (const lfm::Error& e) {
        // http.cpp answers these two with 400 and any other with 500
        if (e.code() == lfm::ErrorCode::kInvalidArgument || e.code() == lfm::ErrorCode::kContextOverflow) return 0;
        std::fprintf(stderr, "lfm::Error that the server answers with 500: %s\n", e.what());
        std::abort();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "not an ApiError (the server would answer 500): %s\n", e.what());
        std::abort();
    }
    return 0;
}
