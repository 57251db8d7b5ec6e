// AVX2 kernels over cached attention entries: the Lightning-indexer scores over fp32 keys or over the
// compact cache's FP4 keys (decoded in registers, never written out as a float copy), and the decode of
// FP8 codes with E8M0 block scales. Chosen at run time by ops/ (fast::available()); each is bit-exact
// with its ref:: twin.
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
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

// The dot products of heads h .. h+NH-1 (q [heads, d]) with the eight keys of kt [d, 8]. Each lane does
// exactly ref::'s scalar sequence, the dimensions in order: the products go through an empty asm so that
// the compiler cannot fuse them with the adds (ref:: rounds both). The NH heads are independent chains.
template <int NH>
TACHYON_AVX2 inline void float_dots(const float* q, int64_t h, int64_t d, const float* kt, __m256 (&dot)[NH]) {
  for (auto& v : dot) v = _mm256_setzero_ps();
  for (int64_t e = 0; e < d; ++e) {
    const __m256 kv = _mm256_loadu_ps(kt + e * 8);
    for (int i = 0; i < NH; ++i)
      dot[i] = _mm256_add_ps(dot[i], unfused_mul(_mm256_broadcast_ss(q + (h + i) * d + e), kv));
  }
}

// s + max(0, dot[i]) * w[i] for i in order; max(zero, dot) returns dot when it is NaN, as
// std::max(dot, 0.0f) does.
TACHYON_AVX2 inline __m256 add_terms(__m256 s, const __m256* dot, const float* w, int nh) {
  for (int i = 0; i < nh; ++i)
    s = _mm256_add_ps(s, unfused_mul(_mm256_max_ps(_mm256_setzero_ps(), dot[i]), _mm256_broadcast_ss(w + i)));
  return s;
}

