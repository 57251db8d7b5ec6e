// libFuzzer target for config.json: arbitrary bytes as the config text. An accepted config passes
// validate() (so every value is inside its limit) and survives a round trip through to_json()
// unchanged; errors are one line that names the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tachyon::ModelConfig;
  const std::string path = "config.json";
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto c = ModelConfig::from_json_text(text, path);
  if (!c.is_ok()) {
    const std::string& m = c.status().message();
    if (m.rfind(path + ": ", 0) != 0 || m.find('\n') != std::string::npos) __builtin_trap();
    return 0;
  }
  if (!c->validate(path).is_ok()) __builtin_trap();
  const std::string written = c->to_json();
  auto again = ModelConfig::from_json_text(written, path);
  if (!again.is_ok() || again->to_json() != written) __builtin_trap();
  return 0;
}
