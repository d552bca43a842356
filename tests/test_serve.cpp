// The server's request parsing (src/serve/openai.cpp, anthropic.cpp) without sockets: field
// validation errors name the field, defaults, tool_choice / response_format become constraints,
// thinking is turned off per request, JSON depth and prompt length limits. The HTTP side is
// driven by the official SDKs in tests/node (ctest: ServeOpenAiSdk).

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "lfm/chat.h"
#include "lfm/constrain.h"
#include "lfm/tokenizer.h"
#include "lfm/model.h"
#include "serve/dialect.h"
#include "serve/openai.h"
#include "text/utf8.h"
#include "serve/scheduler.h"
#include "test_util.h"

namespace lfm::serve {
namespace {

// The tiny reference model's tokenizer and chat template, loaded once.
struct Fixture {
    std::shared_ptr<const Tokenizer> tok;
    std::unique_ptr<ChatTemplate> tmpl;
    ApiContext ctx;
};

const Fixture* fixture() {
    static const Fixture* f = [] {
        auto* fx = new Fixture;
        fx->tok = Tokenizer::load(test::ref_path("tinyB-q8_0.gguf"));
        fx->tmpl = std::make_unique<ChatTemplate>(ChatTemplate::for_tokenizer(*fx->tok));
        fx->ctx.tokenizer = fx->tok;
        fx->ctx.chat_template = fx->tmpl.get();
        fx->ctx.n_ctx = 512;
        fx->ctx.model_name = "tiny";
        fx->ctx.defaults.sampler.temperature = 0.3f;
        fx->ctx.defaults.sampler.top_k = 40;
        fx->ctx.defaults.max_tokens = 77;
        return fx;
    }();
    return f;
}

#define REQUIRE_MODEL()                                                                                  \
    do {                                                                                                 \
        if (!std::filesystem::exists(test::ref_path("tinyB-q8_0.gguf")))                                 \
            GTEST_SKIP() << "../shared/reference/tinyB-q8_0.gguf is not beside the repository";          \
    } while (0)

const ApiContext& ctx() { return fixture()->ctx; }

json chat(json extra = json::object()) {
    json body{{"model", "tiny"}, {"messages", json::array({{{"role", "user"}, {"content", "Hello"}}})}};
    for (auto& [k, v] : extra.items()) body[k] = v;
    return body;
}

json weather_tool() {
    return json::parse(R"({"type": "function", "function": {"name": "get_weather", "description": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                       "required": ["city"]}}})");
}
json time_tool() {
    return json::parse(R"({"type": "function", "function": {"name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}})");
}

// The ApiError a chat request raises (status 0: none).
ApiError chat_error(const json& body) {
    try {
        parse_chat_request(body, ctx());
    } catch (const ApiError& e) {
        return e;
    }
    return ApiError(0, "no error");
}
ApiError completion_error(const json& body) {
    try {
        parse_completion_request(body, ctx());
    } catch (const ApiError& e) {
        return e;
    }
    return ApiError(0, "no error");
}

// Whether the constraint accepts the whole text (then the end of the output).
bool accepts(const std::shared_ptr<const Constraint>& c, const std::string& text) {
    const Tokenizer& tok = c->tokenizer();
    ConstraintMatcher m(c);
    for (int32_t id : tok.encode(text, false, true)) {
        if (!m.allows(id)) return false;
        if (!m.advance(id)) return false;
    }
    return m.is_complete();
}

TEST(ServeParse, DefaultsComeFromTheCommandLine) {
    REQUIRE_MODEL();
    const Request r = parse_chat_request(chat(), ctx());
    EXPECT_EQ(r.kind, Request::Kind::kChat);
    EXPECT_FLOAT_EQ(r.options.sampler.temperature, 0.3f);
    EXPECT_EQ(r.options.sampler.top_k, 40);
    EXPECT_FALSE(r.stream);
    EXPECT_FALSE(r.include_usage);
    EXPECT_EQ(r.top_logprobs, -1);
    EXPECT_EQ(r.options.constraint, nullptr);
    EXPECT_TRUE(r.options.tools.empty());
    EXPECT_FALSE(r.prompt.empty());
    EXPECT_NE(r.prompt_text.find("Hello"), std::string::npos);
    EXPECT_EQ(r.prompt, ctx().tokenizer->encode(r.prompt_text, false, true));
}

TEST(ServeParse, SamplingFieldsOverrideTheDefaults) {
    REQUIRE_MODEL();
    const Request r = parse_chat_request(
        chat({{"temperature", 0}, {"top_p", 0.5}, {"top_k", 3}, {"min_p", 0.1}, {"seed", 42}, {"max_tokens", 9},
              {"stop", "END"}, {"stream", true}, {"stream_options", {{"include_usage", true}}}, {"presence_penalty", 0.5},
              {"frequency_penalty", -0.5}, {"logprobs", true}, {"top_logprobs", 3}, {"ignore_eos", true}}),
        ctx());
    EXPECT_TRUE(r.options.ignore_eos);
    EXPECT_FALSE(parse_chat_request(chat(), ctx()).options.ignore_eos);
    EXPECT_EQ(chat_error(chat({{"ignore_eos", 1}})).param, "ignore_eos");
    EXPECT_FLOAT_EQ(r.options.sampler.temperature, 0.0f);
    EXPECT_FLOAT_EQ(r.options.sampler.top_p, 0.5f);
    EXPECT_EQ(r.options.sampler.top_k, 3);
    EXPECT_FLOAT_EQ(r.options.sampler.min_p, 0.1f);
    EXPECT_EQ(r.options.sampler.seed, 42u);
    EXPECT_EQ(r.options.max_tokens, 9);
    ASSERT_EQ(r.options.stop.size(), 1u);
    EXPECT_EQ(r.options.stop[0], "END");
    EXPECT_TRUE(r.stream);
    EXPECT_TRUE(r.include_usage);
    EXPECT_EQ(r.top_logprobs, 3);
    EXPECT_FLOAT_EQ(r.options.sampler.presence_penalty, 0.5f);
    EXPECT_FLOAT_EQ(r.options.sampler.frequency_penalty, -0.5f);
    // max_completion_tokens is max_tokens' newer name
    EXPECT_EQ(parse_chat_request(chat({{"max_completion_tokens", 5}}), ctx()).options.max_tokens, 5);
    // null is "not given"
    EXPECT_FLOAT_EQ(parse_chat_request(chat({{"temperature", nullptr}}), ctx()).options.sampler.temperature, 0.3f);
}