// s + the terms of heads h .. h+NH-1 in head order, for the eight keys of kt [d, 8].
template <int NH>
TACHYON_AVX2 inline __m256 indexer_heads(const float* q, int64_t h, int64_t d, const float* w, const float* kt,
                                         __m256 s) {
  __m256 dot[NH];
  float_dots<NH>(q, h, d, kt, dot);
  return add_terms(s, dot, w + h, NH);
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

// Compact FP4 keys as rows of floats: row(j, buf) decodes key j into buf.
struct Fp4Rows {
  const uint8_t* const* keys;
  int64_t d;
  TACHYON_AVX2 const float* operator()(int64_t j, float* buf) const {
    decode_fp4_key(keys[j], d, buf);
    return buf;
  }
};

// kt [d, 8] <- keys j0 .. j0+nk-1 (nk <= 8) as columns, zeros past nk. row(j, buf) gives key j's d
// floats, decoding into buf if it must; buf [9, d] takes up to eight such rows, and its last row must
// hold zeros.
template <typename RowFn>
TACHYON_AVX2 void gather_keys(int64_t j0, int64_t nk, int64_t d, RowFn row, float* buf, float* kt) {
  const float* r[8];
  for (int64_t l = 0; l < 8; ++l) r[l] = l < nk ? row(j0 + l, buf + l * d) : buf + 8 * d;
  transpose_keys(r, d, kt);
}

// Scores of keys [j_begin, j_end), eight at a time (row as for gather_keys).
template <typename RowFn>
TACHYON_AVX2 void scores_by_eight(const float* q, int64_t n_heads, int64_t d, const float* w, float* out,
                                  int64_t j_begin, int64_t j_end, RowFn row) {
  std::vector<float> kt(static_cast<size_t>(d * 8));   // [d, 8] the group's keys, transposed
  std::vector<float> buf(static_cast<size_t>(d * 9));  // [8, d] decoded keys, then [d] zeros
  for (int64_t j0 = j_begin; j0 < j_end; j0 += 8) {
    const int64_t nk = std::min<int64_t>(8, j_end - j0);
    gather_keys(j0, nk, d, row, buf.data(), kt.data());
    __m256 s = _mm256_setzero_ps();
    int64_t h = 0;
    for (; h + 8 <= n_heads; h += 8) s = indexer_heads<8>(q, h, d, w, kt.data(), s);
    for (; h < n_heads; ++h) s = indexer_heads<1>(q, h, d, w, kt.data(), s);
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

// ---- FP4 keys against an FP4-valued query in integers --------------------------------------------
// Under the official numerics the indexer query and keys are FP4 values with power-of-two scales per 32
// dims, so every product q_e * k_e is exact and, within a block of 32, a small integer times one power
// of two 2^U_b. ref:: adds the products one by one in fp32. When no partial sum needs more than 24 bits
// (the blocks' U_b lie close enough together and stay inside the normal range) that sum is exact, and
// so is the integer path: exact block sums I_b (vpmaddubsw), each times 2^U_b, added block by block.
// Both then give the exact value, bit for bit. Heads for which a group of keys fails that test take
// the float path for that group.
namespace {

constexpr int kNoExp = 1 << 20;  // a block of zeros: its terms add nothing and its scale does not matter

// 2^e as a float for e in [-149, 127].
inline float exp2i(int e) {
  return e >= -126 ? std::bit_cast<float>(uint32_t(e + 127) << 23) : std::bit_cast<float>(uint32_t(1) << (e + 149));
}

// The query as integers: q[h, e] = qi[h, e] * 2^qe[h, b] with |qi| <= 15, for heads where that holds.
struct IntQuery {
  int64_t heads = 0, d = 0, nb = 0;
  std::vector<int8_t> qi;        // [heads, d]
  std::vector<int32_t> qsum12;   // [heads, nb] 12 * sum of the block's qi (the key offset below)
  std::vector<float> qscale;     // [heads, nb] 2^qe
  std::vector<uint8_t> ok;       // [heads]
  std::vector<int> emin, emax;   // [heads] over blocks with a nonzero value (kNoExp / -kNoExp if none)
};

// One block of 32 query values into integers times 2^qe; false if they are not such integers.
TACHYON_AVX2 inline bool int_block(const float* v, int8_t* qi, int32_t* sum, int* qe, bool* zero) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 x[4];
  __m256 m = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    x[i] = _mm256_loadu_ps(v + 8 * i);
    m = _mm256_max_ps(m, _mm256_and_ps(x[i], abs_mask));  // may drop a NaN lane: hence the test below
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(x[i], x[i], _CMP_UNORD_Q));
  }
  if (_mm256_movemask_ps(nan) != 0) return false;
  const float amax = hmax(m);
  *zero = amax == 0.0f;
  if (*zero || !std::isfinite(amax)) {
    std::memset(qi, 0, 32);
    *sum = 0;
    return *zero;
  }
  *qe = std::ilogb(amax) - 3;  // amax / 2^qe in [8, 16)
  if (*qe < -100 || *qe > 100) return false;
  const __m256 inv = _mm256_set1_ps(exp2i(-*qe)), lim = _mm256_set1_ps(15.0f);
  __m256i r[4];
  __m256 good = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (int i = 0; i < 4; ++i) {
    const __m256 y = _mm256_mul_ps(x[i], inv);  // a power-of-two scaling: exact unless it underflows
    r[i] = _mm256_cvttps_epi32(y);
    good = _mm256_and_ps(good, _mm256_cmp_ps(_mm256_cvtepi32_ps(r[i]), y, _CMP_EQ_OQ));  // NaN fails too
    good = _mm256_and_ps(good, _mm256_cmp_ps(_mm256_and_ps(y, abs_mask), lim, _CMP_LE_OQ));
    // A value that underflowed all the way to zero is not zero: fail the block.
    const __m256 zero = _mm256_setzero_ps();
    const __m256 kept = _mm256_or_ps(_mm256_cmp_ps(y, zero, _CMP_NEQ_OQ), _mm256_cmp_ps(x[i], zero, _CMP_EQ_OQ));
    good = _mm256_and_ps(good, kept);
  }
  if (_mm256_movemask_ps(good) != 0xff) return false;
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(r[0], r[1]), _mm256_add_epi32(r[2], r[3]));
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
  *sum = _mm_cvtsi128_si32(t);
  // Narrow to bytes; the packs interleave 32-bit groups, which the permute puts back in order.
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qi),
                      _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  return true;
}

TACHYON_AVX2 IntQuery int_query(const float* q, int64_t heads, int64_t d) {
  IntQuery iq;
  iq.heads = heads, iq.d = d, iq.nb = d / 32;
  iq.qi.assign(size_t(heads * d), 0);
  iq.qsum12.assign(size_t(heads * iq.nb), 0);
  iq.qscale.assign(size_t(heads * iq.nb), 1.0f);
  iq.ok.assign(size_t(heads), 1);
  iq.emin.assign(size_t(heads), kNoExp);
  iq.emax.assign(size_t(heads), -kNoExp);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t b = 0; b < iq.nb; ++b) {
      int32_t sum = 0;
      int qe = 0;
      bool zero = false;
      if (!int_block(q + h * d + b * 32, &iq.qi[size_t(h * d + b * 32)], &sum, &qe, &zero)) {
        iq.ok[size_t(h)] = 0;
        break;
      }
      if (zero) continue;
      iq.qsum12[size_t(h * iq.nb + b)] = 12 * sum;
      iq.qscale[size_t(h * iq.nb + b)] = exp2i(qe);
      iq.emin[size_t(h)] = std::min(iq.emin[size_t(h)], qe);
      iq.emax[size_t(h)] = std::max(iq.emax[size_t(h)], qe);
    }
  }
  return iq;
}

