// Strict JSON parser that reads numbers the way Python's json module does (see py_json.h).
//
// A small recursive-descent parser over UTF-8 text (depth-limited, so recursion is bounded):
//   * integer literals: int64/uint64 when they fit, else kept as decimal text (a big integer);
//   * float literals: strtod's nearest double, overflow giving +-inf as in Python;
//   * strings: escapes decoded, surrogate pairs combined, invalid UTF-8 and lone surrogates refused;
//   * objects: insertion order kept; a repeated key keeps its first position and takes the last value.
// nlohmann's parser is not used because it rejects number literals that overflow a double.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "chat/py_json.h"

namespace tachyon::chat {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<Json> parse_document() {
    Json v;
    skip_ws();
    if (!value(v, 0)) return fail_status();
    skip_ws();
    if (i_ != s_.size()) {
      fail("unexpected text after the JSON value");
      return fail_status();
    }
    return v;
  }

 private:
  bool fail(const char* msg) {
    if (error_.empty()) error_ = fmt::format("{} at byte {}", msg, i_);
    return false;
  }
  Status fail_status() const { return Status::error("invalid JSON: " + error_); }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return fail("invalid literal");
    i_ += word.size();
    return true;
  }

  bool value(Json& out, int depth) {
    if (i_ >= s_.size()) return fail("unexpected end of input");
    switch (s_[i_]) {
      case '{': return object(out, depth + 1);
      case '[': return array(out, depth + 1);
      case '"': {
        std::string str;
        if (!string(str)) return false;
        out = std::move(str);
        return true;
      }
      case 't': out = true; return literal("true");
      case 'f': out = false; return literal("false");
      case 'n': out = nullptr; return literal("null");
      default: return number(out);
    }
  }

  bool object(Json& out, int depth) {
    if (depth > kMaxJsonDepth) return fail("JSON nested deeper than 512 levels");
    out = Json::object();
    ++i_;  // '{'
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    while (true) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return fail("expected a string key");
      std::string key;
      if (!string(key)) return false;
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return fail("expected ':'");
      ++i_;
      skip_ws();
      Json v;
      if (!value(v, depth)) return false;
      out[key] = std::move(v);  // a repeated key keeps its position, as in a Python dict
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }

  bool array(Json& out, int depth) {
    if (depth > kMaxJsonDepth) return fail("JSON nested deeper than 512 levels");
    out = Json::array();
    ++i_;  // '['
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    while (true) {
      skip_ws();
      Json v;
      if (!value(v, depth)) return false;
      out.push_back(std::move(v));
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  bool digits() {
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }

  bool number(Json& out) {
    const size_t start = i_;
    if (s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') return fail("invalid value");
    if (s_[i_] == '0') ++i_;
    else digits();
    bool is_float = false;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return fail("expected digits after '.'");
      is_float = true;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return fail("expected exponent digits");
      is_float = true;
    }
    const std::string text(s_.substr(start, i_ - start));
    if (is_float) {
      out = std::strtod(text.c_str(), nullptr);  // overflow gives +-inf, as Python's float() does
      return true;
    }
    const bool neg = text[0] == '-';
    const size_t n_digits = text.size() - (neg ? 1 : 0);
    if (n_digits > kMaxIntDigits) return fail("integer literal longer than 4300 digits");
    if (n_digits <= 18) {  // always fits int64
      out = static_cast<std::int64_t>(std::strtoll(text.c_str(), nullptr, 10));
      return true;
    }
    errno = 0;
    if (neg) {
      const long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == 0) {
        out = static_cast<std::int64_t>(v);
        return true;
      }
    } else {
      const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
      if (errno == 0) {
        out = static_cast<std::uint64_t>(v);
        return true;
      }
    }
    out = Json::binary(std::vector<std::uint8_t>(text.begin(), text.end()), kBigIntSubtype);
    return true;
  }

  bool hex4(unsigned* cp) {
    if (i_ + 4 > s_.size()) return fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else return fail("invalid \\u escape");
    }
    *cp = v;
    return true;
  }

  static void append_utf8(unsigned cp, std::string& out) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  bool escape(std::string& out) {
    if (i_ >= s_.size()) return fail("unterminated string");
    const char c = s_[i_++];
    switch (c) {
      case '"': out += '"'; return true;
      case '\\': out += '\\'; return true;
      case '/': out += '/'; return true;
      case 'b': out += '\b'; return true;
      case 'f': out += '\f'; return true;
      case 'n': out += '\n'; return true;
      case 'r': out += '\r'; return true;
      case 't': out += '\t'; return true;
      case 'u': {
        unsigned cp = 0;
        if (!hex4(&cp)) return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo = 0;
          if (s_.substr(i_, 2) != "\\u") return fail("lone high surrogate in \\u escape");
          i_ += 2;
          if (!hex4(&lo)) return false;
          if (lo < 0xDC00 || lo > 0xDFFF) return fail("lone high surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        append_utf8(cp, out);
        return true;
      }
      default: return fail("invalid escape");
    }
  }

  bool string(std::string& out) {
    ++i_;  // opening quote
    while (true) {
      if (i_ >= s_.size()) return fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c == '\\') {
        ++i_;
        if (!escape(out)) return false;
      } else if (c < 0x20) {
        return fail("control character in string");
      } else if (c < 0x80) {
        out += char(c);
        ++i_;
      } else {
        const size_t n = utf8_sequence_length(s_, i_);
        if (n == 0) return fail("invalid UTF-8 in string");
        out.append(s_.data() + i_, n);
        i_ += n;
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  std::string error_;
};

}  // namespace

Result<Json> parse_json_exact(std::string_view text) { return Parser(text).parse_document(); }

}  // namespace tachyon::chat
