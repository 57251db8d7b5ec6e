// libFuzzer target: arbitrary bytes as a chat request body into the DeepSeek-V4 encoder. Malformed
// requests must come back as Status errors; accepted ones must give a prompt that starts with BOS.
// An object with a "request" field (a line of tests/data/chat/cases.jsonl) is unwrapped first, so the
// shared cases serve as seeds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chat/dsv4_encoder.h"
#include "chat/dsv4_format.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tachyon::chat;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_json_exact(text);
  if (!parsed.is_ok()) {
    if (parsed.status().message().empty()) __builtin_trap();
    return 0;
  }
  // The Python-style writer's output parses back to the same value (Infinity/NaN are not JSON).
  const std::string dumped = py_dumps(*parsed);
  if (dumped.find("Infinity") == std::string::npos && dumped.find("NaN") == std::string::npos) {
    auto again = parse_json_exact(dumped);
    if (!again.is_ok() || py_dumps(*again) != dumped) __builtin_trap();
  }
  const Json& body = parsed->is_object() && parsed->contains("request") ? (*parsed)["request"] : *parsed;
  auto r = encode_chat_request(body);
  if (r.is_ok() && r->prompt.rfind(dsv4::kBos, 0) != 0) __builtin_trap();
  if (!r.is_ok() && r.status().message().empty()) __builtin_trap();
  return 0;
}
