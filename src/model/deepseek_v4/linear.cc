// Linear layers over the checkpoint's storage formats, with the reference's activation quantisation.
#include <vector>

#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

cpu::WeightView view(const Linear& l) {
  cpu::WeightView v;
  switch (l.fmt) {
    case WFormat::kBF16: v.fmt = cpu::WFormat::kBF16; break;
    case WFormat::kF32: v.fmt = cpu::WFormat::kF32; break;
    case WFormat::kFP8: v.fmt = cpu::WFormat::kFP8; break;
    case WFormat::kFP4: v.fmt = cpu::WFormat::kFP4; break;
  }
  v.n = l.n;
  v.k = l.k;
  v.data = l.weight.info->data;
  v.scale = l.scale ? l.scale.info->data : nullptr;
  v.block = l.block;
  return v;
}

void linear_q(const ModelContext& ctx, const float* x, int64_t m, const Linear& w, float* y, bool quant_ok) {
  const bool quantised = w.fmt == WFormat::kFP8 || w.fmt == WFormat::kFP4;
  if (quantised && quant_ok && ctx.numerics.act_quant) {
    std::vector<float> xq(x, x + m * w.k);                      // [m, k]
    ops::fp8_fake_quant(ctx.ops, xq.data(), m, w.k, w.k, 128);  // per token, per 128 columns
    ops::linear(ctx.ops, xq.data(), m, view(w), y);             // [m, n]
    return;
  }
  ops::linear(ctx.ops, x, m, view(w), y);  // [m, n]
}

}  // namespace tachyon::dsv4
