// R10 of the completion parser: only functions declared in `tools` are called. Without tools DSML is
// plain text; an invoke of an undeclared function is never a call (nor streamed as one) and comes back
// as content, verbatim: the whole block when the block has no call, else just that invoke. Every case
// is fed whole and in many random chunkings; the results, the summed deltas and the streamed calls
// must agree.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "chat/completion_parser.h"
#include "chat_test_util.h"

namespace tachyon::chat {
namespace {

using testing::invoke;
using testing::kClose;
using testing::kEos;
using testing::kOpen;
using testing::param;
std::string block(const std::string& invokes) { return kOpen + "\n" + invokes + kClose; }

const Json& declared() {
  static const Json t = *parse_json_exact(R"([
      {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
       "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}},
      {"type": "function", "function": {"name": "calc", "parameters": {"type": "object", "properties": {}}}}])");
  return t;
}

const std::string kWeather = invoke("get_weather", param("city", true, "Paris") + param("days", false, "3"));
const std::string kCalc = invoke("calc", param("expr", true, "1 + 1"));
const std::string kShell = invoke("run_shell", param("cmd", true, "rm -rf /") + param("n", false, "2"));

// An invoke as content: from its opening tag to its closing tag (the newline after it is not part of it).
std::string as_text(const std::string& invoke) { return invoke.substr(0, invoke.size() - 1); }

struct ParseRun {
  ParsedCompletion result;
  std::string content, reasoning;       // the deltas, summed
  std::vector<ParsedToolCall> streamed;  // the streamed tool-call chunks, assembled
  std::vector<ParsedToolCall> released;  // ParseDelta::tool_calls, in order
  bool exact = false;
};

// Feeds `text` in pieces of 1..max_piece bytes (the whole text when max_piece is 0).
ParseRun parse(const std::string& text, const Json& tools, bool parse_tools, size_t max_piece, std::mt19937& rng,
          ThinkingMode mode = ThinkingMode::kChat) {
  CompletionParser p(mode, tools, parse_tools);
  ParseRun r;
  const auto add = [&](const ParseDelta& d) {
    r.content += d.content;
    r.reasoning += d.reasoning;
    for (const ToolCallDelta& t : d.tool_calls) r.released.push_back(t.call);
    for (const ToolCallChunk& ch : d.tool_call_chunks) {
      if (!ch.name.empty()) {
        EXPECT_EQ(ch.index, r.streamed.size());
        r.streamed.push_back({ch.name, ""});
      } else {
        r.streamed.at(ch.index).arguments += ch.arguments;
      }
    }
  };
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = max_piece == 0 ? text.size() : 1 + rng() % max_piece;
    add(p.feed(std::string_view(text).substr(pos, n)));
    pos += n;
  }
  add(p.finish());
  r.result = p.result();
  r.exact = p.tool_stream_exact();
  return r;
}

bool same_calls(const std::vector<ParsedToolCall>& a, const std::vector<ParsedToolCall>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].name != b[k].name || a[k].arguments != b[k].arguments) return false;
  return true;
}

// Parses `text` whole and in 200 random chunkings; every run must give `want` (content and call names),
// stream no call that the result lacks, and stream each call's arguments byte for byte.
void expect_everywhere(const std::string& text, const Json& tools, bool parse_tools, const std::string& want_content,
                       const std::vector<std::string>& want_names, ThinkingMode mode = ThinkingMode::kChat,
                       const std::string& want_reasoning = "") {
  std::mt19937 rng(1234);
  const ParseRun whole = parse(text, tools, parse_tools, 0, rng, mode);
  EXPECT_EQ(whole.result.content, want_content);
  EXPECT_EQ(whole.result.reasoning_content, want_reasoning);
  std::vector<std::string> names;
  for (const ParsedToolCall& c : whole.result.tool_calls) names.push_back(c.name);
  EXPECT_EQ(names, want_names);
  for (int trial = 0; trial < 200 && !::testing::Test::HasFailure(); ++trial) {
    const ParseRun r = parse(text, tools, parse_tools, size_t(1) << (trial % 8), rng, mode);
    SCOPED_TRACE(trial);
    EXPECT_EQ(r.result.content, whole.result.content);
    EXPECT_EQ(r.result.reasoning_content, whole.result.reasoning_content);
    EXPECT_TRUE(same_calls(r.result.tool_calls, whole.result.tool_calls));
    EXPECT_EQ(r.content, r.result.content);  // content deltas are never retracted
    EXPECT_EQ(r.reasoning, r.result.reasoning_content);
    EXPECT_TRUE(same_calls(r.released, r.result.tool_calls));
    EXPECT_TRUE(r.exact);
    EXPECT_TRUE(same_calls(r.streamed, r.result.tool_calls));  // nothing streamed for an undeclared name
  }
}

