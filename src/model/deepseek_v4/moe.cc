// Mixture of experts (spec §2.7, §7 items 8-9): sqrt-softplus affinities, a bias used only for the
// selection, hash routing through tid2eid in the first layers, weights renormalised over the selected
// experts and scaled, clamped SwiGLU experts (gate <= limit, up in [-limit, limit]) and one shared expert.
#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "core/check.h"
#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

namespace {

ops::RouterSpec router_spec(const ModelConfig& cfg, const MoEWeights& w) {
  ops::RouterSpec spec;
  spec.n_experts = cfg.n_routed_experts;
  spec.top_k = cfg.num_experts_per_tok;
  switch (cfg.scoring_func) {
    case ScoreFunc::kSqrtSoftplus: spec.score = ops::RouterScore::kSqrtSoftplus; break;
    case ScoreFunc::kSigmoid: spec.score = ops::RouterScore::kSigmoid; break;
    case ScoreFunc::kSoftmax: spec.score = ops::RouterScore::kSoftmax; break;
  }
  spec.bias = w.bias ? w.bias.data<float>() : nullptr;
  spec.hashed = bool(w.tid2eid);
  spec.renormalise = cfg.scoring_func != ScoreFunc::kSoftmax;  // softmax weights are used as they are
  spec.scale = float(cfg.routed_scaling_factor);
  return spec;
}

// One expert over some rows: x [m, D] (already quantised when the expert's w1/w3 want it), y [m, D].
struct ExpertCall {
  const ExpertWeights* w = nullptr;
  const float* x = nullptr;
  int64_t m = 0;
  float* y = nullptr;
};

// Clamped SwiGLU experts (spec §2.7): every w1 and w3 product of the calls in one parallel region, the
// activation, then every w2 product in a second. Each expert computes exactly what it would alone:
// g = w1 x, u = w3 x, h = silu(min(g, lim)) * clamp(u, +-lim) * weight, y = w2 h (h quantised like
// linear_q would). row_weight [rows of all calls] holds each row's routing weight (null: none).
void run_experts(const LayerEnv& env, std::span<const ExpertCall> calls, const float* row_weight) {
  const ModelConfig& cfg = env.cfg;
  const int64_t I = cfg.moe_intermediate_size;
  int64_t rows = 0;
  for (const ExpertCall& c : calls) rows += c.m;
  std::vector<float> g(size_t(rows * I)), u(size_t(rows * I));  // [rows, I]
  std::vector<ops::LinearJob> jobs;
  // Integer FP4 kernels (fast numerics): each call's rows packed once for w1 and w3, and for w2.
  std::vector<ops::QuantizedActs> q8(calls.size());
  int64_t off = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    const ExpertCall& c = calls[i];
    const ops::QuantizedActs* q = nullptr;
    if (int8_kernel(env.ctx, c.w->w1) && int8_kernel(env.ctx, c.w->w3)) {
      ops::quantize_acts(env.ctx.ops, c.x, c.m, c.w->w1.k, &q8[i],
                         act_layouts(env.ctx, c.w->w1) | act_layouts(env.ctx, c.w->w3));
      q = &q8[i];
    }
    jobs.push_back({c.x, c.m, kernel_view(env.ctx, c.w->w1), &g[size_t(off * I)], q});
    jobs.push_back({c.x, c.m, kernel_view(env.ctx, c.w->w3), &u[size_t(off * I)], q});
    off += c.m;
  }
  {
    const WeightScope streaming(env.ctx.profile);
    ops::linear_group(env.ctx.ops, jobs);
  }
  ops::swiglu(env.ctx.ops, g.data(), u.data(), rows, I, float(cfg.swiglu_limit), row_weight, g.data());  // [rows, I]
  off = 0;
  for (const ExpertCall& c : calls) {
    if (act_quant_applies(env.ctx, c.w->w2)) act_quant(env.ctx, &g[size_t(off * I)], c.m, I);
    off += c.m;
  }
  jobs.clear();
  off = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    const ExpertCall& c = calls[i];
    const ops::QuantizedActs* q = nullptr;
    if (int8_kernel(env.ctx, c.w->w2)) {
      ops::quantize_acts(env.ctx.ops, &g[size_t(off * I)], c.m, I, &q8[i], act_layouts(env.ctx, c.w->w2));
      q = &q8[i];
    }
    jobs.push_back({&g[size_t(off * I)], c.m, kernel_view(env.ctx, c.w->w2), c.y, q});
    off += c.m;
  }
  const WeightScope streaming(env.ctx.profile);
  ops::linear_group(env.ctx.ops, jobs);
}

}  // namespace

