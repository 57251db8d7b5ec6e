// Many-token AVX-512 linear layers: for each panel of R weight rows, decode the rows once into f32 in
// the padded column order of linear_layout.h (the decoders of the register tiles, so the same values),
// then run every tile of tokens over the panel. Each output follows exactly the arithmetic of
// linear_avx512.cc's tiles: sixteen lanes in the layout's order, FP8/FP4 blocks summed from zero and
// added times their scale to a separate accumulator, the same lane-sum tree, and rows with a NaN FP8
// code set to NaN. So a token's outputs do not depend on how many tokens share the call.
#include "backends/cpu/avx512/gemm_avx512.h"

#include <limits>

namespace tachyon::cpu::avx512 {

namespace {

constexpr int kR = 4;  // rows per panel

// FP4 units of a row: its wide groups, then its ordinary groups.
int64_t fp4_units(const Layout& L) { return L.wide + L.k / 32 - 4 * L.wide; }

struct Panel {
  const float* w;      // [R, kp] decoded weights
  const float* scale;  // FP4: [R, units, 16] each unit's scale vector (fp4_units)
  const uint8_t* const* codes;  // FP8: each row's E8M0 scale codes, one per block
};

// Rows [row, row + R) of the view into panel [R, L.kp] (padding zero), FP4 scales into scales,
// FP8 scale rows into codes[R]; nan[r] says whether row r holds a NaN FP8 code.
template <int R>
TACHYON_AVX512 void decode_panel(const WeightView& w, const Layout& L, int64_t row, float* panel, float* scales,
                                 const uint8_t** codes, bool* nan) {
  const int64_t k = L.k;
  for (int r = 0; r < R; ++r) {
    const int64_t wrow = w.row0 + row + r;
    float* p = panel + r * L.kp;
    nan[r] = false;
    __m512 a, b;
    switch (w.fmt) {
      case WFormat::kF32:
      case WFormat::kBF16: {
        int64_t j = 0;
        for (; j + 32 <= k; j += 32) {
          if (w.fmt == WFormat::kF32) dec_group(static_cast<const float*>(w.data) + wrow * k + j, a, b);
          else dec_group(static_cast<const uint16_t*>(w.data) + wrow * k + j, a, b);
          _mm512_store_ps(p + j, a);
          _mm512_store_ps(p + j + 16, b);
        }
        if (j < k) {
          if (w.fmt == WFormat::kF32) dec_tail(static_cast<const float*>(w.data) + wrow * k + j, k - j, a, b);
          else dec_tail(static_cast<const uint16_t*>(w.data) + wrow * k + j, k - j, a, b);
          _mm512_store_ps(p + j, a);
          _mm512_store_ps(p + j + 16, b);
        }
        break;
      }
      case WFormat::kFP8: {
        const uint8_t* src = static_cast<const uint8_t*>(w.data) + wrow * k;
        __m512i seen = _mm512_setzero_si512();
        for (int64_t blk = 0; blk < L.nblk; ++blk) {
          int64_t j = L.begin(blk), q = L.pos(blk);
          const int64_t e = L.end(blk);
          for (; j + 32 <= e; j += 32, q += 32) {
            dec_group_fp8(src + j, a, b, seen);
            _mm512_store_ps(p + q, a);
            _mm512_store_ps(p + q + 16, b);
          }
          if (j < e) {
            dec_tail_fp8(src + j, e - j, a, b);
            _mm512_store_ps(p + q, a);
            _mm512_store_ps(p + q + 16, b);
          }
        }
        nan[r] = fp8_nan_seen(seen);
        codes[r] = w.scale + (wrow / L.B) * L.nblk;
        break;
      }
      case WFormat::kFP4: {
        // Wide groups then ordinary ones, as the tiles read them; each unit's scales as one vector.
        const uint8_t* src = static_cast<const uint8_t*>(w.data) + wrow * (k / 2);
        const uint8_t* sc = w.scale + wrow * (k / 32);
        const __m512 lut = e2m1_table();
        const int64_t units = fp4_units(L);
        float* su = scales + r * units * 16;
        for (int64_t g = 0; g < L.wide; ++g) {
          const __m512i d = _mm512_loadu_si512(src + 64 * g);
          for (int q = 0; q < 8; ++q) _mm512_store_ps(p + 128 * g + 16 * q, dec_wide_fp4(d, q, lut));
          for (int l = 0; l < 16; ++l) su[16 * g + l] = e8m0_to_f32(sc[4 * g + l / 4]);
        }
        for (int64_t blk = 4 * L.wide, u = L.wide; blk < k / 32; ++blk, ++u) {
          dec_group_fp4(src + blk * 16, lut, a, b);
          _mm512_store_ps(p + blk * 32, a);
          _mm512_store_ps(p + blk * 32 + 16, b);
          for (int l = 0; l < 16; ++l) su[16 * u + l] = e8m0_to_f32(sc[blk]);
        }
        break;
      }
      case WFormat::kI8:
      case WFormat::kFP4G: break;  // never here: avx512::linear refuses it
    }
  }
}

template <int R, int T>
TACHYON_AVX512 inline void store(__m512 (&acc)[R][T], float* y, int64_t ldy) {
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) y[t * ldy + r] = hsum16(acc[r][t]);
}

template <int R, int T>
TACHYON_AVX512 inline void zero(__m512 (&v)[R][T]) {
  #pragma GCC unroll 16
  for (auto& row : v)
    #pragma GCC unroll 16
    for (auto& e : row) e = _mm512_setzero_ps();
}

// One group (or tail) at padded position p into sums: its first vector, then its second (skipped for a
// tail of <= 16 columns). Each half loads the R weight vectors once and each token's x once, so a group
// costs 2 (R + T) loads for 2 R T fused multiply-adds.
template <int R, int T>
TACHYON_AVX512 inline void group(const float* panel, int64_t kp, const float* x, int64_t p, bool two,
                                 __m512 (&sums)[R][T]) {
  for (int h = 0; h < (two ? 2 : 1); ++h) {
    __m512 wv[R];
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) wv[r] = _mm512_load_ps(panel + r * kp + p + 16 * h);
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_load_ps(x + t * kp + p + 16 * h);
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) sums[r][t] = _mm512_fmadd_ps(xv, wv[r], sums[r][t]);
    }
  }
}

