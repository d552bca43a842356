// lfm::Chat: the conversation, rendered whole at every turn with the model's template. The
// session keeps the longest prefix it shares with the new prompt (Session::reuse_prefix), so a
// template that rewrites history (dropping old reasoning, say) or an edited message costs only
// the tokens from the checkpoint before the change. Checkpoints are taken where turns meet: at
// the start of each turn's new tokens and at the end of each prompt.

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "lfm/constrain.h"
#include "lfm/generate.h"

namespace lfm {

struct Chat::Impl {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
    ChatTemplate tmpl;
    RenderOptions render_options;
    int64_t reply_room;
    Session session;
    std::vector<Message> messages;  // the system prompt, if any, first
    std::vector<Tool> tools;
    // GenerateOptions::strict_tool_calls: the tool-call constraint, and the tools it was made for
    std::shared_ptr<const Constraint> call_constraint;
    std::string call_constraint_tools;

    Impl(std::shared_ptr<const Model> m, std::shared_ptr<const Tokenizer> t, const Options& o)
        : model(std::move(m)), tokenizer(std::move(t)), tmpl(ChatTemplate::for_tokenizer(*tokenizer, o.template_source)),
          render_options(o.render), reply_room(o.reply_room), session(model, o.session) {}

    std::string render(bool add_generation_prompt) const {
        RenderOptions o = render_options;
        o.add_generation_prompt = add_generation_prompt;
        return tmpl.render(messages, tools, o);
    }

    std::vector<int32_t> prompt_tokens(const GenerateOptions& options) const {
        std::string text = render(true);
        if (options.reasoning_budget == 0) text += "<think></think>";  // no thinking at all (spec §4)
        return tokenizer->encode(text, false, true);  // the rendered prompt starts with its own BOS (spec §1.5)
    }

