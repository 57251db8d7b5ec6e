// Scalar kernels of the mixture of experts (kernels.h): the clamped SwiGLU and the router.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels.h"

namespace tachyon::cpu::ref {

void swiglu(const float* gate, const float* up, int64_t n, float limit, const float* weight, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    float gv = gate[i], uv = up[i];
    if (limit > 0) {
      uv = std::clamp(uv, -limit, limit);
      gv = std::min(gv, limit);
    }
    float h = gv / (1.0f + std::exp(-gv)) * uv;
    if (weight) h *= *weight;
    out[i] = h;
  }
}

namespace {
float score_of(RouterScore f, float z) {
  switch (f) {
    case RouterScore::kSqrtSoftplus: return std::sqrt(z > 20.0f ? z : std::log1p(std::exp(z)));
    case RouterScore::kSigmoid: return 1.0f / (1.0f + std::exp(-z));
    case RouterScore::kSoftmax: return z;  // normalised over the row by route()
  }
  return z;
}
}  // namespace

void route(const float* logits, int64_t n_tokens, const RouterSpec& spec, int32_t* ids, float* weights) {
  const int64_t E = spec.n_experts, K = spec.top_k;
  std::vector<float> s(static_cast<size_t>(E)), sel(static_cast<size_t>(E));  // [E] scores, selection keys
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* z = logits + t * E;
    for (int64_t e = 0; e < E; ++e) s[size_t(e)] = score_of(spec.score, z[e]);
    if (spec.score == RouterScore::kSoftmax) {
      const float mx = *std::max_element(s.begin(), s.end());
      float sum = 0.0f;
      for (int64_t e = 0; e < E; ++e) sum += (s[size_t(e)] = std::exp(s[size_t(e)] - mx));
      for (int64_t e = 0; e < E; ++e) s[size_t(e)] /= sum;
    }
    int32_t* it = ids + t * K;
    if (!spec.hashed) {
      for (int64_t e = 0; e < E; ++e) sel[size_t(e)] = s[size_t(e)] + (spec.bias ? spec.bias[e] : 0.0f);
      topk(sel.data(), E, K, it);
    }
    float* wt = weights + t * K;
    float sum = 0.0f;
    for (int64_t k = 0; k < K; ++k) sum += (wt[k] = s[size_t(it[k])]);
    for (int64_t k = 0; k < K; ++k) {
      if (spec.renormalise) wt[k] /= sum;
      wt[k] *= spec.scale;
    }
  }
}

}  // namespace tachyon::cpu::ref
