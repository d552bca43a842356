// lfm::Chat: the conversation, rendered whole at every turn with the model's template; the
// session keeps what it already holds when the new prompt extends it (the usual case), and
// starts over when it does not (a template that rewrites history, e.g. dropping old reasoning).

#include <algorithm>

#include "lfm/generate.h"

namespace lfm {

struct Chat::Impl {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
    ChatTemplate tmpl;
    RenderOptions render_options;
    Session session;
    std::vector<Message> messages;  // the system prompt, if any, first
    std::vector<Tool> tools;
    std::vector<int32_t> in_session;  // the tokens the session holds, in order

    Impl(std::shared_ptr<const Model> m, std::shared_ptr<const Tokenizer> t, const Options& o)
        : model(std::move(m)), tokenizer(std::move(t)), tmpl(pick_template(*tokenizer, o.template_source)),
          render_options(o.render), session(model, o.session) {}

    static ChatTemplate pick_template(const Tokenizer& tokenizer, const std::string& given) {
        std::string source = !given.empty() ? given
                             : !tokenizer.chat_template().empty() ? tokenizer.chat_template()
                                                                  : ChatTemplate::builtin_source();
        auto text_of = [&](std::optional<int32_t> id, const char* fallback) {
            return id ? tokenizer.token_bytes(*id, true) : std::string(fallback);
        };
        return ChatTemplate(source, text_of(tokenizer.bos(), "<|startoftext|>"), text_of(tokenizer.eos(), "<|im_end|>"));
    }

    std::string render(bool add_generation_prompt) const {
        RenderOptions o = render_options;
        o.add_generation_prompt = add_generation_prompt;
        return tmpl.render(messages, tools, o);
    }
};

Chat::Chat(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer, Options options) {
    if (!model || !tokenizer) throw Error(ErrorCode::kInvalidArgument, "Chat needs a model and a tokenizer");
    impl_ = std::make_unique<Impl>(std::move(model), std::move(tokenizer), options);
}

Chat::~Chat() = default;

void Chat::set_system(std::string text) {
    auto& m = impl_->messages;
    bool has_system = !m.empty() && m.front().role == "system";
    if (text.empty()) {
        if (has_system) m.erase(m.begin());
    } else if (has_system) {
        m.front().content = std::move(text);
    } else {
        m.insert(m.begin(), Message::system(std::move(text)));
    }
}

void Chat::set_tools(std::vector<Tool> tools) { impl_->tools = std::move(tools); }
const std::vector<Tool>& Chat::tools() const { return impl_->tools; }
const std::vector<Message>& Chat::messages() const { return impl_->messages; }
int64_t Chat::context_used() const { return impl_->session.position(); }
int64_t Chat::context_size() const { return impl_->session.n_ctx(); }
const ChatTemplate& Chat::chat_template() const { return impl_->tmpl; }
std::string Chat::render_prompt(bool add_generation_prompt) const { return impl_->render(add_generation_prompt); }

void Chat::reset() {
    auto& m = impl_->messages;
    m.erase(std::remove_if(m.begin(), m.end(), [](const Message& x) { return x.role != "system"; }), m.end());
    impl_->session.reset();
    impl_->in_session.clear();
}

void Chat::add_message(Message message) { impl_->messages.push_back(std::move(message)); }

GenerateResult Chat::send(Message message, const GenerateOptions& options, const GenerateEvents& events) {
    add_message(std::move(message));
    try {
        return reply(options, events);
    } catch (...) {
        impl_->messages.pop_back();  // the turn did not happen
        throw;
    }
}

GenerateResult Chat::reply(const GenerateOptions& options, const GenerateEvents& events) {
    Impl& s = *impl_;
    if (s.messages.empty() || s.messages.back().role == "assistant" || s.messages.back().role == "system")
        throw Error(ErrorCode::kInvalidArgument, "Chat::reply: the conversation must end with a user or tool message");
    std::string prompt_text = s.render(true);
    if (options.reasoning_budget == 0) prompt_text += "<think></think>";  // no thinking at all (spec §4)
    // The rendered prompt starts with its own BOS: no second one (spec §1.5).
    std::vector<int32_t> prompt = s.tokenizer->encode(prompt_text, false, true);

    size_t common = 0;
    while (common < s.in_session.size() && common < prompt.size() && s.in_session[common] == prompt[common]) ++common;
    if (common < s.in_session.size() || common == prompt.size()) {  // history changed: start over
        s.session.reset();
        s.in_session.clear();
        common = 0;
    }
    std::span<const int32_t> fresh(prompt.data() + common, prompt.size() - common);

    GenerateOptions o = options;
    if (o.tools.empty()) o.tools = s.tools;
    GenerateResult result;
    try {
        result = generate(s.session, *s.tokenizer, fresh, o, events);
    } catch (...) {
        s.session.reset();
        s.in_session.clear();
        throw;
    }
    s.in_session.assign(prompt.begin(), prompt.end());
    s.in_session.insert(s.in_session.end(), result.tokens.begin(), result.tokens.end());
    s.in_session.resize(static_cast<size_t>(s.session.position()));

    Message reply = Message::assistant(result.reply.content);
    if (!result.reply.reasoning.empty()) reply.thinking = result.reply.reasoning;
    reply.tool_calls = result.reply.tool_calls;
    s.messages.push_back(std::move(reply));
    return result;
}

}  // namespace lfm
