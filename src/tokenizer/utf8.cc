// UTF-8 validation and lossy decoding (maximal-subpart replacement, as in Unicode §3.9 / from_utf8_lossy).
#include "tokenizer/utf8.h"

namespace tachyon::tok {
namespace {

// Sequence length for a lead byte, 0 when it cannot start a sequence.
inline int sequence_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b < 0xC2) return 0;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  if (b < 0xF5) return 4;
  return 0;
}

// Whether `b` may follow `lead` as the second byte (Unicode Table 3-7); later bytes are 80..BF.
inline bool valid_second(uint8_t lead, uint8_t b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

inline bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

}  // namespace

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      __builtin_memcpy(&w, p + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    const uint8_t b = p[i];
    if (b < 0x80) { ++i; continue; }
    const int len = sequence_length(b);
    if (len == 0 || i + size_t(len) > n || !valid_second(b, p[i + 1])) return false;
    for (int k = 2; k < len; ++k)
      if (!is_continuation(p[i + k])) return false;
    i += size_t(len);
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  Utf8StreamDecoder d;
  d.push(s, &out);
  d.finish(&out);
  return out;
}

void append_code_point(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(char(cp));
  } else if (cp < 0x800) {
    out->push_back(char(0xC0 | (cp >> 6)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(char(0xE0 | (cp >> 12)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(char(0xF0 | (cp >> 18)));
    out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  }
}

bool is_unicode_whitespace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

void Utf8StreamDecoder::push(std::string_view bytes, std::string* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t b = p[i];
    if (pending_len_ == 0) {
      if (b < 0x80) {  // run of ASCII
        size_t j = i + 1;
        while (j < n && p[j] < 0x80) ++j;
        out->append(bytes.data() + i, j - i);
        i = j;
        continue;
      }
      const int len = sequence_length(b);
      if (len == 0) {
        out->append(kReplacementChar);
        ++i;
        continue;
      }
      // Fast path: a whole valid sequence available in the input.
      if (i + size_t(len) <= n && valid_second(b, p[i + 1])) {
        bool ok = true;
        for (int k = 2; k < len; ++k) ok = ok && is_continuation(p[i + k]);
        if (ok) {
          out->append(bytes.data() + i, size_t(len));
          i += size_t(len);
          continue;
        }
      }
      pending_[0] = b;
      pending_len_ = 1;
      expected_len_ = len;
      ++i;
      continue;
    }
    // Continue a held sequence.
    const bool ok = pending_len_ == 1 ? valid_second(pending_[0], b) : is_continuation(b);
    if (!ok) {  // the held bytes are a maximal invalid subpart; `b` starts afresh
      out->append(kReplacementChar);
      pending_len_ = 0;
      continue;
    }
    pending_[pending_len_++] = b;
    ++i;
    if (pending_len_ == expected_len_) {
      out->append(reinterpret_cast<const char*>(pending_), size_t(pending_len_));
      pending_len_ = 0;
    }
  }
}

void Utf8StreamDecoder::finish(std::string* out) {
  if (pending_len_ > 0) out->append(kReplacementChar);
  pending_len_ = 0;
}

}  // namespace tachyon::tok
