// The request field table (server/request_fields.h): every refused field, every field accepted only at
// its default, the no-ops (their types checked), unknown fields, the chat options the encoder reads
// leniently, and the tool definitions. Each refusal is a 400 whose `param` names the field and whose
// message says why; a refusal that only came from the unknown-field rule would fail these tests.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "server/request_params.h"
#include "server/tool_choice.h"

namespace tachyon::server {
namespace {

const std::string kChatBase = R"("model": "m", "messages": [{"role": "user", "content": "hi"}])";
const std::string kCompletionsBase = R"("model": "m", "prompt": "hi")";

Json body_with(ApiKind kind, const std::string& fields) {
  const std::string base = kind == ApiKind::kChat ? kChatBase : kCompletionsBase;
  return parse_body("{" + base + (fields.empty() ? "" : ", " + fields) + "}");
}

// The error parse_request_params throws for the body with `fields`, or a 200-like empty error.
ApiError error_for(ApiKind kind, const std::string& fields) {
  try {
    parse_request_params(body_with(kind, fields), kind, 1000);
  } catch (const ApiException& e) {
    return e.error;
  }
  ApiError none;
  none.status = 200;
  return none;
}

void expect_refused(ApiKind kind, const std::string& fields, const std::string& param, const std::string& says) {
  const ApiError e = error_for(kind, fields);
  EXPECT_EQ(e.status, 400) << fields;
  EXPECT_EQ(e.param, param) << fields;
  EXPECT_EQ(e.type, "invalid_request_error") << fields;
  EXPECT_NE(e.message.find(says), std::string::npos) << fields << ": " << e.message;
  EXPECT_EQ(e.message.find('\n'), std::string::npos) << e.message;
}

void expect_accepted(ApiKind kind, const std::string& fields) {
  const ApiError e = error_for(kind, fields);
  EXPECT_EQ(e.status, 200) << fields << ": " << e.message;
}

constexpr ApiKind kBoth[] = {ApiKind::kChat, ApiKind::kCompletions};

TEST(RequestFields, VllmAndSglangExtensionsAreRefusedWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"guided_json", R"({"type": "object"})"}, {"guided_regex", R"("a+")"}, {"guided_choice", R"(["a", "b"])"},
      {"guided_grammar", R"("root ::= \"a\"")"}, {"guided_decoding_backend", R"("xgrammar")"},
      {"guided_whitespace_pattern", R"(" ")"}, {"structured_outputs", R"({"json": {}})"}, {"regex", R"("a")"},
      {"ebnf", R"("x")"}, {"json_schema", "{}"}};
  for (ApiKind kind : kBoth)
    for (const auto& [name, value] : refused)
      expect_refused(kind, "\"" + name + "\": " + value, name, "'" + name + "' is not supported: constrained decoding");
  for (ApiKind kind : kBoth) {
    expect_refused(kind, R"("prompt_logprobs": 1)", "prompt_logprobs", "prompt log-probabilities are not computed");
    expect_refused(kind, R"("prompt_logprobs": 0)", "prompt_logprobs", "not supported");
    for (const char* name : {"allowed_token_ids", "bad_words", "logits_processors", "vllm_xargs", "length_penalty",
                             "truncate_prompt_tokens", "cache_salt", "request_id", "kv_transfer_params"})
      expect_refused(kind, std::string("\"") + name + "\": 1", name, std::string("'") + name + "' is not supported: ");
  }
  for (const char* name : {"functions", "function_call", "audio", "prediction", "web_search_options", "verbosity",
                           "documents", "chat_template", "mm_processor_kwargs"})
    expect_refused(ApiKind::kChat, std::string("\"") + name + "\": \"x\"", name, std::string("'") + name + "' is not supported: ");
}

TEST(RequestFields, DefaultOnlyFields) {
  struct Case {
    ApiKind kind;
    const char* name;
    const char* ok;
    const char* refused;
  } cases[] = {
      {ApiKind::kChat, "add_generation_prompt", "true", "false"},
      {ApiKind::kChat, "continue_final_message", "false", "true"},
      {ApiKind::kChat, "echo", "false", "true"},
      {ApiKind::kChat, "parallel_tool_calls", "true", "false"},
      {ApiKind::kChat, "add_special_tokens", "false", "true"},
      {ApiKind::kCompletions, "add_special_tokens", "false", "true"},
      {ApiKind::kChat, "include_reasoning", "true", "false"},
      {ApiKind::kChat, "modalities", R"(["text"])", R"(["text", "audio"])"},
      {ApiKind::kChat, "use_beam_search", "false", "true"},
      {ApiKind::kCompletions, "use_beam_search", "false", "true"},
      {ApiKind::kChat, "priority", "0", "1"},
      {ApiKind::kCompletions, "priority", "0", "-3"},
      {ApiKind::kChat, "return_tokens_as_token_ids", "false", "true"},
      {ApiKind::kCompletions, "return_token_ids", "false", "true"},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    expect_accepted(c.kind, "\"" + name + "\": " + c.ok);
    expect_accepted(c.kind, "\"" + name + "\": null");
    expect_refused(c.kind, "\"" + name + "\": " + c.refused, name, "'" + name + "' is supported only as " + c.ok);
  }
}

