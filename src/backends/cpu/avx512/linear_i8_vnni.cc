// FP4 linear over int8 activations with AVX-512 VNNI (linear_i8.h). A row is read 64 bytes (128 columns,
// four scale blocks) at a time: byte p holds columns 2p (low nibble) and 2p + 1 (high nibble). Each
// nibble is looked up as u = 12 + 2 x e2m1 in [0, 24] (vpshufb), so vpdpbusd can take the weights as its
// unsigned operand and the activations as its signed one; the activations come packed once per call in
// the same byte order (PackedI8: even columns, odd columns) with the correction -12 x (sum of q) per dword
// lane, so that each lane ends with the exact int32 dot of its eight columns. Lane l belongs to block l / 4: the
// lanes are converted to fp32 and fused-multiply-added with s(block) x 2^(e - 127) / 2 into sixteen fp32
// lanes per output, summed last in one fixed tree. Every token and row takes this same path, whatever m
// or the row range (batch invariant).
#include "backends/cpu/avx512/linear_layout.h"  // first: it silences a GCC 12 false warning
#include "backends/cpu/linear_i8.h"

#define TACHYON_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace tachyon::cpu::avx512 {

namespace {

constexpr int64_t kChunk = 128;  // columns per 64-byte read (PackedI8's chunk)

// u = 12 + 2 x e2m1(nibble), for vpshufb (the table repeats in each 128-bit lane).
TACHYON_VNNI inline __m512i fp4_u8_table() {
  return _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

// Sixteen scale codes -> 2^(code - 127) / 2 as floats (code 0: 2^-128, code 255: NaN, as e8m0_to_f32 / 2).
TACHYON_VNNI inline __m512 half_scales(__m128i codes) { return _mm512_mul_ps(e8m0x16(codes), _mm512_set1_ps(0.5f)); }

// Outputs of R consecutive rows (from `row`, each k / 2 bytes, scales from `sc`, k / 32 each) for tokens
// i0 .. i0 + T, into y[u * ldy + r]. A chunk of each row is decoded once for the T tokens, and each token's
// packed chunk is loaded once for the R rows; the R x T accumulators stay in registers.
template <int R, int T>
TACHYON_VNNI void tile(const uint8_t* row, const uint8_t* sc, int64_t k, const PackedI8& px, int64_t i0, float* y,
                       int64_t ldy) {
  const int64_t nb = k / kI8Block, chunks = px.chunks, rb = k / 2;
  const __m512i lut = fp4_u8_table(), nib = _mm512_set1_epi8(0x0F);
  const __m512i lane_block = _mm512_srli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 2);
  __m512 acc[R][T];
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) acc[r][u] = _mm512_setzero_ps();
  __m512 sw[R];  // half scales of chunks 4g .. 4g + 3, per row
  for (int64_t c = 0; c < chunks; ++c) {
    if (c % 4 == 0) {  // the next sixteen scale codes of each row (fewer at the end: the rest read as 0)
      const int64_t left = nb - 4 * c;
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const uint8_t* p = sc + r * nb + 4 * c;
        sw[r] = half_scales(left >= 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))
                                       : _mm_maskz_loadu_epi8(__mmask16((1u << left) - 1), p));
      }
    }
    // Lane l of this chunk takes scale 4 (c % 4) + l / 4 of the sixteen.
    const __m512i pick = _mm512_add_epi32(lane_block, _mm512_set1_epi32(int(4 * (c % 4))));
    const int64_t bytes = std::min<int64_t>(64, (k - c * kChunk) / 2);
    __m512i wlo[R], whi[R];
    __m512 swc[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = row + r * rb + 64 * c;
      const __m512i w = bytes == 64 ? _mm512_loadu_si512(p)
                                    : _mm512_maskz_loadu_epi8(__mmask64(~uint64_t(0) >> (64 - bytes)), p);
      wlo[r] = _mm512_shuffle_epi8(lut, _mm512_and_si512(w, nib));
      whi[r] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(w, 4), nib));
      swc[r] = _mm512_permutexvar_ps(pick, sw[r]);
    }
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) {
      const int64_t o = (i0 + u) * chunks + c;
      const __m512i corr = _mm512_loadu_si512(px.corr.data() + o * 16);
      const __m512i lo = _mm512_loadu_si512(px.lo.data() + o * 64), hi = _mm512_loadu_si512(px.hi.data() + o * 64);
      const __m512 xs = _mm512_loadu_ps(px.scale.data() + o * 16);
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        __m512i d = _mm512_dpbusd_epi32(corr, wlo[r], lo);
        d = _mm512_dpbusd_epi32(d, whi[r], hi);
        acc[r][u] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(xs, swc[r]), acc[r][u]);
      }
    }
  }
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) y[u * ldy + r] = hsum16(acc[r][u]);
}

