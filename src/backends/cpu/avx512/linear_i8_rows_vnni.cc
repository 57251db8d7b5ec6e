// Int8-row and grouped FP4 linears (WFormat::kI8, kFP4G) over int8 activations with AVX-512 VNNI
// (linear_i8.h). A row is read in groups of 16 blocks (512 columns): eight 64-byte steps, each holding
// four columns of every block, so that dword lane l of vpdpbusd gathers block l's whole dot product over
// the eight. Int8 rows give a step per load; an FP4 load gives two (its low and high nibbles, looked up
// as u = 12 + 2 x e2m1 in [0, 24] with vpshufb). The weight bytes are unsigned (q + 128, or u), so
// vpdpbusd takes them as its unsigned operand and the activations as its signed one; each lane starts at
// -128 (or -12) x the sum of its block's activation q (PackedI8Rows holds the -128 one), so that it ends
// with the exact int32 dot of the block. Then one conversion and one fused multiply-add per group and
// output add s(block) x 2^(e - 127) (halved for FP4) times it to sixteen fp32 lanes, summed last in one
// fixed tree. Every token and row takes this same path, whatever m or the row range (batch invariant).
#include "backends/cpu/avx512/linear_layout.h"  // first: it silences a GCC 12 false warning
#include "backends/cpu/linear_i8.h"

#define TACHYON_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace tachyon::cpu::avx512 {

namespace {

// u = 12 + 2 x e2m1(nibble), for vpshufb (the table repeats in each 128-bit lane).
TACHYON_VNNI inline __m512i fp4_u8_table() {
  return _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

TACHYON_VNNI inline __m512i load_step(const void* p, bool full, __mmask64 bytes) {
  return full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(bytes, p);
}

// d[r][u] += the dot products of one group: eight activation steps of `step` bytes (64 in a full group,
// whose loads then need no mask) from each token's group start, against eight int8 steps or four FP4
// loads from each row's.
template <int R, int T, bool kFull, bool kFp4>
TACHYON_VNNI inline void group_dots(const uint8_t* const (&wp)[R], const int8_t* const (&xp)[T], int64_t step,
                                    __mmask64 bytes, __m512i (&d)[R][T]) {
  const __m512i lut = fp4_u8_table(), nib = _mm512_set1_epi8(0x0F);
  #pragma GCC unroll 8
  for (int s = 0; s < (kFp4 ? 4 : 8); ++s) {
    __m512i w[R], w2[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m512i v = load_step(wp[r] + (kFull ? 64 : step) * s, kFull, bytes);
      if (kFp4) {
        w[r] = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, nib));
        w2[r] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), nib));
      } else {
        w[r] = v;
      }
    }
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) {
      const int64_t at = (kFull ? 64 : step) * (kFp4 ? 2 * s : s);
      const __m512i x = load_step(xp[u] + at, kFull, bytes);
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) d[r][u] = _mm512_dpbusd_epi32(d[r][u], w[r], x);
      if (kFp4) {
        const __m512i x2 = load_step(xp[u] + at + (kFull ? 64 : step), kFull, bytes);
        #pragma GCC unroll 4
        for (int r = 0; r < R; ++r) d[r][u] = _mm512_dpbusd_epi32(d[r][u], w2[r], x2);
      }
    }
  }
}