TEST(RequestFields, NoOpFieldsAreAcceptedWithTheirTypesChecked) {
  expect_accepted(ApiKind::kChat, R"("user": "u1", "safety_identifier": "s", "metadata": {"a": "b"}, "store": true,
                                     "service_tier": "auto", "prompt_cache_key": "k", "spaces_between_special_tokens": false)");
  expect_accepted(ApiKind::kCompletions, R"("user": "u1", "spaces_between_special_tokens": true)");
  expect_refused(ApiKind::kChat, R"("user": 5)", "user", "'user' must be a string, got number");
  expect_refused(ApiKind::kCompletions, R"("user": ["u"])", "user", "'user' must be a string, got array");
  expect_refused(ApiKind::kChat, R"("metadata": "x")", "metadata", "'metadata' must be a object");
  expect_refused(ApiKind::kChat, R"("store": "yes")", "store", "'store' must be a boolean");
  expect_refused(ApiKind::kChat, R"("service_tier": 1)", "service_tier", "must be a string");
}

TEST(RequestFields, UnknownFieldsAndFieldsOfTheOtherRouteAreRefused) {
  for (ApiKind kind : kBoth) expect_refused(kind, R"("frobnicate": 1)", "frobnicate", "unrecognized request argument 'frobnicate'");
  expect_accepted(ApiKind::kChat, R"("frobnicate": null)");  // null counts as absent
  expect_refused(ApiKind::kChat, R"("prompt": "x")", "prompt", "/v1/chat/completions does not support it");
  expect_refused(ApiKind::kChat, R"("suffix": "x")", "suffix", "unrecognized");
  expect_refused(ApiKind::kCompletions, R"("messages": [])", "messages", "/v1/completions does not support it");
  expect_refused(ApiKind::kCompletions, R"("tools": [])", "tools", "unrecognized");
  expect_refused(ApiKind::kCompletions, R"("metadata": {})", "metadata", "unrecognized");
}

TEST(RequestFields, EveryImplementedFieldIsAccepted) {
  expect_accepted(ApiKind::kChat, R"("tools": [], "tool_choice": "none", "chat_template_kwargs": {"thinking": true},
      "reasoning_effort": "max", "response_format": {"type": "text"}, "stream": true,
      "stream_options": {"include_usage": true, "continuous_usage_stats": false}, "n": 2, "max_tokens": 5,
      "max_completion_tokens": 5, "min_tokens": 1, "ignore_eos": false, "temperature": 0.5, "top_p": 0.9, "top_k": 5,
      "min_p": 0.1, "presence_penalty": 0.1, "frequency_penalty": 0.1, "repetition_penalty": 1.1, "seed": 3,
      "logit_bias": {"5": 1}, "stop": ["x"], "stop_token_ids": [3], "include_stop_str_in_output": true,
      "skip_special_tokens": true, "logprobs": true, "top_logprobs": 2)");
  expect_accepted(ApiKind::kCompletions, R"("best_of": 2, "n": 2, "echo": true, "suffix": "", "max_tokens": 5,
      "response_format": {"type": "text"}, "logprobs": null, "stop": "x", "seed": 1, "stream": false)");
}

TEST(RequestFields, ResponseFormatOnBothRoutes) {
  for (ApiKind kind : kBoth) {
    expect_accepted(kind, R"("response_format": {"type": "json_object"})");
    expect_accepted(kind, R"("response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true,
        "schema": {"type": "object"}}})");
    expect_refused(kind, R"("response_format": "json")", "response_format", "must be an object");
    expect_refused(kind, R"("response_format": {"type": "regex"})", "response_format", "must be one of");
  }
}

TEST(RequestFields, StreamOptionsAndEchoWithLogprobs) {
  for (ApiKind kind : kBoth) {
    expect_refused(kind, R"("stream": true, "stream_options": {"continuous_usage_stats": true})",
                   "stream_options.continuous_usage_stats", "not supported");
    expect_refused(kind, R"("stream": true, "stream_options": {"include_obfuscation": false})",
                   "stream_options.include_obfuscation", "not supported");
  }
  expect_refused(ApiKind::kCompletions, R"("echo": true, "logprobs": 1)", "echo", "prompt's log-probabilities");
  expect_accepted(ApiKind::kCompletions, R"("echo": false, "logprobs": 1)");
}

