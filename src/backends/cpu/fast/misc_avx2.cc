// AVX2/FMA twins of the element-wise kernels: FP8/FP4 fake quantisation, RMSNorm and attention with a
// sink. Chosen at run time by ops/ (fast::available()).
//
// The fake-quant kernels must be bit-exact with ref::: the block amax is an exact max, x/s is an IEEE
// division by the same power of two, and rounding to the e4m3 / e2m1 grid is done with the "add and
// subtract a magic power of two" trick, which rounds to the nearest multiple of the grid spacing with ties
// to even under the default rounding mode. On these grids "even multiple of the spacing" is exactly "even
// code", which is what ref:: (f32_to_e4m3 / f32_to_e2m1) implements. Tails shorter than 8 use the scalar
// formula of ref::.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/fast/avx2_util.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/sink_softmax.h"
#include "core/dtype.h"


namespace tachyon::cpu::fast {

namespace {


// Grid description for one fake-quant format.
struct Grid {
  float maxv;        // saturation value (448 or 6)
  int min_exp_bits;  // biased f32 exponent of the smallest normal grid binade (2^-6 -> 121, 2^0 -> 127)
  int mant_bits;     // mantissa bits of the format (3 or 1)
  bool nan_to_max;   // e2m1 has no NaN: ref maps NaN to +-6
};
constexpr Grid kE4M3{448.0f, 127 - 6, 3, false};
constexpr Grid kE2M1{6.0f, 127, 1, true};

// Round |q| <= maxv to the grid (RNE); sign and NaN handled as in ref::.
TACHYON_AVX2 inline __m256 round_to_grid(__m256 q, const Grid& g) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256 sign = _mm256_and_ps(q, sign_bit);
  const __m256 a = _mm256_andnot_ps(sign_bit, q);
  // Grid spacing of a's binade is 2^(max(e, emin) - mant_bits); M = spacing * 2^23 has that spacing as ulp.
  __m256i e = _mm256_srli_epi32(_mm256_castps_si256(a), 23);
  e = _mm256_max_epi32(e, _mm256_set1_epi32(g.min_exp_bits));
  const __m256 magic = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(23 - g.mant_bits)), 23));
  __m256 r = _mm256_sub_ps(_mm256_add_ps(a, magic), magic);
  if (g.nan_to_max) r = _mm256_blendv_ps(r, _mm256_set1_ps(g.maxv), _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  return _mm256_or_ps(r, sign);
}

template <typename ScalarQ>
TACHYON_AVX2 void fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block, float amax_floor,
                             float inv_max, const Grid& g, ScalarQ scalar_q) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 hi = _mm256_set1_ps(g.maxv), lo = _mm256_set1_ps(-g.maxv);
  for (int64_t i = 0; i < m; ++i) {
    float* r = x + i * stride;
    for (int64_t b0 = 0; b0 < k; b0 += block) {
      const int64_t b1 = std::min(k, b0 + block);
      // amax; max_ps(|x|, acc) returns acc when |x| is NaN, like std::max(amax, NaN) in ref::.
      __m256 mv = _mm256_set1_ps(amax_floor);
      int64_t j = b0;
      for (; j + 8 <= b1; j += 8) mv = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(r + j), abs_mask), mv);
      float amax = hmax(mv);
      for (; j < b1; ++j) amax = std::max(amax, std::fabs(r[j]));
      const float s = pow2_ceil(amax * inv_max);
      const __m256 sv = _mm256_set1_ps(s);
      j = b0;
      for (; j + 8 <= b1; j += 8) {
        __m256 q = _mm256_div_ps(_mm256_loadu_ps(r + j), sv);
        q = _mm256_max_ps(lo, _mm256_min_ps(hi, q));  // NaN stays NaN (second operand is returned)
        _mm256_storeu_ps(r + j, _mm256_mul_ps(round_to_grid(q, g), sv));
      }
      for (; j < b1; ++j) r[j] = scalar_q(std::clamp(r[j] / s, -g.maxv, g.maxv)) * s;
    }
  }
}

}  // namespace

TACHYON_AVX2 void fp8_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  fake_quant(x, m, k, stride, block, 1e-4f, 1.0f / 448.0f, kE4M3,
             [](float v) { return e4m3_to_f32(f32_to_e4m3(v)); });
}

TACHYON_AVX2 void fp4_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  fake_quant(x, m, k, stride, block, 6.0f * std::ldexp(1.0f, -126), 1.0f / 6.0f, kE2M1,
             [](float v) { return e2m1_to_f32(f32_to_e2m1(v)); });
}