TEST(ServeParse, ErrorsNameTheField) {
    REQUIRE_MODEL();
    const std::vector<std::pair<json, std::string>> cases = {
        {chat({{"temperature", "hot"}}), "temperature"},
        {chat({{"temperature", 3}}), "temperature"},
        {chat({{"temperature", -0.1}}), "temperature"},
        {chat({{"top_p", 1.5}}), "top_p"},
        {chat({{"top_k", -1}}), "top_k"},
        {chat({{"top_k", 2.5}}), "top_k"},
        {chat({{"min_p", "a"}}), "min_p"},
        {chat({{"max_tokens", -1}}), "max_tokens"},
        {chat({{"max_tokens", "10"}}), "max_tokens"},
        {chat({{"max_completion_tokens", -3}}), "max_completion_tokens"},
        {chat({{"presence_penalty", 2.5}}), "presence_penalty"},
        {chat({{"frequency_penalty", true}}), "frequency_penalty"},
        {chat({{"seed", 1.5}}), "seed"},
        {chat({{"seed", "1"}}), "seed"},
        {chat({{"n", 2}}), "n"},
        {chat({{"n", 0}}), "n"},
        {chat({{"model", 5}}), "model"},
        {chat({{"stop", 5}}), "stop"},
        {chat({{"stop", json::array({"a", 5})}}), "stop"},
        {chat({{"stop", ""}}), "stop"},
        {chat({{"stream", "yes"}}), "stream"},
        {chat({{"stream_options", "x"}}), "stream_options"},
        {chat({{"logit_bias", {{"5", 10}}}}), "logit_bias"},
        {chat({{"top_logprobs", 2}}), "top_logprobs"},
        {chat({{"logprobs", true}, {"top_logprobs", 21}}), "top_logprobs"},
        {chat({{"parallel_tool_calls", "yes"}}), "parallel_tool_calls"},
        {chat({{"reasoning_effort", "extreme"}}), "reasoning_effort"},
        {chat({{"reasoning_effort", 3}}), "reasoning_effort"},
        {chat({{"chat_template_kwargs", "x"}}), "chat_template_kwargs"},
        {json{{"model", "tiny"}}, "messages"},
        {chat({{"messages", json::array()}}), "messages"},
        {chat({{"messages", "Hello"}}), "messages"},
        {chat({{"messages", json::array({{{"role", "wizard"}, {"content", "x"}}})}}), "messages"},
        {chat({{"messages", json::array({{{"content", "x"}}})}}), "messages"},
        {chat({{"tools", json::array({{{"type", "function"}, {"function", {{"parameters", json::object()}}}}})}}), "tools"},
        {chat({{"tools", json::array({{{"type", "function"}}})}}), "tools"},
        {chat({{"tools", "get_weather"}}), "tools"},
        {chat({{"tool_choice", "required"}}), "tool_choice"},
        {chat({{"tools", json::array({weather_tool()})}, {"tool_choice", "sometimes"}}), "tool_choice"},
        {chat({{"tools", json::array({weather_tool()})}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}}),
         "tool_choice"},
        {chat({{"tools", json::array({weather_tool()})}, {"tool_choice", {{"type", "function"}}}}), "tool_choice"},
        {chat({{"response_format", "json"}}), "response_format"},
        {chat({{"response_format", {{"type", "xml"}}}}), "response_format"},
        {chat({{"response_format", {{"type", "json_schema"}}}}), "response_format"},
        {chat({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}}}}}}), "response_format"},
        {chat({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", {{"type", "frobnicate"}}}}}}}}),
         "response_format"},
    };
    for (const auto& [body, param] : cases) {
        const ApiError e = chat_error(body);
        EXPECT_EQ(e.status, 400) << body.dump();
        EXPECT_EQ(e.param, param) << body.dump() << ": " << e.what();
        EXPECT_EQ(e.type, "invalid_request_error") << body.dump();
        EXPECT_GT(std::string(e.what()).size(), 5u) << body.dump();
    }
}

TEST(ServeParse, APromptLongerThanTheContextIsA400) {
    REQUIRE_MODEL();
    std::string long_text;
    for (int i = 0; i < 600; ++i) long_text += "lorem ipsum ";
    const ApiError e = chat_error(chat({{"messages", json::array({{{"role", "user"}, {"content", long_text}}})}}));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "messages");
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
    const ApiError c = completion_error(json{{"prompt", long_text}});
    EXPECT_EQ(c.status, 400);
    // A completion has no 'messages': the field is 'prompt' (the server names 'messages' today).
    EXPECT_FALSE(c.param.empty());
}

TEST(ServeParse, ContentAsTextPartsAndAToolRoundTrip) {
    REQUIRE_MODEL();
    const json messages = json::parse(R"([
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Oslo?"}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "snow"}])");
    const Request r = parse_chat_request(chat({{"messages", messages}, {"tools", json::array({weather_tool()})}}), ctx());
    EXPECT_NE(r.prompt_text.find("Be brief."), std::string::npos);
    EXPECT_NE(r.prompt_text.find("Oslo?"), std::string::npos);
    EXPECT_NE(r.prompt_text.find("get_weather"), std::string::npos);
    EXPECT_NE(r.prompt_text.find("snow"), std::string::npos);
    ASSERT_EQ(r.options.tools.size(), 1u);
    EXPECT_EQ(r.options.tools[0].name, "get_weather");
    EXPECT_EQ(r.options.constraint, nullptr);  // tool_choice auto: free text or a call
}

