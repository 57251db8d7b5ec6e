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

float score_of(ScoreFunc f, float z) {
  switch (f) {
    case ScoreFunc::kSqrtSoftplus: return std::sqrt(z > 20.0f ? z : std::log1p(std::exp(z)));
    case ScoreFunc::kSigmoid: return 1.0f / (1.0f + std::exp(-z));
    case ScoreFunc::kSoftmax: return z;  // normalised over the row below
  }
  return z;
}

// One expert over some rows: x [m, D] (already quantised when the expert's w1/w3 want it), the per-row
// routing weight (null for the shared expert), y [m, D].
struct ExpertCall {
  const ExpertWeights* w = nullptr;
  const float* x = nullptr;
  int64_t m = 0;
  const float* weight = nullptr;
  float* y = nullptr;
};

// Clamped SwiGLU experts (spec §2.7): every w1 and w3 product of the calls in one parallel region, the
// activation, then every w2 product in a second. Each expert computes exactly what it would alone:
// g = w1 x, u = w3 x, h = silu(min(g, lim)) * clamp(u, +-lim) * weight, y = w2 h (h quantised like
// linear_q would).
void run_experts(const LayerEnv& env, std::span<const ExpertCall> calls) {
  const ModelConfig& cfg = env.cfg;
  const int64_t I = cfg.moe_intermediate_size;
  int64_t rows = 0;
  for (const ExpertCall& c : calls) rows += c.m;
  std::vector<float> g(size_t(rows * I)), u(size_t(rows * I));  // [rows, I]
  std::vector<ops::LinearJob> jobs;
  int64_t off = 0;
  for (const ExpertCall& c : calls) {
    jobs.push_back({c.x, c.m, view(c.w->w1), &g[size_t(off * I)]});
    jobs.push_back({c.x, c.m, view(c.w->w3), &u[size_t(off * I)]});
    off += c.m;
  }
  ops::linear_group(env.ctx.ops, jobs);
  // The activation of every row of every call, element by element, split across threads.
  const float lim = float(cfg.swiglu_limit);
  std::vector<const float*> row_weight;  // [rows] each row's routing weight (null: none)
  for (const ExpertCall& c : calls)
    for (int64_t r = 0; r < c.m; ++r) row_weight.push_back(c.weight ? c.weight + r : nullptr);
  auto activate = [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      float gv = g[size_t(e)], uv = u[size_t(e)];
      if (lim > 0) {
        uv = std::clamp(uv, -lim, lim);
        gv = std::min(gv, lim);
      }
      float h = gv / (1.0f + std::exp(-gv)) * uv;
      if (const float* wt = row_weight[size_t(e / I)]) h *= *wt;
      g[size_t(e)] = h;
    }
  };
  if (env.ctx.ops.pool) env.ctx.ops.pool->parallel_for(rows * I, 256, activate);
  else activate(0, rows * I);
  off = 0;
  for (const ExpertCall& c : calls) {
    if (act_quant_applies(env.ctx, c.w->w2)) act_quant(env.ctx, &g[size_t(off * I)], c.m, I);
    off += c.m;
  }
  jobs.clear();
  off = 0;
  for (const ExpertCall& c : calls) {
    jobs.push_back({&g[size_t(off * I)], c.m, view(c.w->w2), c.y});
    off += c.m;
  }
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
  std::vector<float> sel(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    float* s = &logits[size_t(t * E)];
    for (int64_t e = 0; e < E; ++e) s[e] = score_of(cfg.scoring_func, s[e]);
    if (cfg.scoring_func == ScoreFunc::kSoftmax) {
      const float mx = *std::max_element(s, s + E);
      float sum = 0.0f;
      for (int64_t e = 0; e < E; ++e) sum += (s[e] = std::exp(s[e] - mx));
      for (int64_t e = 0; e < E; ++e) s[e] /= sum;
    }
    int32_t* it = &ids[size_t(t * K)];
    if (w.tid2eid) {
      const int64_t tok = token_ids[t];
      TACHYON_CHECK(tok >= 0 && tok < w.tid2eid.dim(0));
      for (int64_t k = 0; k < K; ++k)
        it[k] = w.tid2eid.info->dtype == DType::kI64 ? int32_t(w.tid2eid.data<int64_t>()[tok * K + k])
                                                     : w.tid2eid.data<int32_t>()[tok * K + k];
    } else {
      for (int64_t e = 0; e < E; ++e) sel[size_t(e)] = s[e] + (w.bias ? w.bias.data<float>()[e] : 0.0f);
      ops::topk(sel.data(), E, K, it);
    }
    float sum = 0.0f;
    for (int64_t k = 0; k < K; ++k) sum += (wts[size_t(t * K + k)] = s[it[k]]);
    for (int64_t k = 0; k < K; ++k) {
      float& v = wts[size_t(t * K + k)];
      if (cfg.scoring_func != ScoreFunc::kSoftmax) v /= sum;
      v *= float(cfg.routed_scaling_factor);
    }
  }
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
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(E));  // tokens routed to each expert
  std::vector<std::vector<float>> we(static_cast<size_t>(E));      // and their routing weights
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const int32_t e = ids[size_t(t * K + k)];
      rows[size_t(e)].push_back(t);
      we[size_t(e)].push_back(wts[size_t(t * K + k)]);
    }
  std::vector<ExpertCall> calls;
  std::vector<int64_t> call_expert;
  int64_t n_rows = 0;
  for (int64_t e = 0; e < E; ++e)
    if (!rows[size_t(e)].empty()) {
      calls.push_back({&w.experts[size_t(e)], nullptr, int64_t(rows[size_t(e)].size()), we[size_t(e)].data(), nullptr});
      call_expert.push_back(e);
      n_rows += calls.back().m;
    }
  std::vector<float> xe(size_t(n_rows * D)), ye(size_t(n_rows * D));  // [rows, D] gathered per expert
  int64_t off = 0;
  for (size_t c = 0; c < calls.size(); ++c) {
    const auto& rs = rows[size_t(call_expert[c])];
    for (size_t r = 0; r < rs.size(); ++r)
      std::copy(xs + rs[r] * D, xs + (rs[r] + 1) * D, &xe[size_t((off + int64_t(r)) * D)]);
    calls[c].x = &xe[size_t(off * D)];
    calls[c].y = &ye[size_t(off * D)];
    off += calls[c].m;
  }
  run_experts(env, calls);
  // Sum in expert order, as one expert after another would.
  std::fill(out, out + T * D, 0.0f);
  off = 0;
  for (size_t c = 0; c < calls.size(); ++c) {
    const auto& rs = rows[size_t(call_expert[c])];
    for (size_t r = 0; r < rs.size(); ++r)
      for (int64_t d = 0; d < D; ++d) out[rs[r] * D + d] += ye[size_t((off + int64_t(r)) * D + d)];
    off += calls[c].m;
  }
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
    const ExpertCall shared{&w.shared, xin, T, nullptr, ye.data()};
    run_experts(env, {&shared, 1});
    for (int64_t i = 0; i < T * D; ++i) out[i] += ye[size_t(i)];
  }
}

}  // namespace tachyon::dsv4
