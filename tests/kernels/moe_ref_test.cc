// The scalar kernels of the mixture of experts, the compressor's pooling and the hyper-connection head
// weights against double-precision transcriptions of their definitions (spec §2.4, §2.7, §2.8).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/cpu/kernels.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

double silu(double g) { return g / (1.0 + std::exp(-g)); }

TEST(RefSwiglu, MatchesDefinition) {
  Rng rng(201);
  const int64_t n = 300;
  const auto g = randn(rng, n, 8.0f), u = randn(rng, n, 8.0f);
  for (float limit : {10.0f, 2.5f, 0.0f}) {
    for (bool weighted : {false, true}) {
      const float wt = 0.37f;
      std::vector<float> out(static_cast<size_t>(n));
      ref::swiglu(g.data(), u.data(), n, limit, weighted ? &wt : nullptr, out.data());
      for (int64_t i = 0; i < n; ++i) {
        double gv = g[size_t(i)], uv = u[size_t(i)];
        if (limit > 0) {
          gv = std::min(gv, double(limit));
          uv = std::clamp(uv, -double(limit), double(limit));
        }
        const double want = silu(gv) * uv * (weighted ? double(wt) : 1.0);
        ASSERT_NEAR(out[size_t(i)], want, 1e-6 * std::fabs(want) + 1e-30) << "limit " << limit << " i " << i;
      }
    }
  }
}

TEST(RefSwiglu, ClampsGateAboveOnlyAndUpBothWays) {
  const float g[3] = {50.0f, -50.0f, 3.0f}, u[3] = {-40.0f, 1.0f, 40.0f};
  float out[3];
  ref::swiglu(g, u, 3, 10.0f, nullptr, out);
  EXPECT_NEAR(out[0], silu(10.0) * -10.0, 1e-5);  // gate 50 -> 10, up -40 -> -10
  EXPECT_NEAR(out[1], silu(-50.0) * 1.0, 1e-25);  // a negative gate is not clamped
  EXPECT_NEAR(out[2], silu(3.0) * 10.0, 1e-5);    // up 40 -> 10
}

TEST(RefSwiglu, InPlace) {
  Rng rng(202);
  auto g = randn(rng, 40, 3.0f);
  const auto u = randn(rng, 40, 3.0f);
  std::vector<float> want(40);
  ref::swiglu(g.data(), u.data(), 40, 10.0f, nullptr, want.data());
  ref::swiglu(g.data(), u.data(), 40, 10.0f, nullptr, g.data());
  EXPECT_EQ(g, want);
}

// The expected routing of one token, in double.
struct Routed {
  std::vector<int32_t> ids;
  std::vector<double> weights;
};
Routed route_double(const float* z, const RouterSpec& s, const int32_t* given) {
  const int64_t E = s.n_experts, K = s.top_k;
  std::vector<double> sc(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    const double v = z[e];
    sc[size_t(e)] = s.score == RouterScore::kSqrtSoftplus ? std::sqrt(std::log1p(std::exp(v)))
                    : s.score == RouterScore::kSigmoid    ? 1.0 / (1.0 + std::exp(-v))
                                                          : v;
  }
  if (s.score == RouterScore::kSoftmax) {
    const double mx = *std::max_element(sc.begin(), sc.end());
    double sum = 0;
    for (double& v : sc) sum += (v = std::exp(v - mx));
    for (double& v : sc) v /= sum;
  }
  Routed r;
  if (given) {
    r.ids.assign(given, given + K);
  } else {
    std::vector<int32_t> idx(static_cast<size_t>(E));
    std::iota(idx.begin(), idx.end(), 0);
    auto key = [&](int32_t e) { return sc[size_t(e)] + (s.bias ? double(s.bias[e]) : 0.0); };
    std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return key(a) > key(b); });
    r.ids.assign(idx.begin(), idx.begin() + K);
  }
  double sum = 0;
  for (int32_t e : r.ids) sum += sc[size_t(e)];
  for (int32_t e : r.ids) r.weights.push_back(sc[size_t(e)] / (s.renormalise ? sum : 1.0) * s.scale);
  return r;
}

