// AVX2/FMA GEMM over every weight format. Compiled with target attributes so the rest of the build stays
// portable; ops/ calls it only when detect_cpu_features() reports AVX2+FMA.
#include <immintrin.h>

#include <algorithm>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/kernels.h"
#include "core/dtype.h"

namespace tachyon::cpu::fast {

bool available() { return detect_cpu_features().avx2; }

namespace {

__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

// Decode 8 weights of row `wr` starting at column j into f32 lanes.
__attribute__((target("avx2,fma"))) inline __m256 load_bf16x8(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
__attribute__((target("avx2,fma"))) inline __m256 load_fp8x8(const uint8_t* p, const float* table) {
  __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return _mm256_i32gather_ps(table, _mm256_cvtepu8_epi32(b), 4);
}
__attribute__((target("avx2,fma"))) inline __m256 load_fp4x8(const uint8_t* p, const float* table16) {
  // 4 bytes -> 8 nibbles, low nibble first.
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  __m256i bytes = _mm256_set1_epi32(int(v));
  const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
  __m256i nib = _mm256_and_si256(_mm256_srlv_epi32(bytes, shifts), _mm256_set1_epi32(0xf));
  return _mm256_i32gather_ps(table16, nib, 4);
}

struct Fp4Table {
  float v[16];
  Fp4Table() {
    for (int i = 0; i < 16; ++i) v[i] = e2m1_to_f32(uint8_t(i));
  }
};

}  // namespace

__attribute__((target("avx2,fma"))) void linear(const float* x, int64_t m, const WeightView& w, float* y,
                                                int64_t n_begin, int64_t n_end) {
  const int64_t k = w.k;
  static const Fp4Table fp4;
  const float* fp8 = e4m3_table();
  for (int64_t n = n_begin; n < n_end; ++n) {
    const int64_t row = w.row0 + n;
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * k;
      float acc = 0.0f;
      switch (w.fmt) {
        case WFormat::kF32: {
          const float* wr = static_cast<const float*>(w.data) + row * k;
          __m256 a = _mm256_setzero_ps();
          int64_t j = 0;
          for (; j + 8 <= k; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j), _mm256_loadu_ps(wr + j), a);
          acc = hsum(a);
          for (; j < k; ++j) acc += xi[j] * wr[j];
          break;
        }
        case WFormat::kBF16: {
          const uint16_t* wr = static_cast<const uint16_t*>(w.data) + row * k;
          __m256 a = _mm256_setzero_ps();
          int64_t j = 0;
          for (; j + 8 <= k; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j), load_bf16x8(wr + j), a);
          acc = hsum(a);
          for (; j < k; ++j) acc += xi[j] * bf16_to_f32(wr[j]);
          break;
        }
        case WFormat::kFP8: {
          const uint8_t* wr = static_cast<const uint8_t*>(w.data) + row * k;
          const int64_t B = w.block, sk = (k + B - 1) / B;
          const uint8_t* srow = w.scale + (row / B) * sk;
          for (int64_t b0 = 0; b0 < k; b0 += B) {
            const int64_t b1 = std::min(k, b0 + B);
            __m256 a = _mm256_setzero_ps();
            int64_t j = b0;
            for (; j + 8 <= b1; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j), load_fp8x8(wr + j, fp8), a);
            float part = hsum(a);
            for (; j < b1; ++j) part += xi[j] * fp8[wr[j]];
            acc += part * e8m0_to_f32(srow[b0 / B]);
          }
          break;
        }
        case WFormat::kFP4: {
          const uint8_t* wr = static_cast<const uint8_t*>(w.data) + row * (k / 2);
          const uint8_t* srow = w.scale + row * (k / 32);
          for (int64_t b0 = 0; b0 < k; b0 += 32) {
            __m256 a = _mm256_setzero_ps();
            for (int64_t j = b0; j < b0 + 32; j += 8)
              a = _mm256_fmadd_ps(_mm256_loadu_ps(xi + j), load_fp4x8(wr + j / 2, fp4.v), a);
            acc += hsum(a) * e8m0_to_f32(srow[b0 / 32]);
          }
          break;
        }
      }
      y[i * w.n + n] = acc;
    }
  }
}

}  // namespace tachyon::cpu::fast
