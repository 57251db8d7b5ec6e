// Helpers shared by the AVX2 kernels. Functions carry target attributes, so including this header does
// not raise the ISA of the rest of a translation unit.
#pragma once

#include <immintrin.h>

#define TACHYON_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace tachyon::cpu::fast {

// Sum of the 8 lanes.
TACHYON_AVX2 inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

// Largest of the 8 lanes (_mm_max_ps semantics: a NaN lane may or may not survive).
TACHYON_AVX2 inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

}  // namespace tachyon::cpu::fast
