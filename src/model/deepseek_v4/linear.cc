// Linear layers over the checkpoint's storage formats, with the reference's activation quantisation.
#include <vector>

#include "core/check.h"
#include "model/deepseek_v4/layers.h"
#include "model/deepseek_v4/repack.h"

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
  return wants_int8_rows(ctx) && (w.fmt == WFormat::kFP4 || w.i8 != nullptr);
}

unsigned act_layouts(const ModelContext& ctx, const Linear& w) {
  if (!int8_kernel(ctx, w)) return 0;
  return w.i8 ? ops::kActRows : ops::kActFp4;  // int8 rows and grouped FP4 read the same layout
}

WeightView kernel_view(const ModelContext& ctx, const Linear& w) {
  WeightView v = view(w);
  if (w.i8 && wants_int8_rows(ctx)) {
    v.fmt = w.i8->fmt;
    v.data = w.i8->codes();
    v.scale = w.i8->scales();
  }
  return v;
}

void linear_q(const ModelContext& ctx, const float* x, int64_t m, const Linear& w, float* y) {
  if (act_quant_applies(ctx, w)) {
    std::vector<float> xq(x, x + m * w.k);           // [m, k]
    act_quant(ctx, xq.data(), m, w.k);
    if (int8_kernel(ctx, w)) {
      ops::QuantizedActs qa;
      ops::quantize_acts(ctx.ops, xq.data(), m, w.k, &qa, act_layouts(ctx, w));  // the same q, packed for the kernel
      const WeightScope streaming(ctx.profile);
      ops::linear(ctx.ops, qa, kernel_view(ctx, w), y);     // [m, n]
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
  unsigned layouts = 0;   // the integer kernels' activation layouts
  for (const Linear* w : ws) layouts |= act_layouts(ctx, *w);
  bool packed = false;
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
      if (!packed) ops::quantize_acts(ctx.ops, in, m, w.k, &qa, layouts);
      packed = true;
      q8 = &qa;
    }
    jobs.push_back({in, m, kernel_view(ctx, w), ys[i], q8});  // [m, k] -> [m, n]
  }
  const WeightScope streaming(ctx.profile);
  ops::linear_group(ctx.ops, jobs);
}

}  // namespace tachyon::dsv4
