// AVX-512 probe kernels (probe_kernels.h): the bandwidth probe's streaming read with 512-bit loads, and
// the peak-rate loops of vfmadd231ps zmm and (VNNI) vpdpbusd zmm. Compiled with target attributes; runs
// only from the AVX-512 kernel tables.
#include "backends/cpu/avx512/linear_layout.h"  // first: TACHYON_AVX512 and the GCC 12 warning workaround
#include "backends/cpu/probe_kernels.h"

namespace tachyon::cpu::avx512 {

TACHYON_AVX512 uint64_t stream_sum(const uint64_t* p, int64_t n) {
  __m512i a[8];
  for (auto& v : a) v = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    #pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) a[j] = _mm512_add_epi64(a[j], _mm512_loadu_si512(p + i + 8 * j));
  for (; i + 8 <= n; i += 8) a[0] = _mm512_add_epi64(a[0], _mm512_loadu_si512(p + i));
  const __m512i s = _mm512_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a[0], a[1]), _mm512_add_epi64(a[2], a[3])),
                                     _mm512_add_epi64(_mm512_add_epi64(a[4], a[5]), _mm512_add_epi64(a[6], a[7])));
  // Lanes summed as unsigned (wrapping, as ref:: does): _mm512_reduce_add_epi64 adds signed 64-bit
  // values, whose overflow is undefined behaviour.
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, s);
  uint64_t sum = 0;
  for (uint64_t v : lanes) sum += v;
  for (; i < n; ++i) sum += p[i];
  return sum;
}

TACHYON_AVX512 int64_t peak_fma(int64_t rounds, float* sink) {
  constexpr int kAcc = 16;
  volatile float vx = 1e-3f, vy = 1e-3f;  // a += 1e-6 a round: finite for any rounds < 2^40
  const __m512 x = _mm512_set1_ps(vx), y = _mm512_set1_ps(vy);
  __m512 a[kAcc];
  for (int i = 0; i < kAcc; ++i) a[i] = _mm512_set1_ps(float(i));
  for (int64_t r = 0; r < rounds; ++r)
    #pragma GCC unroll 16
    for (int i = 0; i < kAcc; ++i) a[i] = _mm512_fmadd_ps(x, y, a[i]);
  __m512 s = a[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_ps(s, a[i]);
  *sink = _mm512_reduce_add_ps(s);
  return rounds * kAcc * 16 * 2;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) int64_t peak_vpdpbusd(int64_t rounds, float* sink) {
  constexpr int kAcc = 16;
  volatile int8_t one = 1;
  const __m512i x = _mm512_set1_epi8(one), y = _mm512_set1_epi8(one);
  __m512i a[kAcc];
  for (int i = 0; i < kAcc; ++i) a[i] = _mm512_set1_epi32(i);
  for (int64_t r = 0; r < rounds; ++r)
    #pragma GCC unroll 16
    for (int i = 0; i < kAcc; ++i) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
  int64_t s = 0;
  alignas(64) int32_t lanes[16];
  for (const __m512i& v : a) {
    _mm512_store_si512(lanes, v);
    for (int32_t l : lanes) s += l;
  }
  *sink = float(s);
  return rounds * kAcc * 64 * 2;
}

}  // namespace tachyon::cpu::avx512
