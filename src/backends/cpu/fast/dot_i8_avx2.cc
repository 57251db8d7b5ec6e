// AVX2 twin of ref::dot_i8: 32 int8 products per step with vpmaddubsw, four rows sharing each slice of x.
// vpmaddubsw multiplies unsigned by signed bytes, so x's sign moves onto the weights (vpsignb) and |x|
// is the unsigned operand; with both in [-127, 127] a pair of products is at most 32258 and never
// saturates the int16 lane. vpmaddwd by ones then widens pairs into int32 lanes. Integer sums are exact,
// so the result equals ref:: bit for bit.
#include <immintrin.h>

#include "backends/cpu/fast/avx2_util.h"
#include "backends/cpu/kernels.h"

namespace tachyon::cpu::fast {

namespace {

TACHYON_AVX2 inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// acc += the 32 products of (|x|, sign(x)) with 32 weights, widened to eight int32 lanes.
TACHYON_AVX2 inline __m256i step32(__m256i ax, __m256i x, const int8_t* w, __m256i acc) {
  const __m256i wv = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)), x);
  const __m256i p16 = _mm256_maddubs_epi16(ax, wv);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

}  // namespace

TACHYON_AVX2 void dot_i8(const int8_t* x, const int8_t* w, int64_t k, int64_t n_out, int32_t* out) {
  int64_t o = 0;
  for (; o + 4 <= n_out; o += 4) {
    const int8_t* r = w + o * k;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < k; j += 32) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j));
      const __m256i ax = _mm256_sign_epi8(xv, xv);
      a0 = step32(ax, xv, r + j, a0);
      a1 = step32(ax, xv, r + k + j, a1);
      a2 = step32(ax, xv, r + 2 * k + j, a2);
      a3 = step32(ax, xv, r + 3 * k + j, a3);
    }
    out[o] = hsum_i32(a0);
    out[o + 1] = hsum_i32(a1);
    out[o + 2] = hsum_i32(a2);
    out[o + 3] = hsum_i32(a3);
  }
  for (; o < n_out; ++o) {
    __m256i a = _mm256_setzero_si256();
    for (int64_t j = 0; j < k; j += 32) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + j));
      a = step32(_mm256_sign_epi8(xv, xv), xv, w + o * k + j, a);
    }
    out[o] = hsum_i32(a);
  }
}

}  // namespace tachyon::cpu::fast
