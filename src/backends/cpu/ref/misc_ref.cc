// Scalar references: fake quantisation, RMSNorm, RoPE, Hadamard, top-k, attention with sink, indexer
// scores, FP8/FP4 cache entry decode, Sinkhorn and the hyper-connection head weights, softmax pooling.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"

namespace tachyon::cpu::ref {

void fp8_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  const float inv448 = 1.0f / 448.0f;
  for (int64_t i = 0; i < m; ++i) {
    float* r = x + i * stride;
    for (int64_t b0 = 0; b0 < k; b0 += block) {
      const int64_t b1 = std::min(k, b0 + block);
      float amax = 1e-4f;
      for (int64_t j = b0; j < b1; ++j) amax = std::max(amax, std::fabs(r[j]));
      const float s = pow2_ceil(amax * inv448);
      for (int64_t j = b0; j < b1; ++j) {
        float v = std::clamp(r[j] / s, -448.0f, 448.0f);
        r[j] = e4m3_to_f32(f32_to_e4m3(v)) * s;
      }
    }
  }
}

void fp4_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  const float inv6 = 1.0f / 6.0f;
  const float floor_amax = 6.0f * std::ldexp(1.0f, -126);
  for (int64_t i = 0; i < m; ++i) {
    float* r = x + i * stride;
    for (int64_t b0 = 0; b0 < k; b0 += block) {
      const int64_t b1 = std::min(k, b0 + block);
      float amax = floor_amax;
      for (int64_t j = b0; j < b1; ++j) amax = std::max(amax, std::fabs(r[j]));
      const float s = pow2_ceil(amax * inv6);
      for (int64_t j = b0; j < b1; ++j) {
        float v = std::clamp(r[j] / s, -6.0f, 6.0f);
        r[j] = e2m1_to_f32(f32_to_e2m1(v)) * s;
      }
    }
  }
}

void rmsnorm(const float* x, const uint16_t* w, int64_t m, int64_t d, float eps, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xi = x + i * d;
    double ss = 0.0;  // the reference sums in double: no accumulation order of its own
    for (int64_t j = 0; j < d; ++j) ss += double(xi[j]) * xi[j];
    const float r = 1.0f / std::sqrt(float(ss / double(d)) + eps);
    float* yi = y + i * d;
    for (int64_t j = 0; j < d; ++j) yi[j] = w ? bf16_to_f32(w[j]) * (xi[j] * r) : xi[j] * r;
  }
}

void rope(float* x, int64_t dim, const float* cs, bool inverse) {
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float c = cs[2 * i], s = inverse ? -cs[2 * i + 1] : cs[2 * i + 1];
    const float a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

void hadamard(float* x, int64_t n) {
  for (int64_t h = 1; h < n; h *= 2)
    for (int64_t i = 0; i < n; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
  const float s = 1.0f / std::sqrt(float(n));
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

void topk(const float* scores, int64_t n, int64_t k, int32_t* out) {
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, n);
  // NaN ranks below every number, so the order stays strict and weak even on bad inputs.
  auto key = [&](int32_t i) { return std::isnan(scores[i]) ? -INFINITY : scores[i]; };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    const float ka = key(a), kb = key(b);
    return ka > kb || (ka == kb && a < b);
  });
  std::copy(idx.begin(), idx.begin() + k, out);
}

void attention_sink(const float* q, int64_t n_heads, int64_t d, const float* const* keys, int64_t n_keys,
                    const float* sink, float scale, float* out) {
  std::vector<float> s(static_cast<size_t>(n_keys));
  for (int64_t h = 0; h < n_heads; ++h) {
    const float* qh = q + h * d;
    float mx = sink[h];
    for (int64_t j = 0; j < n_keys; ++j) {
      float dot = 0.0f;
      for (int64_t c = 0; c < d; ++c) dot += qh[c] * keys[j][c];
      s[size_t(j)] = dot * scale;
      mx = std::max(mx, s[size_t(j)]);
    }
    float denom = std::exp(sink[h] - mx);
    float* oh = out + h * d;
    std::fill(oh, oh + d, 0.0f);
    for (int64_t j = 0; j < n_keys; ++j) {
      const float p = std::exp(s[size_t(j)] - mx);
      denom += p;
      for (int64_t c = 0; c < d; ++c) oh[c] += p * keys[j][c];
    }
    const float inv = 1.0f / denom;
    for (int64_t c = 0; c < d; ++c) oh[c] *= inv;
  }
}

void indexer_scores(const float* q, int64_t n_heads, int64_t d, const float* w, const float* const* keys,
                    int64_t n_keys, float* out) {
  for (int64_t j = 0; j < n_keys; ++j) {
    float s = 0.0f;
    for (int64_t h = 0; h < n_heads; ++h) {
      float dot = 0.0f;
      for (int64_t e = 0; e < d; ++e) dot += q[h * d + e] * keys[j][e];
      s += std::max(dot, 0.0f) * w[h];
    }
    out[j] = s;
  }
}

