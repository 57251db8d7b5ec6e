// Unit tests of the chat route's pure parts: tool_choice parsing and the forced tool-call opening, and
// the chat responder's SSE output. Generated texts (the shared parse goldens and a few more) are fed as
// Generation events in random chunks; the stream, assembled the way the openai SDK assembles it, must
// give the non-streamed response's content, reasoning and tool calls, with arguments byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "chat/completion_parser.h"
#include "chat/py_json.h"
#include "server/openai_chat.h"
#include "server/tool_choice.h"

namespace tachyon::server {
namespace {

const std::string kRoot = std::string(TACHYON_TEST_DATA) + "/../..";

Json parse(const std::string& s) { return parse_body(s); }

const char* kTools = R"([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}},
    {"type": "function", "function": {"name": "calculator", "parameters": {"type": "object",
    "properties": {"expression": {"type": "string"}}}}}])";

Json with_tools(const std::string& tool_choice) {
  return parse(std::string(R"({"tools": )") + kTools + R"(, "tool_choice": )" + tool_choice + "}");
}

ApiError tool_choice_error(const Json& body) {
  try {
    parse_tool_choice(body);
  } catch (const ApiException& e) {
    return e.error;
  }
  ADD_FAILURE() << "no error for " << body.dump();
  return {};
}

TEST(ToolChoice, ReadsEveryForm) {
  EXPECT_EQ(parse_tool_choice(parse("{}")).mode, ToolChoiceMode::kAuto);
  EXPECT_EQ(parse_tool_choice(parse(R"({"tool_choice": null})")).mode, ToolChoiceMode::kAuto);
  EXPECT_EQ(parse_tool_choice(parse(R"({"tool_choice": "none"})")).mode, ToolChoiceMode::kNone);
  EXPECT_EQ(parse_tool_choice(with_tools(R"("none")")).mode, ToolChoiceMode::kNone);
  EXPECT_EQ(parse_tool_choice(with_tools(R"("auto")")).mode, ToolChoiceMode::kAuto);
  EXPECT_EQ(parse_tool_choice(with_tools(R"("required")")).mode, ToolChoiceMode::kRequired);
  const ToolChoice f = parse_tool_choice(with_tools(R"({"type": "function", "function": {"name": "calculator"}})"));
  EXPECT_EQ(f.mode, ToolChoiceMode::kFunction);
  EXPECT_EQ(f.function, "calculator");
}

TEST(ToolChoice, RejectsBadValuesWith400) {
  for (const char* tc : {R"("sometimes")", "5", "true", "[]", R"({"function": {"name": "calculator"}})",
                         R"({"type": "custom", "function": {"name": "calculator"}})",
                         R"({"type": "function"})", R"({"type": "function", "function": "calculator"})",
                         R"({"type": "function", "function": {"name": ""}})",
                         R"({"type": "function", "function": {"name": 3}})",
                         R"({"type": "function", "function": {"name": "nope"}})"}) {
    const ApiError e = tool_choice_error(with_tools(tc));
    EXPECT_EQ(e.status, 400) << tc;
    EXPECT_EQ(e.param, "tool_choice") << tc;
    EXPECT_EQ(e.type, "invalid_request_error") << tc;
  }
  EXPECT_NE(tool_choice_error(with_tools(R"({"type": "function", "function": {"name": "nope"}})")).message.find("'nope'"),
            std::string::npos);
  // "required" and a named function need tools.
  EXPECT_EQ(tool_choice_error(parse(R"({"tool_choice": "required"})")).param, "tool_choice");
  EXPECT_EQ(tool_choice_error(parse(R"({"tools": [], "tool_choice": "required"})")).param, "tool_choice");
  EXPECT_EQ(tool_choice_error(parse(R"({"tool_choice": {"type": "function", "function": {"name": "f"}}})")).param,
            "tool_choice");
}

TEST(ToolChoice, ForcedText) {
  const std::string open = "\n\n<｜DSML｜tool_calls>\n";
  EXPECT_EQ(forced_tool_call_text({ToolChoiceMode::kAuto, ""}, chat::ThinkingMode::kChat), "");
  EXPECT_EQ(forced_tool_call_text({ToolChoiceMode::kNone, ""}, chat::ThinkingMode::kThinking), "");
  EXPECT_EQ(forced_tool_call_text({ToolChoiceMode::kRequired, ""}, chat::ThinkingMode::kChat), open);
  EXPECT_EQ(forced_tool_call_text({ToolChoiceMode::kRequired, ""}, chat::ThinkingMode::kThinking), "</think>" + open);
  EXPECT_EQ(forced_tool_call_text({ToolChoiceMode::kFunction, "calc"}, chat::ThinkingMode::kChat),
            open + "<｜DSML｜invoke name=\"calc\">\n");
}

