// Python-compatible JSON writing and helpers (see py_json.h for why); the parser is json_exact.cc.
#include "chat/py_json.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

namespace tachyon::chat {
namespace {

void append_uescape(unsigned c, std::string& out) {
  static const char kHex[] = "0123456789abcdef";
  out += "\\u00";
  out += kHex[(c >> 4) & 0xF];
  out += kHex[c & 0xF];
}

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

// Multiplies a little-endian base-1e9 number by `m` (< 2^32) in place.
void bignum_mul(std::vector<std::uint32_t>& limbs, std::uint32_t m) {
  std::uint64_t carry = 0;
  for (auto& l : limbs) {
    const std::uint64_t v = std::uint64_t(l) * m + carry;
    l = std::uint32_t(v % 1000000000u);
    carry = v / 1000000000u;
  }
  while (carry) {
    limbs.push_back(std::uint32_t(carry % 1000000000u));
    carry /= 1000000000u;
  }
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  return n;
}

bool is_valid_json(std::string_view text) { return parse_json_exact(text).is_ok(); }

bool is_big_int(const Json& j) {
  return j.is_binary() && j.get_binary().has_subtype() && j.get_binary().subtype() == kBigIntSubtype;
}

std::string big_int_text(const Json& j) {
  const auto& b = j.get_binary();
  return std::string(b.begin(), b.end());
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

void py_quote_to(std::string_view s, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) append_uescape(c, out);
        else out += char(c);
    }
    ++i;
  }
  out += '"';
}

std::string py_quote(std::string_view s) {
  std::string out;
  py_quote_to(s, out);
  return out;
}

std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  const std::string_view sci(buf, size_t(r.ptr - buf));  // [-]d[.ddd]e(+|-)XX, shortest digits
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out += '-';
    i = 1;
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e; ++k)
    if (sci[k] != '.') digits += sci[k];
  int exp10 = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp10);
  const int decpt = exp10 + 1;  // value = 0.DIGITS * 10^decpt
  const int nd = int(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (nd > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += exp10 < 0 ? '-' : '+';
    const int a = exp10 < 0 ? -exp10 : exp10;
    if (a < 10) out += '0';
    out += std::to_string(a);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(size_t(-decpt), '0');
    out += digits;
  } else if (decpt >= nd) {
    out += digits;
    out.append(size_t(decpt - nd), '0');
    out += ".0";
  } else {
    out.append(digits, 0, size_t(decpt));
    out += '.';
    out.append(digits, size_t(decpt), std::string::npos);
  }
  return out;
}

std::string exact_integer_text(double d) {
  if (!std::isfinite(d)) return "0";
  if (std::fabs(d) < 9.0e18) return std::to_string(static_cast<long long>(d));
  int exp2 = 0;
  const double frac = std::frexp(std::fabs(d), &exp2);  // |d| = frac * 2^exp2, frac in [0.5, 1)
  auto mant = static_cast<std::uint64_t>(std::ldexp(frac, 53));
  int shift = exp2 - 53;  // |d| = mant * 2^shift, shift > 0 here
  std::vector<std::uint32_t> limbs;
  while (mant) {
    limbs.push_back(std::uint32_t(mant % 1000000000u));
    mant /= 1000000000u;
  }
  for (; shift >= 16; shift -= 16) bignum_mul(limbs, 1u << 16);
  if (shift > 0) bignum_mul(limbs, 1u << shift);
  std::string out = d < 0 ? "-" : "";
  out += std::to_string(limbs.back());
  for (size_t k = limbs.size() - 1; k-- > 0;) {
    const std::string part = std::to_string(limbs[k]);
    out.append(9 - part.size(), '0');
    out += part;
  }
  return out;
}

void py_dumps_to(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::value_t::null: out += "null"; return;
    case Json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; return;
    case Json::value_t::number_integer: out += std::to_string(j.get<std::int64_t>()); return;
    case Json::value_t::number_unsigned: out += std::to_string(j.get<std::uint64_t>()); return;
    case Json::value_t::number_float: {
      const double d = j.get<double>();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
      else out += py_float_repr(d);
      return;
    }
    case Json::value_t::string: py_quote_to(j.get_ref<const std::string&>(), out); return;
    case Json::value_t::binary:
      if (is_big_int(j)) out += big_int_text(j);
      else out += "null";
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& v : j) {
        if (!first) out += ", ";
        first = false;
        py_dumps_to(v, out);
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!first) out += ", ";
        first = false;
        py_quote_to(k, out);
        out += ": ";
        py_dumps_to(v, out);
      }
      out += '}';
      return;
    }
    case Json::value_t::discarded: out += "null"; return;
  }
}

std::string py_dumps(const Json& j) {
  std::string out;
  py_dumps_to(j, out);
  return out;
}

bool py_truthy(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return false;
    case Json::value_t::boolean: return j.get<bool>();
    case Json::value_t::number_integer: return j.get<std::int64_t>() != 0;
    case Json::value_t::number_unsigned: return j.get<std::uint64_t>() != 0;
    case Json::value_t::number_float: return j.get<double>() != 0.0;
    case Json::value_t::string: return !j.get_ref<const std::string&>().empty();
    case Json::value_t::binary: return is_big_int(j);  // big integers are never zero
    case Json::value_t::array:
    case Json::value_t::object: return !j.empty();
    case Json::value_t::discarded: return false;
  }
  return false;
}

}  // namespace tachyon::chat
