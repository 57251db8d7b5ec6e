// Linear layers over the checkpoint's storage formats, with the reference's activation quantisation.
#include <vector>

#include "core/check.h"
#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

WeightView view(const Linear& l) {
  WeightView v;
  v.fmt = l.fmt;
  v.n = l.n;
  v.k = l.k;
  v.data = l.weight.info->data;
  v.scale = l.scale ? l.scale.info->data : nullptr;
  v.block = l.block;
  return v;
}

bool act_quant_applies(const ModelContext& ctx, const Linear& w) {
  return (w.fmt == WFormat::kFP8 || w.fmt == WFormat::kFP4) && ctx.numerics.act_quant;
}

void act_quant(const ModelContext& ctx, float* x, int64_t m, int64_t k) {
  ops::fp8_fake_quant(ctx.ops, x, m, k, k, 128);  // per token, per 128 columns
}

void linear_q(const ModelContext& ctx, const float* x, int64_t m, const Linear& w, float* y) {
  if (act_quant_applies(ctx, w)) {
    std::vector<float> xq(x, x + m * w.k);           // [m, k]
    act_quant(ctx, xq.data(), m, w.k);
    ops::linear(ctx.ops, xq.data(), m, view(w), y);  // [m, n]
    return;
  }
  ops::linear(ctx.ops, x, m, view(w), y);  // [m, n]
}

void linear_q_shared(const ModelContext& ctx, const float* x, int64_t m, std::span<const Linear* const> ws,
                     std::span<float* const> ys) {
  TACHYON_CHECK(ws.size() == ys.size(), "linear_q_shared: one output per weight");
  std::vector<float> xq;  // [m, k] quantised once, if any weight wants it
  std::vector<ops::LinearJob> jobs;
  for (size_t i = 0; i < ws.size(); ++i) {
    const Linear& w = *ws[i];
    TACHYON_CHECK(w.k == ws[0]->k, "linear_q_shared: one input width");
    const float* in = x;
    if (act_quant_applies(ctx, w)) {
      if (xq.empty()) {
        xq.assign(x, x + m * w.k);
        act_quant(ctx, xq.data(), m, w.k);
      }
      in = xq.data();
    }
    jobs.push_back({in, m, view(w), ys[i]});  // [m, k] -> [m, n]
  }
  ops::linear_group(ctx.ops, jobs);
}

}  // namespace tachyon::dsv4
