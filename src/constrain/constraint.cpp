// The public face of the constraint engine (include/lfm/constrain.h): each factory compiles its
// source to a Grammar and binds it to the tokenizer's trie; matchers share the result.

#include <algorithm>

#include "constrain/matcher.h"
#include "constrain/sources.h"
#include "lfm/constrain.h"

namespace lfm {

namespace constrain {
namespace {

std::vector<int32_t> end_tokens_of(const Tokenizer& tok) {
    std::vector<int32_t> ids;
    if (auto eos = tok.eos()) ids.push_back(*eos);
    for (const char* t : {"<|im_end|>", "<|endoftext|>"})
        if (auto id = tok.find_token(t)) ids.push_back(*id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

}  // namespace

std::shared_ptr<const Compiled> Compiled::bind(Grammar grammar, std::shared_ptr<const Tokenizer> tokenizer,
                                               std::string kind) {
    if (!tokenizer) throw Error(ErrorCode::kInvalidArgument, "constraint: no tokenizer");
    auto c = std::make_shared<Compiled>();
    for (const std::string& t : grammar.tokens) {
        auto id = tokenizer->find_token(t);
        if (!id) throw Error(ErrorCode::kInvalidArgument, "constraint: the tokenizer has no " + t + " token");
        c->token_ids.push_back(*id);
    }
    c->grammar = std::move(grammar);
    c->trie = TokenTrie::for_tokenizer(tokenizer);
    c->end_tokens = end_tokens_of(*tokenizer);
    if (c->end_tokens.empty())
        throw Error(ErrorCode::kInvalidArgument, "constraint: the tokenizer has no end-of-turn or EOS token to end with");
    c->tokenizer = std::move(tokenizer);
    c->kind = std::move(kind);
    c->masks.prepare(*c);
    return c;
}

}  // namespace constrain

struct Constraint::Impl {
    std::shared_ptr<const constrain::Compiled> compiled;
};

struct ConstraintAccess {
    static std::shared_ptr<const Constraint> make(constrain::Grammar g, std::shared_ptr<const Tokenizer> tok,
                                                  std::string kind) {
        auto impl = std::make_shared<Constraint::Impl>();
        impl->compiled = constrain::Compiled::bind(std::move(g), std::move(tok), std::move(kind));
        return std::shared_ptr<const Constraint>(new Constraint(std::move(impl)));
    }
};

Constraint::Constraint(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
Constraint::~Constraint() = default;

const std::string& Constraint::kind() const { return impl_->compiled->kind; }
const Tokenizer& Constraint::tokenizer() const { return *impl_->compiled->tokenizer; }
size_t Constraint::n_rules() const { return impl_->compiled->grammar.alts.size(); }
size_t Constraint::cache_bytes() const { return impl_->compiled->masks.bytes(); }

std::shared_ptr<const Constraint> Constraint::json_schema(std::string_view schema_json, std::shared_ptr<const Tokenizer> tok) {
    return ConstraintAccess::make(constrain::json_schema_grammar(schema_json), std::move(tok), "json_schema");
}

std::shared_ptr<const Constraint> Constraint::json_object(std::shared_ptr<const Tokenizer> tok) {
    return ConstraintAccess::make(constrain::json_object_grammar(), std::move(tok), "json_object");
}

std::shared_ptr<const Constraint> Constraint::gbnf(std::string_view grammar, std::shared_ptr<const Tokenizer> tok) {
    return ConstraintAccess::make(constrain::gbnf_grammar(grammar), std::move(tok), "gbnf");
}

std::shared_ptr<const Constraint> Constraint::regex(std::string_view pattern, std::shared_ptr<const Tokenizer> tok) {
    return ConstraintAccess::make(constrain::regex_grammar(pattern), std::move(tok), "regex");
}

std::shared_ptr<const Constraint> Constraint::tool_call(const std::vector<Tool>& tools, std::string_view name, bool thinking,
                                                        std::shared_ptr<const Tokenizer> tok) {
    if (!tok) throw Error(ErrorCode::kInvalidArgument, "constraint: no tokenizer");
    // thinking needs <think> and </think> as tokens; a vocabulary without them cannot think
    const bool can_think = thinking && tok->find_token("<think>") && tok->find_token("</think>");
    return ConstraintAccess::make(constrain::tool_call_grammar(tools, name, can_think), std::move(tok), "tool_call");
}

struct ConstraintMatcher::Impl {
    std::shared_ptr<const Constraint> constraint;
    constrain::Matcher matcher;
};

ConstraintMatcher::ConstraintMatcher(std::shared_ptr<const Constraint> constraint) {
    if (!constraint) throw Error(ErrorCode::kInvalidArgument, "constraint matcher: no constraint");
    auto compiled = constraint->impl().compiled;
    impl_ = std::make_unique<Impl>(Impl{std::move(constraint), constrain::Matcher(std::move(compiled))});
}
ConstraintMatcher::~ConstraintMatcher() = default;
ConstraintMatcher::ConstraintMatcher(ConstraintMatcher&&) noexcept = default;
ConstraintMatcher& ConstraintMatcher::operator=(ConstraintMatcher&&) noexcept = default;

void ConstraintMatcher::fill_mask(std::span<uint64_t> words) { impl_->matcher.fill_mask(words); }
size_t ConstraintMatcher::mask_words() const {
    return (static_cast<size_t>(impl_->constraint->tokenizer().n_vocab()) + 63) / 64;
}
bool ConstraintMatcher::allows(int32_t token) { return impl_->matcher.allows(token); }
bool ConstraintMatcher::advance(int32_t token) { return impl_->matcher.advance(token); }
bool ConstraintMatcher::advance_bytes(std::string_view bytes) { return impl_->matcher.advance_bytes(bytes); }
bool ConstraintMatcher::is_complete() const { return impl_->matcher.complete(); }
bool ConstraintMatcher::only_end() const { return impl_->matcher.only_end(); }
bool ConstraintMatcher::ended() const { return impl_->matcher.ended(); }
void ConstraintMatcher::reset() { impl_->matcher.reset(); }
size_t ConstraintMatcher::memory_bytes() const { return impl_->matcher.bytes(); }
const Constraint& ConstraintMatcher::constraint() const { return *impl_->constraint; }

}  // namespace lfm