    // The oldest turn that may go: a user message and what answered it, up to the next user
    // message. Never the system prompt, never the last user message and what follows it.
    // Returns [first, last) or an empty range.
    std::pair<size_t, size_t> oldest_turn() const {
        size_t first = 0;
        while (first < messages.size() && messages[first].role == "system") ++first;
        size_t next = first + 1;
        while (next < messages.size() && messages[next].role != "user") ++next;
        if (next >= messages.size()) return {0, 0};
        return {first, next};
    }
};

Chat::Chat(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tokenizer, Options options) {
    if (!model || !tokenizer) throw Error(ErrorCode::kInvalidArgument, "Chat needs a model and a tokenizer");
    impl_ = std::make_unique<Impl>(std::move(model), std::move(tokenizer), options);
}

Chat::Chat(std::shared_ptr<const Model> model, Options options) {
    if (!model) throw Error(ErrorCode::kInvalidArgument, "Chat needs a model");
    auto tokenizer = model->tokenizer();
    if (!tokenizer) throw Error(ErrorCode::kInvalidFile, model->info().path + ": the model has no tokenizer");
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
const std::shared_ptr<const Tokenizer>& Chat::tokenizer() const { return impl_->tokenizer; }
const Session& Chat::session() const { return impl_->session; }
std::string Chat::render_prompt(bool add_generation_prompt) const { return impl_->render(add_generation_prompt); }

void Chat::reset() {
    auto& m = impl_->messages;
    m.erase(std::remove_if(m.begin(), m.end(), [](const Message& x) { return x.role != "system"; }), m.end());
    impl_->session.reset();
}

void Chat::truncate(size_t n) {
    if (n > impl_->messages.size())
        throw Error(ErrorCode::kInvalidArgument, "Chat::truncate: the conversation has only " +
                                                     std::to_string(impl_->messages.size()) + " messages");
    impl_->messages.resize(n);
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
    std::vector<int32_t> prompt = s.prompt_tokens(options);

    // A full context: drop the oldest turns until the prompt leaves room for a reply.
    const int64_t n_ctx = s.session.n_ctx();
    int64_t room = s.reply_room > 0 ? s.reply_room : n_ctx / 4;
    if (options.max_tokens >= 0) room = std::min(room, options.max_tokens);
    int64_t dropped = 0;
    while (static_cast<int64_t>(prompt.size()) + room > n_ctx) {
        const auto [first, last] = s.oldest_turn();
        if (first == last) break;  // nothing left to drop: generate() says the prompt is too long
        s.messages.erase(s.messages.begin() + static_cast<std::ptrdiff_t>(first),
                         s.messages.begin() + static_cast<std::ptrdiff_t>(last));
        dropped += static_cast<int64_t>(last - first);
        prompt = s.prompt_tokens(options);
    }

    if (static_cast<int64_t>(prompt.size()) > n_ctx)
        throw Error(ErrorCode::kContextOverflow, "the prompt has " + std::to_string(prompt.size()) +
                                                     " tokens but the context has room for " + std::to_string(n_ctx) +
                                                     "; use a larger -c");
    const auto t_prompt = std::chrono::steady_clock::now();
    const Session::PrefixReuse reuse = s.session.reuse_prefix(prompt);
    const std::span<const int32_t> all(prompt);
    const auto n = static_cast<int64_t>(prompt.size());
    // Checkpoints where turns meet: where this turn's new tokens begin; before the prompt's last
    // token (regenerating this reply re-runs that one token); and where the reply begins (a
    // template that re-renders old replies, dropping their reasoning, goes back there).
    s.session.checkpoint();
    if (n - 1 > reuse.kept) {
        s.session.prefill(all.subspan(static_cast<size_t>(reuse.kept), static_cast<size_t>(n - 1 - reuse.kept)));
        s.session.checkpoint();
    }
    s.session.prefill(all.subspan(static_cast<size_t>(n - 1)));
    s.session.checkpoint();
    const double prompt_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_prompt).count();
    const int64_t kept = reuse.kept - reuse.replayed;  // the tokens not computed again

    GenerateOptions o = options;
    if (o.tools.empty()) o.tools = s.tools;
    if (o.strict_tool_calls && !o.tool_call_constraint && !o.constraint && !o.tools.empty()) {
        std::string key;
        for (const Tool& t : o.tools) key += t.to_json();
        if (!s.call_constraint || key != s.call_constraint_tools) {
            s.call_constraint = Constraint::tool_call(o.tools, "", false, s.tokenizer);
            s.call_constraint_tools = std::move(key);
        }
        o.tool_call_constraint = s.call_constraint;
    }
    GenerateResult result = generate(s.session, *s.tokenizer, {}, o, events);
    result.timings.prompt_tokens = n - kept;
    result.timings.prompt_ms = prompt_ms;
    result.cached_tokens = kept;
    result.messages_dropped = dropped;

    Message reply = Message::assistant(result.reply.content);
    if (!result.reply.reasoning.empty()) reply.thinking = result.reply.reasoning;
    reply.tool_calls = result.reply.tool_calls;
    s.messages.push_back(std::move(reply));
    return result;
}

void Chat::save(const std::string& path) const {
    nlohmann::json j;
    j["messages"] = nlohmann::json::parse(Message::list_to_json(impl_->messages));
    nlohmann::json tools = nlohmann::json::array();
    for (const Tool& t : impl_->tools) tools.push_back(nlohmann::json::parse(t.to_json()));
    j["tools"] = tools;
    impl_->session.save(path, j.dump());
}

void Chat::load(const std::string& path) {
    const std::string data = impl_->session.load(path);
    std::vector<Message> messages;
    std::vector<Tool> tools;
    try {
        const auto j = nlohmann::json::parse(data);
        if (!j.is_object() || !j.contains("messages")) throw Error(ErrorCode::kInvalidFile, "no conversation in it");
        messages = Message::parse_list(j["messages"].dump());
        if (j.contains("tools")) tools = Tool::parse_list(j["tools"].dump());
    } catch (const std::exception& ex) {
        impl_->session.reset();
        throw Error(ErrorCode::kInvalidFile, path + ": the session file holds no chat conversation (" + ex.what() + ")");
    }
    impl_->messages = std::move(messages);
    impl_->tools = std::move(tools);
}

}  // namespace lfm
