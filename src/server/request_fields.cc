// The request field table (see request_fields.h): what each top-level field of the chat and
// completions routes does, and the value checks of the chat options the encoder reads leniently.
#include "server/request_fields.h"

#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "chat/py_json.h"

namespace tachyon::server {
namespace {

enum Routes : uint8_t { kChat = 1, kCompletions = 2, kBoth = 3 };
enum class Rule : uint8_t { kRead, kNoOp, kDefault, kRefused };

struct Field {
  std::string_view name;
  uint8_t routes;
  Rule rule;
  // kNoOp: the JSON type the value must have ("string", "boolean", "object"); kDefault: the default
  // value as JSON text.
  std::string_view value = {};
  // kNoOp: why it changes nothing; kDefault and kRefused: why other values are not supported.
  std::string_view why = {};
};

constexpr std::string_view kConstrained = "constrained decoding (structured output) is not supported";

// clang-format off
constexpr Field kFields[] = {
    // Read by the routes, request_params.cc, tool_choice.cc and the chat encoder.
    {"model", kBoth, Rule::kRead},
    {"messages", kChat, Rule::kRead},
    {"prompt", kCompletions, Rule::kRead},
    {"tools", kChat, Rule::kRead},
    {"tool_choice", kChat, Rule::kRead},
    {"chat_template_kwargs", kChat, Rule::kRead},
    {"reasoning_effort", kChat, Rule::kRead},
    {"response_format", kBoth, Rule::kRead},
    {"stream", kBoth, Rule::kRead},
    {"stream_options", kBoth, Rule::kRead},
    {"n", kBoth, Rule::kRead},
    {"best_of", kCompletions, Rule::kRead},
    {"echo", kCompletions, Rule::kRead},
    {"suffix", kCompletions, Rule::kRead},
    {"max_tokens", kBoth, Rule::kRead},
    {"max_completion_tokens", kChat, Rule::kRead},
    {"min_tokens", kBoth, Rule::kRead},
    {"ignore_eos", kBoth, Rule::kRead},
    {"temperature", kBoth, Rule::kRead},
    {"top_p", kBoth, Rule::kRead},
    {"top_k", kBoth, Rule::kRead},
    {"min_p", kBoth, Rule::kRead},
    {"presence_penalty", kBoth, Rule::kRead},
    {"frequency_penalty", kBoth, Rule::kRead},
    {"repetition_penalty", kBoth, Rule::kRead},
    {"seed", kBoth, Rule::kRead},
    {"logit_bias", kBoth, Rule::kRead},
    {"stop", kBoth, Rule::kRead},
    {"stop_token_ids", kBoth, Rule::kRead},
    {"include_stop_str_in_output", kBoth, Rule::kRead},
    {"skip_special_tokens", kBoth, Rule::kRead},
    {"logprobs", kBoth, Rule::kRead},
    {"top_logprobs", kChat, Rule::kRead},

    // Accepted, changing nothing.
    {"user", kBoth, Rule::kNoOp, "string", "an end-user id for abuse monitoring, which Tachyon does not do"},
    {"safety_identifier", kChat, Rule::kNoOp, "string", "an end-user id for abuse monitoring, which Tachyon does not do"},
    {"metadata", kChat, Rule::kNoOp, "object", "tags for stored completions; Tachyon stores nothing"},
    {"store", kChat, Rule::kNoOp, "boolean", "Tachyon stores no completion, whatever the value"},
    {"service_tier", kChat, Rule::kNoOp, "string", "Tachyon serves every request in the same way"},
    {"prompt_cache_key", kChat, Rule::kNoOp, "string",
     "the prefix cache matches prompts by their tokens, with no key"},
    {"spaces_between_special_tokens", kBoth, Rule::kNoOp, "boolean",
     "byte-level BPE decoding never adds spaces between tokens (as in vLLM with a fast tokenizer)"},

    // Accepted at their default value only.
    {"parallel_tool_calls", kChat, Rule::kDefault, "true",
     "the number of tool calls is not limited; the model may write several"},
    {"echo", kChat, Rule::kDefault, "false", "chat echo (the last message before the answer) is not supported"},
    {"add_generation_prompt", kChat, Rule::kDefault, "true",
     "the DeepSeek-V4 prompt always ends by opening the assistant's turn"},
    {"continue_final_message", kChat, Rule::kDefault, "false",
     "continuing a final assistant message is not supported"},
    {"add_special_tokens", kChat, Rule::kDefault, "false", "the chat prompt already starts with its BOS token"},
    {"add_special_tokens", kCompletions, Rule::kDefault, "false",
     "completion prompts are used as given, with no BOS token added (put it in the prompt)"},
    {"include_reasoning", kChat, Rule::kDefault, "true", "reasoning_content is always returned"},
    {"use_beam_search", kBoth, Rule::kDefault, "false", "beam search is not supported"},
    {"priority", kBoth, Rule::kDefault, "0", "requests are scheduled first come, first served"},
    {"return_tokens_as_token_ids", kBoth, Rule::kDefault, "false", "tokens are returned as text only"},
    {"return_token_ids", kBoth, Rule::kDefault, "false", "token ids are not returned (use /tokenize)"},
    {"modalities", kChat, Rule::kDefault, "[\"text\"]", "the model writes text only"},

    // Refused.
    {"guided_json", kBoth, Rule::kRefused, {}, kConstrained},
    {"guided_regex", kBoth, Rule::kRefused, {}, kConstrained},
    {"guided_choice", kBoth, Rule::kRefused, {}, kConstrained},
    {"guided_grammar", kBoth, Rule::kRefused, {}, kConstrained},
    {"guided_decoding_backend", kBoth, Rule::kRefused, {}, kConstrained},
    {"guided_whitespace_pattern", kBoth, Rule::kRefused, {}, kConstrained},
    {"structured_outputs", kBoth, Rule::kRefused, {}, kConstrained},
    {"regex", kBoth, Rule::kRefused, {}, kConstrained},
    {"ebnf", kBoth, Rule::kRefused, {}, kConstrained},
    {"json_schema", kBoth, Rule::kRefused, {}, kConstrained},
    {"prompt_logprobs", kBoth, Rule::kRefused, {}, "prompt log-probabilities are not computed"},
    {"allowed_token_ids", kBoth, Rule::kRefused, {}, "restricting the vocabulary is not supported (see logit_bias)"},
    {"bad_words", kBoth, Rule::kRefused, {}, "bad-word filtering is not supported (see logit_bias)"},
    {"logits_processors", kBoth, Rule::kRefused, {}, "custom logits processors are not supported"},
    {"vllm_xargs", kBoth, Rule::kRefused, {}, "vLLM extension arguments are not supported"},
    {"length_penalty", kBoth, Rule::kRefused, {}, "beam search is not supported"},
    {"truncate_prompt_tokens", kBoth, Rule::kRefused, {},
     "prompts are never truncated (a prompt beyond the context is a 400)"},
    {"cache_salt", kBoth, Rule::kRefused, {}, "the prefix cache is shared by all requests and takes no salt"},
    {"request_id", kBoth, Rule::kRefused, {}, "response ids are made by the server"},
    {"kv_transfer_params", kBoth, Rule::kRefused, {}, "KV-cache transfer is not supported"},
    {"functions", kChat, Rule::kRefused, {}, "legacy function calling is not supported; use tools"},
    {"function_call", kChat, Rule::kRefused, {}, "legacy function calling is not supported; use tool_choice"},
    {"audio", kChat, Rule::kRefused, {}, "audio output is not supported"},
    {"prediction", kChat, Rule::kRefused, {}, "predicted outputs are not supported"},
    {"web_search_options", kChat, Rule::kRefused, {}, "web search is not supported"},
    {"verbosity", kChat, Rule::kRefused, {}, "the model has no verbosity setting"},
    {"documents", kChat, Rule::kRefused, {}, "the DeepSeek-V4 prompt has no documents section"},
    {"chat_template", kChat, Rule::kRefused, {}, "the DeepSeek-V4 prompt comes from the built-in encoder"},
    {"mm_processor_kwargs", kChat, Rule::kRefused, {}, "the model takes text only"},
};
// clang-format on

const char* route_name(ApiKind kind) { return kind == ApiKind::kChat ? "/v1/chat/completions" : "/v1/completions"; }

[[noreturn]] void bad(std::string msg, std::string param) { throw ApiException{invalid_request(std::move(msg), std::move(param))}; }

std::string type_of(const Json& j) { return chat::is_big_int(j) ? "number" : j.type_name(); }

void check_field(const Field& f, const Json& v) {
  const std::string name(f.name);
  switch (f.rule) {
    case Rule::kRead:
      return;
    case Rule::kNoOp:
      if (type_of(v) != f.value) bad(fmt::format("'{}' must be a {}, got {}", name, f.value, type_of(v)), name);
      return;
    case Rule::kDefault:
      if (v != Json::parse(f.value))
        bad(fmt::format("'{}' is supported only as {}: {}", name, f.value, f.why), name);
      return;
    case Rule::kRefused:
      bad(fmt::format("'{}' is not supported: {}", name, f.why), name);
  }
}

bool get_flag(const Json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) bad(fmt::format("'{}.{}' must be a boolean, got {}", where, key, type_of(*it)), where + "." + key);
  return it->get<bool>();
}

}  // namespace

