// AVX2 twins of the row kernels (kernels.h). Each output element gets exactly ref::'s operations in
// ref::'s order (one rounding per product and per sum, no fused multiply-add), so they are bit-exact;
// tails shorter than a vector run the scalar formula. They are compiled for AVX2 without FMA: GCC fuses
// a product with the sum it feeds by default in C++ (-ffp-contract=fast) wherever FMA is available,
// which would round differently from ref::.
#include <immintrin.h>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"

#define TACHYON_AVX2_NO_FMA __attribute__((target("avx2")))

namespace tachyon::cpu::fast {

TACHYON_AVX2_NO_FMA void widen_bf16(const uint16_t* src, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(out + i, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)));
  }
  for (; i < n; ++i) out[i] = tachyon::bf16_to_f32(src[i]);
}

TACHYON_AVX2_NO_FMA void add(const float* x, int64_t n, float* y) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

TACHYON_AVX2_NO_FMA void scale(float* x, int64_t n, float a) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), av));
  for (; i < n; ++i) x[i] *= a;
}

TACHYON_AVX2_NO_FMA void mix_rows(const float* const* rows, const float* w, int64_t n, int64_t d, float* out) {
  int64_t e = 0;
  for (; e + 16 <= d; e += 16) {  // two vectors per step: two independent chains
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; ++i) {
      const __m256 wi = _mm256_set1_ps(w[i]);
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(wi, _mm256_loadu_ps(rows[i] + e)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(wi, _mm256_loadu_ps(rows[i] + e + 8)));
    }
    _mm256_storeu_ps(out + e, a0);
    _mm256_storeu_ps(out + e + 8, a1);
  }
  for (; e + 8 <= d; e += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; ++i)
      a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(w[i]), _mm256_loadu_ps(rows[i] + e)));
    _mm256_storeu_ps(out + e, a);
  }
  for (; e < d; ++e) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) acc += w[i] * rows[i][e];
    out[e] = acc;
  }
}

}  // namespace tachyon::cpu::fast
