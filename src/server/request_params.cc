// Request body parsing and the generation fields shared by the chat and completions routes (see
// request_params.h). Ranges follow OpenAI's documented limits where vLLM enforces them too.
#include "server/request_params.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>

#include <fmt/format.h>

#include "chat/py_json.h"
#include "tokenizer/utf8.h"

namespace tachyon::server {
namespace {

[[noreturn]] void bad(std::string msg, const std::string& param) { throw ApiException{invalid_request(std::move(msg), param)}; }

const Json* field(const Json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string type_of(const Json& j) { return chat::is_big_int(j) ? "number" : j.type_name(); }

}  // namespace

Json parse_body(std::string_view body) {
  if (!tok::is_valid_utf8(body)) bad("the request body is not valid UTF-8", "body");
  auto j = chat::parse_json_exact(body);
  if (!j.is_ok()) bad("the request body is not valid JSON: " + j.status().message(), "body");
  if (!j->is_object()) bad(fmt::format("the request body must be a JSON object, got {}", type_of(*j)), "body");
  return std::move(j).value();
}

std::optional<bool> get_bool(const Json& body, const char* key) {
  const Json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad(fmt::format("'{}' must be a boolean, got {}", key, type_of(*v)), key);
  return v->get<bool>();
}

std::optional<std::string> get_string(const Json& body, const char* key) {
  const Json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad(fmt::format("'{}' must be a string, got {}", key, type_of(*v)), key);
  return v->get<std::string>();
}

std::optional<int64_t> get_int(const Json& body, const char* key, int64_t lo, int64_t hi) {
  const Json* v = field(body, key);
  if (!v) return std::nullopt;
  int64_t x = 0;
  if (chat::is_big_int(*v)) {
    bad(fmt::format("'{}' is out of range (expected {} to {})", key, lo, hi), key);
  } else if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
      bad(fmt::format("'{}' is out of range (expected {} to {})", key, lo, hi), key);
    x = v->get<int64_t>();
  } else if (v->is_number_float() && std::isfinite(v->get<double>()) && v->get<double>() == std::floor(v->get<double>()) &&
             std::fabs(v->get<double>()) < 9e18) {
    x = int64_t(v->get<double>());  // 5.0 reads as 5, as pydantic does
  } else {
    bad(fmt::format("'{}' must be an integer, got {}", key, type_of(*v)), key);
  }
  if (x < lo || x > hi) {
    if (hi == std::numeric_limits<int64_t>::max()) bad(fmt::format("'{}' must be at least {}, got {}", key, lo, x), key);
    bad(fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x), key);
  }
  return x;
}

std::optional<double> get_number(const Json& body, const char* key, double lo, double hi) {
  const Json* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number() && !chat::is_big_int(*v)) bad(fmt::format("'{}' must be a number, got {}", key, type_of(*v)), key);
  const double x = chat::is_big_int(*v) ? std::numeric_limits<double>::infinity() : v->get<double>();
  if (!(x >= lo && x <= hi)) bad(fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x), key);
  return x;
}

uint64_t random_seed() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

