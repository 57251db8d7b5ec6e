// Mixture of experts (spec §2.7, §7 items 8-9): sqrt-softplus affinities, a bias used only for the
// selection, hash routing through tid2eid in the first layers, weights renormalised over the selected
// experts and scaled, clamped SwiGLU experts (gate <= limit, up in [-limit, limit]) and one shared expert.
#include <algorithm>
#include <cmath>
#include <optional>
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

// Clamped SwiGLU expert on rows x [m, D] -> y [m, D]; `weight` (per row, may be null) scales the
// intermediate before w2 (spec §2.7).
void expert_forward(const LayerEnv& env, const ExpertWeights& e, const float* x, int64_t m, const float* weight,
                    float* y) {
  const ModelConfig& cfg = env.cfg;
  const int64_t I = cfg.moe_intermediate_size;
  std::vector<float> g(size_t(m * I)), u(size_t(m * I));  // [m, I]
  linear_q(env.ctx, x, m, e.w1, g.data());
  linear_q(env.ctx, x, m, e.w3, u.data());
  const float lim = float(cfg.swiglu_limit);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < I; ++i) {
      float gv = g[size_t(r * I + i)], uv = u[size_t(r * I + i)];
      if (lim > 0) {
        uv = std::clamp(uv, -lim, lim);
        gv = std::min(gv, lim);
      }
      float h = gv / (1.0f + std::exp(-gv)) * uv;
      if (weight) h *= weight[r];
      g[size_t(r * I + i)] = h;
    }
  linear_q(env.ctx, g.data(), m, e.w2, y);  // [m, D]
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

  // ---- routed experts, in expert order, each over the rows routed to it ----
  scope.emplace(prof, OpFamily::kExperts);
  int64_t n_run = 0;  // distinct experts this call ran
  std::fill(out, out + T * D, 0.0f);
  std::vector<int64_t> rows;
  std::vector<float> xe, we, ye;
  for (int64_t e = 0; e < E; ++e) {
    rows.clear();
    we.clear();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < K; ++k)
        if (ids[size_t(t * K + k)] == e) {
          rows.push_back(t);
          we.push_back(wts[size_t(t * K + k)]);
        }
    if (rows.empty()) continue;
    ++n_run;
    const int64_t m = int64_t(rows.size());
    xe.resize(size_t(m * D));                // [m, D]
    for (int64_t r = 0; r < m; ++r) std::copy(x + rows[size_t(r)] * D, x + (rows[size_t(r)] + 1) * D, &xe[size_t(r * D)]);
    ye.resize(size_t(m * D));                // [m, D]
    expert_forward(env, w.experts[size_t(e)], xe.data(), m, we.data(), ye.data());
    for (int64_t r = 0; r < m; ++r)
      for (int64_t d = 0; d < D; ++d) out[rows[size_t(r)] * D + d] += ye[size_t(r * D + d)];
  }
  if (prof) prof->add_experts(env.layer, n_run);
  // ---- shared expert ----
  scope.emplace(prof, OpFamily::kShared);
  if (cfg.n_shared_experts > 0) {
    ye.resize(size_t(T * D));                // [T, D]
    expert_forward(env, w.shared, x, T, nullptr, ye.data());
    for (int64_t i = 0; i < T * D; ++i) out[i] += ye[size_t(i)];
  }
}

}  // namespace tachyon::dsv4
