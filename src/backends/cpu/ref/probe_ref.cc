// Scalar reference of the bandwidth probe's streaming read.
#include "backends/cpu/kernels.h"

namespace tachyon::cpu::ref {

uint64_t stream_sum(const uint64_t* p, int64_t n) {
  uint64_t s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

}  // namespace tachyon::cpu::ref