TEST(ServeParse, ToolChoiceBecomesAConstraint) {
    REQUIRE_MODEL();
    const json tools = json::array({weather_tool(), time_tool()});
    // auto and none: no constraint; none hides the tools
    EXPECT_EQ(parse_chat_request(chat({{"tools", tools}, {"tool_choice", "auto"}}), ctx()).options.constraint, nullptr);
    const Request none = parse_chat_request(chat({{"tools", tools}, {"tool_choice", "none"}}), ctx());
    EXPECT_EQ(none.options.constraint, nullptr);
    EXPECT_TRUE(none.options.tools.empty());
    EXPECT_EQ(none.prompt_text.find("get_weather"), std::string::npos);

    const Request required = parse_chat_request(chat({{"tools", tools}, {"tool_choice", "required"}}), ctx());
    ASSERT_NE(required.options.constraint, nullptr);
    EXPECT_EQ(required.options.constraint->kind(), "tool_call");
    EXPECT_TRUE(accepts(required.options.constraint, R"(<|tool_call_start|>[get_time(zone="UTC")]<|tool_call_end|>)"));
    EXPECT_TRUE(accepts(required.options.constraint, R"(<|tool_call_start|>[get_weather(city="Oslo", days=2)]<|tool_call_end|>)"));
    EXPECT_FALSE(accepts(required.options.constraint, "Hello there"));
    EXPECT_FALSE(accepts(required.options.constraint, R"(<|tool_call_start|>[get_weather(days=2)]<|tool_call_end|>)"))
        << "city is required";

    const Request named = parse_chat_request(
        chat({{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}}}), ctx());
    ASSERT_NE(named.options.constraint, nullptr);
    EXPECT_EQ(named.options.constraint->kind(), "tool_call");
    EXPECT_TRUE(accepts(named.options.constraint, R"(<|tool_call_start|>[get_time(zone="UTC")]<|tool_call_end|>)"));
    EXPECT_FALSE(accepts(named.options.constraint, R"(<|tool_call_start|>[get_weather(city="Oslo")]<|tool_call_end|>)"));
}

// A server compiles a forced tool call or a response schema once, then hands every request
// that asks for the same one the same constraint (its mask cache warm); a change in the tools,
// the choice, thinking or the schema is another constraint. Refusals stay 400s.
TEST(ServeParse, ForcedConstraintsAreCompiledOnce) {
    REQUIRE_MODEL();
    ApiContext c = ctx();
    c.constraints = std::make_shared<ConstraintCache>();
    const json tools = json::array({weather_tool(), time_tool()});
    const auto constraint = [&](json extra) { return parse_chat_request(chat(std::move(extra)), c).options.constraint; };
    const auto required = constraint({{"tools", tools}, {"tool_choice", "required"}});
    EXPECT_EQ(constraint({{"tools", tools}, {"tool_choice", "required"}, {"seed", 3}}), required);
    const json named_choice = {{"type", "function"}, {"function", {{"name", "get_time"}}}};
    const auto named = constraint({{"tools", tools}, {"tool_choice", named_choice}});
    EXPECT_NE(named, required);
    EXPECT_TRUE(accepts(named, R"(<|tool_call_start|>[get_time(zone="UTC")]<|tool_call_end|>)"));
    EXPECT_FALSE(accepts(named, R"(<|tool_call_start|>[get_weather(city="Oslo")]<|tool_call_end|>)"));
    const auto no_thinking = constraint({{"tools", tools}, {"tool_choice", "required"}, {"reasoning_effort", "none"}});
    EXPECT_NE(no_thinking, required);
    EXPECT_EQ(c.constraints->compiles(), 3);

    const json format = json::parse(R"({"type": "json_schema", "json_schema": {"name": "n",
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}})");
    const auto schema = constraint({{"response_format", format}});
    EXPECT_EQ(constraint({{"response_format", format}}), schema);
    EXPECT_TRUE(accepts(schema, R"({"n": 4})"));
    json other = format;
    other["json_schema"]["schema"]["properties"]["n"]["type"] = "string";
    EXPECT_NE(constraint({{"response_format", other}}), schema);
    EXPECT_EQ(c.constraints->compiles(), 5);

    json broken = format;
    broken["json_schema"]["schema"]["properties"]["n"]["type"] = "frobnicate";
    for (int i = 0; i < 2; ++i) {
        try {
            constraint({{"response_format", broken}});
            ADD_FAILURE() << "a schema the engine refuses was accepted";
        } catch (const ApiError& e) {
            EXPECT_EQ(e.status, 400);
            EXPECT_NE(std::string(e.what()).find("frobnicate"), std::string::npos) << e.what();
        }
    }
    EXPECT_EQ(c.constraints->compiles(), 6) << "the refusal is remembered";
}

// Strict tool calls: with tool_choice auto, a tool's "strict": true (OpenAI chat: in its
// "function"; Responses: on the tool) or the server's --strict-tool-calls (defaults) holds the
// calls the model starts to the tools' grammar (GenerateOptions::tool_call_constraint); the
// reply itself stays free (no constraint).
json strict_tool(json tool) {
    tool["function"]["strict"] = true;
    return tool;
}
json frobnicate_tool() {
    return json::parse(R"({"type": "function", "function": {"name": "frob",
        "parameters": {"type": "object", "properties": {"x": {"type": "frobnicate"}}}}})");
}
ApiContext strict_server() {
    ApiContext c = ctx();
    c.defaults.strict_tool_calls = true;
    return c;
}

