// Manifold-constrained hyper-connections (spec §2.2, §2.8, §7 item 10): the residual is hc streams;
// each sublayer reads a weighted sum of them and writes back through post weights and a Sinkhorn-
// normalised stream-mixing matrix C (C[i][j] carries stream i into stream j).
#include <vector>

#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

namespace {
// mixes[t] = (fn . flatten(streams[t])) * rsqrt(mean(streams[t]^2) + eps). The dot products and the
// mean square are accumulated in double (ops::hc_mixes): the mixes feed sigmoids and 20 Sinkhorn passes
// whose output scales every stream, so their rounding is what most often moves a later FP8 rounding
// decision away from the reference's (golden README, "Prefill vs. prefill-then-decode").
void hc_mixes(const ModelContext& ctx, const ModelConfig& cfg, const TensorRef& fn, const float* streams, int64_t T,
              std::vector<float>& mixes) {
  const int64_t hcD = int64_t(cfg.hc_mult) * cfg.hidden_size;
  const int64_t n_mix = fn.dim(0);
  mixes.resize(size_t(T * n_mix));                                 // [T, n_mix]
  const WeightScope streaming(ctx.profile);                               // reads fn [n_mix, hc * D]
  ops::hc_mixes(ctx.ops, streams, T, hcD, fn.data<float>(), n_mix, float(cfg.rms_norm_eps), mixes.data());
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
  ops::mix_streams(ctx.ops, streams, pre.data(), T, hc, cfg.hidden_size, y);  // [T, D]
}

void hc_post(const ModelContext& ctx, const ModelConfig& cfg, const float* f, const float* post, const float* comb,
             int64_t T, float* streams) {
  ops::hc_post(ctx.ops, f, post, comb, T, cfg.hc_mult, cfg.hidden_size, streams);  // [T, hc, D]
}

void hc_head(const ModelContext& ctx, const ModelConfig& cfg, const HcHeadWeights& w, const float* streams, int64_t T,
             float* y) {
  const int hc = cfg.hc_mult;
  std::vector<float> mixes;  // [T, hc]
  hc_mixes(ctx, cfg, w.fn, streams, T, mixes);
  std::vector<float> weight(size_t(T * hc));  // [T, hc]
  for (int64_t t = 0; t < T; ++t)
    ops::hc_head_weights(mixes.data() + t * hc, w.scale.data<float>()[0], w.base.data<float>(), hc,
                         float(cfg.hc_eps), weight.data() + t * hc);
  ops::mix_streams(ctx.ops, streams, weight.data(), T, hc, cfg.hidden_size, y);  // [T, D]
}

}  // namespace tachyon::dsv4
