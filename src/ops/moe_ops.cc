// Mixture-of-experts ops (ops.h; spec §2.4, §2.7).
#include <algorithm>

#include "core/check.h"
#include "ops/ops.h"

namespace tachyon::ops {

void swiglu(const OpContext& ctx, const float* gate, const float* up, int64_t m, int64_t n, float limit,
            const float* row_weight, float* out) {
  TACHYON_CHECK(m >= 0 && n > 0, "swiglu: bad shape");
  // Elements [e0, e1), cut at row ends so that each piece has one weight.
  auto body = [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1;) {
      const int64_t r = e / n, end = std::min(e1, (r + 1) * n);
      cpu::ref::swiglu(gate + e, up + e, end - e, limit, row_weight ? row_weight + r : nullptr, out + e);
      e = end;
    }
  };
  if (ctx.pool) ctx.pool->parallel_for(m * n, 256, body);
  else body(0, m * n);
}

void route(const OpContext& ctx, const float* logits, int64_t n_tokens, const RouterSpec& spec, int32_t* ids,
           float* weights) {
  TACHYON_CHECK(spec.n_experts > 0 && spec.top_k > 0 && spec.top_k <= spec.n_experts,
                "route: top_k must be in [1, n_experts]");
  if (spec.hashed)
    for (int64_t i = 0; i < n_tokens * spec.top_k; ++i)
      TACHYON_CHECK(ids[i] >= 0 && ids[i] < spec.n_experts, "route: hashed expert id out of range [0, n_experts)");
  auto body = [&](int64_t t0, int64_t t1) {
    cpu::ref::route(logits + t0 * spec.n_experts, t1 - t0, spec, ids + t0 * spec.top_k, weights + t0 * spec.top_k);
  };
  const int64_t grain = std::max<int64_t>(1, 4096 / spec.n_experts);  // tokens worth a hand-off
  if (ctx.pool && n_tokens > grain) ctx.pool->parallel_for(n_tokens, grain, body);
  else body(0, n_tokens);
}

void softmax_pool(const float* const* values, const float* const* scores, int64_t n, int64_t d, float* out) {
  TACHYON_CHECK(n > 0, "softmax_pool: no candidate row");
  cpu::ref::softmax_pool(values, scores, n, d, out);
}

}  // namespace tachyon::ops
