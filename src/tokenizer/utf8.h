// UTF-8 helpers for the tokenizer: validation, code point decoding, and a streaming lossy decoder.
//
// Byte-level BPE tokens can end in the middle of a code point, so decoded token bytes are turned into
// text with the same rule as Rust's String::from_utf8_lossy (what Hugging Face `tokenizers` uses):
// each maximal invalid subpart becomes one U+FFFD. Utf8StreamDecoder applies that rule incrementally,
// holding back only a valid-but-incomplete tail, so streaming output always equals the full decode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tachyon::tok {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// True when `s` is well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

// `s` with every maximal invalid subpart replaced by U+FFFD (identity on valid input).
std::string to_valid_utf8(std::string_view s);

// Decodes the code point at s[i] (s must be valid UTF-8); sets *len to its byte length.
inline uint32_t decode_code_point(std::string_view s, size_t i, size_t* len) {
  const auto b0 = uint8_t(s[i]);
  if (b0 < 0x80) { *len = 1; return b0; }
  if (b0 < 0xE0) { *len = 2; return (uint32_t(b0 & 0x1F) << 6) | (uint8_t(s[i + 1]) & 0x3F); }
  if (b0 < 0xF0) {
    *len = 3;
    return (uint32_t(b0 & 0x0F) << 12) | (uint32_t(uint8_t(s[i + 1]) & 0x3F) << 6) | (uint8_t(s[i + 2]) & 0x3F);
  }
  *len = 4;
  return (uint32_t(b0 & 0x07) << 18) | (uint32_t(uint8_t(s[i + 1]) & 0x3F) << 12) |
         (uint32_t(uint8_t(s[i + 2]) & 0x3F) << 6) | (uint8_t(s[i + 3]) & 0x3F);
}

// Appends the UTF-8 encoding of code point `cp` to `out`.
void append_code_point(uint32_t cp, std::string* out);

// Unicode White_Space (what Rust's `\s` and char::is_whitespace match).
bool is_unicode_whitespace(uint32_t cp);

// Incremental lossy UTF-8 decoder. push() appends to `out` every byte sequence that is complete and
// valid, and U+FFFD for each maximal invalid subpart; an incomplete but so-far valid tail is held
// (at most 3 bytes). finish() flushes a held tail as one U+FFFD.
class Utf8StreamDecoder {
 public:
  void push(std::string_view bytes, std::string* out);
  void finish(std::string* out);
  bool has_pending() const { return pending_len_ > 0; }

 private:
  uint8_t pending_[4] = {};
  int pending_len_ = 0;   // bytes held (a valid prefix of one sequence)
  int expected_len_ = 0;  // total length of the sequence being held
};

}  // namespace tachyon::tok
