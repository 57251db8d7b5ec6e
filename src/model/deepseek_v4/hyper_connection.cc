// Manifold-constrained hyper-connections (spec §2.2, §2.8, §7 item 10): the residual is hc streams;
// each sublayer reads a weighted sum of them and writes back through post weights and a Sinkhorn-
// normalised stream-mixing matrix C (C[i][j] carries stream i into stream j).
#include <algorithm>
#include <cmath>
#include <vector>

#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

namespace {
// mixes[t] = (fn . flatten(streams[t])) * rsqrt(mean(streams[t]^2) + eps). The dot products and the
// mean square are accumulated in double (ops::dot_f64): the mixes feed sigmoids and 20 Sinkhorn passes
// whose output scales every stream, so their rounding is what most often moves a later FP8 rounding
// decision away from the reference's (golden README, "Prefill vs. prefill-then-decode").
void hc_mixes(const ModelContext& ctx, const ModelConfig& cfg, const TensorRef& fn, const float* streams, int64_t T,
              std::vector<float>& mixes) {
  const int64_t hcD = int64_t(cfg.hc_mult) * cfg.hidden_size;
  const int64_t n_mix = fn.dim(0);
  const float* w = fn.data<float>();                     // [n_mix, hc * D]
  mixes.resize(size_t(T * n_mix));                       // [T, n_mix]
  // mixes[t] from the dot products d [n_mix] of token t.
  auto finish = [&](int64_t t, const double* d) {
    const float* a = streams + t * hcD;                  // [hc * D]
    double ss = 0;
    ops::dot_f64(ctx.ops, a, a, hcD, 1, &ss);
    const float r = 1.0f / std::sqrt(float(ss / double(hcD)) + float(cfg.rms_norm_eps));
    for (int64_t o = 0; o < n_mix; ++o) mixes[size_t(t * n_mix + o)] = float(d[o]) * r;
  };
  if (T == 1 && ctx.ops.pool) {
    // One token (decode): the outputs split across threads in groups of four (each output is the same
    // whichever group computes it).
    std::vector<double> d(static_cast<size_t>(n_mix));  // [n_mix]
    ctx.ops.pool->parallel_for((n_mix + 3) / 4, 1, [&](int64_t g0, int64_t g1) {
      const int64_t o0 = g0 * 4, o1 = std::min(n_mix, g1 * 4);
      ops::dot_f64(ctx.ops, streams, w + o0 * hcD, hcD, o1 - o0, d.data() + o0);
    });
    return finish(0, d.data());
  }
  auto rows = [&](int64_t t0, int64_t t1) {
    std::vector<double> dt(static_cast<size_t>(n_mix));
    for (int64_t t = t0; t < t1; ++t) {
      ops::dot_f64(ctx.ops, streams + t * hcD, w, hcD, n_mix, dt.data());
      finish(t, dt.data());
    }
  };
  if (ctx.ops.pool) ctx.ops.pool->parallel_for(T, 1, rows);
  else rows(0, T);
}

// y[t] = sum_i weight[t, i] * streams[t, i]
void weighted_sum(const ModelConfig& cfg, const float* streams, const float* weight, int64_t T, float* y) {
  const int hc = cfg.hc_mult;
  const int64_t D = cfg.hidden_size;
  for (int64_t t = 0; t < T; ++t) {
    float* yt = y + t * D;                               // [D]
    for (int64_t d = 0; d < D; ++d) {
      float acc = 0.0f;
      for (int i = 0; i < hc; ++i) acc += weight[t * hc + i] * streams[(t * hc + i) * D + d];
      yt[d] = acc;
    }
  }
}
}  // namespace

void hc_pre(const ModelContext& ctx, const ModelConfig& cfg, const HcWeights& w, const float* streams, int64_t T,
            float* y, float* post, float* comb) {
  const int hc = cfg.hc_mult;
  std::vector<float> mixes;  // [T, (2 + hc) * hc]
  hc_mixes(ctx, cfg, w.fn, streams, T, mixes);
  const int64_t n_mix = int64_t(2 + hc) * hc;
  std::vector<float> pre(size_t(T * hc));  // [T, hc]
  for (int64_t t = 0; t < T; ++t)
    ops::hc_split_sinkhorn(mixes.data() + t * n_mix, w.scale.data<float>(), w.base.data<float>(), hc,
                           cfg.hc_sinkhorn_iters, float(cfg.hc_eps), pre.data() + t * hc, post + t * hc,
                           comb + t * hc * hc);
  weighted_sum(cfg, streams, pre.data(), T, y);  // [T, D]
}

void hc_post(const ModelConfig& cfg, const float* f, const float* post, const float* comb, int64_t T,
             float* streams) {
  const int hc = cfg.hc_mult;
  const int64_t D = cfg.hidden_size;
  std::vector<float> old(size_t(hc * D));  // [hc, D] streams of one token before the update
  std::vector<float> mix(static_cast<size_t>(D));  // [D]
  for (int64_t t = 0; t < T; ++t) {
    float* X = streams + t * hc * D;       // [hc, D]
    std::copy(X, X + hc * D, old.begin());
    const float* C = comb + t * hc * hc;   // [hc, hc]
    for (int j = 0; j < hc; ++j) {
      // The reference's association, post * f + (sum_i C[i][j] * X_i) in order of i, with d innermost
      // so that the loops vectorise.
      std::fill(mix.begin(), mix.end(), 0.0f);
      for (int i = 0; i < hc; ++i) {
        const float c = C[i * hc + j];
        const float* o = &old[size_t(i * D)];
        for (int64_t d = 0; d < D; ++d) mix[size_t(d)] += c * o[d];
      }
      const float p = post[t * hc + j];
      const float* ft = f + t * D;
      float* Xj = X + j * D;
      for (int64_t d = 0; d < D; ++d) Xj[d] = p * ft[d] + mix[size_t(d)];
    }
  }
}

void hc_head(const ModelContext& ctx, const ModelConfig& cfg, const HcHeadWeights& w, const float* streams, int64_t T,
             float* y) {
  const int hc = cfg.hc_mult;
  std::vector<float> mixes;  // [T, hc]
  hc_mixes(ctx, cfg, w.fn, streams, T, mixes);
  const float scale = w.scale.data<float>()[0];
  const float* base = w.base.data<float>();
  std::vector<float> weight(size_t(T * hc));  // [T, hc]
  for (int64_t t = 0; t < T; ++t)
    for (int i = 0; i < hc; ++i) {
      const float v = mixes[size_t(t * hc + i)] * scale + base[i];
      weight[size_t(t * hc + i)] = 1.0f / (1.0f + std::exp(-v)) + float(cfg.hc_eps);
    }
  weighted_sum(cfg, streams, weight.data(), T, y);  // [T, D]
}

}  // namespace tachyon::dsv4