using TileFn = void (*)(const uint8_t*, const uint8_t*, int64_t, const PackedI8&, int64_t, float*, int64_t);
// [rows: 4, 1][tokens 1..4]: four rows per tile where they fit, single rows for the rest.
constexpr TileFn kTiles[2][4] = {{tile<4, 1>, tile<4, 2>, tile<4, 3>, tile<4, 4>},
                                 {tile<1, 1>, tile<1, 2>, tile<1, 3>, tile<1, 4>}};
constexpr int kMaxTokens = 4;

}  // namespace

TACHYON_VNNI void linear_i8_fp4(const PackedI8& px, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  const int64_t k = w.k, nb = k / kI8Block, m = px.m, rb = k / 2;
  const auto* codes = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n_begin; n < n_end;) {
    const int R = n + 4 <= n_end ? 4 : 1;
    const uint8_t* row = codes + (w.row0 + n) * rb;
    const uint8_t* sc = w.scale + (w.row0 + n) * nb;
    if (n + R < n_end)  // the next tile's lines, ahead of the hardware prefetcher
      for (int64_t b = 0; b < R * rb; b += 64) _mm_prefetch(reinterpret_cast<const char*>(row + R * rb + b), _MM_HINT_T0);
    for (int64_t i0 = 0; i0 < m; i0 += kMaxTokens)
      kTiles[R == 4 ? 0 : 1][std::min<int64_t>(kMaxTokens, m - i0) - 1](row, sc, k, px, i0, y + i0 * w.n + n, w.n);
    n += R;
  }
}

}  // namespace tachyon::cpu::avx512

namespace tachyon::cpu::avx512 {

// ref::quantize_i8, bit-exact: the same max, the same two divisions, the same product and rounding
// (vcvtps2dq rounds to nearest even, as nearbyint does in the default mode).
TACHYON_VNNI void quantize_i8(const float* x, int64_t m, int64_t k, int8_t* q, float* s) {
  const int64_t kp = i8_padded(k), nb = kp / kI8Block;
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * k;
    int8_t* qi = q + i * kp;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t j0 = b * kI8Block, left = std::min<int64_t>(kI8Block, k - j0);
      const __mmask16 m0 = __mmask16(left >= 16 ? 0xffff : (1u << left) - 1);
      const __mmask16 m1 = __mmask16(left >= 32 ? 0xffff : left > 16 ? (1u << (left - 16)) - 1 : 0);
      const __m512 a = _mm512_maskz_loadu_ps(m0, xi + j0), c = _mm512_maskz_loadu_ps(m1, xi + j0 + 16);
      // Non-finite values: exponent all ones.
      const __m512i expo = _mm512_set1_epi32(0x7f800000);
      const bool bad = (_mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(a), expo), expo) & m0) ||
                       (_mm512_cmpeq_epi32_mask(_mm512_and_si512(_mm512_castps_si512(c), expo), expo) & m1);
      if (bad) {  // the reference's NaN-scale path
        ref::quantize_i8(xi + j0, 1, left, qi + j0, s + i * nb + b);
        continue;
      }
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(c)));
      s[i * nb + b] = amax / 127.0f;
      const __m512 inv = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
      const __m512 lim = _mm512_set1_ps(127.0f), nlim = _mm512_set1_ps(-127.0f);
      const __m512i qa = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(a, inv), nlim), lim));
      const __m512i qc = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(c, inv), nlim), lim));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qi + j0), _mm512_cvtepi32_epi8(qa));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qi + j0 + 16), _mm512_cvtepi32_epi8(qc));
    }
  }
}

}  // namespace tachyon::cpu::avx512
