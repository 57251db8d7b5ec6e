// Completion-parser rules beyond the shared goldens: schema coercion (checked against Python's
// int()/float() behaviour), tolerant DSML tags, unterminated blocks in reasoning, and the streaming
// deltas (held-back marker prefixes, tool calls released when their block closes, tool-call chunks).
#include <gtest/gtest.h>

#include "chat/completion_parser.h"
#include "chat_test_util.h"
#include "chat/dsml_args.h"

namespace tachyon::chat {
namespace {

using testing::invoke;
using testing::kClose;
using testing::kEos;
using testing::kOpen;
using testing::param;

TEST(DsmlCoercion, MatchesPythonConversions) {
  // Expected values: vLLM's coerce_to_schema_type run under CPython.
  struct Case {
    const char* raw;
    std::vector<std::string> types;
    const char* json;
  } cases[] = {
      {"+7", {"integer"}, "7"},
      {" 0042 ", {"integer"}, "42"},
      {"1_000", {"integer"}, "1000"},
      {"1.", {"number"}, "1"},
      {".5", {"number"}, "0.5"},
      {"2.50x", {"number"}, "\"2.50x\""},
      {"1.5", {"integer", "number"}, "1.5"},
      {"3.0e0 ", {"number"}, "3"},
      {"1e20 ", {"number"}, "100000000000000000000"},
      {"-0.0 ", {"number"}, "0"},
      {"1e400", {"number"}, "\"1e400\""},
      {"inf", {"number"}, "\"inf\""},
      {"nan", {"number", "string"}, "\"nan\""},
      {"True", {"boolean"}, "true"},
      {" FALSE ", {"boolean"}, "false"},
      {"yes", {"boolean"}, "\"yes\""},
      {"NULL", {"null", "integer"}, "null"},
      {"Null", {"string"}, "\"Null\""},
      {"12abc", {"Int"}, "\"12abc\""},
      {"7", {" INT "}, "7"},
      {"[1, 2", {"array"}, "\"[1, 2\""},
      {"three", {"integer"}, "\"three\""},
  };
  for (const Case& c : cases) EXPECT_EQ(coerce_value(c.raw, c.types), c.json) << c.raw;
}

TEST(DsmlCoercion, SchemaTypes) {
  const auto types = [](const char* schema) { return schema_types(*parse_json_exact(schema)); };
  EXPECT_EQ(types(R"({"type": "integer"})"), std::vector<std::string>{"integer"});
  EXPECT_EQ(types(R"({"type": ["null", "number"]})"), (std::vector<std::string>{"null", "number"}));
  EXPECT_EQ(types(R"({"enum": [1, 2.5, "x", null, true]})"),
            (std::vector<std::string>{"boolean", "integer", "null", "number", "string"}));
  EXPECT_EQ(types(R"({"anyOf": [{"type": "integer"}, {}]})"), (std::vector<std::string>{"integer", "string"}));
  EXPECT_EQ(types(R"({"description": "no type"})"), std::vector<std::string>{"string"});
  EXPECT_EQ(types("3"), std::vector<std::string>{"string"});
}

// Declares "w" (with a schema), "a" and "b": the functions these tests call (R10: only declared ones are).
const Json& weather_tools() {
  static const Json t = *parse_json_exact(R"([{"type": "function", "function": {"name": "w", "parameters": {
      "type": "object", "properties": {"days": {"type": "integer"}, "on": {"type": "boolean"}}}}},
      {"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}])");
  return t;
}

TEST(ParserRules, CoercesOnlyInvalidJsonBySchema) {
  const std::string text = "\n\n" + kOpen + "\n" +
                           invoke("w", param("days", false, "+3") + param("on", false, "True") +
                                           param("x", false, "[1,2]") + param("y", false, "{bad")) +
                           kClose + kEos;
  const ParsedCompletion r = parse_completion(text, ThinkingMode::kChat, weather_tools());
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, R"({"days": 3, "on": true, "x": [1,2], "y": "{bad"})");
  EXPECT_EQ(r.content, "");
}

TEST(ParserRules, TolerantTagsAndJunkBetweenTags) {
  const std::string text = "ok" + kOpen + " junk <｜DSML｜invoke \t name=\"w\"  >junk" +
                           "<｜DSML｜parameter  name=\"days\"\nstring=\"false\" >2</｜DSML｜parameter>" +
                           "<｜DSML｜parameter name=\"z\" string=\"maybe\">1</｜DSML｜parameter>" +
                           "</｜DSML｜invoke>" + kClose + "tail dropped" + kEos;
  const ParsedCompletion r = parse_completion(text, ThinkingMode::kChat, weather_tools());
  EXPECT_EQ(r.content, "ok");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].name, "w");
  EXPECT_EQ(r.tool_calls[0].arguments, R"({"days": 2})");
}

