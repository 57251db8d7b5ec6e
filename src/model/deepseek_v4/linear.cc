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
  if (ctx.numerics.act_int8) ops::i8_fake_quant(ctx.ops, x, m, k);  // per token, per 32 columns
  else ops::fp8_fake_quant(ctx.ops, x, m, k, k, 128);                // per token, per 128 columns
}

bool int8_kernel(const ModelContext& ctx, const Linear& w) {
  return ctx.numerics.act_quant && ctx.numerics.act_int8 && w.fmt == WFormat::kFP4 && ctx.ops.k->native_i8;
}

void linear_q(const ModelContext& ctx, const float* x, int64_t m, const Linear& w, float* y) {
  if (act_quant_applies(ctx, w)) {
    std::vector<float> xq(x, x + m * w.k);           // [m, k]
    act_quant(ctx, xq.data(), m, w.k);
    if (int8_kernel(ctx, w)) {
      ops::QuantizedActs qa;
      ops::quantize_acts(ctx.ops, xq.data(), m, w.k, &qa);  // the same q, packed for the integer kernel
      const WeightScope streaming(ctx.profile);
      ops::linear(ctx.ops, qa, view(w), y);                 // [m, n]
      return;
    }
    const WeightScope streaming(ctx.profile);
    ops::linear(ctx.ops, xq.data(), m, view(w), y);  // [m, n]
    return;
  }
  const WeightScope streaming(ctx.profile);
  ops::linear(ctx.ops, x, m, view(w), y);  // [m, n]
}

void linear_q_shared(const ModelContext& ctx, const float* x, int64_t m, std::span<const Linear* const> ws,
                     std::span<float* const> ys) {
  TACHYON_CHECK(ws.size() == ys.size(), "linear_q_shared: one output per weight");
  std::vector<float> xq;  // [m, k] quantised once, if any weight wants it
  ops::QuantizedActs qa;  // and packed for integer kernels, if any weight has one
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
    const ops::QuantizedActs* q8 = nullptr;
    if (int8_kernel(ctx, w)) {
      if (qa.m != m || qa.deq.empty()) ops::quantize_acts(ctx.ops, in, m, w.k, &qa);
      q8 = &qa;
    }
    jobs.push_back({in, m, view(w), ys[i], q8});  // [m, k] -> [m, n]
  }
  const WeightScope streaming(ctx.profile);
  ops::linear_group(ctx.ops, jobs);
}

}  // namespace tachyon::dsv4
