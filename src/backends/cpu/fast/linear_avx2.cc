// AVX2/FMA/F16C linear layers over every weight format, for a few tokens at a time (decode, small
// batches). Compiled with target attributes so the rest of the build stays portable; ops/ calls it only
// when fast::available() says the CPU has AVX2+FMA+F16C. Larger token counts go to gemm_avx2.cc.
//
// Register tiles of R weight rows x T tokens: each weight slice is decoded once and used for T tokens,
// and each x slice is read by R rows. Every output keeps eight fp32 lanes over k (lane l sums the
// columns j = l mod 8 of a scale block in increasing order), FP8/FP4 blocks are summed in fp32 lanes and
// then added, times their scale, to a separate accumulator (the two-level accumulation of ref::linear),
// and the lanes are summed last in a fixed tree. gemm_avx2.cc computes exactly the same sequence, so a
// row's result is the same whatever the number of tokens in the call.
#include <immintrin.h>

#include <algorithm>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/fast/gemm_avx2.h"
#include "backends/cpu/fast/linear_decode.h"
#include "backends/cpu/kernels.h"
#include "core/check.h"

namespace tachyon::cpu::fast {

bool available() { return detect_cpu_features().avx2 && __builtin_cpu_supports("f16c"); }

namespace {

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

template <int R, int T>
TACHYON_AVX2 inline void zero(__m256 (&v)[R][T]) {
  for (auto& row : v)
    for (auto& e : row) e = _mm256_setzero_ps();
}

// Columns [j0, j1) of R rows x T tokens into part, 8 at a time with a masked tail.
template <int R, int T, typename W>
TACHYON_AVX2 inline void dot_range(const Args& a, const W* const (&wr)[R], int64_t j0, int64_t j1,
                                   __m256 (&part)[R][T]) {
  int64_t j = j0;
  for (; j + 8 <= j1; j += 8) {
    for (int r = 0; r < R; ++r) {
      const __m256 wv = dec8(wr[r] + j);
      for (int t = 0; t < T; ++t) part[r][t] = _mm256_fmadd_ps(_mm256_loadu_ps(a.x + t * a.k + j), wv, part[r][t]);
    }
  }
  if (j < j1) {
    const __m256i mask = head_mask(j1 - j);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = dec8_tail(wr[r] + j, j1 - j);
      for (int t = 0; t < T; ++t)
        part[r][t] = _mm256_fmadd_ps(_mm256_maskload_ps(a.x + t * a.k + j, mask), wv, part[r][t]);
    }
  }
}

template <int R, int T, typename W>
TACHYON_AVX2 void tile_dense(const Args& a) {
  const W* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const W*>(a.w->data) + (a.w->row0 + a.n + r) * a.k;
  __m256 acc[R][T];
  zero(acc);
  // One cache line of each row per pass, with a prefetch of the same line of the next tile's rows: the
  // hardware prefetcher alone leaves DRAM reads well short of the machine's streaming rate.
  constexpr int64_t kLine = 64 / sizeof(W);
  int64_t j = 0;
  for (; j + kLine <= a.k; j += kLine) {
    for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + j + R * a.k), _MM_HINT_T0);
    for (int64_t q = j; q < j + kLine; q += 8) {
      for (int r = 0; r < R; ++r) {
        const __m256 wv = dec8(wr[r] + q);
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(_mm256_loadu_ps(a.x + t * a.k + q), wv, acc[r][t]);
      }
    }
  }
  dot_range<R, T>(a, wr, j, a.k, acc);
  store<R, T>(a, acc);
}

// Columns [j, j + 32) of R rows x T tokens into part. kExact = false decodes without the per-code NaN
// fix-up and folds the codes' NaN test into seen (fp8_nan_track) instead.
template <int R, int T, bool kExact>
TACHYON_AVX2 inline void fp8_step32(const Args& a, const uint8_t* const (&wr)[R], int64_t j, __m256 (&part)[R][T],
                                    __m256i& seen) {
  for (int r = 0; r < R; ++r) {
    __m256 wv[4];
    if constexpr (kExact) {
      dec16_fp8(wr[r] + j, wv[0], wv[1]);
      dec16_fp8(wr[r] + j + 16, wv[2], wv[3]);
    } else {
      const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr[r] + j));
      dec32_fp8_nonan(b, wv);
      seen = fp8_nan_track(b, seen);
    }
    for (int t = 0; t < T; ++t)
      for (int q = 0; q < 4; ++q)
        part[r][t] = _mm256_fmadd_ps(_mm256_loadu_ps(a.x + t * a.k + j + 8 * q), wv[q], part[r][t]);
  }
}