TEST(ServeParse, StrictToolCallsHoldTheCallsTheModelStarts) {
    REQUIRE_MODEL();
    const json tools = json::array({strict_tool(weather_tool()), time_tool()});
    const Request r = parse_chat_request(chat({{"tools", tools}}), ctx());
    EXPECT_EQ(r.options.constraint, nullptr) << "the reply is free";
    ASSERT_NE(r.options.tool_call_constraint, nullptr);
    EXPECT_EQ(r.options.tool_call_constraint->kind(), "tool_call");
    EXPECT_TRUE(accepts(r.options.tool_call_constraint, R"(<|tool_call_start|>[get_weather(city="Oslo", days=2)]<|tool_call_end|>)"));
    EXPECT_TRUE(accepts(r.options.tool_call_constraint, R"(<|tool_call_start|>[get_time(zone="UTC")]<|tool_call_end|>)"));
    EXPECT_FALSE(accepts(r.options.tool_call_constraint, R"(<|tool_call_start|>[get_weather(days="two")]<|tool_call_end|>)"));
    EXPECT_FALSE(accepts(r.options.tool_call_constraint, R"(<|tool_call_start|>[launch(x=1)]<|tool_call_end|>)"));
    EXPECT_TRUE(r.warnings.empty());

    // not asked for: none
    const json loose = json::array({weather_tool(), time_tool()});
    EXPECT_EQ(parse_chat_request(chat({{"tools", loose}}), ctx()).options.tool_call_constraint, nullptr);
    json strict_false = weather_tool();
    strict_false["function"]["strict"] = false;
    EXPECT_EQ(parse_chat_request(chat({{"tools", json::array({strict_false})}}), ctx()).options.tool_call_constraint, nullptr);
    // the server's flag asks for every request with tools
    const ApiContext server = strict_server();
    EXPECT_NE(parse_chat_request(chat({{"tools", loose}}), server).options.tool_call_constraint, nullptr);
    EXPECT_EQ(parse_chat_request(chat(), server).options.tool_call_constraint, nullptr) << "no tools";
    // tool_choice none hides the tools; required / named and response formats constrain the whole reply
    EXPECT_EQ(parse_chat_request(chat({{"tools", tools}, {"tool_choice", "none"}}), ctx()).options.tool_call_constraint, nullptr);
    const Request required = parse_chat_request(chat({{"tools", tools}, {"tool_choice", "required"}}), ctx());
    EXPECT_NE(required.options.constraint, nullptr);
    EXPECT_EQ(required.options.tool_call_constraint, nullptr);
    const Request as_json = parse_chat_request(chat({{"tools", tools}, {"response_format", {{"type", "json_object"}}}}), ctx());
    EXPECT_EQ(as_json.options.constraint->kind(), "json_object");
    EXPECT_EQ(as_json.options.tool_call_constraint, nullptr);

    json not_bool = weather_tool();
    not_bool["function"]["strict"] = "yes";
    const ApiError e = chat_error(chat({{"tools", json::array({not_bool})}}));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "tools");
    EXPECT_NE(std::string(e.what()).find("strict"), std::string::npos) << e.what();
}

TEST(ServeParse, StrictToolCallsWithASchemaTheEngineRefuses) {
    REQUIRE_MODEL();
    // asked by the request: a 400 naming the tool and the keyword
    const ApiError e = chat_error(chat({{"tools", json::array({weather_tool(), strict_tool(frobnicate_tool())})}}));
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "tools");
    const std::string message = e.what();
    EXPECT_NE(message.find("tools[1]"), std::string::npos) << message;
    EXPECT_NE(message.find("'frob'"), std::string::npos) << message;
    EXPECT_NE(message.find("frobnicate"), std::string::npos) << message;
    // strict on another tool of the list: the list is enforced as a whole, so the same 400
    EXPECT_EQ(chat_error(chat({{"tools", json::array({strict_tool(weather_tool()), frobnicate_tool()})}})).status, 400);
    // asked by the server's flag only: the request goes ahead unconstrained, with a warning to log
    const Request r = parse_chat_request(chat({{"tools", json::array({weather_tool(), frobnicate_tool()})}}), strict_server());
    EXPECT_EQ(r.options.tool_call_constraint, nullptr);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("'frob'"), std::string::npos) << r.warnings[0];
    EXPECT_NE(r.warnings[0].find("frobnicate"), std::string::npos) << r.warnings[0];
    // without strict anywhere the schema is not compiled (the template shows it as given)
    EXPECT_EQ(chat_error(chat({{"tools", json::array({frobnicate_tool()})}})).status, 0);
}

TEST(ServeParse, StrictToolCallsInResponsesAndAnthropic) {
    REQUIRE_MODEL();
    json responses = json::parse(R"({"model": "tiny", "input": "Weather?",
        "tools": [{"type": "function", "name": "get_weather", "strict": true,
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]})");
    const Request r = parse_responses_request(responses, ctx());
    ASSERT_NE(r.options.tool_call_constraint, nullptr);
    EXPECT_TRUE(accepts(r.options.tool_call_constraint, R"(<|tool_call_start|>[get_weather(city="Oslo")]<|tool_call_end|>)"));
    EXPECT_FALSE(accepts(r.options.tool_call_constraint, R"(<|tool_call_start|>[get_weather()]<|tool_call_end|>)"));
    responses["tools"][0]["strict"] = false;
    EXPECT_EQ(parse_responses_request(responses, ctx()).options.tool_call_constraint, nullptr);
    responses["tools"][0]["strict"] = 1;
    try {
        parse_responses_request(responses, ctx());
        ADD_FAILURE() << "a non-boolean strict was accepted";
    } catch (const ApiError& e) {
        EXPECT_EQ(e.param, "tools");
    }

    // Anthropic has no "strict": the server's flag only
    const json anthropic = json::parse(R"({"model": "tiny", "max_tokens": 20,
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]})");
    EXPECT_EQ(parse_anthropic_request(anthropic, ctx()).options.tool_call_constraint, nullptr);
    EXPECT_NE(parse_anthropic_request(anthropic, strict_server()).options.tool_call_constraint, nullptr);
}