// Outputs of R consecutive rows (from `row`, kp bytes each, scales from `sc`, kp / 32 each) for tokens
// i0 .. i0 + T, into y[u * ldy + r]. Each weight load serves the T tokens and each activation load the
// R rows; the R x T integer sums of a group stay in registers, and the fp32 sums (touched once per
// group) in an L1-resident array, so that a 4 x 4 tile does not spill.
template <int R, int T, bool kFp4>
TACHYON_VNNI void tile(const uint8_t* row, const uint8_t* sc, int64_t kp, const PackedI8Rows& px, int64_t i0,
                       float* y, int64_t ldy) {
  const int64_t nb = kp / kI8Block, groups = px.groups, rb = kFp4 ? kp / 2 : kp;  // rb: bytes per row
  alignas(64) float acc[R][T][16] = {};
  for (int64_t G = 0; G < groups; ++G) {
    const int64_t g = std::min<int64_t>(16, nb - 16 * G), step = 4 * g;  // blocks here, bytes per load
    const __mmask64 bytes = __mmask64(~uint64_t(0) >> (64 - step));
    const __mmask16 lanes = __mmask16((1u << g) - 1);
    __m512i d[R][T];
    #pragma GCC unroll 4
    for (int u = 0; u < T; ++u) {
      __m512i corr = _mm512_loadu_si512(px.corr.data() + ((i0 + u) * groups + G) * 16);
      if (kFp4) corr = _mm512_mullo_epi32(_mm512_srai_epi32(corr, 5), _mm512_set1_epi32(3));  // -12 x sum q, exactly
      #pragma GCC unroll 4
      for (int r = 0; r < R; ++r) d[r][u] = corr;
    }
    const int64_t base = G * kI8Group;
    const uint8_t* wp[R];
    const int8_t* xp[T];
    for (int r = 0; r < R; ++r) wp[r] = row + r * rb + (kFp4 ? base / 2 : base);
    for (int u = 0; u < T; ++u) xp[u] = px.q.data() + (i0 + u) * kp + base;
    if (g == 16) group_dots<R, T, true, kFp4>(wp, xp, step, bytes, d);
    else group_dots<R, T, false, kFp4>(wp, xp, step, bytes, d);
    __m512 sw[R];
    #pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      sw[r] = e8m0x16(_mm_maskz_loadu_epi8(lanes, sc + r * nb + 16 * G));
      if (kFp4) sw[r] = _mm512_mul_ps(sw[r], _mm512_set1_ps(0.5f));  // u is 2 x e2m1
    }
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
// [format: i8, fp4][rows: 4, 1][tokens 1..4]: four rows per tile where they fit, single rows for the rest.
constexpr TileFn kTiles[2][2][4] = {
    {{tile<4, 1, false>, tile<4, 2, false>, tile<4, 3, false>, tile<4, 4, false>},
     {tile<1, 1, false>, tile<1, 2, false>, tile<1, 3, false>, tile<1, 4, false>}},
    {{tile<4, 1, true>, tile<4, 2, true>, tile<4, 3, true>, tile<4, 4, true>},
     {tile<1, 1, true>, tile<1, 2, true>, tile<1, 3, true>, tile<1, 4, true>}}};
constexpr int kMaxTokens = 4;

TACHYON_VNNI void run(const PackedI8Rows& px, const WeightView& w, float* y, int64_t n_begin, int64_t n_end, bool fp4) {
  const int64_t kp = i8_padded(w.k), nb = kp / kI8Block, m = px.m, rb = fp4 ? kp / 2 : kp;
  const auto* codes = static_cast<const uint8_t*>(w.data);
  for (int64_t n = n_begin; n < n_end;) {
    const int R = n + 4 <= n_end ? 4 : 1;
    const uint8_t* row = codes + (w.row0 + n) * rb;
    const uint8_t* sc = w.scale + (w.row0 + n) * nb;
    if (n + R < n_end)  // the next tile's lines, ahead of the hardware prefetcher
      for (int64_t b = 0; b < R * rb; b += 64) _mm_prefetch(reinterpret_cast<const char*>(row + R * rb + b), _MM_HINT_T0);
    for (int64_t i0 = 0; i0 < m; i0 += kMaxTokens)
      kTiles[fp4][R == 4 ? 0 : 1][std::min<int64_t>(kMaxTokens, m - i0) - 1](row, sc, kp, px, i0, y + i0 * w.n + n, w.n);
    n += R;
  }
}

}  // namespace

TACHYON_VNNI void linear_i8_i8(const PackedI8Rows& px, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  run(px, w, y, n_begin, n_end, false);
}

TACHYON_VNNI void linear_i8_fp4g(const PackedI8Rows& px, const WeightView& w, float* y, int64_t n_begin,
                                 int64_t n_end) {
  run(px, w, y, n_begin, n_end, true);
}

}  // namespace tachyon::cpu::avx512
