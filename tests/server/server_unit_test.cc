// Unit tests of the server's pure parts: stop-string matching over every chunking of a text, request
// field validation (types, ranges, defaults) and the OpenAI error shape.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/request_params.h"
#include "server/stop_matcher.h"

namespace tachyon::server {
namespace {

// Feeds the pieces in order, then flushes; returns everything the matcher released.
std::string run_matcher(const std::vector<std::string>& pieces, const std::vector<std::string>& stops,
                        bool include, bool* matched) {
  StopMatcher m(stops, include);
  std::string out;
  for (const std::string& p : pieces)
    if (m.push(p, &out)) break;
  m.flush(&out);
  *matched = m.matched();
  return out;
}

std::vector<std::string> split_every(const std::string& s, size_t n) {
  std::vector<std::string> v;
  for (size_t i = 0; i < s.size(); i += n) v.push_back(s.substr(i, n));
  return v;
}

TEST(StopMatcher, FindsStopsAcrossEveryChunking) {
  const std::string text = "alpha beta gamma delta";
  for (size_t n = 1; n <= text.size(); ++n) {
    bool matched = false;
    EXPECT_EQ(run_matcher(split_every(text, n), {"gam"}, false, &matched), "alpha beta ") << n;
    EXPECT_TRUE(matched);
    EXPECT_EQ(run_matcher(split_every(text, n), {"gam"}, true, &matched), "alpha beta gam") << n;
    EXPECT_EQ(run_matcher(split_every(text, n), {"zzz", "a d"}, false, &matched), "alpha beta gamm") << n;
    EXPECT_EQ(run_matcher(split_every(text, n), {"delta!"}, false, &matched), text) << n;
    EXPECT_FALSE(matched);
  }
}

TEST(StopMatcher, EarliestMatchWinsAndHeldTextIsReleased) {
  bool matched = false;
  EXPECT_EQ(run_matcher({"abcdef"}, {"def", "bc"}, false, &matched), "a");
  EXPECT_EQ(run_matcher({"ab", "cab", "d"}, {"abd"}, false, &matched), "abc");
  // A held prefix that never completes comes out at the end.
  EXPECT_EQ(run_matcher({"xx", "ab"}, {"abc"}, false, &matched), "xxab");
  EXPECT_FALSE(matched);
}

TEST(StopMatcher, ReleasesOnlyWhatCannotStartAStop) {
  StopMatcher m({"世界"}, false);
  std::string out;
  EXPECT_FALSE(m.push("hello 世", &out));
  EXPECT_EQ(out, "hello ");  // "世" might start the stop string
  EXPECT_TRUE(m.push("界!", &out));
  EXPECT_EQ(out, "hello ");
  EXPECT_EQ(m.matched_string(), "世界");
}

Json parse(const std::string& s) { return parse_body(s); }

ApiError error_of(const std::string& body, ApiKind kind = ApiKind::kChat) {
  try {
    parse_request_params(parse(body), kind, 1000);
  } catch (const ApiException& e) {
    return e.error;
  }
  ADD_FAILURE() << "no error for " << body;
  return {};
}

TEST(RequestParams, Defaults) {
  const RequestParams p = parse_request_params(parse("{}"), ApiKind::kChat, 1000);
  EXPECT_EQ(p.n, 1);
  EXPECT_FALSE(p.stream);
  EXPECT_FALSE(p.max_tokens.has_value());
  EXPECT_EQ(p.gen.top_logprobs, -1);
  EXPECT_FLOAT_EQ(p.gen.sampling.temperature, 1.0f);
  EXPECT_TRUE(p.text.skip_special_tokens);
}

TEST(RequestParams, ReadsFields) {
  const RequestParams p = parse_request_params(
      parse(R"({"temperature": 0, "top_p": 0.5, "top_k": 7, "min_p": 0.1, "seed": 3, "max_completion_tokens": 9,
               "max_tokens": 4, "stop": ["a", "b"], "stop_token_ids": [5], "n": 2, "stream": true,
               "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 2,
               "logit_bias": {"12": -100}, "min_tokens": 2, "ignore_eos": true})"),
      ApiKind::kChat, 1000);
  EXPECT_EQ(p.max_tokens, 9);  // max_completion_tokens wins in chat
  EXPECT_EQ(p.gen.sampling.top_k, 7);
  EXPECT_EQ(p.gen.sampling.seed, 3u);
  EXPECT_EQ(p.text.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.gen.stop_token_ids, (std::vector<int32_t>{5}));
  EXPECT_TRUE(p.include_usage);
  EXPECT_EQ(p.gen.top_logprobs, 2);
  ASSERT_EQ(p.gen.sampling.logit_bias.size(), 1u);
  EXPECT_EQ(p.gen.sampling.logit_bias[0].first, 12);
  EXPECT_EQ(p.gen.min_tokens, 2);
  EXPECT_TRUE(p.gen.ignore_eos);
  EXPECT_EQ(parse_request_params(parse(R"({"max_tokens": 5.0, "logprobs": 3})"), ApiKind::kCompletions, 1000).gen.top_logprobs, 3);
}

TEST(RequestParams, RejectsBadFields) {
  EXPECT_EQ(error_of(R"({"max_tokens": 0})").param, "max_tokens");
  EXPECT_EQ(error_of(R"({"max_tokens": -1})").param, "max_tokens");
  EXPECT_EQ(error_of(R"({"max_tokens": 1e40})").param, "max_tokens");
  EXPECT_EQ(error_of(R"({"max_tokens": 123456789012345678901234567890})").param, "max_tokens");
  EXPECT_EQ(error_of(R"({"max_tokens": "5"})").param, "max_tokens");
  EXPECT_EQ(error_of(R"({"temperature": -1})").param, "temperature");
  EXPECT_EQ(error_of(R"({"top_p": 0})").param, "top_p");
  EXPECT_EQ(error_of(R"({"stream": "yes"})").param, "stream");
  EXPECT_EQ(error_of(R"({"stop": [1]})").param, "stop");
  EXPECT_EQ(error_of(R"({"logit_bias": {"5000": 1}})").param, "logit_bias");
  EXPECT_EQ(error_of(R"({"top_logprobs": 3})").param, "top_logprobs");
  EXPECT_EQ(error_of(R"({"n": 1000})").param, "n");
  EXPECT_EQ(error_of(R"({"min_tokens": 5, "max_tokens": 2})").param, "min_tokens");
  EXPECT_EQ(error_of(R"({"suffix": "x"})", ApiKind::kCompletions).param, "suffix");
  for (const char* body : {"{", "[1]", "\"x\"", "{\"a\": 1,}", "{\"a\": \"\xff\"}"}) {
    try {
      parse(body);
      ADD_FAILURE() << body;
    } catch (const ApiException& e) {
      EXPECT_EQ(e.error.status, 400);
    }
  }
}

TEST(ApiError, OpenAIShape) {
  const Json j = context_length_exceeded("too long").to_json();
  EXPECT_EQ(j["error"]["message"], "too long");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["code"], "context_length_exceeded");
  EXPECT_TRUE(j["error"].contains("param"));
  EXPECT_EQ(overloaded(429, "full", 1).retry_after_s, 1);
  EXPECT_EQ(dump_json(Json("bad \xff")), "\"bad \xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace tachyon::server
