// libFuzzer target for model.safetensors.index.json: arbitrary bytes as the index text. An accepted
// weight map names only plain shard files inside the model folder (no '/', no "..", not empty);
// errors are one line that names the file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = "model.safetensors.index.json";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = tachyon::parse_safetensors_index(text, path);
  if (!r.is_ok()) {
    const std::string& m = r.status().message();
    if (m.rfind(path + ": ", 0) != 0 || m.find('\n') != std::string::npos) __builtin_trap();
    return 0;
  }
  for (const auto& [name, shard] : *r) {
    if (shard.empty() || shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
      __builtin_trap();
  }
  return 0;
}
