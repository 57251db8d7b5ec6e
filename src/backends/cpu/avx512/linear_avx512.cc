// AVX-512 linear layers over every weight format for a few tokens at a time (decode, small batches):
// register tiles of R weight rows x T tokens that decode each weight group once for all T tokens, in the
// column order of linear_layout.h. Larger token counts go to gemm_avx512.cc, which computes the same
// sequence for every output. Compiled with target attributes; runs only from the AVX-512 kernel tables.
//
// With 32 vector registers a tile holds R * T accumulators next to its block sums (FP8: one per output,
// FP4: two); token_group picks R for each token count. Each tile prefetches the lines it reads in the
// rows of the next tile: the hardware prefetcher alone leaves DRAM reads short of the streaming rate.
#include <algorithm>
#include <limits>

#include "backends/cpu/avx512/gemm_avx512.h"
#include "backends/cpu/avx512/linear_layout.h"
#include "core/check.h"

namespace tachyon::cpu::avx512 {

TACHYON_AVX512 void repack_x(const float* x, int64_t m, const Layout& L, float* out) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i stride8 = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(8));
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * L.k;
    float* o = out + i * L.kp;
    for (int64_t g = 0; g < L.wide; ++g)  // vector q of a wide group: columns 8l + q
      for (int q = 0; q < 8; ++q)
        _mm512_store_ps(o + 128 * g + 16 * q, _mm512_i32gather_ps(stride8, xi + 128 * g + q, 4));
    for (int64_t b = L.wide * 4; b < L.nblk; ++b) {
      int64_t j = L.begin(b), p = L.pos(b);
      const int64_t e = L.end(b);
      for (; j + 32 <= e; j += 32, p += 32) {
        const __m512 lo = _mm512_loadu_ps(xi + j), hi = _mm512_loadu_ps(xi + j + 16);
        _mm512_store_ps(o + p, L.pairs ? _mm512_permutex2var_ps(lo, even, hi) : lo);
        _mm512_store_ps(o + p + 16, L.pairs ? _mm512_permutex2var_ps(lo, odd, hi) : hi);
      }
      if (j < e) {
        __m512 a, c;
        dec_tail(xi + j, e - j, a, c);
        _mm512_store_ps(o + p, a);
        _mm512_store_ps(o + p + 16, c);
      }
    }
  }
}

namespace {

// One tile: tokens [i0, i0 + T) (their repacked rows), weight rows [n, n + R) of the view.
struct Tile {
  const float* xp;  // repacked x of token i0
  const Layout* L;
  const WeightView* w;
  int64_t n;        // first output row of the tile (relative to the view)
  float* y;         // &y[i0 * w.n + n]
};

template <int R, int T>
TACHYON_AVX512 inline void store(const Tile& a, __m512 (&acc)[R][T]) {
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int t = 0; t < T; ++t) a.y[t * a.w->n + r] = hsum16(acc[r][t]);
}

template <int R, int T>
TACHYON_AVX512 inline void zero(__m512 (&v)[R][T]) {
  #pragma GCC unroll 16
  for (auto& row : v)
    #pragma GCC unroll 16
    for (auto& e : row) e = _mm512_setzero_ps();
}

// acc[t] += the group's two vectors (wa, wb) against token t's x at padded position p; `two` false
// for a tail of at most 16 columns (its second vector is all padding and is skipped).
template <int T>
TACHYON_AVX512 inline void fma_group(const Tile& a, int64_t p, __m512 wa, __m512 wb, bool two, __m512 (&acc)[T]) {
  #pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    const float* xt = a.xp + t * a.L->kp + p;
    acc[t] = _mm512_fmadd_ps(_mm512_load_ps(xt), wa, acc[t]);
    if (two) acc[t] = _mm512_fmadd_ps(_mm512_load_ps(xt + 16), wb, acc[t]);
  }
}

template <int R, int T, typename W>
TACHYON_AVX512 void tile_dense(const Tile& a) {
  const int64_t k = a.L->k;
  const W* wr[R];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) wr[r] = static_cast<const W*>(a.w->data) + (a.w->row0 + a.n + r) * k;
  __m512 acc[R][T];
  zero(acc);
  // Each group is one (bf16) or two (f32) cache lines of each row.
  constexpr int64_t kLine = 64 / sizeof(W);
  int64_t j = 0;
  for (; j + 32 <= k; j += 32) {
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      for (int64_t q = 0; q < 32; q += kLine)
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + j + q + R * k), _MM_HINT_T0);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      __m512 wa, wb;
      dec_group(wr[r] + j, wa, wb);
      fma_group<T>(a, j, wa, wb, true, acc[r]);
    }
  }
  if (j < k) {
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      __m512 wa, wb;
      dec_tail(wr[r] + j, k - j, wa, wb);
      fma_group<T>(a, j, wa, wb, k - j > 16, acc[r]);
    }
  }
  store<R, T>(a, acc);
}

