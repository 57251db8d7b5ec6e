// Int8-row linear (WFormat::kI8) over int8 activations with AVX-512 VNNI (linear_i8.h). A row is read in
// groups of 16 blocks (512 columns): eight 64-byte loads, each holding four columns of every block, so
// that dword lane l of vpdpbusd gathers block l's whole dot product over the eight. The weight bytes
// are q + 128, so vpdpbusd takes them as its unsigned operand and the activations as its signed one;
// PackedI8Rows starts each lane at -128 x (the sum of its block's activation q), so that it ends with
// the exact int32 dot of the block. Then one conversion and one fused multiply-add per group and output
// add s(block) x 2^(e - 127) times it to sixteen fp32 lanes, summed last in one fixed tree. Every token
// and row takes this same path, whatever m or the row range (batch invariant).
#include "backends/cpu/avx512/linear_layout.h"  // first: it silences a GCC 12 false warning
#include "backends/cpu/linear_i8.h"

#define TACHYON_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace tachyon::cpu::avx512 {

namespace {

// d[r][u] += the dot products of one group: eight steps of `step` bytes (64 in a full group, whose
// loads then need no mask) from each row's and each token's group start.
template <int R, int T, bool kFull>
TACHYON_VNNI inline void group_dots(const uint8_t* const (&wp)[R], const int8_t* const (&xp)[T], int64_t step,
                                    __mmask64 bytes, __m512i (&d)[R][T]) {
  #pragma GCC unroll 8
  for (int s = 0; s < 8; ++s) {
    __m512i w[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r)
      w[r] = kFull ? _mm512_loadu_si512(wp[r] + 64 * s) : _mm512_maskz_loadu_epi8(bytes, wp[r] + s * step);
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) {
      const __m512i x = kFull ? _mm512_loadu_si512(xp[u] + 64 * s) : _mm512_maskz_loadu_epi8(bytes, xp[u] + s * step);
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) d[r][u] = _mm512_dpbusd_epi32(d[r][u], w[r], x);
    }
  }
}

// Outputs of R consecutive rows (from `row`, kp bytes each, scales from `sc`, kp / 32 each) for tokens
// i0 .. i0 + T, into y[u * ldy + r]. Each weight load serves the T tokens and each activation load the
// R rows; the R x T integer sums of a group stay in registers, and the fp32 sums (touched once per
// group) in an L1-resident array, so that a 4 x 4 tile does not spill.
template <int R, int T>
TACHYON_VNNI void tile(const uint8_t* row, const uint8_t* sc, int64_t kp, const PackedI8Rows& px, int64_t i0,
                       float* y, int64_t ldy) {
  const int64_t nb = kp / kI8Block, groups = px.groups;
  alignas(64) float acc[R][T][16] = {};
  for (int64_t G = 0; G < groups; ++G) {
    const int64_t g = std::min<int64_t>(16, nb - 16 * G), step = 4 * g;  // blocks here, bytes per load
    const __mmask64 bytes = __mmask64(~uint64_t(0) >> (64 - step));
    const __mmask16 lanes = __mmask16((1u << g) - 1);
    __m512i d[R][T];
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) {
      const __m512i corr = _mm512_loadu_si512(px.corr.data() + ((i0 + u) * groups + G) * 16);
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) d[r][u] = corr;
    }
    const int64_t base = G * kI8Group;
    const uint8_t* wp[R];
    const int8_t* xp[T];
    for (int r = 0; r < R; ++r) wp[r] = row + r * kp + base;
    for (int u = 0; u < T; ++u) xp[u] = px.q.data() + (i0 + u) * kp + base;
    if (g == 16) group_dots<R, T, true>(wp, xp, step, bytes, d);
    else group_dots<R, T, false>(wp, xp, step, bytes, d);
    __m512 sw[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) sw[r] = e8m0x16(_mm_maskz_loadu_epi8(lanes, sc + r * nb + 16 * G));
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) {
      const __m512 xs = _mm512_loadu_ps(px.scale.data() + ((i0 + u) * groups + G) * 16);  // 0 past the row
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r)
        _mm512_store_ps(acc[r][u], _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[r][u]), _mm512_mul_ps(xs, sw[r]),
                                                   _mm512_load_ps(acc[r][u])));
    }
  }
  #pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) y[u * ldy + r] = hsum16(_mm512_load_ps(acc[r][u]));
}

using TileFn = void (*)(const uint8_t*, const uint8_t*, int64_t, const PackedI8Rows&, int64_t, float*, int64_t);
// [rows: 4, 1][tokens 1..4]: four rows per tile where they fit, single rows for the rest.
constexpr TileFn kTiles[2][4] = {{tile<4, 1>, tile<4, 2>, tile<4, 3>, tile<4, 4>},
                                 {tile<1, 1>, tile<1, 2>, tile<1, 3>, tile<1, 4>}};
constexpr int kMaxTokens = 4;

}  // namespace

TACHYON_VNNI void linear_i8_i8(const PackedI8Rows& px, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  const int64_t kp = i8_padded(w.k), nb = kp / kI8Block, m = px.m;
  const auto* codes = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n_begin; n < n_end;) {
    const int R = n + 4 <= n_end ? 4 : 1;
    const uint8_t* row = codes + (w.row0 + n) * kp;
    const uint8_t* sc = w.scale + (w.row0 + n) * nb;
    if (n + R < n_end)  // the next tile's lines, ahead of the hardware prefetcher
      for (int64_t b = 0; b < R * kp; b += 64) _mm_prefetch(reinterpret_cast<const char*>(row + R * kp + b), _MM_HINT_T0);
    for (int64_t i0 = 0; i0 < m; i0 += kMaxTokens)
      kTiles[R == 4 ? 0 : 1][std::min<int64_t>(kMaxTokens, m - i0) - 1](row, sc, kp, px, i0, y + i0 * w.n + n, w.n);
    n += R;
  }
}

}  // namespace tachyon::cpu::avx512
