// Strings from model files in error messages: control characters (a newline in a tensor name, say)
// are written as \xNN so that every error stays one line.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace tachyon {

inline bool has_control_char(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

inline std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '\\') out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  return out;
}

}  // namespace tachyon
