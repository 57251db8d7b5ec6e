// OpenAI-style error bodies and the status codes they travel with (see api_error.h).
#include "server/api_error.h"

namespace tachyon::server {

Json ApiError::to_json() const {
  Json e = Json::object();
  e["message"] = message;
  e["type"] = type;
  e["param"] = param ? Json(*param) : Json(nullptr);
  e["code"] = code ? Json(*code) : Json(nullptr);
  Json j = Json::object();
  j["error"] = std::move(e);
  return j;
}

ApiError invalid_request(std::string message, std::optional<std::string> param) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

ApiError context_length_exceeded(std::string message) {
  ApiError e;
  e.status = 400;
  e.message = std::move(message);
  e.param = "messages";
  e.code = "context_length_exceeded";
  return e;
}

ApiError not_found(std::string message, std::string code) {
  ApiError e;
  e.status = 404;
  e.message = std::move(message);
  e.code = std::move(code);
  if (*e.code == "model_not_found") e.param = "model";
  return e;
}

ApiError unauthorized() {
  ApiError e;
  e.status = 401;
  e.message = "Incorrect API key provided. Pass it as 'Authorization: Bearer <key>'.";
  e.type = "invalid_request_error";
  e.code = "invalid_api_key";
  return e;
}

ApiError overloaded(int status, std::string message, int retry_after_s) {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = status == 429 ? "rate_limit_exceeded" : "server_unavailable";
  e.retry_after_s = retry_after_s;
  return e;
}

ApiError internal_error(std::string message) {
  ApiError e;
  e.status = 500;
  e.message = std::move(message);
  e.type = "internal_server_error";
  return e;
}

std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace tachyon::server