// Eight keys as 12 + 2 * e2m1 (0..24) bytes, transposed so that dword lane l of row g holds key l's dims
// 4g..4g+3, plus each block's 2^(scale - 128) per key lane and the exponent range over nonzero blocks.
struct IntKeys {
  std::vector<uint8_t> rows;     // [8, d] then transposed
  std::vector<uint8_t> kt;       // [d / 4, 8, 4]
  std::vector<float> kscale;     // [nb, 8] (0 for blocks of zeros)
  int emin = kNoExp, emax = -kNoExp;
  bool nan_scale = false;        // a scale code 255 (NaN): the float path gives the NaN ref:: gives
};

TACHYON_AVX2 void int_keys(const uint8_t* const* keys, int64_t nk, int64_t d, IntKeys& ik) {
  const int64_t nb = d / 32;
  ik.rows.assign(size_t(8 * d), 12);  // missing keys: all zeros
  ik.kt.resize(size_t(8 * d));
  ik.kscale.assign(size_t(nb * 8), 0.0f);
  ik.emin = kNoExp, ik.emax = -kNoExp;
  ik.nan_scale = false;
  const __m128i lut = _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
  const __m128i low4 = _mm_set1_epi8(0x0F), mag = _mm_set1_epi8(0x77);
  for (int64_t l = 0; l < nk; ++l) {
    const uint8_t* scales = keys[l] + d / 2;
    for (int64_t b = 0; b < nb; ++b) {
      const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(keys[l] + b * 16));
      const __m128i lo = _mm_shuffle_epi8(lut, _mm_and_si128(c, low4));
      const __m128i hi = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(c, 4), low4));
      uint8_t* out = &ik.rows[size_t(l * d + b * 32)];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi8(lo, hi));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_unpackhi_epi8(lo, hi));
      const int ke = int(scales[b]) - 128;        // key = (2 * e2m1) * 2^ke
      ik.nan_scale |= scales[b] == 255;
      if (!_mm_testz_si128(c, mag)) {
        ik.kscale[size_t(b * 8 + l)] = exp2i(ke);
        ik.emin = std::min(ik.emin, ke);
        ik.emax = std::max(ik.emax, ke);
      }  // else a block of zeros: scale 0, so that a huge scale code cannot make 0 * inf below
    }
  }
  const float* r[8];
  for (int l = 0; l < 8; ++l) r[l] = reinterpret_cast<const float*>(&ik.rows[size_t(l * d)]);
  transpose_keys(r, d / 4, reinterpret_cast<float*>(ik.kt.data()));  // dwords moved as they are
}

// Whether every partial sum of head h's products with these keys is exact in fp32 (see above). Keys
// are below 12 * 2^ke and must be finite, as ref:: decodes them before it multiplies (even by zero).
// Products are integers below 180 times 2^U with U >= Umin = qmin + kmin; every partial sum is a multiple
// of 2^Umin below nb * 5760 * 2^Umax, which must stay under 2^24 * 2^Umin.
inline bool int_exact(const IntQuery& iq, int64_t h, const IntKeys& ik) {
  if (!iq.ok[size_t(h)] || ik.nan_scale || ik.emax > 124) return false;
  const int qmin = iq.emin[size_t(h)], qmax = iq.emax[size_t(h)];
  if (qmin == kNoExp || ik.emin == kNoExp) return true;  // every product is zero
  const int spread = (qmax - qmin) + (ik.emax - ik.emin);
  return spread <= 24 && (iq.nb * 5760 << spread) < (int64_t(1) << 24) && qmin + ik.emin >= -140 &&
         qmax + ik.emax <= 100;
}