void moe_forward(const LayerEnv& env, const MoEWeights& w, const float* x, int64_t T, const int32_t* token_ids,
                 float* out) {
  const ModelConfig& cfg = env.cfg;
  const int64_t D = cfg.hidden_size, E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  Profile* prof = env.ctx.profile;
  // ---- routing ----
  std::optional<ProfileScope> scope(std::in_place, prof, OpFamily::kRouter);
  std::vector<float> logits(size_t(T * E));  // [T, E]
  linear_q(env.ctx, x, T, w.gate, logits.data());
  std::vector<int32_t> ids(size_t(T * K));   // [T, K]
  std::vector<float> wts(size_t(T * K));     // [T, K]
  if (w.tid2eid) {  // hash routing: the token's row of tid2eid names its experts
    for (int64_t t = 0; t < T; ++t) {
      const int64_t tok = token_ids[t];
      TACHYON_CHECK(tok >= 0 && tok < w.tid2eid.dim(0));
      for (int64_t k = 0; k < K; ++k)
        ids[size_t(t * K + k)] = w.tid2eid.info->dtype == DType::kI64 ? int32_t(w.tid2eid.data<int64_t>()[tok * K + k])
                                                                      : w.tid2eid.data<int32_t>()[tok * K + k];
    }
  }
  ops::route(env.ctx.ops, logits.data(), T, router_spec(cfg, w), ids.data(), wts.data());
  if (env.ctx.trace) {
    std::vector<int32_t> sorted = ids;
    for (int64_t t = 0; t < T; ++t) std::sort(sorted.begin() + t * K, sorted.begin() + (t + 1) * K);
    env.ctx.trace->ids(env.prefix + "expert_ids", sorted.data(), {T, K});
  }

  // ---- routed experts, each over the rows routed to it ----
  // The activation quantisation is per token, so x is quantised once and shared by every expert.
  scope.emplace(prof, OpFamily::kExperts);
  const ExpertWeights& probe = cfg.n_routed_experts > 0 ? w.experts[0] : w.shared;
  std::vector<float> xq;  // [T, D]
  const float* xs = x;
  if (act_quant_applies(env.ctx, probe.w1)) {
    xq.assign(x, x + T * D);
    act_quant(env.ctx, xq.data(), T, D);
    xs = xq.data();
  }
  // The (token, weight) pairs routed to each expert, in token order; then all of them in expert order.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) routed[size_t(ids[size_t(t * K + k)])].push_back({t, wts[size_t(t * K + k)]});
  std::vector<int64_t> order;      // [rows] the token of each gathered row
  std::vector<float> row_weight;   // [rows] its routing weight
  std::vector<ExpertCall> calls;   // one per expert with rows, over its block of gathered rows
  for (int64_t e = 0; e < E; ++e) {
    if (routed[size_t(e)].empty()) continue;
    calls.push_back({&w.experts[size_t(e)], nullptr, int64_t(routed[size_t(e)].size()), nullptr});
    for (auto [t, wt] : routed[size_t(e)]) {
      order.push_back(t);
      row_weight.push_back(wt);
    }
  }
  const int64_t n_rows = int64_t(order.size());
  std::vector<float> xe(size_t(n_rows * D)), ye(size_t(n_rows * D));  // [rows, D] gathered per expert
  ops::gather_rows(env.ctx.ops, xs, D, order, xe.data());
  int64_t off = 0;
  for (ExpertCall& c : calls) {
    c.x = &xe[size_t(off * D)];
    c.y = &ye[size_t(off * D)];
    off += c.m;
  }
  run_experts(env, calls, row_weight.data());
  // Sum in expert order, as one expert after another would.
  std::fill(out, out + T * D, 0.0f);
  ops::scatter_add_rows(env.ctx.ops, ye.data(), D, order, out);  // [T, D]
  if (prof) prof->add_experts(env.layer, int64_t(calls.size()));
  // ---- shared expert ----
  scope.emplace(prof, OpFamily::kShared);
  if (cfg.n_shared_experts > 0) {
    std::vector<float> xsh;  // the shared expert's input, if its quantisation differs from the routed one's
    const float* xin = xs;
    if (act_quant_applies(env.ctx, w.shared.w1) != act_quant_applies(env.ctx, probe.w1)) {
      xsh.assign(x, x + T * D);
      if (act_quant_applies(env.ctx, w.shared.w1)) act_quant(env.ctx, xsh.data(), T, D);
      xin = xsh.data();
    }
    ye.resize(size_t(T * D));  // [T, D]
    const ExpertCall shared{&w.shared, xin, T, ye.data()};
    run_experts(env, {&shared, 1}, nullptr);
    ops::add(env.ctx.ops, ye.data(), T * D, out);  // [T, D]
  }
}

}  // namespace tachyon::dsv4