// Columns [b0, b1) of one block, at padded position p: its groups, then its tail.
template <int R, int T>
TACHYON_AVX512 inline void block(const float* panel, int64_t kp, const float* x, int64_t b0, int64_t b1, int64_t p,
                                 __m512 (&sums)[R][T]) {
  int64_t j = b0;
  for (; j + 32 <= b1; j += 32, p += 32) group<R, T>(panel, kp, x, p, true, sums);
  if (j < b1) group<R, T>(panel, kp, x, p, b1 - j > 16, sums);
}

template <int R, int T>
TACHYON_AVX512 void tile_dense(const Layout& L, const Panel& P, const float* x, float* y, int64_t ldy) {
  __m512 acc[R][T];
  zero(acc);
  block<R, T>(P.w, L.kp, x, 0, L.k, 0, acc);
  store<R, T>(acc, y, ldy);
}

// The block sums stay in registers; the accumulators are touched once per block (on the stack).
template <int R, int T>
TACHYON_AVX512 void tile_fp8(const Layout& L, const Panel& P, const float* x, float* y, int64_t ldy) {
  __m512 acc[R][T];
  zero(acc);
  for (int64_t blk = 0; blk < L.nblk; ++blk) {
    __m512 part[R][T];
    zero(part);
    block<R, T>(P.w, L.kp, x, L.begin(blk), L.end(blk), L.pos(blk), part);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = fp8_scale_acc(part[r][t], P.codes[r][blk], acc[r][t]);
  }
  store<R, T>(acc, y, ldy);
}

// FP4: wide groups (two sums from zero per output, added, times the unit's scale vector), then the
// ordinary groups (one block each). The block sums stay in registers; each unit's weight vectors are
// loaded once per tile, a half at a time.
template <int R, int T>
TACHYON_AVX512 void tile_fp4(const Layout& L, const Panel& P, const float* x, float* y, int64_t ldy) {
  const int64_t kp = L.kp, units = fp4_units(L);
  __m512 acc[R][T];
  zero(acc);
  for (int64_t g = 0; g < L.wide; ++g) {
    __m512 p0[R][T], p1[R][T];
    zero(p0);
    zero(p1);
    #pragma GCC unroll 8
    for (int q = 0; q < 8; ++q) {
      __m512 wv[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) wv[r] = _mm512_load_ps(P.w + r * kp + 128 * g + 16 * q);
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const __m512 xv = _mm512_load_ps(x + t * kp + 128 * g + 16 * q);
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          if (q & 1) p1[r][t] = _mm512_fmadd_ps(xv, wv[r], p1[r][t]);
          else p0[r][t] = _mm512_fmadd_ps(xv, wv[r], p0[r][t]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 s = _mm512_load_ps(P.scale + (r * units + g) * 16);
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(_mm512_add_ps(p0[r][t], p1[r][t]), s, acc[r][t]);
    }
  }
  for (int64_t blk = 4 * L.wide, u = L.wide; blk < L.k / 32; ++blk, ++u) {
    __m512 part[R][T];
    zero(part);
    group<R, T>(P.w, kp, x, blk * 32, true, part);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 s = _mm512_load_ps(P.scale + (r * units + u) * 16);
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(part[r][t], s, acc[r][t]);
    }
  }
  store<R, T>(acc, y, ldy);
}