TACHYON_AVX2 void rmsnorm(const float* x, const uint16_t* w, int64_t m, int64_t d, float eps, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * d;
    float* yi = y + i * d;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= d; j += 16) {
      __m256 a = _mm256_loadu_ps(xi + j), b = _mm256_loadu_ps(xi + j + 8);
      s0 = _mm256_fmadd_ps(a, a, s0);
      s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; j + 8 <= d; j += 8) {
      __m256 a = _mm256_loadu_ps(xi + j);
      s0 = _mm256_fmadd_ps(a, a, s0);
    }
    float ss = hsum(_mm256_add_ps(s0, s1));
    for (; j < d; ++j) ss += xi[j] * xi[j];
    const float r = 1.0f / std::sqrt(ss / float(d) + eps);
    const __m256 rv = _mm256_set1_ps(r);
    j = 0;
    for (; j + 8 <= d; j += 8) {
      __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xi + j), rv);
      if (w) {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + j));
        v = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)), v);
      }
      _mm256_storeu_ps(yi + j, v);
    }
    for (; j < d; ++j) yi[j] = w ? bf16_to_f32(w[j]) * (xi[j] * r) : xi[j] * r;
  }
}

namespace {
// o[0, d) += p * v[0, d)
TACHYON_AVX2 inline void axpy(float p, const float* v, float* o, int64_t d) {
  const __m256 pv = _mm256_set1_ps(p);
  int64_t c = 0;
  for (; c + 8 <= d; c += 8)
    _mm256_storeu_ps(o + c, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + c), _mm256_loadu_ps(o + c)));
  for (; c < d; ++c) o[c] += p * v[c];
}
// Dot products of NH query heads with NK keys, each in two chains over 16-column steps (then one 8-column
// step, the lane sum and a scalar tail): every loaded q or key slice serves several products, which
// halves the key traffic from L2 for a pair of heads.
template <int NH, int NK>
TACHYON_AVX2 inline void dots(const float* const (&a)[NH], const float* const* b, int64_t d, float (&out)[NH][NK]) {
  __m256 s0[NH][NK], s1[NH][NK];
  for (int h = 0; h < NH; ++h)
    for (int i = 0; i < NK; ++i) s0[h][i] = s1[h][i] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 16 <= d; c += 16) {
    for (int i = 0; i < NK; ++i) {
      const __m256 b0 = _mm256_loadu_ps(b[i] + c), b1 = _mm256_loadu_ps(b[i] + c + 8);
      for (int h = 0; h < NH; ++h) {
        s0[h][i] = _mm256_fmadd_ps(_mm256_loadu_ps(a[h] + c), b0, s0[h][i]);
        s1[h][i] = _mm256_fmadd_ps(_mm256_loadu_ps(a[h] + c + 8), b1, s1[h][i]);
      }
    }
  }
  for (; c + 8 <= d; c += 8)
    for (int i = 0; i < NK; ++i) {
      const __m256 b0 = _mm256_loadu_ps(b[i] + c);
      for (int h = 0; h < NH; ++h) s0[h][i] = _mm256_fmadd_ps(_mm256_loadu_ps(a[h] + c), b0, s0[h][i]);
    }
  for (int h = 0; h < NH; ++h)
    for (int i = 0; i < NK; ++i) {
      float s = hsum(_mm256_add_ps(s0[h][i], s1[h][i]));
      for (int64_t e = c; e < d; ++e) s += a[h][e] * b[i][e];
      out[h][i] = s;
    }
}

