// The agent loop (lfm::Agent) and the tool executors that are not MCP (FunctionTools, ToolBox),
// on the tiny reference model: a forced call reaches the tool with arguments that match its
// schema, the result comes back as a tool message, and the model goes on.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lfm/agent.h"
#include "test_util.h"

namespace lfm {
namespace {

using json = nlohmann::json;

Tool make_tool(const std::string& name, const std::string& parameters) {
    Tool t;
    t.name = name;
    t.description = "a test tool";
    t.parameters = parameters;
    return t;
}

const char* kCityParameters =
    R"({"type": "object", "properties": {"city": {"type": "string", "maxLength": 10}}, "required": ["city"]})";

struct Tiny {
    std::shared_ptr<const Model> model;
    std::shared_ptr<const Tokenizer> tokenizer;
    std::unique_ptr<Chat> chat;
};

Tiny tiny_chat(int64_t n_ctx = 2048) {
    Tiny t;
    t.model = Model::load(test::ref_path("tinyB-q8_0.gguf"));
    t.tokenizer = t.model->tokenizer();
    Chat::Options co;
    co.session.n_ctx = n_ctx;
    co.session.n_threads = 2;
    co.render.date = "2026-01-01";
    t.chat = std::make_unique<Chat>(t.model, t.tokenizer, co);
    return t;
}

GenerateOptions short_replies() {
    GenerateOptions o;
    o.sampler.seed = 7;
    o.max_tokens = 60;
    return o;
}

TEST(FunctionTools, CallsTheFunctionByNameAndTurnsFailuresIntoErrorResults) {
    FunctionTools tools;
    tools.add(make_tool("upper", kCityParameters), [](std::string_view args) {
        std::string city = json::parse(args).at("city").get<std::string>();
        for (char& c : city) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return ToolResult{city};
    });
    tools.add(make_tool("broken", "{}"), [](std::string_view) -> ToolResult { throw std::runtime_error("disk on fire"); });
    ASSERT_EQ(tools.tools().size(), 2u);
    EXPECT_EQ(tools.call({"c", "upper", R"({"city": "Oslo"})"}).content, "OSLO");
    const ToolResult broken = tools.call({"c", "broken", "{}"});
    EXPECT_TRUE(broken.is_error);
    EXPECT_NE(broken.content.find("disk on fire"), std::string::npos) << broken.content;
    const ToolResult missing = tools.call({"c", "nope", "{}"});
    EXPECT_TRUE(missing.is_error);
    EXPECT_NE(missing.content.find("'nope'"), std::string::npos);
    tools.add(make_tool("upper", "{}"), [](std::string_view) { return ToolResult{"replaced"}; });
    EXPECT_EQ(tools.tools().size(), 2u);
    EXPECT_EQ(tools.call({"c", "upper", "{}"}).content, "replaced");
    EXPECT_THROW(tools.add(make_tool("", "{}"), [](std::string_view) { return ToolResult{}; }), Error);
}

TEST(ToolBox, QualifiesNamesTwoSourcesDeclareAndRoutesEachCall) {
    auto a = std::make_shared<FunctionTools>();
    auto b = std::make_shared<FunctionTools>();
    a->add(make_tool("search", "{}"), [](std::string_view) { return ToolResult{"from a"}; });
    a->add(make_tool("only_a", "{}"), [](std::string_view) { return ToolResult{"a alone"}; });
    b->add(make_tool("search", "{}"), [](std::string_view args) { return ToolResult{"from b " + std::string(args)}; });
    ToolBox box;
    box.add("web", a);
    box.add("files", b);
    std::vector<std::string> names;
    for (const Tool& t : box.tools()) names.push_back(t.name);
    EXPECT_EQ(names, (std::vector<std::string>{"web__search", "only_a", "files__search"}));
    EXPECT_EQ(box.call({"1", "web__search", "{}"}).content, "from a");
    EXPECT_EQ(box.call({"2", "files__search", R"({"q": 1})"}).content, R"(from b {"q": 1})");
    EXPECT_EQ(box.call({"3", "only_a", "{}"}).content, "a alone");
    EXPECT_TRUE(box.call({"4", "search", "{}"}).is_error);  // ambiguous: only the qualified names exist
}

// tool_choice "required": the first reply is a call of a declared tool with schema-valid
// arguments; the result goes back as a tool message answering that call; the model replies
// again; the transcript replays (the template renders, from the messages, the prompt the model
// was given for its last reply).
TEST(Agent, AForcedCallRunsAndItsResultGoesBackToTheModel) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    std::vector<std::string> seen;
    tools.add(make_tool("get_weather", kCityParameters), [&](std::string_view args) {
        seen.emplace_back(args);
        const json a = json::parse(args);  // throws (an error result) when not JSON
        return ToolResult{"sunny in " + a.at("city").get<std::string>()};
    });
    AgentOptions ao;
    ao.tool_choice = "required";
    ao.max_tool_rounds = 1;
    Agent agent(*t.chat, tools, ao);
    const AgentResult r = agent.send("What is the weather in Oslo?", short_replies());

