#include "core/check.h"

#include <cstdio>
#include <cstdlib>

namespace tachyon {
void check_failed(const char* cond, const std::string& msg, const std::source_location& loc) {
  std::fprintf(stderr, "tachyon: internal check failed: %s%s%s at %s:%u (%s)\n", cond, msg.empty() ? "" : ": ",
               msg.c_str(), loc.file_name(), unsigned(loc.line()), loc.function_name());
  std::fflush(stderr);
  std::abort();
}
}  // namespace tachyon