TEST(RefRoute, MatchesDefinition) {
  Rng rng(203);
  const int64_t T = 20, E = 24, K = 5;
  const auto logits = randn(rng, size_t(T * E), 2.5f);
  const auto bias = randn(rng, size_t(E), 0.5f);
  std::vector<int32_t> given(size_t(T * K));
  for (auto& e : given) e = int32_t(uniform_int(rng, 0, E - 1));
  for (RouterScore score : {RouterScore::kSqrtSoftplus, RouterScore::kSigmoid, RouterScore::kSoftmax})
    for (bool with_bias : {false, true})
      for (bool hashed : {false, true}) {
        RouterSpec s;
        s.n_experts = E;
        s.top_k = K;
        s.score = score;
        s.bias = with_bias ? bias.data() : nullptr;
        s.hashed = hashed;
        s.renormalise = score != RouterScore::kSoftmax;
        s.scale = 1.5f;
        std::vector<int32_t> ids = hashed ? given : std::vector<int32_t>(size_t(T * K), -1);
        std::vector<float> w(size_t(T * K));
        ref::route(logits.data(), T, s, ids.data(), w.data());
        for (int64_t t = 0; t < T; ++t) {
          SCOPED_TRACE(::testing::Message() << "score " << int(score) << " bias " << with_bias << " hashed " << hashed
                                          << " token " << t);
          const Routed want = route_double(&logits[size_t(t * E)], s, hashed ? &given[size_t(t * K)] : nullptr);
          for (int64_t k = 0; k < K; ++k) {
            ASSERT_EQ(ids[size_t(t * K + k)], want.ids[size_t(k)]) << k;
            ASSERT_NEAR(w[size_t(t * K + k)], want.weights[size_t(k)], 2e-6 * want.weights[size_t(k)]) << k;
          }
        }
      }
}

TEST(RefRoute, LargeLogitsUseTheIdentityForSoftplus) {
  // softplus(z) is z above 20 (e^z would overflow far above it); the selection still orders them.
  const float z[3] = {100.0f, 30.0f, 1000.0f};
  RouterSpec s;
  s.n_experts = 3;
  s.top_k = 3;
  s.renormalise = false;
  int32_t ids[3];
  float w[3];
  ref::route(z, 1, s, ids, w);
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(ids[1], 0);
  EXPECT_EQ(ids[2], 1);
  EXPECT_FLOAT_EQ(w[0], std::sqrt(1000.0f));
  EXPECT_FLOAT_EQ(w[1], 10.0f);
  EXPECT_FLOAT_EQ(w[2], std::sqrt(30.0f));
}

TEST(RefSoftmaxPool, MatchesDefinition) {
  Rng rng(204);
  for (int64_t n : {1, 4, 8, 256}) {
    const int64_t d = 37;
    std::vector<std::vector<float>> v, s;
    std::vector<const float*> vp, sp;
    for (int64_t r = 0; r < n; ++r) {
      v.push_back(randn(rng, size_t(d)));
      s.push_back(randn(rng, size_t(d), 3.0f));
      if (r == 0 && n > 1) std::fill(s.back().begin(), s.back().end(), -INFINITY);  // an empty slot: weight 0
    }
    for (int64_t r = 0; r < n; ++r) {
      vp.push_back(v[size_t(r)].data());
      sp.push_back(s[size_t(r)].data());
    }
    std::vector<float> out(static_cast<size_t>(d));
    ref::softmax_pool(vp.data(), sp.data(), n, d, out.data());
    for (int64_t k = 0; k < d; ++k) {
      double mx = -INFINITY, z = 0, acc = 0;
      for (int64_t r = 0; r < n; ++r) mx = std::max(mx, double(s[size_t(r)][size_t(k)]));
      for (int64_t r = 0; r < n; ++r) z += std::exp(double(s[size_t(r)][size_t(k)]) - mx);
      for (int64_t r = 0; r < n; ++r)
        acc += double(v[size_t(r)][size_t(k)]) * std::exp(double(s[size_t(r)][size_t(k)]) - mx) / z;
      ASSERT_NEAR(out[size_t(k)], acc, 1e-5 * (1.0 + std::fabs(acc))) << "n " << n << " k " << k;
    }
    if (n == 1) {
      for (int64_t k = 0; k < d; ++k) ASSERT_EQ(out[size_t(k)], v[0][size_t(k)]);  // one row: itself
    }
  }
}

TEST(RefHcHeadWeights, MatchesDefinition) {
  Rng rng(205);
  const int hc = 4;
  const auto mixes = randn(rng, hc, 3.0f), base = randn(rng, hc);
  float w[hc];
  ref::hc_head_weights(mixes.data(), 0.7f, base.data(), hc, 1e-6f, w);
  for (int i = 0; i < hc; ++i) {
    const double v = double(mixes[size_t(i)]) * 0.7 + base[size_t(i)];
    EXPECT_NEAR(w[i], 1.0 / (1.0 + std::exp(-v)) + 1e-6, 1e-6) << i;
  }
}

}  // namespace
}  // namespace tachyon::cpu