void decode_fp4_row(const uint8_t* row, int64_t d, float* out) {
  const uint8_t* scales = row + (d + 1) / 2;
  for (int64_t e = 0; e < d; ++e) out[e] = e2m1_to_f32(fp4_nibble(row, size_t(e))) * e8m0_to_f32(scales[e / 32]);
}

void indexer_scores_fp4(const float* q, int64_t n_heads, int64_t d, const float* w, const uint8_t* const* keys,
                        int64_t n_keys, float* out) {
  std::vector<float> key(static_cast<size_t>(d));
  const float* kp = key.data();
  for (int64_t j = 0; j < n_keys; ++j) {
    decode_fp4_row(keys[j], d, key.data());
    indexer_scores(q, n_heads, d, w, &kp, 1, out + j);
  }
}

void decode_fp8(const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t block, float* out) {
  const float* table = e4m3_table();
  for (int64_t j = 0; j < n; ++j) out[j] = table[codes[j]] * e8m0_to_f32(scales[j / block]);
}

void dot_i8(const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t n_out, int32_t* out, int64_t ldo) {
  for (int64_t q = 0; q < m; ++q)
    for (int64_t o = 0; o < n_out; ++o) {
      const int8_t* r = w + o * k;
      const int8_t* xq = x + q * k;
      int32_t s = 0;
      for (int64_t j = 0; j < k; ++j) s += int32_t(xq[j]) * int32_t(r[j]);
      out[q * ldo + o] = s;
    }
}

void dot_f64(const float* a, const float* w, int64_t n, int64_t n_out, double* out) {
  for (int64_t o = 0; o < n_out; ++o) {
    const float* b = w + o * n;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      s0 += double(a[i]) * b[i];
      s1 += double(a[i + 1]) * b[i + 1];
      s2 += double(a[i + 2]) * b[i + 2];
      s3 += double(a[i + 3]) * b[i + 3];
    }
    for (; i < n; ++i) s0 += double(a[i]) * b[i];
    out[o] = (s0 + s1) + (s2 + s3);
  }
}

void hc_split_sinkhorn(const float* mixes, const float* scale3, const float* base, int hc, int iters, float eps,
                       float* pre, float* post, float* comb) {
  auto sigmoid = [](float v) { return 1.0f / (1.0f + std::exp(-v)); };
  for (int i = 0; i < hc; ++i) pre[i] = sigmoid(mixes[i] * scale3[0] + base[i]) + eps;
  for (int i = 0; i < hc; ++i) post[i] = 2.0f * sigmoid(mixes[hc + i] * scale3[1] + base[hc + i]);
  for (int i = 0; i < hc; ++i) {
    float* row = comb + i * hc;
    float mx = -INFINITY;
    for (int j = 0; j < hc; ++j) {
      row[j] = mixes[2 * hc + i * hc + j] * scale3[2] + base[2 * hc + i * hc + j];
      mx = std::max(mx, row[j]);
    }
    float sum = 0.0f;
    for (int j = 0; j < hc; ++j) sum += (row[j] = std::exp(row[j] - mx));
    for (int j = 0; j < hc; ++j) row[j] = row[j] / sum + eps;
  }
  auto col_norm = [&] {
    for (int j = 0; j < hc; ++j) {
      float s = 0.0f;
      for (int i = 0; i < hc; ++i) s += comb[i * hc + j];
      for (int i = 0; i < hc; ++i) comb[i * hc + j] /= (s + eps);
    }
  };
  auto row_norm = [&] {
    for (int i = 0; i < hc; ++i) {
      float s = 0.0f;
      for (int j = 0; j < hc; ++j) s += comb[i * hc + j];
      for (int j = 0; j < hc; ++j) comb[i * hc + j] /= (s + eps);
    }
  };
  col_norm();
  for (int t = 1; t < iters; ++t) {
    row_norm();
    col_norm();
  }
}

void hc_head_weights(const float* mixes, float scale, const float* base, int hc, float eps, float* weight) {
  for (int i = 0; i < hc; ++i) {
    const float v = mixes[i] * scale + base[i];
    weight[i] = 1.0f / (1.0f + std::exp(-v)) + eps;
  }
}

void softmax_pool(const float* const* values, const float* const* scores, int64_t n, int64_t d, float* out) {
  for (int64_t k = 0; k < d; ++k) {
    float mx = -INFINITY;
    for (int64_t r = 0; r < n; ++r) mx = std::max(mx, scores[r][k]);
    float sum = 0.0f;
    for (int64_t r = 0; r < n; ++r) sum += std::exp(scores[r][k] - mx);
    float acc = 0.0f;
    for (int64_t r = 0; r < n; ++r) acc += values[r][k] * (std::exp(scores[r][k] - mx) / sum);
    out[k] = acc;
  }
}

}  // namespace tachyon::cpu::ref
