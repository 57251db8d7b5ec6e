#include "ops/ops.h"

#include <algorithm>

#include "core/check.h"

namespace tachyon::ops {

OpContext OpContext::make(const ThreadPool& pool, bool allow_fast) {
  OpContext c;
  c.pool = &pool;
  c.use_fast = allow_fast;
  c.fast_ok = cpu::fast::available();
  return c;
}

void linear(const OpContext& ctx, const float* x, int64_t m, const WeightView& w, float* y) {
  TACHYON_CHECK(w.data != nullptr && w.n > 0 && w.k > 0, "linear: empty weight");
  TACHYON_CHECK(w.fmt != WFormat::kFP4 || w.k % 32 == 0, "linear: FP4 needs k % 32 == 0");
  TACHYON_CHECK((w.fmt != WFormat::kFP8 && w.fmt != WFormat::kFP4) || w.scale != nullptr, "linear: missing scale");
  if (m <= 0) return;
  // Split output features across threads in groups of 8 rows (whole register tiles); the grain keeps
  // each chunk's weight slice worth the hand-off.
  constexpr int64_t kGroup = 8;
  const int64_t groups = (w.n + kGroup - 1) / kGroup;
  const int64_t grain = std::max<int64_t>(2, (int64_t(1) << 15) / std::max<int64_t>(1, w.k * m));
  const bool fast = ctx.fast();
  auto body = [&](int64_t g0, int64_t g1) {
    const int64_t b = g0 * kGroup, e = std::min(w.n, g1 * kGroup);
    if (fast) cpu::fast::linear(x, m, w, y, b, e);
    else cpu::ref::linear(x, m, w, y, b, e);
  };
  if (ctx.pool) ctx.pool->parallel_for(groups, grain, body);
  else body(0, groups);
}

namespace {
// Row-parallel driver for the in-place fake-quant kernels (rows are independent, results are bit-exact
// whichever kernel or split runs them).
template <typename Fast, typename Ref>
void fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block, Fast fast,
                Ref ref) {
  TACHYON_CHECK(block > 0 && stride >= k);
  if (m <= 0 || k <= 0) return;
  const bool use_fast = ctx.fast();
  auto body = [&](int64_t b, int64_t e) {
    if (use_fast) fast(x + b * stride, e - b, k, stride, block);
    else ref(x + b * stride, e - b, k, stride, block);
  };
  const int64_t grain = std::max<int64_t>(1, 65536 / k);
  if (ctx.pool) ctx.pool->parallel_for(m, grain, body);
  else body(0, m);
}
}  // namespace

void fp8_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  fake_quant(ctx, x, m, k, stride, block, cpu::fast::fp8_fake_quant, cpu::ref::fp8_fake_quant);
}

void fp4_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  fake_quant(ctx, x, m, k, stride, block, cpu::fast::fp4_fake_quant, cpu::ref::fp4_fake_quant);
}

void rmsnorm(const OpContext& ctx, const float* x, const uint16_t* w, int64_t m, int64_t d, float eps, float* y) {
  if (ctx.fast()) cpu::fast::rmsnorm(x, w, m, d, eps, y);
  else cpu::ref::rmsnorm(x, w, m, d, eps, y);
}

void rope(float* x, int64_t dim, const float* cs, bool inverse) {
  TACHYON_CHECK(dim % 2 == 0);
  cpu::ref::rope(x, dim, cs, inverse);
}

void hadamard(float* x, int64_t n) {
  TACHYON_CHECK(n > 0 && (n & (n - 1)) == 0, "hadamard: n must be a power of two");
  cpu::ref::hadamard(x, n);
}

void topk(const float* scores, int64_t n, int64_t k, int32_t* out) { cpu::ref::topk(scores, n, k, out); }

void attention_sink(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* const* keys,
                    int64_t n_keys, const float* sink, float scale, float* out) {
  if (n_heads <= 0) return;
  if (!ctx.fast()) {
    cpu::ref::attention_sink(q, n_heads, d, keys, n_keys, sink, scale, out);
    return;
  }
  auto body = [&](int64_t b, int64_t e) { cpu::fast::attention_sink(q, d, keys, n_keys, sink, scale, out, b, e); };
  // Split heads across threads once a head's work (two passes over n_keys * d) is worth a fork.
  const int64_t per_head = std::max<int64_t>(1, n_keys * d);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / per_head);
  if (ctx.pool) ctx.pool->parallel_for(n_heads, grain, body);
  else body(0, n_heads);
}

void hc_split_sinkhorn(const float* mixes, const float* scale3, const float* base, int hc, int iters, float eps,
                       float* pre, float* post, float* comb) {
  cpu::ref::hc_split_sinkhorn(mixes, scale3, base, hc, iters, eps, pre, post, comb);
}

}  // namespace tachyon::ops
