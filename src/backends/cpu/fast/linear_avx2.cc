// AVX2/FMA/F16C GEMM over every weight format. Compiled with target attributes so the rest of the build
// stays portable; ops/ calls it only when fast::available() says the CPU has AVX2+FMA+F16C.
//
// Register tiles of R weight rows x T tokens: each 8-wide slice of weights is decoded once and used for T
// tokens, each slice of x is loaded once and used for R rows (R = 4 for single-token GEMV so that there
// are enough independent FMA chains). FP8/FP4 keep the two-level accumulation of ref::linear: each scale
// block is summed in fp32 lanes, then added, times its scale, to a separate fp32 accumulator.
//
// Weight decoding needs no gathers: e4m3 and e2m1 codes are rewritten as IEEE half bit patterns and
// widened with vcvtph2ps, which handles the FP8 subnormals exactly (no denormal-operand assists).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/fast/avx2_util.h"
#include "backends/cpu/kernels.h"
#include "core/dtype.h"


namespace tachyon::cpu::fast {

bool available() { return detect_cpu_features().avx2 && __builtin_cpu_supports("f16c"); }

namespace {

// Lane mask with the first n (0..8) lanes set, for masked loads of a tail.
TACHYON_AVX2 inline __m256i head_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- 8-wide weight decoders ------------------------------------------------------------------------
TACHYON_AVX2 inline __m256 dec8(const float* p) { return _mm256_loadu_ps(p); }
TACHYON_AVX2 inline __m256 dec8(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
// e4m3 -> f16 bits: sign to bit 15, the 4 exponent bits to 10..13 (bit 14 clear), mantissa to 7..9; the
// f16 value is then the e4m3 value * 2^-8, subnormals included. Codes 0x7f/0xff become f16 NaN.
TACHYON_AVX2 inline __m256 dec8(const uint8_t* p) {
  __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  __m128i h = _mm_unpacklo_epi8(_mm_setzero_si128(), b);  // code << 8
  h = _mm_and_si128(_mm_srai_epi16(h, 1), _mm_set1_epi16(short(0xBFFF)));
  const __m128i nan_bits = _mm_set1_epi16(0x3F80);
  __m128i nan = _mm_cmpeq_epi16(_mm_and_si128(h, nan_bits), nan_bits);
  h = _mm_or_si128(h, _mm_and_si128(nan, _mm_set1_epi16(0x7C00)));
  return _mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(256.0f));
}
// 32 e2m1 values (16 bytes, low nibble first). Every e2m1 value is an f16 whose low byte is zero, so a
// 16-entry byte table gives the high byte.
TACHYON_AVX2 inline void dec32_fp4(const uint8_t* p, __m256 out[4]) {
  const __m128i lut = _mm_setr_epi8(0x00, 0x38, 0x3C, 0x3E, 0x40, 0x42, 0x44, 0x46, char(0x80), char(0xB8),
                                    char(0xBC), char(0xBE), char(0xC0), char(0xC2), char(0xC4), char(0xC6));
  const __m128i low4 = _mm_set1_epi8(0x0F), z = _mm_setzero_si128();
  __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  __m128i lo = _mm_shuffle_epi8(lut, _mm_and_si128(b, low4));
  __m128i hi = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(b, 4), low4));
  __m128i e0 = _mm_unpacklo_epi8(lo, hi), e1 = _mm_unpackhi_epi8(lo, hi);  // elements 0..15, 16..31
  out[0] = _mm256_cvtph_ps(_mm_unpacklo_epi8(z, e0));
  out[1] = _mm256_cvtph_ps(_mm_unpackhi_epi8(z, e0));
  out[2] = _mm256_cvtph_ps(_mm_unpacklo_epi8(z, e1));
  out[3] = _mm256_cvtph_ps(_mm_unpackhi_epi8(z, e1));
}

// Decode the last n < 8 weights of a range: copy them into a zeroed buffer (never reads past the row).
template <typename W>
TACHYON_AVX2 inline __m256 dec8_tail(const W* p, int64_t n) {
  W buf[8] = {};
  std::memcpy(buf, p, size_t(n) * sizeof(W));
  return dec8(buf);
}

// What one tile needs: x rows of tokens [i0, i0+T), weight rows [n, n+R), output rows.
struct Args {
  const float* x;  // token i0
  int64_t k;
  const WeightView* w;
  int64_t n;       // first output feature of the tile (relative to the view)
  float* y;        // &y[i0 * w.n + n]
};

template <int R, int T>
TACHYON_AVX2 inline void store(const Args& a, __m256 (&acc)[R][T]) {
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) a.y[t * a.w->n + r] = hsum(acc[r][t]);
}

// Columns [j0, j1) of R rows x T tokens into part (8-wide steps, masked tail).
template <int R, int T, typename W>
TACHYON_AVX2 inline void dot_range(const Args& a, const W* const (&wr)[R], int64_t j0, int64_t j1,
                                   __m256 (&part)[R][T]) {
  int64_t j = j0;
  for (; j + 8 <= j1; j += 8) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(a.x + t * a.k + j);
    for (int r = 0; r < R; ++r) {
      __m256 wv = dec8(wr[r] + j);
      for (int t = 0; t < T; ++t) part[r][t] = _mm256_fmadd_ps(xv[t], wv, part[r][t]);
    }
  }
  if (j < j1) {
    const __m256i mask = head_mask(j1 - j);
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_maskload_ps(a.x + t * a.k + j, mask);
    for (int r = 0; r < R; ++r) {
      __m256 wv = dec8_tail(wr[r] + j, j1 - j);
      for (int t = 0; t < T; ++t) part[r][t] = _mm256_fmadd_ps(xv[t], wv, part[r][t]);
    }
  }
}

