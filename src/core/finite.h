// Finiteness tests for the places where computed values are cached or consumed. A NaN or an infinity
// there is data (corrupt weights, an overflow), not a bug in Tachyon: callers report it upward instead
// of checking it as an invariant.
#pragma once

#include <cstdint>
#include <cstring>

namespace tachyon {

// True when none of x[0, n) is NaN or infinite: integer tests of the bit patterns, one pass (vectorises).
inline bool all_finite(const float* x, int64_t n) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    bad |= uint32_t((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

}  // namespace tachyon