// FP8 sums of R rows x T tokens into acc. Each block is walked 64 and 32 codes at a time, then 16, then 8
// with a masked tail; every lane still sees its columns in increasing order, so the step sizes do not
// change a bit. kExact = false decodes without the per-code NaN fix-up and returns false if a NaN code
// went by (its result is then wrong and the caller reruns the tile with kExact = true, which decodes NaN
// codes to NaN as ref:: does). The 16- and 8-wide steps always decode exactly.
template <int R, int T, bool kExact>
TACHYON_AVX2 bool tile_fp8_sum(const Args& a, __m256 (&acc)[R][T]) {
  const int64_t k = a.k, B = a.w->block, sk = (k + B - 1) / B;
  const uint8_t* wr[R];
  const uint8_t* sr[R];
  const int64_t row0 = a.w->row0 + a.n, tile_row = row0 / B;  // one division per tile
  for (int r = 0; r < R; ++r) {
    wr[r] = static_cast<const uint8_t*>(a.w->data) + (row0 + r) * k;
    sr[r] = a.w->scale + (tile_row + (row0 % B + r) / B) * sk;
  }
  __m256i seen = _mm256_setzero_si256();
  zero(acc);
  for (int64_t b0 = 0, blk = 0; b0 < k; b0 += B, ++blk) {
    const int64_t b1 = std::min(k, b0 + B);
    __m256 part[R][T];
    zero(part);
    int64_t j = b0;
    for (; j + 64 <= b1; j += 64) {
      // One prefetch per 64 codes of each row, for the same columns of the next tile's rows.
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + j + R * k), _MM_HINT_T0);
      fp8_step32<R, T, kExact>(a, wr, j, part, seen);
      fp8_step32<R, T, kExact>(a, wr, j + 32, part, seen);
    }
    if (j + 32 <= b1) {
      fp8_step32<R, T, kExact>(a, wr, j, part, seen);
      j += 32;
    }
    for (; j + 16 <= b1; j += 16) {
      for (int r = 0; r < R; ++r) {
        __m256 w0, w1;
        dec16_fp8(wr[r] + j, w0, w1);
        for (int t = 0; t < T; ++t) {
          part[r][t] = _mm256_fmadd_ps(_mm256_loadu_ps(a.x + t * k + j), w0, part[r][t]);
          part[r][t] = _mm256_fmadd_ps(_mm256_loadu_ps(a.x + t * k + j + 8), w1, part[r][t]);
        }
      }
    }
    dot_range<R, T>(a, wr, j, b1, part);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = fp8_scale_acc(part[r][t], sr[r][blk], acc[r][t]);
  }
  return kExact || !fp8_nan_seen(seen);
}

template <int R, int T>
TACHYON_AVX2 void tile_fp8(const Args& a) {
  __m256 acc[R][T];
  if (!tile_fp8_sum<R, T, false>(a, acc)) tile_fp8_sum<R, T, true>(a, acc);
  store<R, T>(a, acc);
}