template <int R, int T>
TACHYON_AVX512 void tile_fp8(const Tile& a) {
  const Layout& L = *a.L;
  const int64_t k = L.k, B = L.B;
  const uint8_t* wr[R];
  const uint8_t* sr[R];
  const int64_t row0 = a.w->row0 + a.n, tile_row = row0 / B;  // one division per tile
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    wr[r] = static_cast<const uint8_t*>(a.w->data) + (row0 + r) * k;
    sr[r] = a.w->scale + (tile_row + (row0 % B + r) / B) * L.nblk;
  }
  __m512i seen = _mm512_setzero_si512();
  __m512 acc[R][T];
  zero(acc);
  for (int64_t blk = 0; blk < L.nblk; ++blk) {
    const int64_t b1 = L.end(blk);
    int64_t j = L.begin(blk), p = L.pos(blk);
    __m512 part[R][T];
    zero(part);
    for (; j + 64 <= b1; j += 64, p += 64) {
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + j + R * k), _MM_HINT_T0);
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        __m512 v[4];
        dec_pair_fp8(wr[r] + j, v, seen);
        fma_group<T>(a, p, v[0], v[1], true, part[r]);
        fma_group<T>(a, p + 32, v[2], v[3], true, part[r]);
      }
    }
    if (j + 32 <= b1) {
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        __m512 wa, wb;
        dec_group_fp8(wr[r] + j, wa, wb, seen);
        fma_group<T>(a, p, wa, wb, true, part[r]);
      }
      j += 32;
      p += 32;
    }
    if (j < b1) {
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        __m512 wa, wb;
        dec_tail_fp8(wr[r] + j, b1 - j, wa, wb);
        fma_group<T>(a, p, wa, wb, b1 - j > 16, part[r]);
      }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = fp8_scale_acc(part[r][t], sr[r][blk], acc[r][t]);
  }
  store<R, T>(a, acc);
  if (fp8_nan_seen(seen)) {  // rare: find the rows with a NaN code
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      if (fp8_row_has_nan(wr[r], k))
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) a.y[t * a.w->n + r] = std::numeric_limits<float>::quiet_NaN();
  }
}

template <int R, int T>
TACHYON_AVX512 void tile_fp4(const Tile& a) {
  const int64_t k = a.L->k, G = k / 32, W = a.L->wide;
  const uint8_t* wr[R];
  const uint8_t* sr[R];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const int64_t row = a.w->row0 + a.n + r;
    wr[r] = static_cast<const uint8_t*>(a.w->data) + row * (k / 2);
    sr[r] = a.w->scale + row * G;
  }
  const __m512 lut = e2m1_table();
  const __m512i lane_block = fp4_lane_block();
  __m512 acc[R][T];
  zero(acc);
  alignas(64) float sf[R][16];  // scales of the current 16 blocks
  // Wide groups: 64 bytes of each row, eight vectors, four blocks. Up to two tokens, a row at a time
  // (its eight vectors decoded once, x from L1); more tokens, a vector at a time over every row (each x
  // vector loaded once for the R rows, fewer registers live).
  for (int64_t g = 0; g < W; ++g) {
    if ((g & 3) == 0) {
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) e8m0_load(sr[r] + 4 * g, std::min<int64_t>(16, G - 4 * g), sf[r]);
    }
    const __m512i lanes = _mm512_add_epi32(lane_block, _mm512_set1_epi32(int(4 * (g & 3))));
    const float* xg = a.xp + 128 * g;
    __m512 p0[R][T], p1[R][T];
    zero(p0);
    zero(p1);
    if constexpr (T <= 2) {
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + 64 * g + R * (k / 2)), _MM_HINT_T0);
        const __m512i d = _mm512_loadu_si512(wr[r] + 64 * g);
        #pragma GCC unroll 8
        for (int q = 0; q < 8; q += 2) {
          const __m512 w0 = dec_wide_fp4(d, q, lut), w1 = dec_wide_fp4(d, q + 1, lut);
          #pragma GCC unroll 16
          for (int t = 0; t < T; ++t) {
            p0[r][t] = _mm512_fmadd_ps(_mm512_load_ps(xg + t * k + 16 * q), w0, p0[r][t]);
            p1[r][t] = _mm512_fmadd_ps(_mm512_load_ps(xg + t * k + 16 * q + 16), w1, p1[r][t]);
          }
        }
      }
    } else {
      __m512i d[R];
      #pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + 64 * g + R * (k / 2)), _MM_HINT_T0);
        d[r] = _mm512_loadu_si512(wr[r] + 64 * g);
      }
      #pragma GCC unroll 8
      for (int q = 0; q < 8; ++q) {
        __m512 wq[R];
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) wq[r] = dec_wide_fp4(d[r], q, lut);
        #pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const __m512 xv = _mm512_load_ps(xg + t * k + 16 * q);
          #pragma GCC unroll 16
          for (int r = 0; r < R; ++r) {
            if (q & 1) p1[r][t] = _mm512_fmadd_ps(xv, wq[r], p1[r][t]);
            else p0[r][t] = _mm512_fmadd_ps(xv, wq[r], p0[r][t]);
          }
        }
      }
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 s = _mm512_permutexvar_ps(lanes, _mm512_load_ps(sf[r]));
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(_mm512_add_ps(p0[r][t], p1[r][t]), s, acc[r][t]);
    }
  }
  // The last k % 128 columns: groups of 32, one block each.
  for (int64_t blk = 4 * W; blk < G; ++blk) {
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      __m512 wa, wb;
      dec_group_fp4(wr[r] + blk * 16, lut, wa, wb);
      const __m512 s = _mm512_set1_ps(e8m0_to_f32(sr[r][blk]));
      #pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const float* xt = a.xp + t * k + blk * 32;  // FP4 rows need no padding: kp == k
        __m512 part = _mm512_fmadd_ps(_mm512_load_ps(xt), wa, _mm512_setzero_ps());
        part = _mm512_fmadd_ps(_mm512_load_ps(xt + 16), wb, part);
        acc[r][t] = _mm512_fmadd_ps(part, s, acc[r][t]);
      }
    }
  }
  store<R, T>(a, acc);
}

