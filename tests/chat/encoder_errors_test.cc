// Bad chat requests give a Status naming the problem, never a crash; plus encoder behaviours the
// shared goldens do not pin (consecutive user turns, task validation, text-part flattening).
#include <gtest/gtest.h>

#include "chat/dsv4_encoder.h"
#include "chat/dsv4_format.h"

namespace tachyon::chat {
namespace {

struct BadRequest {
  const char* json;
  const char* error_part;  // a substring the error message must contain
};

const BadRequest kBad[] = {
    {R"([])", "expected a JSON object"},
    {R"({})", "messages"},
    {R"({"messages": []})", "at least one message"},
    {R"({"messages": {"role": "user"}})", "messages"},
    {R"({"messages": ["hi"]})", "messages[0]: expected an object"},
    {R"({"messages": [{"content": "hi"}]})", "messages[0].role"},
    {R"({"messages": [{"role": 7, "content": "hi"}]})", "messages[0].role"},
    {R"({"messages": [{"role": "wizard", "content": "hi"}]})", "unknown role 'wizard'"},
    {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
    {R"({"messages": [{"role": "user", "content": {"text": "x"}}]})", "messages[0].content"},
    {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]})",
     "unsupported content part type 'image_url'"},
    {R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})", "content[0].text"},
    {R"({"messages": [{"role": "user", "content": [3]}]})", "content[0]"},
    {R"({"messages": [{"role": "user", "content": "hi", "task": 3}]})", "task"},
    {R"({"messages": [{"role": "user", "content": "hi", "task": "dance"}]})", "invalid task 'dance'"},
    {R"({"messages": [{"role": "tool", "content": "r"}]})", "must follow an assistant message with tool_calls"},
    {R"({"messages": [{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "a", "content": "r"}]})",
     "must follow an assistant message with tool_calls"},
    {R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "zzz", "content": "r"}]})",
     "'zzz' matches no tool call"},
    {R"({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]}]})",
     "expected a JSON object, got array"},
    {R"({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{bad"}}]}]})",
     "messages[0].tool_calls[0].function.arguments: invalid JSON"},
    {R"({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]})",
     "arguments: expected a JSON object encoded as a string"},
    {R"({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"arguments": "{}"}}]}]})",
     "function.name"},
    {R"({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"type": "function"}]}]})", "function"},
    {R"({"messages": [{"role": "assistant", "content": "", "tool_calls": {"a": 1}}]})", "tool_calls"},
    {R"({"messages": [{"role": "assistant", "content": "x", "reasoning_content": 5}]})", "reasoning_content"},
    {R"({"messages": [{"role": "user", "content": "x"}], "tools": {"type": "function"}})", "tools"},
    {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", "tools[0].function"},
    {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"description": "d"}}]})",
     "tools[0].function.name"},
    {R"({"messages": [{"role": "developer", "content": "x", "tools": "all"}]})", "messages[0].tools"},
    {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": [true]})", "chat_template_kwargs"},
    {R"({"messages": [{"role": "user", "content": "x"}, {"role": "developer", "content": ""}]})",
     "developer message needs non-empty content"},
};

TEST(EncoderErrors, BadRequestsAreStatusErrors) {
  for (const BadRequest& b : kBad) {
    auto r = encode_chat_request_text(b.json);
    ASSERT_FALSE(r.is_ok()) << b.json;
    EXPECT_NE(r.status().message().find(b.error_part), std::string::npos)
        << b.json << "\n  got: " << r.status().message();
  }
}

TEST(EncoderErrors, InvalidJsonText) {
  auto r = encode_chat_request_text("{\"messages\": [");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message().rfind("request: invalid JSON", 0), 0u) << r.status().message();
}

std::string prompt_of(const char* json) {
  auto r = encode_chat_request_text(json);
  EXPECT_TRUE(r.is_ok()) << json << ": " << r.status().message();
  return r.is_ok() ? r->prompt : "";
}

const std::string B(dsv4::kBos), U(dsv4::kUser), A(dsv4::kAssistant), E(dsv4::kEos);

TEST(EncoderBehaviour, ConsecutiveUserMessagesShareOneTurn) {
  // The official merge step joins a user message onto a preceding user turn with "\n\n".
  EXPECT_EQ(prompt_of(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]})"),
            B + U + "a\n\nb" + A + "</think>");
}

TEST(EncoderBehaviour, TaskOnFirstUserKeepsTurnsApart) {
  EXPECT_EQ(prompt_of(R"({"messages": [{"role": "user", "content": "a", "task": "query"},
                                        {"role": "user", "content": "b"}]})"),
            B + U + "a" + U + "b" + A + "</think>");
}

TEST(EncoderBehaviour, TextPartsAndNullContent) {
  EXPECT_EQ(prompt_of(R"({"messages": [{"role": "system", "content": null},
                                        {"role": "user", "content": ["x", {"type": "text", "text": "y"}, {"text": "z"}]}]})"),
            B + U + "x\ny\nz" + A + "</think>");
}

TEST(EncoderBehaviour, TruthinessOfTemplateKwargs) {
  const std::string think = B + U + "q" + A + "<think>";
  const std::string chat = B + U + "q" + A + "</think>";
  EXPECT_EQ(prompt_of(R"({"messages": [{"role": "user", "content": "q"}], "chat_template_kwargs": {"thinking": 1}})"), think);
  EXPECT_EQ(prompt_of(R"({"messages": [{"role": "user", "content": "q"}], "chat_template_kwargs": {"thinking": ""}})"), chat);
  EXPECT_EQ(prompt_of(R"({"messages": [{"role": "user", "content": "q"}],
                          "chat_template_kwargs": {"thinking": false, "enable_thinking": true}})"), think);
  EXPECT_EQ(prompt_of(R"({"messages": [{"role": "user", "content": "q"}], "chat_template_kwargs": null})"), chat);
}

TEST(EncoderBehaviour, ArgumentsKeepBigNumbersAndOrder) {
  const std::string p = prompt_of(R"({"messages": [{"role": "user", "content": "q"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f",
       "arguments": "{\"z\": 123456789012345678901234567890, \"a\": [1e-7, 1E+300, -0.0], \"s\": \"<x>\\n\"}"}}]}]})");
  EXPECT_NE(p.find("<｜DSML｜parameter name=\"z\" string=\"false\">123456789012345678901234567890</｜DSML｜parameter>\n"
                   "<｜DSML｜parameter name=\"a\" string=\"false\">[1e-07, 1e+300, -0.0]</｜DSML｜parameter>\n"
                   "<｜DSML｜parameter name=\"s\" string=\"true\"><x>\n</｜DSML｜parameter>"),
            std::string::npos)
      << p;
}

}  // namespace
}  // namespace tachyon::chat
