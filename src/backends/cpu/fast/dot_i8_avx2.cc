// AVX2 twin of ref::dot_i8: 32 int8 products per step with vpmaddubsw, four rows sharing each slice of x
// and two queries each slice of a row.
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

// Rows [o, o + R) against queries [q, q + Q): each 32-byte slice of a row is loaded once for the Q
// queries.
template <int R, int Q>
TACHYON_AVX2 inline void block(const int8_t* x, const int8_t* w, int64_t k, int64_t o, int64_t q, int32_t* out,
                               int64_t ldo) {
  __m256i acc[Q][R];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_si256();
  const int8_t* r0 = w + o * k;
  for (int64_t j = 0; j < k; j += 32) {
    __m256i xv[Q], ax[Q];
    for (int i = 0; i < Q; ++i) {
      xv[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + (q + i) * k + j));
      ax[i] = _mm256_sign_epi8(xv[i], xv[i]);
    }
    for (int r = 0; r < R; ++r)
      for (int i = 0; i < Q; ++i) acc[i][r] = step32(ax[i], xv[i], r0 + r * k + j, acc[i][r]);
  }
  for (int i = 0; i < Q; ++i)
    for (int r = 0; r < R; ++r) out[(q + i) * ldo + o + r] = hsum_i32(acc[i][r]);
}

// Rows [o, o + R) against every query: pairs of queries, then the last one.
template <int R>
TACHYON_AVX2 inline void rows(const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t o, int32_t* out,
                              int64_t ldo) {
  int64_t q = 0;
  for (; q + 2 <= m; q += 2) block<R, 2>(x, w, k, o, q, out, ldo);
  if (q < m) block<R, 1>(x, w, k, o, q, out, ldo);
}

}  // namespace

TACHYON_AVX2 void dot_i8(const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t n_out, int32_t* out,
                         int64_t ldo) {
  int64_t o = 0;
  for (; o + 4 <= n_out; o += 4) rows<4>(x, m, w, k, o, out, ldo);
  for (; o < n_out; ++o) rows<1>(x, m, w, k, o, out, ldo);
}

}  // namespace tachyon::cpu::fast
