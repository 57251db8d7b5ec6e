// The DeepSeek-V4 chat encoder against the shared goldens: every request in cases.jsonl must give the
// official encoder's prompt byte for byte, and the mapped encoder arguments must match encoder_args.
#include <gtest/gtest.h>

#include "chat/dsv4_encoder.h"
#include "chat_test_util.h"

namespace tachyon::chat {
namespace {

const std::vector<Json>& cases() {
  static const std::vector<Json> c = testing::load_jsonl("cases.jsonl");
  return c;
}

TEST(EncoderCases, AllCasesPresent) { EXPECT_EQ(cases().size(), 53u); }

class EncoderCase : public ::testing::TestWithParam<size_t> {};

TEST_P(EncoderCase, PromptMatchesOfficialEncoder) {
  const Json& c = cases()[GetParam()];
  auto out = encode_chat_request(c["request"]);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(out->prompt, c["prompt"].get<std::string>());
}

TEST_P(EncoderCase, MappingMatchesEncoderArgs) {
  const Json& c = cases()[GetParam()];
  auto args = map_chat_request(c["request"]);
  ASSERT_TRUE(args.is_ok()) << args.status().message();
  const Json& want = c["encoder_args"];
  EXPECT_EQ(thinking_mode_name(args->thinking_mode), want["thinking_mode"].get<std::string>());
  EXPECT_EQ(args->drop_thinking, want["drop_thinking"].get<bool>());
  const std::string effort = args->reasoning_effort == ReasoningEffort::kMax    ? "max"
                             : args->reasoning_effort == ReasoningEffort::kHigh ? "high"
                                                                               : "null";
  EXPECT_EQ(effort, want["reasoning_effort"].is_null() ? "null" : want["reasoning_effort"].get<std::string>());
  EXPECT_EQ(args->messages.size(), want["messages"].size());
}

TEST_P(EncoderCase, EncodesFromText) {
  // The CLI path: the request as JSON text, parsed with the exact parser.
  const Json& c = cases()[GetParam()];
  auto out = encode_chat_request_text(py_dumps(c["request"]));
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  EXPECT_EQ(out->prompt, c["prompt"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Shared, EncoderCase, ::testing::Range<size_t>(0, 53),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return info.param < cases().size()
                                      ? testing::test_name(cases()[info.param]["name"].get<std::string>())
                                      : "missing_" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace tachyon::chat