template <int R, int T>
TACHYON_AVX512 void tile(const WeightView& w, const Layout& L, const Panel& P, const float* x, float* y) {
  switch (w.fmt) {
    case WFormat::kF32:
    case WFormat::kBF16: return tile_dense<R, T>(L, P, x, y, w.n);
    case WFormat::kFP8: return tile_fp8<R, T>(L, P, x, y, w.n);
    case WFormat::kFP4: return tile_fp4<R, T>(L, P, x, y, w.n);
    case WFormat::kI8:
    case WFormat::kFP4G: return;  // never here: avx512::linear refuses it
  }
}

// Token tiles of T tokens, then the remainder. (FP4 tiles hold a group's weight vectors next to the
// accumulators, so fewer tokens per tile.)
template <int R, int T>
TACHYON_AVX512 void tokens(const WeightView& w, const Layout& L, const Panel& P, const float* xp, int64_t m,
                           float* y) {
  int64_t i = 0;
  for (; i + T <= m; i += T) tile<R, T>(w, L, P, xp + i * L.kp, y + i * w.n);
  switch (m - i) {
    case 5: if constexpr (T > 5) tile<R, 5>(w, L, P, xp + i * L.kp, y + i * w.n); break;
    case 4: if constexpr (T > 4) tile<R, 4>(w, L, P, xp + i * L.kp, y + i * w.n); break;
    case 3: tile<R, 3>(w, L, P, xp + i * L.kp, y + i * w.n); break;
    case 2: tile<R, 2>(w, L, P, xp + i * L.kp, y + i * w.n); break;
    case 1: tile<R, 1>(w, L, P, xp + i * L.kp, y + i * w.n); break;
    default: break;
  }
}

template <int R>
TACHYON_AVX512 void panel_rows(const WeightView& w, const Layout& L, int64_t row, const float* xp, int64_t m,
                               float* y, float* panel, float* scales) {
  const uint8_t* codes[R] = {};
  bool nan[R];
  decode_panel<R>(w, L, row, panel, scales, codes, nan);
  const Panel P{panel, scales, codes};
  if (w.fmt == WFormat::kFP4) tokens<R, 2>(w, L, P, xp, m, y + row);
  else tokens<R, 6>(w, L, P, xp, m, y + row);
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    if (nan[r])
      for (int64_t i = 0; i < m; ++i) y[i * w.n + row + r] = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace

bool gemm_applies(int64_t m, const WeightView& w) {
  // Below these token counts the register tiles, which decode as they go, are as fast or faster
  // (measured on Zen 5 at k = 1024..4096). FP4 panels pay only while they stay in L1 (the FP4 tiles
  // hold two block sums per output, so they reread the panel every two tokens): k <= 2048.
  switch (w.fmt) {
    case WFormat::kFP8: return m >= 8;
    case WFormat::kFP4: return m >= 16 && w.k <= 2048;
    case WFormat::kBF16:
    case WFormat::kF32: return m >= 16;
    case WFormat::kI8:
    case WFormat::kFP4G: return false;
  }
  return false;
}

TACHYON_AVX512 void gemm(const float* xp, int64_t m, const Layout& L, const WeightView& w, float* y, int64_t n_begin,
                         int64_t n_end) {
  const FloatBuf panel(kR * L.kp), scales(kR * fp4_units(L) * 16);
  int64_t n = n_begin;
  for (; n + kR <= n_end; n += kR) panel_rows<kR>(w, L, n, xp, m, y, panel.get(), scales.get());
  for (; n < n_end; ++n) panel_rows<1>(w, L, n, xp, m, y, panel.get(), scales.get());
}

}  // namespace tachyon::cpu::avx512