TEST(ServeParse, StrictToolConstraintsAreCompiledOncePerToolList) {
    REQUIRE_MODEL();
    ApiContext c = ctx();
    c.constraints = std::make_shared<ConstraintCache>(2);
    const json a = json::array({strict_tool(weather_tool())});
    const json b = json::array({strict_tool(time_tool())});
    const auto first = parse_chat_request(chat({{"tools", a}}), c).options.tool_call_constraint;
    const auto again = parse_chat_request(chat({{"tools", a}, {"temperature", 0}}), c).options.tool_call_constraint;
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first, again) << "the same tools: the same compiled constraint";
    EXPECT_EQ(c.constraints->compiles(), 1);
    const auto other = parse_chat_request(chat({{"tools", b}}), c).options.tool_call_constraint;
    EXPECT_NE(other, first);
    EXPECT_EQ(c.constraints->compiles(), 2);
    // a refusal is remembered as well
    const json refused = json::array({strict_tool(frobnicate_tool())});
    EXPECT_EQ(chat_error(chat({{"tools", refused}})).status, 400);  // (ctx() compiles without the cache)
    for (int i = 0; i < 2; ++i) {
        try {
            parse_chat_request(chat({{"tools", refused}}), c);
            ADD_FAILURE() << "refused schema accepted";
        } catch (const ApiError& e) {
            EXPECT_NE(std::string(e.what()).find("frobnicate"), std::string::npos);
        }
    }
    EXPECT_EQ(c.constraints->compiles(), 3);
    // capacity 2: the least recently used list (a) was dropped, b is still there
    EXPECT_EQ(parse_chat_request(chat({{"tools", b}}), c).options.tool_call_constraint, other);
    EXPECT_EQ(c.constraints->compiles(), 3);
    EXPECT_NE(parse_chat_request(chat({{"tools", a}}), c).options.tool_call_constraint, first);
    EXPECT_EQ(c.constraints->compiles(), 4);
}

// End to end through the scheduler (no sockets): the tiny model has random weights; sampled
// near-uniformly (the server's default temperature 50) it starts a call now and then, and writes
// garbage after <|tool_call_start|> unless held. With a strict tool every call it starts parses
// to the declared tool with arguments of the right types; the same seeds without strict do not.
TEST(ServeScheduler, StrictToolCallsReachTheGeneration) {
    REQUIRE_MODEL();
    auto model = Model::load(test::ref_path("tinyB-q8_0.gguf"));
    auto tok = model->tokenizer();
    ApiContext c = ctx();
    c.n_ctx = 4096;
    c.defaults.sampler.temperature = 50;
    c.defaults.sampler.top_k = 0;
    c.defaults.sampler.repetition_penalty = 1;
    c.defaults.max_tokens = 1500;
    SessionOptions so;
    so.n_ctx = 4096;
    so.n_threads = 2;
    Scheduler scheduler(model, tok, so, 2, 16);
    const int32_t start_id = *tok->find_token("<|tool_call_start|>");
    struct Counts {
        int started = 0, valid = 0, invalid = 0;
    };
    auto run = [&](bool strict, uint64_t first_seed, uint64_t n) {
        const json tools = json::array({strict ? strict_tool(weather_tool()) : weather_tool()});
        std::vector<std::shared_ptr<Job>> jobs;
        for (uint64_t seed = first_seed; seed < first_seed + n; ++seed) {
            jobs.push_back(std::make_shared<Job>(parse_chat_request(chat({{"tools", tools}, {"seed", seed}}), c)));
            EXPECT_EQ(jobs.back()->request.options.tool_call_constraint != nullptr, strict);
            EXPECT_TRUE(scheduler.submit(jobs.back()));
        }
        Counts n_calls;
        for (auto& job : jobs) {
            std::optional<Event> e;
            while ((e = job->pop(std::chrono::seconds(120))) && e->kind != Event::Kind::kDone && e->kind != Event::Kind::kError) {
            }
            if (!e || e->kind != Event::Kind::kDone) {
                ADD_FAILURE() << (e ? e->text : "no answer in 120 s");
                continue;
            }
            const GenerateResult& g = e->result;
            const auto starts = std::count(g.tokens.begin(), g.tokens.end(), start_id);
            n_calls.started += static_cast<int>(starts);
            int valid = 0;
            for (const ToolCall& call : g.reply.tool_calls) {
                const json args = json::parse(call.arguments, nullptr, false);
                const bool ok = call.name == "get_weather" && args.is_object() && args.contains("city") && args["city"].is_string() &&
                                (!args.contains("days") || args["days"].is_number_integer());
                valid += ok ? 1 : 0;
                n_calls.invalid += ok ? 0 : 1;
            }
            n_calls.valid += valid;
            // a call started but not parsed to a valid one (a reply may end inside its last call)
            if (valid < starts - (g.stop_reason == StopReason::kMaxTokens ? 1 : 0)) ++n_calls.invalid;
        }
        return n_calls;
    };
    const Counts strict = run(true, 1, 4);
    const Counts loose = run(false, 1, 4);
    std::printf("strict: %d calls started, %d valid, %d invalid; loose: %d started, %d valid, %d invalid\n", strict.started,
                strict.valid, strict.invalid, loose.started, loose.valid, loose.invalid);
    EXPECT_GE(strict.valid, 1) << "the tiny model started no call: try more seeds";
    EXPECT_EQ(strict.invalid, 0) << "every call started (but the one a reply's end may cut) parses and validates";
    EXPECT_GE(loose.invalid, 1) << "without strict, the calls the model starts should be garbage";
}