RequestParams parse_request_params(const Json& body, ApiKind kind, int32_t vocab) {
  constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
  check_request_fields(body, kind);
  if (kind == ApiKind::kChat) check_chat_options(body);
  RequestParams p;
  p.response_format = read_response_format(body);
  runtime::SamplingParams& s = p.gen.sampling;
  s.temperature = float(get_number(body, "temperature", 0.0, 1e6).value_or(1.0));
  s.top_p = float(get_number(body, "top_p", 0.0, 1.0).value_or(1.0));
  if (s.top_p <= 0.0f) bad("'top_p' must be in (0, 1]", "top_p");
  const int64_t top_k = get_int(body, "top_k", -1, int64_t(vocab) * 4).value_or(0);
  s.top_k = top_k < 0 ? 0 : int(top_k);
  s.min_p = float(get_number(body, "min_p", 0.0, 1.0).value_or(0.0));
  s.presence_penalty = float(get_number(body, "presence_penalty", -2.0, 2.0).value_or(0.0));
  s.frequency_penalty = float(get_number(body, "frequency_penalty", -2.0, 2.0).value_or(0.0));
  s.repetition_penalty = float(get_number(body, "repetition_penalty", 0.0, 1e6).value_or(1.0));
  if (s.repetition_penalty <= 0.0f) bad("'repetition_penalty' must be greater than 0", "repetition_penalty");
  const auto seed = get_int(body, "seed", std::numeric_limits<int64_t>::min(), kMaxInt);
  s.seed = seed ? uint64_t(*seed) : random_seed();

  if (const Json* lb = field(body, "logit_bias")) {
    if (!lb->is_object()) bad(fmt::format("'logit_bias' must be an object, got {}", type_of(*lb)), "logit_bias");
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      char* end = nullptr;
      const std::string& k = it.key();
      const long long id = std::strtoll(k.c_str(), &end, 10);
      if (k.empty() || *end != '\0' || id < 0 || id >= vocab)
        bad(fmt::format("logit_bias: '{}' is not a token id of this model (0 to {})", k, vocab - 1), "logit_bias");
      if (!it->is_number() || !(it->get<double>() >= -100.0 && it->get<double>() <= 100.0))
        bad(fmt::format("logit_bias['{}'] must be a number between -100 and 100", k), "logit_bias");
      s.logit_bias.emplace_back(int32_t(id), float(it->get<double>()));
    }
  }

  // Length.
  const char* len_key = "max_tokens";
  std::optional<int64_t> max_tokens;
  if (kind == ApiKind::kChat) {
    max_tokens = get_int(body, "max_completion_tokens", 1, kMaxInt);
    if (max_tokens) len_key = "max_completion_tokens";
  }
  if (!max_tokens) max_tokens = get_int(body, "max_tokens", 1, kMaxInt);
  p.max_tokens = max_tokens;
  p.gen.min_tokens = get_int(body, "min_tokens", 0, kMaxInt).value_or(0);
  if (max_tokens && p.gen.min_tokens > *max_tokens)
    bad(fmt::format("'min_tokens' ({}) must not exceed '{}' ({})", p.gen.min_tokens, len_key, *max_tokens), "min_tokens");
  p.gen.ignore_eos = get_bool(body, "ignore_eos").value_or(false);

  // Stops.
  if (const Json* st = field(body, "stop")) {
    if (st->is_string()) {
      p.text.stop.push_back(st->get<std::string>());
    } else if (st->is_array()) {
      for (const Json& x : *st) {
        if (!x.is_string()) bad("'stop' must be a string or an array of strings", "stop");
        p.text.stop.push_back(x.get<std::string>());
      }
    } else {
      bad(fmt::format("'stop' must be a string or an array of strings, got {}", type_of(*st)), "stop");
    }
  }
  if (const Json* st = field(body, "stop_token_ids")) {
    if (!st->is_array()) bad("'stop_token_ids' must be an array of token ids", "stop_token_ids");
    for (const Json& x : *st) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= vocab)
        bad(fmt::format("'stop_token_ids' must hold token ids between 0 and {}", vocab - 1), "stop_token_ids");
      p.gen.stop_token_ids.push_back(int32_t(x.get<int64_t>()));
    }
  }
  p.text.include_stop_str = get_bool(body, "include_stop_str_in_output").value_or(false);
  p.text.skip_special_tokens = get_bool(body, "skip_special_tokens").value_or(true);

  // Choices and streaming.
  p.n = int(get_int(body, "n", 1, 128).value_or(1));
  if (kind == ApiKind::kCompletions) {
    if (const auto best_of = get_int(body, "best_of", 1, 128); best_of && *best_of != p.n)
      bad("'best_of' different from 'n' is not supported", "best_of");
    p.echo = get_bool(body, "echo").value_or(false);
    if (const auto suffix = get_string(body, "suffix"); suffix && !suffix->empty())
      bad("'suffix' is not supported by this model", "suffix");
  }
  p.stream = get_bool(body, "stream").value_or(false);
  if (const Json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad(fmt::format("'stream_options' must be an object, got {}", type_of(*so)), "stream_options");
    for (auto it = so->begin(); it != so->end(); ++it) {
      const bool known = it.key() == "include_usage" || it.key() == "continuous_usage_stats";
      if (!known && !it->is_null())
        bad(fmt::format("'stream_options.{}' is not supported (only include_usage)", it.key()), "stream_options." + it.key());
    }
    p.include_usage = get_bool(*so, "include_usage").value_or(false);
    if (get_bool(*so, "continuous_usage_stats").value_or(false))
      bad("'stream_options.continuous_usage_stats' is not supported: usage comes once, at the end of the stream",
          "stream_options.continuous_usage_stats");
  }

  // Log-probabilities.
  if (kind == ApiKind::kChat) {
    p.logprobs = get_bool(body, "logprobs").value_or(false);
    const auto top = get_int(body, "top_logprobs", 0, 20);
    if (top && !p.logprobs && *top > 0) bad("'top_logprobs' requires 'logprobs' to be true", "top_logprobs");
    p.top_logprobs = int(top.value_or(0));
  } else {
    const auto lp = get_int(body, "logprobs", 0, 20);
    p.logprobs = lp.has_value();
    p.top_logprobs = int(lp.value_or(0));
    if (p.echo && p.logprobs)
      bad("'echo' with 'logprobs' is not supported: it needs the prompt's log-probabilities, which are not computed",
          "echo");
  }
  p.gen.top_logprobs = p.logprobs ? p.top_logprobs : -1;
  return p;
}

}  // namespace tachyon::server
