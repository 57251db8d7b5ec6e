// TACHYON_CHECK: internal invariants. A failure is a bug in Tachyon, not bad input: it logs the
// condition and its source location, then aborts.
#pragma once

#include <source_location>
#include <string>

namespace tachyon {
[[noreturn]] void check_failed(const char* cond, const std::string& msg,
                               const std::source_location& loc = std::source_location::current());
}  // namespace tachyon

#define TACHYON_CHECK(cond, ...)                                                 \
  do {                                                                           \
    if (!(cond)) [[unlikely]]                                                    \
      ::tachyon::check_failed(#cond, ::std::string{__VA_ARGS__});                \
  } while (0)
