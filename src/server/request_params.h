// Reading OpenAI request bodies: the JSON itself (strict, UTF-8 checked) and the fields shared by
// /v1/chat/completions and /v1/completions (sampling, stop, n, stream, logprobs), with vLLM's extras.
// Every top-level field is checked against request_fields.h's table first: a field the server does not
// implement is a 400 naming it, and so is a known field of the wrong type or out of range. Helpers
// throw ApiException; route wrappers catch it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.h"
#include "server/api_error.h"
#include "server/generation.h"
#include "server/request_fields.h"
#include "server/response_format.h"

namespace tachyon::server {

struct RequestParams {
  runtime::GenerationParams gen;  // gen.max_tokens is only meaningful when max_tokens is set
  std::optional<int64_t> max_tokens;
  TextOptions text;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;  // chat: logprobs; completions: logprobs is an integer >= 0
  int top_logprobs = 0;
  bool echo = false;  // completions only
  ResponseFormat response_format;  // the route compiles it (apply_response_format)
};

// Parses the request body; 400 for invalid UTF-8, bad JSON or a body that is not an object.
Json parse_body(std::string_view body);

// Checks the body's fields (check_request_fields; for chat also check_chat_options) and reads the
// shared generation fields. `vocab` bounds logit_bias and stop_token_ids.
RequestParams parse_request_params(const Json& body, ApiKind kind, int32_t vocab);

// Typed field access: nullopt when absent or null, 400 when of the wrong type.
std::optional<bool> get_bool(const Json& body, const char* key);
std::optional<std::string> get_string(const Json& body, const char* key);
std::optional<int64_t> get_int(const Json& body, const char* key, int64_t lo, int64_t hi);
std::optional<double> get_number(const Json& body, const char* key, double lo, double hi);

// A fresh random seed (for choices without `seed`, so n > 1 choices differ).
uint64_t random_seed();

}  // namespace tachyon::server