template <int R, int T, typename W>
TACHYON_AVX2 void tile_dense(const Args& a) {
  const W* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const W*>(a.w->data) + (a.w->row0 + a.n + r) * a.k;
  __m256 acc[R][T];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  dot_range<R, T>(a, wr, 0, a.k, acc);
  store<R, T>(a, acc);
}

template <int R, int T>
TACHYON_AVX2 void tile_fp8(const Args& a) {
  const int64_t k = a.k, B = a.w->block, sk = (k + B - 1) / B;
  const uint8_t* wr[R];
  const uint8_t* sr[R];
  for (int r = 0; r < R; ++r) {
    const int64_t row = a.w->row0 + a.n + r;
    wr[r] = static_cast<const uint8_t*>(a.w->data) + row * k;
    sr[r] = a.w->scale + (row / B) * sk;
  }
  __m256 acc[R][T];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t b0 = 0, blk = 0; b0 < k; b0 += B, ++blk) {
    __m256 part[R][T];
    for (auto& row : part)
      for (auto& v : row) v = _mm256_setzero_ps();
    dot_range<R, T>(a, wr, b0, std::min(k, b0 + B), part);
    for (int r = 0; r < R; ++r) {
      const __m256 s = _mm256_set1_ps(e8m0_to_f32(sr[r][blk]));
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(part[r][t], s, acc[r][t]);
    }
  }
  store<R, T>(a, acc);
}

template <int R, int T>
TACHYON_AVX2 void tile_fp4(const Args& a) {
  const int64_t k = a.k, sk = k / 32;
  const uint8_t* wr[R];
  const uint8_t* sr[R];
  for (int r = 0; r < R; ++r) {
    const int64_t row = a.w->row0 + a.n + r;
    wr[r] = static_cast<const uint8_t*>(a.w->data) + row * (k / 2);
    sr[r] = a.w->scale + row * sk;
  }
  __m256 acc[R][T];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t blk = 0; blk < sk; ++blk) {
    const int64_t j = blk * 32;
    for (int r = 0; r < R; ++r) {
      __m256 wv[4];
      dec32_fp4(wr[r] + j / 2, wv);
      __m256 part[T];
      for (int t = 0; t < T; ++t) {
        const float* xt = a.x + t * k + j;
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(xt), wv[0]);
        p = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 8), wv[1], p);
        p = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 16), wv[2], p);
        part[t] = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 24), wv[3], p);
      }
      const __m256 s = _mm256_set1_ps(e8m0_to_f32(sr[r][blk]));
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(part[t], s, acc[r][t]);
    }
  }
  store<R, T>(a, acc);
}

template <int R, int T>
TACHYON_AVX2 void tile(const Args& a) {
  switch (a.w->fmt) {
    case WFormat::kF32: return tile_dense<R, T, float>(a);
    case WFormat::kBF16: return tile_dense<R, T, uint16_t>(a);
    case WFormat::kFP8: return tile_fp8<R, T>(a);
    case WFormat::kFP4: return tile_fp4<R, T>(a);
  }
}

// Rows [n0, n1) for tokens [i0, i0 + T): R-row tiles, then single rows for the remainder.
template <int R, int T>
TACHYON_AVX2 void rows(const float* x, int64_t i0, const WeightView& w, float* y, int64_t n0, int64_t n1) {
  Args a{x + i0 * w.k, w.k, &w, n0, y + i0 * w.n + n0};
  for (; a.n + R <= n1; a.n += R, a.y += R) tile<R, T>(a);
  for (; a.n < n1; ++a.n, ++a.y) tile<1, T>(a);
}

int64_t row_bytes(const WeightView& w) {
  switch (w.fmt) {
    case WFormat::kF32: return 4 * w.k;
    case WFormat::kBF16: return 2 * w.k;
    case WFormat::kFP8: return w.k;
    case WFormat::kFP4: return w.k / 2;
  }
  return w.k;
}

}  // namespace

TACHYON_AVX2 void linear(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin,
                         int64_t n_end) {
  // Chunks of rows whose weights stay in L1/L2 while every token tile passes over them.
  const int64_t chunk = std::max<int64_t>(4, (65536 / std::max<int64_t>(1, row_bytes(w))) & ~int64_t(3));
  for (int64_t c0 = n_begin; c0 < n_end; c0 += chunk) {
    const int64_t c1 = std::min(n_end, c0 + chunk);
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) rows<1, 4>(x, i, w, y, c0, c1);
    switch (m - i) {
      case 3: rows<1, 3>(x, i, w, y, c0, c1); break;
      case 2: rows<2, 2>(x, i, w, y, c0, c1); break;
      case 1: rows<4, 1>(x, i, w, y, c0, c1); break;
      default: break;
    }
  }
}

}  // namespace tachyon::cpu::fast