// The eight keys' dot products with heads h .. h+NH-1, block by block in integers; the heads share every
// load of the keys.
template <int NH>
TACHYON_AVX2 inline void int_dots(const IntQuery& iq, int64_t h, const IntKeys& ik, __m256 (&dot)[NH]) {
  const int64_t d = iq.d, nb = iq.nb;
  const __m256i ones = _mm256_set1_epi16(1);
  for (auto& v : dot) v = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i acc[NH];
    for (auto& v : acc) v = _mm256_setzero_si256();
    for (int g = 0; g < 8; ++g) {
      const int64_t e = b * 32 + g * 4;
      const __m256i kv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&ik.kt[size_t(e * 8)]));
      for (int i = 0; i < NH; ++i) {
        int32_t q4;
        std::memcpy(&q4, &iq.qi[size_t((h + i) * d + e)], 4);
        acc[i] = _mm256_add_epi16(acc[i], _mm256_maddubs_epi16(kv, _mm256_set1_epi32(q4)));  // |lane| <= 8 * 720
      }
    }
    const __m256 ks = _mm256_loadu_ps(&ik.kscale[size_t(b * 8)]);
    for (int i = 0; i < NH; ++i) {
      __m256i sum = _mm256_madd_epi16(acc[i], ones);  // key l: sum over the block of (k + 12) * q
      sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(iq.qsum12[size_t((h + i) * nb + b)]));
      const __m256 scale = _mm256_mul_ps(ks, _mm256_set1_ps(iq.qscale[size_t((h + i) * nb + b)]));
      dot[i] = _mm256_add_ps(dot[i], _mm256_mul_ps(_mm256_cvtepi32_ps(sum), scale));
    }
  }
}

TACHYON_AVX2 void scores_int(const IntQuery& iq, const float* q, const float* w, const uint8_t* const* keys,
                             float* out, int64_t j_begin, int64_t j_end) {
  const int64_t d = iq.d, H = iq.heads;
  IntKeys ik;
  std::vector<float> kt(static_cast<size_t>(d * 8));   // [d, 8] float keys, only for heads that need them
  std::vector<float> buf(static_cast<size_t>(d * 9));  // [8, d] decoded keys, then [d] zeros
  std::vector<uint8_t> exact(static_cast<size_t>(H));
  for (int64_t j0 = j_begin; j0 < j_end; j0 += 8) {
    const int64_t nk = std::min<int64_t>(8, j_end - j0);
    int_keys(keys + j0, nk, d, ik);
    bool have_float = false;
    auto float_keys = [&] {
      if (!have_float) gather_keys(j0, nk, d, Fp4Rows{keys, d}, buf.data(), kt.data());
      have_float = true;
    };
    for (int64_t h = 0; h < H; ++h) exact[size_t(h)] = int_exact(iq, h, ik);
    __m256 s = _mm256_setzero_ps();
    int64_t h = 0;
    for (; h + 4 <= H; h += 4) {
      const int n_int = exact[size_t(h)] + exact[size_t(h + 1)] + exact[size_t(h + 2)] + exact[size_t(h + 3)];
      __m256 dot[4];
      if (n_int == 4) {
        int_dots<4>(iq, h, ik, dot);
      } else if (n_int == 0) {
        float_keys();
        float_dots<4>(q, h, d, kt.data(), dot);
      } else {
        float_keys();
        for (int i = 0; i < 4; ++i) {
          __m256 one[1];
          if (exact[size_t(h + i)]) int_dots<1>(iq, h + i, ik, one);
          else float_dots<1>(q, h + i, d, kt.data(), one);
          dot[i] = one[0];
        }
      }
      s = add_terms(s, dot, w + h, 4);
    }
    for (; h < H; ++h) {
      __m256 one[1];
      if (exact[size_t(h)]) {
        int_dots<1>(iq, h, ik, one);
      } else {
        float_keys();
        float_dots<1>(q, h, d, kt.data(), one);
      }
      s = add_terms(s, one, w + h, 1);
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, s);
    std::copy(lanes, lanes + nk, out + j0);
  }
}

}  // namespace

TACHYON_AVX2 void indexer_scores_fp4(const float* q, int64_t n_heads, int64_t d, const float* w,
                                     const uint8_t* const* keys, float* out, int64_t j_begin, int64_t j_end) {
  // The integer path pays once its query preparation is spread over enough keys.
  if (j_end - j_begin >= 32) {
    const IntQuery iq = int_query(q, n_heads, d);
    if (std::find(iq.ok.begin(), iq.ok.end(), uint8_t(1)) != iq.ok.end())
      return scores_int(iq, q, w, keys, out, j_begin, j_end);
  }
  scores_by_eight(q, n_heads, d, w, out, j_begin, j_end, Fp4Rows{keys, d});
}

// Codes as value * 2^-8 (dec16_fp8 / dec8), brought back by the scale times 2^8 when that is a finite
// float, else by 2^8 first: either way one rounding of the exact product, the bits ref:: gives. The NaN
// codes give a NaN (not ref::'s payload; the cache never stores them).
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