// --cache-ram: with one slot, conversation A loses its slot to B; A's next turn then comes
// from the prompt cache (cached tokens cover A's first turn) and its reply is the one a server
// without the cache computes from scratch (temperature 0). Without the cache, nothing is reused.
TEST(ServeScheduler, APromptCacheKeepsAConversationThatLostItsSlot) {
    REQUIRE_MODEL();
    auto model = Model::load(test::ref_path("tinyB-q8_0.gguf"));
    auto tok = model->tokenizer();
    ApiContext c = ctx();
    c.n_ctx = 2048;
    c.defaults.sampler.temperature = 0;
    c.defaults.max_tokens = 12;
    SessionOptions so;
    so.n_ctx = 2048;
    so.n_threads = 2;
    const auto long_text = [](const char* word) {
        std::string t;
        for (int i = 0; i < 120; ++i) t += fmt::format("{} {} ", word, i);
        return t;
    };
    const json a1 = json::array({{{"role", "user"}, {"content", long_text("apple")}}});
    const json b1 = json::array({{{"role", "user"}, {"content", long_text("pear")}}});
    struct Turn {
        std::string reply;
        int64_t prompt_tokens = 0, cached = 0;
    };
    const auto run = [&](Scheduler& scheduler, const json& messages) {
        auto job = std::make_shared<Job>(parse_chat_request(chat({{"messages", messages}}), c));
        EXPECT_TRUE(scheduler.submit(job));
        std::optional<Event> e;
        while ((e = job->pop(std::chrono::seconds(120))) && e->kind != Event::Kind::kDone && e->kind != Event::Kind::kError) {
        }
        if (!e || e->kind != Event::Kind::kDone) {
            ADD_FAILURE() << (e ? e->text : "no answer in 120 s");
            return Turn{};
        }
        return Turn{e->result.text, static_cast<int64_t>(job->request.prompt.size()), e->cached_tokens};
    };
    const auto conversation = [&](size_t cache_bytes) {
        Scheduler scheduler(model, tok, so, 1, 4, cache_bytes);
        const Turn first = run(scheduler, a1);
        run(scheduler, b1);  // takes the only slot
        json a2 = a1;
        a2.push_back({{"role", "assistant"}, {"content", first.reply}});
        a2.push_back({{"role", "user"}, {"content", "and then?"}});
        const Turn second = run(scheduler, a2);
        const SchedulerStats stats = scheduler.stats();
        return std::make_tuple(first, second, stats);
    };
    const auto [first, cached, with] = conversation(size_t{64} << 20);
    const auto [first_again, uncached, without] = conversation(0);
    EXPECT_GT(first.prompt_tokens, 240);
    EXPECT_GE(cached.cached, first.prompt_tokens - 1) << "A's first turn comes from the cache";
    EXPECT_LT(uncached.cached, 16) << "without the cache only the template's first tokens are shared with B";
    EXPECT_EQ(cached.reply, uncached.reply) << "a restored conversation goes on exactly as a recomputed one";
    EXPECT_EQ(first.reply, first_again.reply);
    EXPECT_EQ(with.cache.hits, 1);
    EXPECT_GE(with.cache.stored, 2);  // A when B came, B when A came back
    EXPECT_GT(with.cache.bytes, 0u);
    EXPECT_LE(with.cache.bytes, with.cache.max_bytes);
    EXPECT_EQ(without.cache.stored, 0);
}

// A bound smaller than one conversation keeps none of them (and never grows past its bound).
TEST(ServeScheduler, APromptCacheStaysInItsBound) {
    REQUIRE_MODEL();
    auto model = Model::load(test::ref_path("tinyB-q8_0.gguf"));
    SessionOptions so;
    so.n_ctx = 1024;
    so.kv_type = KvType::kF32;
    Session s(model, so);
    std::vector<int32_t> ids(200);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(100 + i);
    s.prefill(ids);
    const size_t one = s.snapshot().bytes();
    PromptCache small(one - 1);
    small.store(s);
    EXPECT_EQ(small.stats().entries, 0u);
    PromptCache two(2 * one + one / 2);
    for (int32_t k = 0; k < 4; ++k) {
        ids[0] = 1000 + k;  // four conversations that share nothing
        s.reset();
        s.prefill(ids);
        two.store(s);
        EXPECT_LE(two.stats().bytes, two.stats().max_bytes);
    }
    EXPECT_EQ(two.stats().entries, 2u);
    EXPECT_EQ(two.stats().evicted, 2);
    two.store(s);  // held already: nothing changes
    EXPECT_EQ(two.stats().stored, 4);
    s.prefill(std::vector<int32_t>{7, 7});  // a longer state supersedes its prefix
    two.store(s);
    EXPECT_EQ(two.stats().entries, 2u);
    EXPECT_EQ(two.stats().evicted, 2);
    std::vector<int32_t> next = ids;  // ids[0] == 1003: the last conversation, and more
    next.insert(next.end(), {7, 7, 8});
    EXPECT_EQ(two.take(next, 0).tokens().size(), 202u);
    EXPECT_TRUE(two.take(next, 0).empty()) << "taken: it left the cache";
    ids[0] = 1000;
    EXPECT_TRUE(two.take(ids, 0).empty()) << "the oldest left";
    ids[0] = 1002;
    EXPECT_TRUE(two.take(ids, 200).empty()) << "not more than the slot shares already";
    EXPECT_EQ(two.take(ids, 150).tokens().size(), 200u);
    EXPECT_EQ(two.stats().hits, 2);
}

