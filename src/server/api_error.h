// OpenAI-style API errors: the one place where a failure becomes an HTTP status and the nested
// {"error": {"message", "type", "param", "code"}} body that the openai SDKs read.
// Client mistakes are 4xx (never 5xx, which SDKs retry); overload is 429/503 with Retry-After.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace tachyon::server {

using Json = nlohmann::ordered_json;

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;
  std::optional<std::string> code;
  int retry_after_s = 0;  // > 0: send a Retry-After header

  Json to_json() const;
};

// 400 invalid_request_error, optionally naming the offending field.
ApiError invalid_request(std::string message, std::optional<std::string> param = std::nullopt);
// 400 with code context_length_exceeded.
ApiError context_length_exceeded(std::string message);
ApiError not_found(std::string message, std::string code);
ApiError unauthorized();
// 429 (queue full) or 503 (loading, shutting down) with Retry-After.
ApiError overloaded(int status, std::string message, int retry_after_s);
ApiError internal_error(std::string message);

// Thrown by request parsing helpers; route wrappers turn it into a response.
struct ApiException {
  ApiError error;
};

// Serialises JSON for the wire: never throws on bad UTF-8 (replaced with U+FFFD).
std::string dump_json(const Json& j);

}  // namespace tachyon::server
