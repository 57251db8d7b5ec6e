// Many-token linear layers: for each tile of weight rows, decode the rows once into an f32 panel (FP8 as
// value * 2^-8 with the 2^8 moved into the scale, FP4 exact: linear_decode.h), then run every tile of
// tokens over the panel. Each output follows exactly the arithmetic of linear_avx2.cc's register tiles:
// eight fp32 lanes over k in increasing column order, FP8/FP4 blocks summed from zero (FP4: the first
// product of a block multiplied, the rest fused) and added times their scale to a separate accumulator,
// then the same lane-sum tree. So a token's outputs do not depend on how many tokens share the call.
#include "backends/cpu/fast/gemm_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "backends/cpu/fast/linear_decode.h"

namespace tachyon::cpu::fast {

namespace {

constexpr int kT = 3;  // tokens per register tile

// Rows [row, row + R) of the view decoded into panel [R, k] (f32) plus the per-block scale of each row:
// FP8 codes (applied through fp8_scale_acc), FP4 floats.
template <int R>
TACHYON_AVX2 void decode_panel(const WeightView& w, int64_t row, float* panel, uint8_t* fp8_codes,
                               float* fp4_scales) {
  const int64_t k = w.k;
  for (int r = 0; r < R; ++r) {
    const int64_t wrow = w.row0 + row + r;
    float* p = panel + r * k;
    switch (w.fmt) {
      case WFormat::kF32: {
        const float* src = static_cast<const float*>(w.data) + wrow * k;
        std::copy(src, src + k, p);
        break;
      }
      case WFormat::kBF16: {
        const uint16_t* src = static_cast<const uint16_t*>(w.data) + wrow * k;
        for (int64_t j = 0; j < k; j += 8) _mm256_storeu_ps(p + j, dec8(src + j));
        break;
      }
      case WFormat::kFP8: {
        const uint8_t* src = static_cast<const uint8_t*>(w.data) + wrow * k;
        int64_t j = 0;
        for (; j + 16 <= k; j += 16) {
          __m256 lo, hi;
          dec16_fp8(src + j, lo, hi);
          _mm256_storeu_ps(p + j, lo);
          _mm256_storeu_ps(p + j + 8, hi);
        }
        for (; j < k; j += 8) _mm256_storeu_ps(p + j, dec8(src + j));
        const int64_t B = w.block, sk = (k + B - 1) / B;
        std::copy(w.scale + (wrow / B) * sk, w.scale + (wrow / B + 1) * sk, fp8_codes + r * sk);
        break;
      }
      case WFormat::kFP4: {
        const uint8_t* src = static_cast<const uint8_t*>(w.data) + wrow * (k / 2);
        for (int64_t j = 0; j < k; j += 32) {
          __m256 v[4];
          dec32_fp4(src + j / 2, v);
          for (int q = 0; q < 4; ++q) _mm256_storeu_ps(p + j + 8 * q, v[q]);
        }
        const uint8_t* sc = w.scale + wrow * (k / 32);
        for (int64_t b = 0; b < k / 32; ++b) fp4_scales[r * (k / 32) + b] = e8m0_to_f32(sc[b]);
        break;
      }
      case WFormat::kI8:
      case WFormat::kFP4G: break;  // never here: fast::linear refuses it
    }
  }
}

template <int R, int T>
TACHYON_AVX2 inline void store(__m256 (&acc)[R][T], float* y, int64_t ldy) {
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum(acc[r][t]);
}

// Dense: one accumulator per output over the whole row.
template <int R, int T>
TACHYON_AVX2 void tile_dense(const float* panel, int64_t k, const float* x, float* y, int64_t ldy) {
  __m256 acc[R][T];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t j = 0; j < k; j += 8) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x + t * k + j);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_loadu_ps(panel + r * k + j);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(xv[t], wv, acc[r][t]);
    }
  }
  store<R, T>(acc, y, ldy);
}

// One scale block, columns [b0, b1), summed into part from zero in eight lanes; FP4 multiplies the first
// product (as linear_avx2.cc's FP4 tiles do) where FP8 fuses it with the zero.
template <int R, int T, bool kMulFirst>
TACHYON_AVX2 inline void block_sum(const float* panel, int64_t k, const float* x, int64_t b0, int64_t b1,
                                   __m256 (&part)[R][T]) {
  int64_t j = b0;
  if constexpr (kMulFirst) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x + t * k + j);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_loadu_ps(panel + r * k + j);
      for (int t = 0; t < T; ++t) part[r][t] = _mm256_mul_ps(xv[t], wv);
    }
    j += 8;
  } else {
    for (auto& row : part)
      for (auto& v : row) v = _mm256_setzero_ps();
  }
  for (; j < b1; j += 8) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x + t * k + j);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = _mm256_loadu_ps(panel + r * k + j);
      for (int t = 0; t < T; ++t) part[r][t] = _mm256_fmadd_ps(xv[t], wv, part[r][t]);
    }
  }
}