TEST(ServeParse, ResponseFormatBecomesAConstraint) {
    REQUIRE_MODEL();
    EXPECT_EQ(parse_chat_request(chat({{"response_format", {{"type", "text"}}}}), ctx()).options.constraint, nullptr);
    const Request obj = parse_chat_request(chat({{"response_format", {{"type", "json_object"}}}}), ctx());
    ASSERT_NE(obj.options.constraint, nullptr);
    EXPECT_EQ(obj.options.constraint->kind(), "json_object");
    EXPECT_TRUE(accepts(obj.options.constraint, R"({"a": [1, 2]})"));
    EXPECT_FALSE(accepts(obj.options.constraint, "[1, 2]"));

    const json schema = json::parse(R"({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
                                        "additionalProperties": false})");
    const Request js = parse_chat_request(
        chat({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "x"}, {"schema", schema}}}}}}), ctx());
    ASSERT_NE(js.options.constraint, nullptr);
    EXPECT_EQ(js.options.constraint->kind(), "json_schema");
    EXPECT_TRUE(accepts(js.options.constraint, R"({"n": 3})"));
    EXPECT_FALSE(accepts(js.options.constraint, R"({"n": "3"})"));
    EXPECT_FALSE(accepts(js.options.constraint, R"({"n": 3, "m": 4})"));

    // a forced tool call wins over a response format
    const Request both = parse_chat_request(chat({{"tools", json::array({weather_tool()})}, {"tool_choice", "required"},
                                                  {"response_format", {{"type", "json_object"}}}}),
                                            ctx());
    ASSERT_NE(both.options.constraint, nullptr);
    EXPECT_EQ(both.options.constraint->kind(), "tool_call");
}

TEST(ServeParse, ThinkingOffPerRequest) {
    REQUIRE_MODEL();
    const Request on = parse_chat_request(chat(), ctx());
    EXPECT_NE(on.options.reasoning_budget, 0);
    for (const json& extra : {json{{"chat_template_kwargs", {{"enable_thinking", false}}}}, json{{"reasoning_effort", "none"}}}) {
        const Request off = parse_chat_request(chat(extra), ctx());
        EXPECT_EQ(off.options.reasoning_budget, 0) << extra.dump();
        EXPECT_TRUE(off.prompt_text.ends_with("<think></think>")) << extra.dump() << ": " << off.prompt_text;
        EXPECT_GT(off.prompt.size(), on.prompt.size()) << extra.dump();
    }
    for (const json& extra : {json{{"chat_template_kwargs", {{"enable_thinking", true}}}}, json{{"reasoning_effort", "low"}}}) {
        const Request r = parse_chat_request(chat(extra), ctx());
        EXPECT_NE(r.options.reasoning_budget, 0) << extra.dump();
        EXPECT_EQ(r.prompt_text, on.prompt_text) << extra.dump();
    }
    EXPECT_EQ(chat_error(chat({{"chat_template_kwargs", {{"enable_thinking", "no"}}}})).param, "enable_thinking");
}