TEST(RequestFields, ChatTemplateKwargs) {
  expect_accepted(ApiKind::kChat, R"("chat_template_kwargs": {"thinking": false, "enable_thinking": true, "drop_thinking": false})");
  expect_accepted(ApiKind::kChat, R"("chat_template_kwargs": {"thinking": null})");
  expect_refused(ApiKind::kChat, R"("chat_template_kwargs": {"thinking": "yes"})", "chat_template_kwargs.thinking",
                 "'chat_template_kwargs.thinking' must be a boolean, got string");
  expect_refused(ApiKind::kChat, R"("chat_template_kwargs": {"enable_thinking": 1})", "chat_template_kwargs.enable_thinking",
                 "must be a boolean");
  expect_refused(ApiKind::kChat, R"("chat_template_kwargs": {"drop_thinking": "false"})",
                 "chat_template_kwargs.drop_thinking", "must be a boolean");
  expect_refused(ApiKind::kChat, R"("chat_template_kwargs": {"tools_in_user": true})", "chat_template_kwargs.tools_in_user",
                 "not used by the DeepSeek-V4 encoder");
  expect_refused(ApiKind::kChat, R"("chat_template_kwargs": [1])", "chat_template_kwargs", "must be an object");
}

TEST(RequestFields, ReasoningEffort) {
  for (const char* e : {"minimal", "low", "medium", "high", "xhigh", "max"}) {
    expect_accepted(ApiKind::kChat, std::string(R"("chat_template_kwargs": {"thinking": true}, "reasoning_effort": ")") + e + "\"");
    // The encoder uses the effort only in thinking mode: elsewhere it would be silently ignored.
    expect_refused(ApiKind::kChat, std::string(R"("reasoning_effort": ")") + e + "\"", "reasoning_effort", "needs thinking mode");
  }
  expect_accepted(ApiKind::kChat, R"("reasoning_effort": "none")");
  expect_accepted(ApiKind::kChat, R"("chat_template_kwargs": {"enable_thinking": true}, "reasoning_effort": "none")");
  expect_refused(ApiKind::kChat, R"("chat_template_kwargs": {"thinking": true}, "reasoning_effort": "extreme")",
                 "reasoning_effort", "got 'extreme'");
  expect_refused(ApiKind::kChat, R"("chat_template_kwargs": {"thinking": true}, "reasoning_effort": "High")",
                 "reasoning_effort", "must be one of");
  expect_refused(ApiKind::kChat, R"("reasoning_effort": 3)", "reasoning_effort", "must be a string");
}

ApiError tools_error(const std::string& tools) {
  try {
    parse_tool_choice(parse_body(R"({"tools": )" + tools + "}"));
  } catch (const ApiException& e) {
    return e.error;
  }
  ApiError none;
  none.status = 200;
  return none;
}

TEST(RequestFields, ToolDefinitions) {
  const std::string ok = R"({"type": "function", "function": {"name": "f", "description": "d", "strict": false,
                              "parameters": {"type": "object", "properties": {}}}})";
  EXPECT_EQ(tools_error("[" + ok + R"(, {"function": {"name": "g"}}])").status, 200);
  EXPECT_EQ(tools_error("null").status, 200);
  const std::vector<std::tuple<std::string, std::string, std::string>> bad = {
      {R"("f")", "tools", "must be an array"},
      {"[5]", "tools[0]", "must be a tool object"},
      {R"([{"type": "custom", "function": {"name": "f"}}])", "tools[0].type", "\"custom\""},
      {R"([{"type": "function"}])", "tools[0].function", "must be an object"},
      {R"([{"type": "function", "function": {"description": "no name"}}])", "tools[0].function.name", "non-empty string"},
      {R"([{"type": "function", "function": {"name": ""}}])", "tools[0].function.name", "non-empty string"},
      {R"([{"type": "function", "function": {"name": 7}}])", "tools[0].function.name", "non-empty string"},
      {R"([{"type": "function", "function": {"name": "a\"b"}}])", "tools[0].function.name", "quote"},
      {"[" + ok + ", " + ok + "]", "tools[1].function.name", "'f' is already the name of tools[0]"},
      {R"([{"type": "function", "function": {"name": "f", "parameters": "object"}}])", "tools[0].function.parameters",
       "must be a JSON schema object, got string"},
      {R"([{"type": "function", "function": {"name": "f", "parameters": []}}])", "tools[0].function.parameters",
       "got array"},
      {R"([{"type": "function", "function": {"name": "f", "description": 1}}])", "tools[0].function.description",
       "must be a string"},
      {R"([{"type": "function", "function": {"name": "f", "strict": true}}])", "tools[0].function.strict",
       "constrained decoding"},
  };
  for (const auto& [tools, param, says] : bad) {
    const ApiError e = tools_error(tools);
    EXPECT_EQ(e.status, 400) << tools;
    EXPECT_EQ(e.param, param) << tools;
    EXPECT_NE(e.message.find(says), std::string::npos) << tools << ": " << e.message;
  }
}

}  // namespace
}  // namespace tachyon::server
