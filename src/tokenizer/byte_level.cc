// GPT-2 bytes_to_unicode table.
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace tachyon::tok {
namespace {

constexpr bool is_printable_byte(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); }

constexpr std::array<uint16_t, 256> make_byte_table() {
  std::array<uint16_t, 256> t{};
  int n = 0;
  for (int b = 0; b < 256; ++b) t[size_t(b)] = is_printable_byte(b) ? uint16_t(b) : uint16_t(256 + n++);
  return t;
}
constexpr std::array<uint16_t, 256> kByteToCp = make_byte_table();

constexpr std::array<int16_t, 324> make_cp_table() {
  std::array<int16_t, 324> t{};
  for (auto& v : t) v = -1;
  for (int b = 0; b < 256; ++b) t[kByteToCp[size_t(b)]] = int16_t(b);
  return t;
}
constexpr std::array<int16_t, 324> kCpToByte = make_cp_table();

}  // namespace

uint32_t byte_to_code_point(uint8_t b) { return kByteToCp[b]; }

std::optional<uint8_t> code_point_to_byte(uint32_t cp) {
  if (cp >= kCpToByte.size() || kCpToByte[cp] < 0) return std::nullopt;
  return uint8_t(kCpToByte[cp]);
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  for (char c : bytes) append_code_point(kByteToCp[uint8_t(c)], &s);
  return s;
}

bool byte_level_to_bytes(std::string_view token, std::string* out) {
  if (!is_valid_utf8(token)) return false;
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    size_t len = 0;
    const uint32_t cp = decode_code_point(token, i, &len);
    const auto b = code_point_to_byte(cp);
    if (!b) return false;
    bytes.push_back(char(*b));
    i += len;
  }
  out->append(bytes);
  return true;
}

}  // namespace tachyon::tok