TEST(ServeParse, JsonBodyLimits) {
    EXPECT_TRUE(parse_body(R"({"a": [[[1]]]})", 4).is_object());
    auto error = [](const std::string& body, size_t depth) {
        try {
            parse_body(body, depth);
        } catch (const ApiError& e) {
            return e;
        }
        return ApiError(0, "no error");
    };
    EXPECT_EQ(error(R"({"a": [[[1]]]})", 3).status, 400);
    // a million '[' is refused before parsing (no deep recursion)
    const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
    const ApiError e = error(deep, 64);
    EXPECT_EQ(e.status, 400);
    EXPECT_NE(std::string(e.what()).find("64"), std::string::npos) << e.what();
    // brackets inside strings do not count
    EXPECT_TRUE(parse_body(R"({"a": "[[[[[[[[[[[[[[[[\"[[[["})", 2).is_object());
    EXPECT_EQ(error("{\"a\": ", 64).status, 400);
    EXPECT_EQ(error("", 64).status, 400);
    EXPECT_EQ(error("[1, 2]", 64).status, 400);
    EXPECT_EQ(error("\"text\"", 64).status, 400);
    EXPECT_EQ(error("{\"a\": 1} trailing", 64).status, 400);
    EXPECT_EQ(error(std::string("{\"a\": \"\xff\xfe\"}"), 64).status, 400) << "invalid UTF-8";
}

TEST(ServeParse, Completions) {
    REQUIRE_MODEL();
    const Request text = parse_completion_request(json{{"prompt", "Once upon a time"}}, ctx());
    EXPECT_EQ(text.kind, Request::Kind::kCompletion);
    EXPECT_EQ(text.options.max_tokens, 77) << "the server's -n, when it sets one";
    ApiContext no_default = ctx();
    no_default.defaults.max_tokens = -1;
    EXPECT_EQ(parse_completion_request(json{{"prompt", "Once upon a time"}}, no_default).options.max_tokens, 16)
        << "else OpenAI's default for completions";
    EXPECT_FALSE(text.options.parse_reply);
    EXPECT_EQ(text.prompt_text, "Once upon a time");
    EXPECT_EQ(parse_completion_request(json{{"prompt", json::array({"Once upon a time"})}}, ctx()).prompt, text.prompt);

    const std::vector<int32_t> ids = ctx().tokenizer->encode("Once upon a time", false, false);
    const Request tokens = parse_completion_request(json{{"prompt", ids}, {"max_tokens", 4}, {"echo", true}, {"logprobs", 2}}, ctx());
    EXPECT_EQ(tokens.prompt, ids);
    EXPECT_EQ(tokens.prompt_text, ctx().tokenizer->decode(ids));
    EXPECT_EQ(tokens.options.max_tokens, 4);
    EXPECT_TRUE(tokens.echo);
    EXPECT_EQ(tokens.top_logprobs, 2);

    const std::vector<std::pair<json, std::string>> bad = {
        {json::object(), "prompt"},
        {json{{"prompt", 5}}, "prompt"},
        {json{{"prompt", json::array()}}, "prompt"},
        {json{{"prompt", json::array({1, "a"})}}, "prompt"},
        {json{{"prompt", json::array({"a", "b"})}}, "prompt"},
        {json{{"prompt", json::array({-1})}}, "prompt"},
        {json{{"prompt", json::array({ctx().tokenizer->n_vocab()})}}, "prompt"},
        {json{{"prompt", "x"}, {"suffix", "y"}}, "suffix"},
        {json{{"prompt", "x"}, {"max_tokens", -1}}, "max_tokens"},
        {json{{"prompt", "x"}, {"logprobs", 21}}, "logprobs"},
        {json{{"prompt", "x"}, {"echo", 1}}, "echo"},
        {json{{"prompt", "x"}, {"n", 3}}, "n"},
    };
    for (const auto& [body, param] : bad) {
        const ApiError e = completion_error(body);
        EXPECT_EQ(e.status, 400) << body.dump();
        EXPECT_EQ(e.param, param) << body.dump() << ": " << e.what();
    }
}

TEST(ServeParse, ApplyTemplate) {
    REQUIRE_MODEL();
    const std::string text = apply_template(json{{"messages", json::array({{{"role", "user"}, {"content", "Hi there"}}})}}, ctx());
    EXPECT_NE(text.find("Hi there"), std::string::npos);
    EXPECT_THROW(apply_template(json::object(), ctx()), ApiError);
    EXPECT_THROW(apply_template(json{{"messages", json::array({{{"role", "wizard"}, {"content", "x"}}})}}, ctx()), ApiError);
}

TEST(ServeParse, AnthropicMessages) {
    REQUIRE_MODEL();
    const json body = json::parse(R"({"model": "tiny", "max_tokens": 20, "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather?"}]}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}],
        "tool_choice": {"type": "tool", "name": "get_weather"}})");
    const Request r = parse_anthropic_request(body, ctx());
    EXPECT_EQ(r.options.max_tokens, 20);
    EXPECT_NE(r.prompt_text.find("Be brief."), std::string::npos);
    ASSERT_NE(r.options.constraint, nullptr);
    EXPECT_EQ(r.options.constraint->kind(), "tool_call");
    auto error = [](json b) {
        try {
            parse_anthropic_request(b, ctx());
        } catch (const ApiError& e) {
            return e;
        }
        return ApiError(0, "no error");
    };
    json no_max = body;
    no_max.erase("max_tokens");
    EXPECT_EQ(error(no_max).param, "max_tokens");
    json system_role = body;
    system_role["messages"] = json::parse(R"([{"role": "system", "content": "x"}])");
    EXPECT_EQ(error(system_role).status, 400);
    json bad_choice = body;
    bad_choice["tool_choice"] = json{{"type", "tool"}, {"name", "nope"}};
    EXPECT_EQ(error(bad_choice).param, "tool_choice");
    json thinking_off = body;
    thinking_off.erase("tool_choice");
    thinking_off["thinking"] = json{{"type", "disabled"}};
    EXPECT_EQ(parse_anthropic_request(thinking_off, ctx()).options.reasoning_budget, 0);
}

// A token can be part of a UTF-8 character (byte-level BPE): its logprob entry's "token" is
// valid UTF-8 (U+FFFD for the broken bytes) and "bytes" has the exact bytes; and whatever the
// server writes is valid JSON even when a text in it is not UTF-8 (echoed token-id prompts).
// Both used to throw nlohmann's type_error 316 while writing, which ended the server.
TEST(ServeParse, PartialUtf8TokensAreWrittenAsValidJson) {
    REQUIRE_MODEL();
    const Tokenizer& tok = *fixture()->tok;
    int32_t partial = -1;
    for (int32_t id = 0; id < tok.n_vocab() && partial < 0; ++id)
        if (!tok.is_special(id) && !is_valid_utf8(tok.token_bytes(id, true))) partial = id;
    ASSERT_GE(partial, 0) << "the vocabulary has no token that is part of a character";
    const std::string raw = tok.token_bytes(partial, true);
    TokenLogprob lp;
    lp.id = partial;
    lp.top = {{partial, -0.5f}};
    const json j = logprob_json(lp, tok);
    std::string text;
    ASSERT_NO_THROW(text = j.dump());
    EXPECT_TRUE(is_valid_utf8(j["token"].get<std::string>()));
    EXPECT_NE(j["token"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos) << text;
    ASSERT_EQ(j["bytes"].size(), raw.size());
    for (size_t i = 0; i < raw.size(); ++i) EXPECT_EQ(j["bytes"][i].get<int>(), static_cast<unsigned char>(raw[i]));
    EXPECT_EQ(j["top_logprobs"][0]["bytes"], j["bytes"]);

    const json invalid{{"text", raw}};
    EXPECT_THROW((void)invalid.dump(), json::exception) << "nlohmann refuses invalid UTF-8 by default";
    std::string out;
    ASSERT_NO_THROW(out = sse(invalid));
    EXPECT_TRUE(is_valid_utf8(out));
    ASSERT_NO_THROW(out = to_text(invalid));
    EXPECT_TRUE(is_valid_utf8(out));
    EXPECT_TRUE(json::parse(out)["text"].is_string());
}

TEST(ServeParse, ResponsePieces) {
    EXPECT_EQ(usage_json(10, 4, 3).dump(),
              R"({"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":4}})");
    GenerateResult g;
    g.stop_reason = StopReason::kMaxTokens;
    EXPECT_EQ(finish_reason(g), "length");
    g.stop_reason = StopReason::kEndOfTurn;
    EXPECT_EQ(finish_reason(g), "stop");
    g.reply.tool_calls.push_back(ToolCall{});
    EXPECT_EQ(finish_reason(g), "tool_calls");
    const std::vector<float> logits{0.0f, 1.0f, 2.0f, 3.0f};
    const TokenLogprob lp = token_logprob(logits, 3, 2);
    EXPECT_NEAR(lp.logprob, 3.0f - std::log(std::exp(0.0f) + std::exp(1.0f) + std::exp(2.0f) + std::exp(3.0f)), 1e-5);
    ASSERT_EQ(lp.top.size(), 2u);
    EXPECT_EQ(lp.top[0].first, 3);
    EXPECT_EQ(lp.top[1].first, 2);
}

}  // namespace
}  // namespace lfm::serve