// FP8: blocks of B columns, acc = fp8_scale_acc(part, code, acc). FP4: blocks of 32, acc = fma(part, s,
// acc). The block sums live in registers; acc is touched once per block (the compiler keeps it on the
// stack).
template <int R, int T>
TACHYON_AVX2 void tile_fp8(const float* panel, int64_t k, int64_t B, const uint8_t* codes, const float* x,
                           float* y, int64_t ldy) {
  const int64_t sk = (k + B - 1) / B;
  __m256 acc[R][T];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t b0 = 0, blk = 0; b0 < k; b0 += B, ++blk) {
    __m256 part[R][T];
    block_sum<R, T, false>(panel, k, x, b0, std::min(k, b0 + B), part);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = fp8_scale_acc(part[r][t], codes[r * sk + blk], acc[r][t]);
  }
  store<R, T>(acc, y, ldy);
}

template <int R, int T>
TACHYON_AVX2 void tile_fp4(const float* panel, int64_t k, const float* scales, const float* x, float* y,
                           int64_t ldy) {
  const int64_t sk = k / 32;
  __m256 acc[R][T];
  for (auto& row : acc)
    for (auto& v : row) v = _mm256_setzero_ps();
  for (int64_t blk = 0; blk < sk; ++blk) {
    __m256 part[R][T];
    block_sum<R, T, true>(panel, k, x, blk * 32, blk * 32 + 32, part);
    for (int r = 0; r < R; ++r) {
      const __m256 s = _mm256_set1_ps(scales[r * sk + blk]);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(part[r][t], s, acc[r][t]);
    }
  }
  store<R, T>(acc, y, ldy);
}

template <int R, int T>
TACHYON_AVX2 void tile(const WeightView& w, const float* panel, const uint8_t* codes, const float* scales,
                       const float* x, float* y) {
  switch (w.fmt) {
    case WFormat::kF32:
    case WFormat::kBF16: return tile_dense<R, T>(panel, w.k, x, y, w.n);
    case WFormat::kFP8: return tile_fp8<R, T>(panel, w.k, w.block, codes, x, y, w.n);
    case WFormat::kFP4: return tile_fp4<R, T>(panel, w.k, scales, x, y, w.n);
    case WFormat::kI8:
    case WFormat::kFP4G: return;  // never here: fast::linear refuses it
  }
}

// Every token over the rows of one panel: tiles of kT tokens, then the remainder.
template <int R>
TACHYON_AVX2 void panel_rows(const WeightView& w, int64_t row, const float* x, int64_t m, float* y,
                             std::vector<float>& panel, std::vector<uint8_t>& codes, std::vector<float>& scales) {
  decode_panel<R>(w, row, panel.data(), codes.data(), scales.data());
  int64_t i = 0;
  for (; i + kT <= m; i += kT) tile<R, kT>(w, panel.data(), codes.data(), scales.data(), x + i * w.k, y + i * w.n + row);
  switch (m - i) {
    case 2: tile<R, 2>(w, panel.data(), codes.data(), scales.data(), x + i * w.k, y + i * w.n + row); break;
    case 1: tile<R, 1>(w, panel.data(), codes.data(), scales.data(), x + i * w.k, y + i * w.n + row); break;
    default: break;
  }
}

}  // namespace

bool gemm_applies(int64_t m, const WeightView& w) {
  // Below these token counts the register tiles, which decode as they go, are as fast or faster. Dense
  // rows (bf16/f32) have 12-chain register tiles: best of 20 in the kernel bench, bf16 2048x2048 ran
  // x1.3-1.6 faster on them than on panels at 8-32 tokens and about even at 128.
  const int64_t min_m = w.fmt == WFormat::kFP8 ? 8 : w.fmt == WFormat::kFP4 ? 16 : 64;
  if (m < min_m || w.k % 8 != 0) return false;
  if (w.fmt == WFormat::kFP8) return w.block % 8 == 0;
  return true;
}

TACHYON_AVX2 void gemm(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  constexpr int R = 4;
  const int64_t sk = w.fmt == WFormat::kFP8 ? (w.k + w.block - 1) / w.block : w.k / 32;
  std::vector<float> panel(size_t(R * w.k)), scales(size_t(R * sk));
  std::vector<uint8_t> codes(size_t(R * sk));
  int64_t n = n_begin;
  for (; n + R <= n_end; n += R) panel_rows<R>(w, n, x, m, y, panel, codes, scales);
  for (; n < n_end; ++n) panel_rows<1>(w, n, x, m, y, panel, codes, scales);
}

}  // namespace tachyon::cpu::fast