    EXPECT_EQ(r.tool_rounds, 1);
    ASSERT_GE(r.messages.size(), 4u);
    EXPECT_EQ(r.messages[0].role, "user");
    EXPECT_EQ(r.messages[1].role, "assistant");
    // "required" is one call or more (in one message); the next reply's calls are over the limit.
    const std::vector<ToolCall>& calls = r.messages[1].tool_calls;
    ASSERT_EQ(seen.size(), calls.size());
    ASSERT_GE(r.messages.size(), 3 + calls.size());
    for (size_t i = 0; i < calls.size(); ++i) {
        const json args = json::parse(seen[i]);
        ASSERT_TRUE(args.contains("city") && args["city"].is_string()) << seen[i];
        EXPECT_LE(args["city"].get<std::string>().size(), 10u);
        EXPECT_EQ(calls[i].name, "get_weather");
        const Message& result = r.messages[2 + i];
        EXPECT_EQ(result.role, "tool");
        EXPECT_EQ(result.tool_call_id, calls[i].id);
        EXPECT_EQ(result.content, "sunny in " + args["city"].get<std::string>());
        for (size_t j = 0; j < i; ++j) EXPECT_NE(calls[i].id, calls[j].id);
    }
    EXPECT_EQ(r.messages.back().role, "assistant");
    EXPECT_GT(r.last.tokens.size(), 0u);

    // Replay: the messages before the last reply, rendered, are what the session was given.
    const std::vector<Message>& all = t.chat->messages();
    const std::vector<Message> before(all.begin(), all.end() - 1);
    RenderOptions ro;
    ro.date = "2026-01-01";
    const std::string prompt = t.chat->chat_template().render(before, t.chat->tools(), ro);
    const std::vector<int32_t> ids = t.tokenizer->encode(prompt, false, true);
    const auto held = t.chat->session().tokens();
    ASSERT_GE(held.size(), ids.size());
    EXPECT_TRUE(std::equal(ids.begin(), ids.end(), held.begin()));
    // The tool message reached the session once, not re-run from scratch: the last reply's prompt
    // reused what the first one left.
    EXPECT_GT(r.last.cached_tokens, 0);
}

TEST(Agent, DeniedCallsAreNotRunAndTheModelIsToldSo) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    int runs = 0;
    tools.add(make_tool("get_weather", kCityParameters), [&](std::string_view) {
        ++runs;
        return ToolResult{"rain"};
    });
    int asked = 0;
    AgentOptions ao;
    ao.tool_choice = "get_weather";
    ao.max_tool_rounds = 1;
    ao.approve = [&](const ToolCall&) {
        ++asked;
        return ToolApproval::kDeny;
    };
    Agent agent(*t.chat, tools, ao);
    const AgentResult r = agent.send("Weather?", short_replies());
    EXPECT_EQ(runs, 0);
    EXPECT_GE(asked, 1);
    ASSERT_GE(r.messages.size(), 3u);
    EXPECT_EQ(r.messages[2].role, "tool");
    EXPECT_NE(r.messages[2].content.find("did not allow"), std::string::npos) << r.messages[2].content;