TEST(ParserRules, ParameterValuesMayContainMarkup) {
  // Values end only at </｜DSML｜parameter>, as in the official parser.
  const std::string value = "a </｜DSML｜invoke> b " + kClose + " c";
  const std::string text = kOpen + invoke("w", param("s", true, value)) + kClose;
  const ParsedCompletion r = parse_completion(text, ThinkingMode::kChat, weather_tools());
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"s\": \"a </｜DSML｜invoke> b </｜DSML｜tool_calls> c\"}");
}

TEST(ParserRules, UnterminatedBlockInReasoningBecomesContent) {
  const std::string block = "\n\n" + kOpen + "\n" + invoke("w", "");
  const ParsedCompletion r = parse_completion("think more" + block + kEos + "ignored", ThinkingMode::kThinking, weather_tools());
  EXPECT_EQ(r.reasoning_content, "think more");
  EXPECT_EQ(r.content, block);
  EXPECT_TRUE(r.tool_calls.empty());
}

TEST(ParserRules, CompleteBlockWithoutCallsThenBlockWithCall) {
  const std::string text = "pre\n\n" + kOpen + "nothing" + kClose + "mid" + kOpen + invoke("w", "") + kClose;
  const ParsedCompletion r = parse_completion(text, ThinkingMode::kChat, weather_tools());
  EXPECT_EQ(r.content, "pre");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, "{}");
}

TEST(ParserRules, NewInvokeReplacesUnclosedOne) {
  const std::string text = kOpen + "<｜DSML｜invoke name=\"a\">" + param("p", true, "1") + invoke("b", "") + kClose;
  const ParsedCompletion r = parse_completion(text, ThinkingMode::kChat, weather_tools());
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].name, "b");
}

TEST(ParserStreaming, HoldsBackMarkerPrefixesAndReleasesCallsAtBlockEnd) {
  CompletionParser p(ThinkingMode::kThinking, weather_tools());
  ParseDelta d = p.feed("abc</thi");
  EXPECT_EQ(d.reasoning, "abc");
  d = p.feed("nk>Hello\n");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Hello");  // "\n" may start "\n\n<｜DSML｜tool_calls>"
  d = p.feed("\n<｜DSML｜tool_ca");
  EXPECT_TRUE(d.empty());
  d = p.feed("lls>\n" + invoke("w", param("a", true, "x")));
  EXPECT_TRUE(d.tool_calls.empty());  // the block may still fail (R9), so the whole call waits for its end
  ASSERT_EQ(d.tool_call_chunks.size(), 2u);  // while the stream gets it as it is parsed
  EXPECT_EQ(d.tool_call_chunks[0].name, "w");
  EXPECT_EQ(d.tool_call_chunks[0].arguments, "");
  EXPECT_EQ(d.tool_call_chunks[1].name, "");
  EXPECT_EQ(d.tool_call_chunks[1].arguments, R"({"a": "x"})");
  d = p.feed(kClose + kEos);
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].index, 0u);
  EXPECT_EQ(d.tool_calls[0].call.name, "w");
  EXPECT_EQ(d.tool_calls[0].call.arguments, R"({"a": "x"})");
  EXPECT_TRUE(p.finished());
  EXPECT_TRUE(p.saw_eos());
  EXPECT_TRUE(p.feed("more").empty());
  EXPECT_EQ(p.result().content, "Hello");
}

TEST(ParserStreaming, DoesNotSplitUtf8Characters) {
  CompletionParser p(ThinkingMode::kChat, weather_tools());
  const std::string text = "深度";  // 6 bytes
  EXPECT_EQ(p.feed(text.substr(0, 2)).content, "");
  EXPECT_EQ(p.feed(text.substr(2, 2)).content, "深");
  EXPECT_EQ(p.feed(text.substr(4)).content, "度");
  EXPECT_EQ(p.finish().content, "");
}

TEST(ParserStreaming, TruncatedStreamFlushesHeldText) {
  CompletionParser p(ThinkingMode::kChat, weather_tools());
  EXPECT_EQ(p.feed("partial <｜DSML").content, "partial ");
  EXPECT_EQ(p.finish().content, "<｜DSML");
  EXPECT_FALSE(p.saw_eos());
}

// Streamed tool-call chunks of `text` fed one byte at a time: (name, concatenated arguments) per call.
std::vector<ParsedToolCall> stream_calls(const std::string& text, const Json& tools, bool* exact) {
  CompletionParser p(ThinkingMode::kChat, tools);
  std::vector<ParsedToolCall> calls;
  const auto add = [&](const ParseDelta& d) {
    for (const ToolCallChunk& ch : d.tool_call_chunks) {
      if (!ch.name.empty()) calls.push_back({ch.name, ""});
      else calls.at(ch.index).arguments += ch.arguments;
    }
  };
  for (char c : text) add(p.feed(std::string(1, c)));
  add(p.finish());
  *exact = p.tool_stream_exact();
  return calls;
}

