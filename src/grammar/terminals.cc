// Byte steps of the terminal elements: literals, byte sets, JSON strings (escapes, strict UTF-8, length
// in code points), JSON integers with an exact int64 range, and JSON numbers.
#include "grammar/engine.h"

namespace tachyon::grammar::detail {
namespace {

using i128 = __int128;

constexpr uint64_t kSaturated = 10'000'000'000'000'000'000ULL;  // 1e19: above every int64 magnitude
constexpr i128 kInf = i128(1) << 100;

bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

int hex_value(uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

// --- strings ---------------------------------------------------------------------------------------
// Frame::c in kStrUtf8: continuation bytes left (bits 0-7), allowed range of the next one (8-15, 16-23).
// Frame::c in kStrHex: code unit so far (bits 0-15), hex digits read (16-18), low surrogate required (20).
constexpr uint32_t kLowFlag = 1u << 20;

uint32_t utf8_pending(uint32_t left, uint32_t lo, uint32_t hi) { return left | (lo << 8) | (hi << 16); }

TermStep string_step(const Elem& e, Frame& f, uint8_t b) {
  switch (f.b) {
    case kStrOpen:
      if (b != '"') return TermStep::kReject;
      f.b = kStrBody;
      return TermStep::kMore;
    case kStrBody: {
      if (b == '"') return f.a >= e.c ? TermStep::kDone : TermStep::kReject;
      if (b < 0x20) return TermStep::kReject;
      if (f.a >= e.d) return TermStep::kReject;  // a new character would pass maxLength
      if (b == '\\') {
        f.b = kStrEscape;
      } else if (b < 0x80) {
        // one-byte character
      } else if (b >= 0xC2 && b <= 0xDF) {
        f.b = kStrUtf8, f.c = utf8_pending(1, 0x80, 0xBF);
      } else if (b == 0xE0) {
        f.b = kStrUtf8, f.c = utf8_pending(2, 0xA0, 0xBF);
      } else if (b == 0xED) {
        f.b = kStrUtf8, f.c = utf8_pending(2, 0x80, 0x9F);  // no UTF-16 surrogates
      } else if (b >= 0xE1 && b <= 0xEF) {
        f.b = kStrUtf8, f.c = utf8_pending(2, 0x80, 0xBF);
      } else if (b == 0xF0) {
        f.b = kStrUtf8, f.c = utf8_pending(3, 0x90, 0xBF);
      } else if (b >= 0xF1 && b <= 0xF3) {
        f.b = kStrUtf8, f.c = utf8_pending(3, 0x80, 0xBF);
      } else if (b == 0xF4) {
        f.b = kStrUtf8, f.c = utf8_pending(3, 0x80, 0x8F);  // <= U+10FFFF
      } else {
        return TermStep::kReject;
      }
      ++f.a;
      return TermStep::kMore;
    }
    case kStrUtf8: {
      const uint32_t lo = (f.c >> 8) & 0xFF, hi = (f.c >> 16) & 0xFF, left = f.c & 0xFF;
      if (b < lo || b > hi) return TermStep::kReject;
      if (left == 1) {
        f.b = kStrBody, f.c = 0;
      } else {
        f.c = utf8_pending(left - 1, 0x80, 0xBF);
      }
      return TermStep::kMore;
    }
    case kStrEscape:
      switch (b) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          f.b = kStrBody;
          return TermStep::kMore;
        case 'u':
          f.b = kStrHex, f.c = 0;
          return TermStep::kMore;
        default:
          return TermStep::kReject;
      }
    case kStrHex: {
      const int h = hex_value(b);
      if (h < 0) return TermStep::kReject;
      const uint32_t k = (f.c >> 16) & 7, low = f.c & kLowFlag;
      const uint32_t unit = ((f.c & 0xFFFF) << 4) | uint32_t(h);
      if (low) {  // \uDC00-\uDFFF only
        if ((k == 0 && h != 0xD) || (k == 1 && h < 0xC)) return TermStep::kReject;
      } else if (k == 1 && (f.c & 0xFFFF) == 0xD && h >= 0xC) {
        return TermStep::kReject;  // a low surrogate with no high one before it
      }
      if (k < 3) {
        f.c = (unit & 0xFFFF) | ((k + 1) << 16) | low;
        return TermStep::kMore;
      }
      if (!low && unit >= 0xD800 && unit <= 0xDBFF) {
        f.b = kStrLowBackslash, f.c = 0;  // the pair's second half must follow
      } else {
        f.b = kStrBody, f.c = 0;
      }
      return TermStep::kMore;
    }
    case kStrLowBackslash:
      if (b != '\\') return TermStep::kReject;
      f.b = kStrLowU;
      return TermStep::kMore;
    case kStrLowU:
      if (b != 'u') return TermStep::kReject;
      f.b = kStrHex, f.c = kLowFlag;
      return TermStep::kMore;
    default:
      return TermStep::kReject;
  }
}

// --- integers --------------------------------------------------------------------------------------
// Whether a value with magnitude prefix `m` (more digits optional, at least `min_more` of them) and the
// given sign can lie in [lo, hi].
bool reachable(bool neg, uint64_t m, int min_more, i128 lo, i128 hi) {
  i128 l = lo, h = hi;
  if (neg) l = -hi, h = -lo;  // magnitudes x with -x in [lo, hi]
  if (h >= kInf) return true;  // unbounded on this side: add digits until past l
  if (m >= kSaturated) return false;  // past every int64
  i128 scale = 1;
  for (int j = 0; j < min_more; ++j) scale *= 10;
  for (i128 first = i128(m) * scale; first <= h; scale *= 10, first = i128(m) * scale) {
    if ((i128(m) + 1) * scale - 1 >= l) return true;
    if (m == 0) return false;  // a lone zero takes no more digits
  }
  return false;
}

// A saturated magnitude (>= 1e19) compares as beyond every int64, inside only an unbounded side.
bool in_range(bool neg, uint64_t m, i128 lo, i128 hi) {
  const i128 x = neg ? -i128(m) : i128(m);
  return x >= lo && x <= hi;
}

enum IntPhase : uint32_t { kIntStart, kIntMinus, kIntZero, kIntDigits };

TermStep integer_step(const IntRange& r, Frame& f, uint8_t b) {
  const bool bounded = r.min.has_value() || r.max.has_value();
  const i128 lo = r.min ? i128(*r.min) : -kInf, hi = r.max ? i128(*r.max) : kInf;
  const bool neg = f.c != 0;
  switch (f.b) {
    case kIntStart:
    case kIntMinus:
      if (f.b == kIntStart && b == '-') {
        if (bounded && lo > 0) return TermStep::kReject;
        f.b = kIntMinus, f.c = 1;
        return TermStep::kMore;
      }
      if (b == '0') {
        if (bounded && !in_range(false, 0, lo, hi)) return TermStep::kReject;
        f.b = kIntZero;
        return TermStep::kDone;
      }
      if (!is_digit(b)) return TermStep::kReject;
      f.b = kIntDigits;
      f.v = b - '0';
      break;
    case kIntDigits:
      if (!is_digit(b)) return TermStep::kReject;
      if (bounded) f.v = f.v >= kSaturated / 10 ? kSaturated : f.v * 10 + (b - '0');
      break;
    default:
      return TermStep::kReject;
  }
  if (!bounded) return TermStep::kMoreOrDone;
  if (!reachable(neg, f.v, 0, lo, hi)) return TermStep::kReject;
  const bool here = in_range(neg, f.v, lo, hi);
  const bool more = reachable(neg, f.v, 1, lo, hi);
  return here ? (more ? TermStep::kMoreOrDone : TermStep::kDone) : TermStep::kMore;
}

// --- numbers ---------------------------------------------------------------------------------------
enum NumPhase : uint32_t { kNumStart, kNumMinus, kNumZero, kNumInt, kNumDot, kNumFrac, kNumE, kNumESign, kNumExp };

TermStep number_step(Frame& f, uint8_t b) {
  const bool digit = is_digit(b);
  auto go = [&](uint32_t phase, bool can_end) {
    f.b = phase;
    return can_end ? TermStep::kMoreOrDone : TermStep::kMore;
  };
  switch (f.b) {
    case kNumStart:
      if (b == '-') return go(kNumMinus, false);
      [[fallthrough]];
    case kNumMinus:
      if (b == '0') return go(kNumZero, true);
      if (digit) return go(kNumInt, true);
      return TermStep::kReject;
    case kNumInt:
      if (digit) return go(kNumInt, true);
      [[fallthrough]];
    case kNumZero:
      if (b == '.') return go(kNumDot, false);
      if (b == 'e' || b == 'E') return go(kNumE, false);
      return TermStep::kReject;
    case kNumDot:
      return digit ? go(kNumFrac, true) : TermStep::kReject;
    case kNumFrac:
      if (digit) return go(kNumFrac, true);
      if (b == 'e' || b == 'E') return go(kNumE, false);
      return TermStep::kReject;
    case kNumE:
      if (b == '+' || b == '-') return go(kNumESign, false);
      [[fallthrough]];
    case kNumESign:
    case kNumExp:
      return digit ? go(kNumExp, true) : TermStep::kReject;
    default:
      return TermStep::kReject;
  }
}

}  // namespace

TermStep consume_terminal(const Grammar& g, const Elem& e, Frame& f, uint8_t byte) {
  switch (e.kind) {
    case ElemKind::kLiteral:
      if (uint8_t(g.literals()[e.a + f.a]) != byte) return TermStep::kReject;
      return ++f.a == e.b ? TermStep::kDone : TermStep::kMore;
    case ElemKind::kByteSet:
      return g.byte_set(e.a).test(byte) ? TermStep::kDone : TermStep::kReject;
    case ElemKind::kString:
      return string_step(e, f, byte);
    case ElemKind::kInteger:
      return integer_step(g.int_range(e.a), f, byte);
    case ElemKind::kNumber:
      return number_step(f, byte);
    default:
      return TermStep::kReject;
  }
}

}  // namespace tachyon::grammar::detail