// The forced tokens spell the start of the forced text, cut where the tokenizer cuts that text in context.
TEST(ToolChoice, PrefixTokensFollowTheTokenizer) {
  for (const char* dir : {"/assets/tachyon-demo-v4", "/assets/tokenizer/deepseek-v4"}) {
    auto t = tok::Tokenizer::load(kRoot + dir);
    ASSERT_TRUE(t.is_ok()) << dir << ": " << t.status().message();
    for (const ToolChoice& tc : {ToolChoice{ToolChoiceMode::kRequired, ""}, ToolChoice{ToolChoiceMode::kFunction, "lookup_doc"}}) {
      for (const auto mode : {chat::ThinkingMode::kChat, chat::ThinkingMode::kThinking}) {
        const std::string text = forced_tool_call_text(tc, mode);
        const std::vector<int32_t> ids = tool_choice_prefix_tokens(**t, tc, mode);
        const std::string spelled = (*t)->decode(ids);
        EXPECT_EQ(text.compare(0, spelled.size(), spelled), 0) << dir << ": " << spelled;
        // Only a newline may be left for the model (where "\n<" is one token); the markup is forced.
        EXPECT_GE(spelled.size() + 1, text.size()) << dir << ": " << spelled;
      }
    }
    EXPECT_TRUE(tool_choice_prefix_tokens(**t, {ToolChoiceMode::kAuto, ""}, chat::ThinkingMode::kChat).empty());
  }
}

// ---- the chat responder's stream against its non-streamed response ----

struct Assembled {
  std::string content, reasoning, finish;
  std::vector<std::string> names, arguments;
  std::vector<int> argument_deltas;  // per call
};

// Assembles SSE chat chunks the way the openai SDK does (tool calls keyed by index).
Assembled assemble(const std::string& sse) {
  Assembled a;
  size_t pos = 0;
  while (true) {
    const size_t end = sse.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string ev = sse.substr(pos, end - pos);
    pos = end + 2;
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    const Json j = Json::parse(ev.substr(6));
    EXPECT_FALSE(j.contains("error")) << ev;
    for (const Json& ch : j["choices"]) {
      const Json& d = ch["delta"];
      if (d.contains("content")) a.content += d["content"].get<std::string>();
      if (d.contains("reasoning_content")) a.reasoning += d["reasoning_content"].get<std::string>();
      if (!ch["finish_reason"].is_null()) a.finish = ch["finish_reason"].get<std::string>();
      if (!d.contains("tool_calls")) continue;
      for (const Json& tc : d["tool_calls"]) {
        const size_t i = tc["index"].get<size_t>();
        if (tc.contains("id")) {  // a call's first delta: id, type, name and empty arguments
          EXPECT_EQ(i, a.names.size()) << ev;
          EXPECT_EQ(tc["id"].get<std::string>().rfind("call_", 0), 0u);
          EXPECT_EQ(tc["type"], "function");
          EXPECT_EQ(tc["function"]["arguments"], "");
          a.names.push_back(tc["function"]["name"].get<std::string>());
          a.arguments.emplace_back();
          a.argument_deltas.push_back(0);
        } else {
          EXPECT_FALSE(tc["function"].contains("name")) << ev;
          EXPECT_LT(i, a.arguments.size()) << ev;
          if (i >= a.arguments.size()) continue;
          a.arguments[i] += tc["function"]["arguments"].get<std::string>();
          a.argument_deltas[i]++;
        }
      }
    }
  }
  EXPECT_EQ(pos, sse.size());
  return a;
}

// Feeds `text` as Generation events cut at random places (pieces of at most `max_piece` bytes).
std::vector<ChoiceEvent> events_of(const std::string& text, size_t max_piece, std::mt19937& rng) {
  std::vector<ChoiceEvent> evs;
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = std::min(text.size() - pos, 1 + rng() % max_piece);
    ChoiceEvent ev;
    ev.text = text.substr(pos, n);
    ev.prompt_tokens = 10;
    ev.completion_tokens = int64_t(evs.size()) + 1;
    evs.push_back(std::move(ev));
    pos += n;
  }
  ChoiceEvent last;
  last.finished = true;
  last.reason = runtime::FinishReason::kStop;
  last.prompt_tokens = 10;
  last.completion_tokens = int64_t(evs.size());
  evs.push_back(std::move(last));
  return evs;
}

struct Case {
  std::string name, text;
  chat::ThinkingMode mode = chat::ThinkingMode::kChat;
  Json tools;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  std::ifstream in(std::string(TACHYON_TEST_DATA) + "/chat/parse_cases.jsonl");
  EXPECT_TRUE(in.good());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const Json c = *chat::parse_json_exact(line);
    out.push_back({c["name"].get<std::string>(), c["text"].get<std::string>(),
                   c["thinking_mode"] == "thinking" ? chat::ThinkingMode::kThinking : chat::ThinkingMode::kChat,
                   c["tools"]});
  }
  EXPECT_GE(out.size(), 40u);
  // What the demo model writes, and a long multi-parameter call with escapes and multi-byte text.
  const Json tools = *chat::parse_json_exact(kTools);
  out.push_back({"demo_calculator",
                 "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"calculator\">\n<｜DSML｜parameter name=\"expression\" "
                 "string=\"true\">17 * 23</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
                 chat::ThinkingMode::kChat, tools});
  out.push_back({"long_arguments",
                 "Checking.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" "
                 "string=\"true\">São \"Paulo\"\\\n\t🚀 " + std::string(300, 'x') +
                     "</｜DSML｜parameter>\n<｜DSML｜parameter name=\"days\" string=\"false\">+5</｜DSML｜parameter>\n"
                     "<｜DSML｜parameter name=\"extra\" string=\"false\">{\"a\": [1, 2.50, null]}</｜DSML｜parameter>\n"
                     "</｜DSML｜invoke>\n<｜DSML｜invoke name=\"calculator\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
                 chat::ThinkingMode::kThinking, tools});
  return out;
}