// NH heads from h0: scores, softmax with the sink, then o = sum_j p_j k_j in key order for every column
// (columns in register blocks of 64 / NH per head, the rest through axpy), scaled by 1 / denominator.
template <int NH>
TACHYON_AVX2 void sink_heads(const float* q, int64_t d, const float* const* keys, int64_t n_keys, const float* sink,
                             float scale, float* out, int64_t h0, std::vector<float>& p) {
  constexpr int NK = 4 / NH;
  p.resize(size_t(NH * n_keys));
  const float* qh[NH];
  for (int h = 0; h < NH; ++h) qh[h] = q + (h0 + h) * d;
  int64_t j = 0;
  for (; j + NK <= n_keys; j += NK) {
    float r[NH][NK];
    dots<NH, NK>(qh, keys + j, d, r);
    for (int h = 0; h < NH; ++h)
      for (int i = 0; i < NK; ++i) p[size_t(h * n_keys + j + i)] = r[h][i];
  }
  for (; j < n_keys; ++j) {
    float r[NH][1];
    dots<NH, 1>(qh, keys + j, d, r);
    for (int h = 0; h < NH; ++h) p[size_t(h * n_keys + j)] = r[h][0];
  }
  float inv[NH];
  for (int h = 0; h < NH; ++h) inv[h] = sink_softmax(p.data() + h * n_keys, n_keys, sink[h0 + h], scale);
  constexpr int V = 8 / NH;  // vectors per head in a column block
  int64_t c = 0;
  for (; c + 8 * V <= d; c += 8 * V) {
    __m256 acc[NH][V];
    for (auto& row : acc)
      for (auto& v : row) v = _mm256_setzero_ps();
    for (j = 0; j < n_keys; ++j) {
      __m256 kv[V];
      for (int i = 0; i < V; ++i) kv[i] = _mm256_loadu_ps(keys[j] + c + 8 * i);
      for (int h = 0; h < NH; ++h) {
        const __m256 pv = _mm256_set1_ps(p[size_t(h * n_keys + j)]);
        for (int i = 0; i < V; ++i) acc[h][i] = _mm256_fmadd_ps(pv, kv[i], acc[h][i]);
      }
    }
    for (int h = 0; h < NH; ++h)
      for (int i = 0; i < V; ++i) _mm256_storeu_ps(out + (h0 + h) * d + c + 8 * i, acc[h][i]);
  }
  for (int h = 0; h < NH; ++h) {
    float* oh = out + (h0 + h) * d;
    std::fill(oh + c, oh + d, 0.0f);
    for (j = 0; j < n_keys; ++j) axpy(p[size_t(h * n_keys + j)], keys[j] + c, oh + c, d - c);
    const __m256 iv = _mm256_set1_ps(inv[h]);
    int64_t e = 0;
    for (; e + 8 <= d; e += 8) _mm256_storeu_ps(oh + e, _mm256_mul_ps(_mm256_loadu_ps(oh + e), iv));
    for (; e < d; ++e) oh[e] *= inv[h];
  }
}
}  // namespace

// Heads in pairs (the pair shares every key load), a last odd head alone.
TACHYON_AVX2 void attention_sink(const float* q, int64_t d, const float* const* keys, int64_t n_keys,
                                 const float* sink, float scale, float* out, int64_t h_begin, int64_t h_end) {
  std::vector<float> p;
  int64_t h = h_begin;
  for (; h + 2 <= h_end; h += 2) sink_heads<2>(q, d, keys, n_keys, sink, scale, out, h, p);
  if (h < h_end) sink_heads<1>(q, d, keys, n_keys, sink, scale, out, h, p);
}

// dot_f64 with the four partial sums in the four lanes of a double vector: products of floats are exact
// in double, so fused or not they add the same values in the same order as ref::; four outputs share
// each converted slice of a.
namespace {
// The tail past the last multiple of 4 joins lane 0, then the fixed pairwise sum.
TACHYON_AVX2 inline double finish_f64(__m256d acc, const float* a, const float* b, int64_t n4, int64_t n) {
  alignas(32) double l[4];
  _mm256_store_pd(l, acc);
  for (int64_t i = n4; i < n; ++i) l[0] += double(a[i]) * b[i];
  return (l[0] + l[1]) + (l[2] + l[3]);
}
}  // namespace

TACHYON_AVX2 void dot_f64(const float* a, const float* w, int64_t n, int64_t n_out, double* out) {
  const int64_t n4 = n & ~int64_t(3);
  int64_t o = 0;
  for (; o + 4 <= n_out; o += 4) {
    const float* b0 = w + o * n;
    const float *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
    __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < n4; i += 4) {
      const __m256d av = _mm256_cvtps_pd(_mm_loadu_ps(a + i));
      s0 = _mm256_fmadd_pd(av, _mm256_cvtps_pd(_mm_loadu_ps(b0 + i)), s0);
      s1 = _mm256_fmadd_pd(av, _mm256_cvtps_pd(_mm_loadu_ps(b1 + i)), s1);
      s2 = _mm256_fmadd_pd(av, _mm256_cvtps_pd(_mm_loadu_ps(b2 + i)), s2);
      s3 = _mm256_fmadd_pd(av, _mm256_cvtps_pd(_mm_loadu_ps(b3 + i)), s3);
    }
    out[o] = finish_f64(s0, a, b0, n4, n);
    out[o + 1] = finish_f64(s1, a, b1, n4, n);
    out[o + 2] = finish_f64(s2, a, b2, n4, n);
    out[o + 3] = finish_f64(s3, a, b3, n4, n);
  }
  for (; o < n_out; ++o) {
    const float* b = w + o * n;
    __m256d s = _mm256_setzero_pd();
    for (int64_t i = 0; i < n4; i += 4)
      s = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + i)), _mm256_cvtps_pd(_mm_loadu_ps(b + i)), s);
    out[o] = finish_f64(s, a, b, n4, n);
  }
}

}  // namespace tachyon::cpu::fast