    // "always": asked once, then every later call of that tool runs without asking.
    asked = 0;
    agent.options().approve = [&](const ToolCall&) {
        ++asked;
        return ToolApproval::kAlwaysAllow;
    };
    agent.send("And tomorrow?", short_replies());
    agent.send("And the day after?", short_replies());
    EXPECT_EQ(asked, 1);
    EXPECT_GE(runs, 2);
}

TEST(Agent, ResultsTooLargeForTheContextAreCutWithANote) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    std::string huge;
    for (int i = 0; i < 20000; ++i) huge += "line " + std::to_string(i) + " é\n";
    tools.add(make_tool("dump", R"({"type": "object", "properties": {}})"), [&](std::string_view) { return ToolResult{huge}; });
    AgentOptions ao;
    ao.tool_choice = "dump";  // a named tool: one call (a noisy model repeats calls under "required")
    ao.max_tool_rounds = 1;
    ao.max_result_tokens = 100;
    Agent agent(*t.chat, tools, ao);
    const AgentResult r = agent.send("Dump it.", short_replies());
    ASSERT_GE(r.messages.size(), 3u);
    const std::string& cut = r.messages[2].content;
    EXPECT_NE(cut.find("[lfm: the result was cut"), std::string::npos);
    EXPECT_EQ(cut.rfind("line 0 é\nline 1 é\n", 0), 0u) << "the start is kept";
    EXPECT_LT(t.tokenizer->encode(cut, false, false).size(), 130u);
    // And with no explicit limit, half of the free context: a 2048-token context holds it.
    EXPECT_LT(t.chat->context_used(), t.chat->context_size());
}

TEST(Agent, RoundLimitAndCancelStopTheLoop) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools tools;
    std::atomic<bool> cancel{false};
    int runs = 0;
    tools.add(make_tool("slow", R"({"type": "object", "properties": {}})"), [&](std::string_view) {
        ++runs;
        cancel = true;  // Ctrl-C while the tool runs
        return ToolResult{"stopped", true};
    });
    AgentOptions ao;
    ao.tool_choice = "slow";
    ao.max_tool_rounds = 0;
    Agent agent(*t.chat, tools, ao);
    GenerateOptions go = short_replies();
    AgentResult r = agent.send("Go.", go);
    EXPECT_TRUE(r.round_limit);
    EXPECT_EQ(runs, 0);
    EXPECT_EQ(r.messages.size(), 2u);  // the user message and the reply whose calls were not run

    agent.options().max_tool_rounds = 5;
    go.cancel = &cancel;
    r = agent.send("Again.", go);
    EXPECT_EQ(runs, 1);
    EXPECT_FALSE(r.round_limit);
    ASSERT_GE(r.messages.size(), 3u);
    EXPECT_EQ(r.messages.back().role, "tool");  // no reply after a cancelled call: the user speaks next
}

TEST(Agent, BadToolChoicesAreClearErrorsAndLeaveTheConversationAlone) {
    LFM_REQUIRE_SHARED();
    Tiny t = tiny_chat();
    FunctionTools none;
    AgentOptions ao;
    ao.tool_choice = "required";
    Agent no_tools(*t.chat, none, ao);
    EXPECT_THROW(no_tools.send("hi", short_replies()), Error);
    FunctionTools tools;
    tools.add(make_tool("a", "{}"), [](std::string_view) { return ToolResult{}; });
    ao.tool_choice = "b";
    Agent wrong(*t.chat, tools, ao);
    try {
        wrong.send("hi", short_replies());
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(t.chat->messages().empty());
}

}  // namespace
}  // namespace lfm