template <int R, int T>
TACHYON_AVX512 void tile(const Tile& a) {
  switch (a.w->fmt) {
    case WFormat::kF32: return tile_dense<R, T, float>(a);
    case WFormat::kBF16: return tile_dense<R, T, uint16_t>(a);
    case WFormat::kFP8: return tile_fp8<R, T>(a);
    case WFormat::kFP4: return tile_fp4<R, T>(a);
    case WFormat::kI8:
    case WFormat::kFP4G: return;  // never here: avx512::linear refuses it
  }
}

// Rows [n0, n1) for tokens [i, i + T): R-row tiles, then single rows for the remainder.
template <int R, int T>
TACHYON_AVX512 void rows(const float* xp, const Layout& L, int64_t i, const WeightView& w, float* y, int64_t n0,
                         int64_t n1) {
  Tile a{xp + i * L.kp, &L, &w, n0, y + i * w.n + n0};
  for (; a.n + R <= n1; a.n += R, a.y += R) tile<R, T>(a);
  for (; a.n < n1; ++a.n, ++a.y) tile<1, T>(a);
}

// Tile heights per token count (measured best on Zen 5): BF16/F32 and FP8 about sixteen accumulators
// (FP8: plus as many block sums); FP4 two block sums per output and the x vectors of a wide group.
template <int T>
TACHYON_AVX512 void token_group(const float* xp, const Layout& L, int64_t i, const WeightView& w, float* y,
                                int64_t c0, int64_t c1) {
  constexpr int R8 = T <= 2 ? 4 : 2;
  constexpr int R4 = T == 1 ? 4 : T == 3 ? 3 : 2;
  constexpr int Rd = T <= 2 ? 4 : T == 3 ? 3 : 2;
  switch (w.fmt) {
    case WFormat::kF32:
    case WFormat::kBF16: return rows<Rd, T>(xp, L, i, w, y, c0, c1);
    case WFormat::kFP8: return rows<R8, T>(xp, L, i, w, y, c0, c1);
    case WFormat::kFP4: return rows<R4, T>(xp, L, i, w, y, c0, c1);
    case WFormat::kI8:
    case WFormat::kFP4G: return;  // never here: avx512::linear refuses it
  }
}

}  // namespace

TACHYON_AVX512 void linear(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin,
                           int64_t n_end) {
  TACHYON_CHECK(w.fmt != WFormat::kI8 && w.fmt != WFormat::kFP4G, "avx512::linear: repacked weights take the integer kernels");
  if (m <= 0 || n_begin >= n_end) return;
  const Layout L = layout_of(w);
  const FloatBuf xp(m * L.kp);
  repack_x(x, m, L, xp.get());
  if (gemm_applies(m, w)) return gemm(xp.get(), m, L, w, y, n_begin, n_end);
  // Chunks of rows (a multiple of every tile height) whose weights stay in L1/L2 while every token
  // group passes over them.
  const int64_t chunk = std::max<int64_t>(24, (65536 / std::max<int64_t>(1, row_bytes(w))) / 24 * 24);
  for (int64_t c0 = n_begin; c0 < n_end; c0 += chunk) {
    const int64_t c1 = std::min(n_end, c0 + chunk);
    int64_t i = 0;
    for (; i + 8 <= m; i += 8) token_group<8>(xp.get(), L, i, w, y, c0, c1);
    switch (m - i) {
      case 7: token_group<7>(xp.get(), L, i, w, y, c0, c1); break;
      case 6: token_group<6>(xp.get(), L, i, w, y, c0, c1); break;
      case 5: token_group<5>(xp.get(), L, i, w, y, c0, c1); break;
      case 4: token_group<4>(xp.get(), L, i, w, y, c0, c1); break;
      case 3: token_group<3>(xp.get(), L, i, w, y, c0, c1); break;
      case 2: token_group<2>(xp.get(), L, i, w, y, c0, c1); break;
      case 1: token_group<1>(xp.get(), L, i, w, y, c0, c1); break;
      default: break;
    }
  }
}

}  // namespace tachyon::cpu::avx512
