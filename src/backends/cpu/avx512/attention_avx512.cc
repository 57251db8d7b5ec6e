// AVX-512 twin of ref::attention_sink (kernels.h): its contract up to fp32 summation order. Heads go in
// blocks of four that share every key load: the scores of four heads against four keys at a time (16
// accumulators over d), the softmax with the sink per head (std::exp, as the reference), then the
// weighted sums in column blocks of 64 (four heads x four vectors). The keys of one token's attention
// are a few hundred rows of d floats, L2-resident, so the block shape is what sets the rate.
#include <cmath>
#include <vector>

#include "backends/cpu/avx512/linear_layout.h"  // first: it silences a GCC 12 false warning
#include "backends/cpu/kernels.h"
#include "backends/cpu/sink_softmax.h"

namespace tachyon::cpu::avx512 {

namespace {

// Lanes of the vector at column c of a row of d: 16, fewer at the tail, 0 past it.
inline __mmask16 lanes_at(int64_t c, int64_t d) {
  const int64_t n = d - c;
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// out[h][i] = q_h . k_i for NH heads and NK keys.
template <int NH, int NK>
TACHYON_AVX512 void dots(const float* const* qh, const float* const* k, int64_t d, float (&out)[NH][NK]) {
  __m512 acc[NH][NK];
  #pragma GCC unroll 4
  for (int h = 0; h < NH; ++h)
    #pragma GCC unroll 4
    for (int i = 0; i < NK; ++i) acc[h][i] = _mm512_setzero_ps();
  for (int64_t c = 0; c < d; c += 16) {
    const __mmask16 m = lanes_at(c, d);
    __m512 kv[NK];
    #pragma GCC unroll 4
    for (int i = 0; i < NK; ++i) kv[i] = _mm512_maskz_loadu_ps(m, k[i] + c);
    #pragma GCC unroll 4
    for (int h = 0; h < NH; ++h) {
      const __m512 qv = _mm512_maskz_loadu_ps(m, qh[h] + c);
      #pragma GCC unroll 4
      for (int i = 0; i < NK; ++i) acc[h][i] = _mm512_fmadd_ps(qv, kv[i], acc[h][i]);
    }
  }
  #pragma GCC unroll 4
  for (int h = 0; h < NH; ++h)
    #pragma GCC unroll 4
    for (int i = 0; i < NK; ++i) out[h][i] = hsum16(acc[h][i]);
}

// NH heads from h0 (p: scratch for NH x n_keys weights).
template <int NH>
TACHYON_AVX512 void heads(const float* q, int64_t d, const float* const* keys, int64_t n_keys, const float* sink,
                          float scale, float* out, int64_t h0, std::vector<float>& p) {
  p.resize(size_t(NH * n_keys));
  const float* qh[NH];
  for (int h = 0; h < NH; ++h) qh[h] = q + (h0 + h) * d;
  int64_t j = 0;
  for (; j + 4 <= n_keys; j += 4) {
    float r[NH][4];
    dots<NH, 4>(qh, keys + j, d, r);
    for (int h = 0; h < NH; ++h)
      for (int i = 0; i < 4; ++i) p[size_t(h * n_keys + j + i)] = r[h][i];
  }
  for (; j < n_keys; ++j) {
    float r[NH][1];
    dots<NH, 1>(qh, keys + j, d, r);
    for (int h = 0; h < NH; ++h) p[size_t(h * n_keys + j)] = r[h][0];
  }
  float inv[NH];
  for (int h = 0; h < NH; ++h) inv[h] = sink_softmax(p.data() + h * n_keys, n_keys, sink[h0 + h], scale);
  for (int64_t c = 0; c < d; c += 64) {
    __mmask16 m[4];
    for (int v = 0; v < 4; ++v) m[v] = lanes_at(c + 16 * v, d);
    __m512 acc[NH][4];
    #pragma GCC unroll 4
    for (int h = 0; h < NH; ++h)
      #pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) acc[h][v] = _mm512_setzero_ps();
    for (j = 0; j < n_keys; ++j) {
      __m512 kv[4];
      #pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) kv[v] = _mm512_maskz_loadu_ps(m[v], keys[j] + c + 16 * v);
      #pragma GCC unroll 4
      for (int h = 0; h < NH; ++h) {
        const __m512 pv = _mm512_set1_ps(p[size_t(h * n_keys + j)]);
        #pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) acc[h][v] = _mm512_fmadd_ps(pv, kv[v], acc[h][v]);
      }
    }
    #pragma GCC unroll 4
    for (int h = 0; h < NH; ++h) {
      const __m512 iv = _mm512_set1_ps(inv[h]);
      #pragma GCC unroll 4
      for (int v = 0; v < 4; ++v)
        _mm512_mask_storeu_ps(out + (h0 + h) * d + c + 16 * v, m[v], _mm512_mul_ps(acc[h][v], iv));
    }
  }
}

}  // namespace

TACHYON_AVX512 void attention_sink(const float* q, int64_t d, const float* const* keys, int64_t n_keys,
                                   const float* sink, float scale, float* out, int64_t h_begin, int64_t h_end) {
  std::vector<float> p;
  int64_t h = h_begin;
  for (; h + 4 <= h_end; h += 4) heads<4>(q, d, keys, n_keys, sink, scale, out, h, p);
  switch (h_end - h) {
    case 3: heads<3>(q, d, keys, n_keys, sink, scale, out, h, p); break;
    case 2: heads<2>(q, d, keys, n_keys, sink, scale, out, h, p); break;
    case 1: heads<1>(q, d, keys, n_keys, sink, scale, out, h, p); break;
    default: break;
  }
}

}  // namespace tachyon::cpu::avx512