TEST(ParserStreaming, ToolCallArgumentsStreamAsParametersArrive) {
  CompletionParser p(ThinkingMode::kChat, weather_tools());
  ParseDelta d = p.feed(kOpen + "\n<｜DSML｜invoke name=\"w\">\n<｜DSML｜parameter name=\"s\" string=\"true\">a\"");
  ASSERT_EQ(d.tool_call_chunks.size(), 2u);
  EXPECT_EQ(d.tool_call_chunks[0].name, "w");
  EXPECT_EQ(d.tool_call_chunks[1].arguments, R"({"s": "a\")");
  d = p.feed("\n深");
  ASSERT_EQ(d.tool_call_chunks.size(), 1u);
  EXPECT_EQ(d.tool_call_chunks[0].arguments, "\\n深");  // escaped as the text arrives
  d = p.feed(std::string("</｜DSML｜parameter>") + param("days", false, "+2"));
  ASSERT_EQ(d.tool_call_chunks.size(), 1u);
  EXPECT_EQ(d.tool_call_chunks[0].arguments, R"(", "days": 2)");  // a JSON value once its parameter closes
  d = p.feed("</｜DSML｜invoke>\n" + kClose);
  ASSERT_EQ(d.tool_call_chunks.size(), 1u);
  EXPECT_EQ(d.tool_call_chunks[0].arguments, "}");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].call.arguments, "{\"s\": \"a\\\"\\n深\", \"days\": 2}");
  EXPECT_TRUE(p.tool_stream_exact());
}

TEST(ParserStreaming, SplitUtf8AndBadBytesInStreamedStrings) {
  const std::string text = kOpen + invoke("w", param("s", true, "x\xF0\x9F\x9A\x80 \xFF\xE2\x82 \x01\t") + param("n", false, "")) + kClose;
  bool exact = false;
  const auto calls = stream_calls(text, weather_tools(), &exact);
  const ParsedCompletion r = parse_completion(text, ThinkingMode::kChat, weather_tools());
  EXPECT_TRUE(exact);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].arguments, r.tool_calls.at(0).arguments);
}

TEST(ParserStreaming, LateDecisionsMakeTheStreamInexact) {
  bool exact = true;
  // R7: the stream repeats the name; a JSON parser reads the same object as the final arguments.
  auto calls = stream_calls(kOpen + invoke("w", param("a", true, "1") + param("b", true, "2") + param("a", true, "3")) + kClose,
                            weather_tools(), &exact);
  EXPECT_FALSE(exact);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].arguments, R"({"a": "1", "b": "2", "a": "3"})");
  EXPECT_EQ(nlohmann::json::parse(calls[0].arguments), nlohmann::json::parse(R"({"a": "3", "b": "2"})"));
  // An invoke replaced by the next one is closed in the stream (its arguments stay a JSON object).
  calls = stream_calls(kOpen + "<｜DSML｜invoke name=\"a\">" + param("x", true, "1") + invoke("b", "") + kClose, weather_tools(),
                       &exact);
  EXPECT_FALSE(exact);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].arguments, R"({"x": "1"})");
  EXPECT_EQ(calls[1].arguments, "{}");
  // A block that never closes (R9): the result has no call, the stream had one.
  calls = stream_calls(kOpen + invoke("w", ""), weather_tools(), &exact);
  EXPECT_FALSE(exact);
  EXPECT_EQ(calls.size(), 1u);
}

TEST(ParserRules, ToolParsingOffKeepsDsmlAsContent) {
  const std::string text = "Sure.\n\n" + kOpen + "\n" + invoke("w", param("a", true, "x")) + kClose + kEos;
  CompletionParser p(ThinkingMode::kChat, weather_tools(), false);
  std::string content;
  for (char c : text) {
    const ParseDelta d = p.feed(std::string(1, c));
    EXPECT_TRUE(d.tool_call_chunks.empty());
    content += d.content;
  }
  content += p.finish().content;
  EXPECT_EQ(content, text.substr(0, text.size() - kEos.size()));
  EXPECT_EQ(p.result().content, content);
  EXPECT_TRUE(p.result().tool_calls.empty());
  CompletionParser t(ThinkingMode::kThinking, nullptr, false);
  t.feed("plan" + kOpen + "</think>answer" + kEos);
  EXPECT_EQ(t.result().reasoning_content, "plan" + kOpen);
  EXPECT_EQ(t.result().content, "answer");
}

}  // namespace
}  // namespace tachyon::chat
