// AVX2 peak-rate probe (probe_kernels.h): twelve independent ymm accumulators of vfmadd231ps with both
// factors in registers, enough to cover the FMA latency on two pipes.
#include <immintrin.h>

#include "backends/cpu/fast/avx2_util.h"
#include "backends/cpu/probe_kernels.h"

namespace tachyon::cpu::fast {

TACHYON_AVX2 int64_t peak_fma(int64_t rounds, float* sink) {
  constexpr int kAcc = 12;
  volatile float vx = 1e-3f, vy = 1e-3f;  // a += 1e-6 a round: finite for any rounds < 2^40
  const __m256 x = _mm256_set1_ps(vx), y = _mm256_set1_ps(vy);
  __m256 a[kAcc];
  for (int i = 0; i < kAcc; ++i) a[i] = _mm256_set1_ps(float(i));
  for (int64_t r = 0; r < rounds; ++r)
    #pragma GCC unroll 12
    for (int i = 0; i < kAcc; ++i) a[i] = _mm256_fmadd_ps(x, y, a[i]);
  __m256 s = a[0];
  for (int i = 1; i < kAcc; ++i) s = _mm256_add_ps(s, a[i]);
  *sink = hsum(s);
  return rounds * kAcc * 8 * 2;
}

}  // namespace tachyon::cpu::fast
