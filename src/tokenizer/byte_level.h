// The GPT-2 byte-to-unicode alphabet used by byte-level BPE (HF ByteLevel pre-tokenizer and decoder):
// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in order, so every byte
// is one visible character and a vocabulary token is a string over 256 characters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tachyon::tok {

// The code point that byte `b` is written as.
uint32_t byte_to_code_point(uint8_t b);
// The byte that code point `cp` stands for, if it is one of the 256 alphabet characters.
std::optional<uint8_t> code_point_to_byte(uint32_t cp);
// UTF-8 string of the mapped characters of `bytes`.
std::string bytes_to_byte_level(std::string_view bytes);
// Maps a byte-level token back to bytes; false (and *out untouched) when any character is outside
// the alphabet, in which case HF's ByteLevel decoder keeps the token's own UTF-8 bytes.
bool byte_level_to_bytes(std::string_view token, std::string* out);

}  // namespace tachyon::tok