TEST(DeclaredTools, WithoutToolsDsmlIsContent) {
  const std::string text = "Sure.\n\n" + block(kWeather);
  for (const Json& tools : {Json(nullptr), Json::array()}) {
    SCOPED_TRACE(tools.dump());
    expect_everywhere(text + kEos, tools, true, text, {});
    // Thinking mode: the block does not end the reasoning, as no call can come of it.
    expect_everywhere("plan" + text + "</think>answer" + kEos, tools, true, "answer", {}, ThinkingMode::kThinking,
                      "plan" + text);
  }
  expect_everywhere(text + kEos, declared(), true, "Sure.", {"get_weather"});  // the same text, with tools
}

TEST(DeclaredTools, BlockOfUndeclaredFunctionsIsContentVerbatim) {
  const std::string text = "Let me run it.\n\n" + block(kShell);
  expect_everywhere(text + kEos, declared(), true, text, {});
  expect_everywhere(text + "\nafter" + kEos, declared(), true, text + "\nafter", {});
  // Thinking mode: the block ends the reasoning (R3) and is content.
  expect_everywhere("hmm" + text + kEos, declared(), true, "\n\n" + block(kShell), {}, ThinkingMode::kThinking,
                    "hmmLet me run it.");
}

TEST(DeclaredTools, MixedBlockKeepsDeclaredCallsAndGivesUndeclaredInvokesToContent) {
  const std::string text = "Checking.\n\n" + block(kWeather + kShell + kCalc) + kEos;
  expect_everywhere(text, declared(), true, "Checking." + as_text(kShell), {"get_weather", "calc"});
  std::mt19937 rng(7);
  const ParseRun r = parse(text, declared(), true, 0, rng);
  ASSERT_EQ(r.result.tool_calls.size(), 2u);
  EXPECT_EQ(r.result.tool_calls[0].arguments, R"({"city": "Paris", "days": 3})");
  EXPECT_EQ(r.result.tool_calls[1].arguments, R"({"expr": "1 + 1"})");
}

TEST(DeclaredTools, UndeclaredBlockBeforeACallBlockIsContentWhole) {
  const std::string first = block(kShell);
  const std::string text = "pre\n\n" + first + "\nbetween\n\n" + block(kCalc + kShell) + "\ntail" + kEos;
  expect_everywhere(text, declared(), true, "pre" + first + as_text(kShell), {"calc"});
  // After a call, a block of undeclared functions is content when it closes.
  const std::string later = "pre\n\n" + block(kCalc) + "\n\n" + first + kEos;
  expect_everywhere(later, declared(), true, "pre" + first, {"calc"});
}

TEST(DeclaredTools, UndeclaredInvokeThatNeverClosesIsDropped) {
  // As a declared invoke that never closes is: the block's calls stand, the broken invoke goes.
  const std::string broken = "<｜DSML｜invoke name=\"run_shell\">\n" + param("cmd", true, "ls");
  expect_everywhere(block(kCalc + broken) + kEos, declared(), true, "", {"calc"});
  expect_everywhere(block(broken + kCalc) + kEos, declared(), true, "", {"calc"});
  // A block whose only invoke never closes and names an unknown function: no call, so all is content (R9).
  const std::string lone = "x" + kOpen + "\n" + broken + kClose;
  expect_everywhere(lone + kEos, declared(), true, lone, {});
}

TEST(DeclaredTools, NamesMatchExactly) {
  // No case folding or trimming: "Calc" and "calc " are not "calc".
  const std::string text = block(invoke("Calc", "") + invoke("calc ", "") + invoke("calc", "")) + kEos;
  expect_everywhere(text, declared(), true, as_text(invoke("Calc", "")) + as_text(invoke("calc ", "")), {"calc"});
}

TEST(DeclaredTools, ToolParsingOffWinsOverDeclaredTools) {
  const std::string text = "a\n\n" + block(kWeather);
  expect_everywhere(text + kEos, declared(), false, text, {});
}

}  // namespace
}  // namespace tachyon::chat
