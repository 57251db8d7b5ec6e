// JSON the way the official DeepSeek-V4 encoder (Python) sees it.
//
// The prompt embeds JSON written by Python's json.dumps(ensure_ascii=False): tool schemas, non-string
// tool-call arguments, response_format. To reproduce it byte for byte we need
//   * parsing that keeps object key order and every number exactly (integers of any size, floats as
//     the double Python would read), and
//   * a writer with Python's separators (", " / ": "), escapes and float repr (1e3 -> 1000.0,
//     1e-05, 1e+16, -0.0, Infinity).
// nlohmann::ordered_json keeps key order; integers beyond 64 bits, which nlohmann would round to a
// double, are kept as their decimal text in a binary value with subtype kBigIntSubtype (binary values
// never come out of JSON text, so the marker is unambiguous). nlohmann's own parser is not used: it
// refuses number literals that overflow a double, which Python reads as big integers or inf.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace tachyon::chat {

using Json = nlohmann::ordered_json;

// Subtype of the binary values that hold a big integer's decimal text ("-123...").
inline constexpr std::uint64_t kBigIntSubtype = 0x42;
// Python's json module refuses integers longer than this (sys.int_info.default_max_str_digits).
inline constexpr size_t kMaxIntDigits = 4300;
// Deeper nesting is refused (Python's json module stops at its recursion limit, about 1000).
inline constexpr int kMaxJsonDepth = 512;

// Parses strict JSON text (RFC 8259, UTF-8) into ordered_json, preserving key order (a repeated key
// keeps its first position and takes the last value, as in a Python dict) and big integers exactly.
// Numbers read as Python does: an integer literal stays exact, a float literal is the nearest double
// (1e400 -> inf). Lone surrogate escapes are refused (they have no UTF-8 form). See json_exact.cc.
Result<Json> parse_json_exact(std::string_view text);
// True when `text` is one strict JSON value (surrounding whitespace allowed).
bool is_valid_json(std::string_view text);

bool is_big_int(const Json& j);
// The decimal text of a big integer made by parse_json_exact.
std::string big_int_text(const Json& j);

// Python's json.dumps(value, ensure_ascii=False).
std::string py_dumps(const Json& j);
void py_dumps_to(const Json& j, std::string& out);
// A JSON string literal as json.dumps writes it (quotes included). Invalid UTF-8 becomes U+FFFD.
std::string py_quote(std::string_view s);
void py_quote_to(std::string_view s, std::string& out);
// Python's repr(float) for a finite double: shortest round-trip digits, fixed notation for decimal
// exponents in [-4, 16), else d.ddde+XX.
std::string py_float_repr(double d);
// The exact decimal value of an integral double (Python's int(float)), e.g. 1e20 -> "100000000000000000000".
std::string exact_integer_text(double d);
// Python truthiness of a JSON value: null, false, 0, 0.0, "", [] and {} are false.
bool py_truthy(const Json& j);

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if the bytes there are not one.
size_t utf8_sequence_length(std::string_view s, size_t i);
// Keeps only valid UTF-8, replacing each bad byte with U+FFFD.
std::string sanitize_utf8(std::string_view s);

}  // namespace tachyon::chat
