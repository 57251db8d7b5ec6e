// Scalar reference of the peak-rate probe (probe_kernels.h). Kept scalar on purpose: the probe names
// the instruction it measures, and a vectorised loop would measure another one.
#include "backends/cpu/probe_kernels.h"

namespace tachyon::cpu::ref {

__attribute__((optimize("no-tree-vectorize"))) int64_t peak_fma(int64_t rounds, float* sink) {
  constexpr int kChains = 12;
  float a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = 0.001f * float(i);
  // a -> a * b + c converges to c / (1 - b) = 1: always finite and normal.
  volatile float vb = 0.999f, vc = 0.001f;  // not constants the compiler could fold
  const float b = vb, c = vc;
  for (int64_t r = 0; r < rounds; ++r)
    #pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = a[i] * b + c;
  float s = 0;
  for (float v : a) s += v;
  *sink = s;
  return rounds * kChains * 2;
}

}  // namespace tachyon::cpu::ref