// Eight E8M0 scale codes -> floats, exactly e8m0_to_f32 (code 0 is 2^-127, code 255 NaN).
TACHYON_AVX2 inline __m256 e8m0x8(const uint8_t* p) {
  const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  __m256i f = _mm256_slli_epi32(c, 23);
  f = _mm256_blendv_epi8(f, _mm256_set1_epi32(0x00400000), _mm256_cmpeq_epi32(c, _mm256_setzero_si256()));
  f = _mm256_blendv_epi8(f, _mm256_set1_epi32(0x7fc00000), _mm256_cmpeq_epi32(c, _mm256_set1_epi32(255)));
  return _mm256_castsi256_ps(f);
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
  zero(acc);
  alignas(32) float sf[R][8];  // scales of the current 8 blocks (read back by broadcast: no registers held)
  for (int64_t blk = 0; blk < sk; ++blk) {
    const int64_t j = blk * 32;
    if ((blk & 7) == 0) {
      for (int r = 0; r < R; ++r) {
        if (blk + 8 <= sk) {
          _mm256_store_ps(sf[r], e8m0x8(sr[r] + blk));
        } else {
          uint8_t buf[8] = {};
          std::copy(sr[r] + blk, sr[r] + sk, buf);
          _mm256_store_ps(sf[r], e8m0x8(buf));
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      if ((blk & 3) == 0)  // one cache line of the next tile's rows per 4 blocks
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + j / 2 + R * (k / 2)), _MM_HINT_T0);
      __m256 wv[4];
      dec32_fp4(wr[r] + j / 2, wv);
      const __m256 s = _mm256_broadcast_ss(&sf[r][blk & 7]);
      for (int t = 0; t < T; ++t) {
        const float* xt = a.x + t * k + j;
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(xt), wv[0]);
        p = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 8), wv[1], p);
        p = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 16), wv[2], p);
        p = _mm256_fmadd_ps(_mm256_loadu_ps(xt + 24), wv[3], p);
        acc[r][t] = _mm256_fmadd_ps(p, s, acc[r][t]);
      }
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
    case WFormat::kI8:
    case WFormat::kFP4G: return;  // never here: fast::linear refuses it
  }
}

// Rows [n0, n1) for tokens [i0, i0 + T): R-row tiles, then single rows for the remainder.
template <int R, int T>
TACHYON_AVX2 void rows(const float* x, int64_t i0, const WeightView& w, float* y, int64_t n0, int64_t n1) {
  Args a{x + i0 * w.k, w.k, &w, n0, y + i0 * w.n + n0};
  for (; a.n + R <= n1; a.n += R, a.y += R) tile<R, T>(a);
  for (; a.n < n1; ++a.n, ++a.y) tile<1, T>(a);
}

// Rows [c0, c1) for tokens [i, i + T) with the tile height that suits the format at this token count.
// Dense rows have one accumulator per output, so taller tiles give the eight or more independent FMA
// chains that hide the FMA latency (a one-row tile of four tokens ran at half speed). FP8 and FP4 tiles
// also hold block sums and decoded vectors; taller ones spilled and measured slower.
template <int T>
TACHYON_AVX2 void token_group(const float* x, int64_t i, const WeightView& w, float* y, int64_t c0, int64_t c1) {
  const bool dense = w.fmt == WFormat::kF32 || w.fmt == WFormat::kBF16;
  if constexpr (T == 1) {
    rows<4, 1>(x, i, w, y, c0, c1);
  } else if constexpr (T == 2) {
    if (w.fmt == WFormat::kFP4) rows<2, 2>(x, i, w, y, c0, c1);  // four decoded vectors per row
    else rows<4, 2>(x, i, w, y, c0, c1);
  } else if constexpr (T == 3) {
    if (dense) rows<4, 3>(x, i, w, y, c0, c1);
    else if (w.fmt == WFormat::kFP8) rows<2, 3>(x, i, w, y, c0, c1);  // six chains: ~10% faster than three
    else rows<1, 3>(x, i, w, y, c0, c1);
  } else {
    if (dense) rows<3, 4>(x, i, w, y, c0, c1);
    else rows<1, 4>(x, i, w, y, c0, c1);
  }
}

}  // namespace

TACHYON_AVX2 void linear(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin,
                         int64_t n_end) {
  TACHYON_CHECK(w.fmt != WFormat::kI8 && w.fmt != WFormat::kFP4G, "fast::linear: repacked weights take the integer kernels");
  if (gemm_applies(m, w)) return gemm(x, m, w, y, n_begin, n_end);
  // Chunks of rows (a multiple of every tile height) whose weights stay in L1/L2 while every token
  // group passes over them.
  const int64_t chunk = std::max<int64_t>(12, (65536 / std::max<int64_t>(1, row_bytes(w))) / 12 * 12);
  for (int64_t c0 = n_begin; c0 < n_end; c0 += chunk) {
    const int64_t c1 = std::min(n_end, c0 + chunk);
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) token_group<4>(x, i, w, y, c0, c1);
    switch (m - i) {
      case 3: token_group<3>(x, i, w, y, c0, c1); break;
      case 2: token_group<2>(x, i, w, y, c0, c1); break;
      case 1: token_group<1>(x, i, w, y, c0, c1); break;
      default: break;
    }
  }
}

}  // namespace tachyon::cpu::fast
