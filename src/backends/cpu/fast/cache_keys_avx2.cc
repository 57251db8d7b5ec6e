// AVX2 kernels over cached attention entries: the Lightning-indexer scores over fp32 keys or over the
// compact cache's FP4 keys (decoded in registers, never written out as a float copy), and the decode of
// FP8 codes with E8M0 block scales. Chosen at run time by ops/ (fast::available()); each is bit-exact
// with its ref:: twin.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backends/cpu/fast/avx2_util.h"
#include "backends/cpu/fast/linear_decode.h"
#include "backends/cpu/kernels.h"
#include "core/dtype.h"

namespace tachyon::cpu::fast {

namespace {

TACHYON_AVX2 inline __m256 unfused_mul(__m256 a, __m256 b) {
  __m256 p = _mm256_mul_ps(a, b);
  asm("" : "+x"(p));
  return p;
}

// s + the terms of NH heads (q [NH, d], w [NH]) in head order, for the eight keys of kt [d, 8]; the NH
// dot products are independent add chains. Each lane does exactly ref::'s scalar sequence: the products
// go through an empty asm so that the compiler cannot fuse them with the adds (ref:: rounds both).
template <int NH>
TACHYON_AVX2 inline __m256 indexer_heads(const float* q, int64_t d, const float* w, const float* kt, __m256 s) {
  __m256 dot[NH];
  for (auto& v : dot) v = _mm256_setzero_ps();
  for (int64_t e = 0; e < d; ++e) {
    const __m256 kv = _mm256_loadu_ps(kt + e * 8);
    for (int i = 0; i < NH; ++i) dot[i] = _mm256_add_ps(dot[i], unfused_mul(_mm256_broadcast_ss(q + i * d + e), kv));
  }
  // max(zero, dot) returns dot when it is NaN, as std::max(dot, 0.0f) does.
  for (int i = 0; i < NH; ++i)
    s = _mm256_add_ps(s, unfused_mul(_mm256_max_ps(_mm256_setzero_ps(), dot[i]), _mm256_broadcast_ss(w + i)));
  return s;
}

// kt [d, 8] <- the eight rows r[l] [d] as columns: 8 x 8 register transposes, a scalar tail past the
// last multiple of 8.
TACHYON_AVX2 void transpose_keys(const float* const (&r)[8], int64_t d, float* kt) {
  int64_t e = 0;
  for (; e + 8 <= d; e += 8) {
    __m256 v[8];
    for (int l = 0; l < 8; ++l) v[l] = _mm256_loadu_ps(r[l] + e);
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
    const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    float* o = kt + e * 8;
    _mm256_storeu_ps(o + 0, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(o + 8, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(o + 16, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(o + 24, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(o + 32, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(o + 40, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(o + 48, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(o + 56, _mm256_permute2f128_ps(u3, u7, 0x31));
  }
  for (; e < d; ++e)
    for (int l = 0; l < 8; ++l) kt[e * 8 + l] = r[l][e];
}

// One compact FP4 key (ref::decode_fp4_row's layout) -> d floats: e2m1 values are exact in f16, and
// times a power of two they stay exact (or round once, as ref:: does, if the product is subnormal).
TACHYON_AVX2 void decode_fp4_key(const uint8_t* row, int64_t d, float* out) {
  const uint8_t* scales = row + d / 2;
  for (int64_t b = 0; b < d / 32; ++b) {
    __m256 v[4];
    dec32_fp4(row + b * 16, v);
    const __m256 s = _mm256_set1_ps(e8m0_to_f32(scales[b]));
    for (int q = 0; q < 4; ++q) _mm256_storeu_ps(out + b * 32 + 8 * q, _mm256_mul_ps(v[q], s));
  }
}

// Scores of keys [j_begin, j_end), eight at a time; row(j, buf) gives key j's d floats (in buf or not).
template <typename RowFn>
TACHYON_AVX2 void scores_by_eight(const float* q, int64_t n_heads, int64_t d, const float* w, float* out,
                                  int64_t j_begin, int64_t j_end, RowFn row) {
  std::vector<float> kt(static_cast<size_t>(d * 8));   // [d, 8] the group's keys, transposed
  std::vector<float> buf(static_cast<size_t>(d * 9));  // [8, d] decoded keys, then [d] zeros
  const float* zeros = buf.data() + 8 * d;
  for (int64_t j0 = j_begin; j0 < j_end; j0 += 8) {
    const int64_t nk = std::min<int64_t>(8, j_end - j0);
    const float* r[8];
    for (int64_t l = 0; l < 8; ++l) r[l] = l < nk ? row(j0 + l, buf.data() + l * d) : zeros;
    transpose_keys(r, d, kt.data());
    __m256 s = _mm256_setzero_ps();
    int64_t h = 0;
    for (; h + 8 <= n_heads; h += 8) s = indexer_heads<8>(q + h * d, d, w + h, kt.data(), s);
    for (; h < n_heads; ++h) s = indexer_heads<1>(q + h * d, d, w + h, kt.data(), s);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, s);
    std::copy(lanes, lanes + nk, out + j0);
  }
}

}  // namespace

TACHYON_AVX2 void indexer_scores(const float* q, int64_t n_heads, int64_t d, const float* w, const float* const* keys,
                                 float* out, int64_t j_begin, int64_t j_end) {
  scores_by_eight(q, n_heads, d, w, out, j_begin, j_end, [&](int64_t j, float*) { return keys[j]; });
}

TACHYON_AVX2 void indexer_scores_fp4(const float* q, int64_t n_heads, int64_t d, const float* w,
                                     const uint8_t* const* keys, float* out, int64_t j_begin, int64_t j_end) {
  scores_by_eight(q, n_heads, d, w, out, j_begin, j_end, [&](int64_t j, float* b) {
    decode_fp4_key(keys[j], d, b);
    return static_cast<const float*>(b);
  });
}

// Codes as value * 2^-8 (dec16_fp8 / dec8, NaN codes to NaN), brought back by the scale times 2^8 when
// that is a finite float, else by 2^8 first: either way one rounding of the exact product, as ref::.
TACHYON_AVX2 void decode_fp8(const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t block, float* out) {
  for (int64_t b0 = 0, blk = 0; b0 < n; b0 += block, ++blk) {
    const int64_t b1 = std::min(n, b0 + block);
    const uint8_t code = scales[blk];
    const bool direct = code <= 246;
    const __m256 s = _mm256_set1_ps(direct ? e8m0_to_f32(uint8_t(code + 8)) : e8m0_to_f32(code));
    const __m256 pre = _mm256_set1_ps(direct ? 1.0f : 256.0f);
    int64_t j = b0;
    for (; j + 16 <= b1; j += 16) {
      __m256 lo, hi;
      dec16_fp8(codes + j, lo, hi);
      _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_mul_ps(lo, pre), s));
      _mm256_storeu_ps(out + j + 8, _mm256_mul_ps(_mm256_mul_ps(hi, pre), s));
    }
    for (; j + 8 <= b1; j += 8) _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_mul_ps(dec8(codes + j), pre), s));
    const float sf = e8m0_to_f32(code);
    for (; j < b1; ++j) out[j] = e4m3_table()[codes[j]] * sf;
  }
}

}  // namespace tachyon::cpu::fast