void check_request_fields(const Json& body, ApiKind kind) {
  const uint8_t route = kind == ApiKind::kChat ? kChat : kCompletions;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it->is_null()) continue;
    const auto f = std::find_if(std::begin(kFields), std::end(kFields),
                                [&](const Field& x) { return x.name == it.key() && (x.routes & route); });
    if (f == std::end(kFields))
      bad(fmt::format("unrecognized request argument '{}': {} does not support it", it.key(), route_name(kind)),
          it.key());
    check_field(*f, *it);
  }
}

void check_chat_options(const Json& body) {
  bool thinking = false;
  if (const auto kw = body.find("chat_template_kwargs"); kw != body.end() && !kw->is_null()) {
    if (!kw->is_object())
      bad(fmt::format("'chat_template_kwargs' must be an object, got {}", type_of(*kw)), "chat_template_kwargs");
    for (auto it = kw->begin(); it != kw->end(); ++it) {
      if (it.key() != "thinking" && it.key() != "enable_thinking" && it.key() != "drop_thinking")
        bad(fmt::format("'chat_template_kwargs.{}' is not used by the DeepSeek-V4 encoder (it reads thinking, "
                        "enable_thinking and drop_thinking)",
                        it.key()),
            "chat_template_kwargs." + it.key());
    }
    thinking = get_flag(*kw, "thinking", "chat_template_kwargs");
    thinking |= get_flag(*kw, "enable_thinking", "chat_template_kwargs");
    get_flag(*kw, "drop_thinking", "chat_template_kwargs");
  }
  const auto effort = body.find("reasoning_effort");
  if (effort == body.end() || effort->is_null()) return;
  constexpr std::array<std::string_view, 7> kEfforts = {"none", "minimal", "low", "medium", "high", "xhigh", "max"};
  if (!effort->is_string())
    bad(fmt::format("'reasoning_effort' must be a string, got {}", type_of(*effort)), "reasoning_effort");
  const std::string e = effort->get<std::string>();
  if (std::find(kEfforts.begin(), kEfforts.end(), e) == kEfforts.end())
    bad(fmt::format("'reasoning_effort' must be one of none, minimal, low, medium, high, xhigh, max; got '{}'", e),
        "reasoning_effort");
  if (e != "none" && !thinking)
    bad(fmt::format("'reasoning_effort' '{}' needs thinking mode (chat_template_kwargs: {{\"thinking\": true}})", e),
        "reasoning_effort");
}

}  // namespace tachyon::server