TEST(ChatStream, StreamedToolCallsEqualTheNonStreamedOnes) {
  ServerContext ctx;
  ctx.cfg.served_model_name = "m";
  RequestParams p;
  int exact_cases = 0, multi_param_checked = 0;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    chat::CompletionParser probe(c.mode, c.tools);
    probe.feed(c.text);
    probe.finish();
    const bool exact = probe.tool_stream_exact();
    exact_cases += exact;
    std::mt19937 rng(77);
    for (int trial = 0; trial < 60 && !::testing::Test::HasFailure(); ++trial) {
      const size_t max_piece = size_t(1) << (trial % 7);  // 1 .. 64 bytes
      std::vector<ChoiceEvent> evs = events_of(c.text, max_piece, rng);
      ChatResponder whole(ctx, p, c.mode, c.tools, true);
      ChatResponder streamed(ctx, p, c.mode, c.tools, true);
      std::vector<ChoiceEvent> copy = evs;
      whole.apply(copy, nullptr);
      std::string sse;
      streamed.on_start(&sse);
      for (ChoiceEvent& ev : evs) {
        std::vector<ChoiceEvent> one{ev};
        streamed.on_events(one, &sse);
      }
      streamed.on_end(&sse);
      const Assembled a = assemble(sse);
      const Json resp = whole.response();
      const Json& msg = resp["choices"][0]["message"];
      EXPECT_EQ(a.content, msg["content"].is_null() ? "" : msg["content"].get<std::string>());
      EXPECT_EQ(a.reasoning, msg.value("reasoning_content", std::string()));
      EXPECT_EQ(a.finish, resp["choices"][0]["finish_reason"].get<std::string>());
      if (!exact) continue;  // the malformed cases the parser flags (completion_parser.h)
      const Json calls = msg.value("tool_calls", Json::array());
      ASSERT_EQ(a.names.size(), calls.size());
      for (size_t k = 0; k < calls.size(); ++k) {
        EXPECT_EQ(a.names[k], calls[k]["function"]["name"].get<std::string>());
        EXPECT_EQ(a.arguments[k], calls[k]["function"]["arguments"].get<std::string>());  // byte for byte
        // Small pieces: a call with parameters gets its arguments in more than one delta.
        const bool has_params = calls[k]["function"]["arguments"].get<std::string>() != "{}";
        if (max_piece <= 4 && has_params) {
          EXPECT_GT(a.argument_deltas[k], 1);
          ++multi_param_checked;
        }
      }
    }
  }
  EXPECT_GE(exact_cases, 40);
  EXPECT_GT(multi_param_checked, 0);
}

TEST(ChatStream, ToolParsingOffStreamsDsmlAsContent) {
  ServerContext ctx;
  RequestParams p;
  const std::string text = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"calculator\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  std::mt19937 rng(5);
  std::vector<ChoiceEvent> evs = events_of(text, 3, rng);
  ChatResponder r(ctx, p, chat::ThinkingMode::kChat, nullptr, false);
  std::string sse;
  r.on_events(evs, &sse);
  const Assembled a = assemble(sse);
  EXPECT_EQ(a.content, text);
  EXPECT_TRUE(a.names.empty());
  EXPECT_EQ(a.finish, "stop");
  EXPECT_FALSE(r.response()["choices"][0]["message"].contains("tool_calls"));
}

TEST(ChatStream, UsageCountsEachPromptOnce) {
  std::vector<TokenCounts> c = {{10, 3, 4}, {10, 5, 6}, {7, 1, 0}, {7, 2, 2}};
  const Json u = usage_json(c, 2, 9);
  EXPECT_EQ(u["prompt_tokens"], 17);
  EXPECT_EQ(u["completion_tokens"], 11);
  EXPECT_EQ(u["total_tokens"], 28);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], 8);
  EXPECT_EQ(u["completion_tokens_details"]["reasoning_tokens"], 9);
  EXPECT_EQ(usage_json(c, 4)["prompt_tokens"], 10);
  EXPECT_EQ(usage_json(c, 4)["prompt_tokens_details"]["cached_tokens"], 6);
  EXPECT_FALSE(usage_json(c, 4).contains("completion_tokens_details"));
}

}  // namespace
}  // namespace tachyon::server
