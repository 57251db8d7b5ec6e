// The generation sampler: greedy is argmax, seeds reproduce, top-k / top-p restrict the support, and
// sampled frequencies follow the tempered softmax.
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "runtime/sampler.h"

namespace tachyon::runtime {
namespace {

SamplingParams P(float temperature, float top_p, int top_k, uint64_t seed) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_p = top_p;
  p.top_k = top_k;
  p.seed = seed;
  return p;
}

TEST(Sampler, GreedyIsArgmax) {
  const float logits[5] = {0.1f, 2.0f, -1.0f, 1.99f, 0.0f};
  Sampler s(P(0.0f, 1.0f, 0, 0));
  EXPECT_EQ(s.sample(logits, 5), 1);
}

TEST(Sampler, SeedReproducesAndTopKOneIsGreedy) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[size_t(i)] = std::sin(float(i));
  Sampler a(P(1.0f, 1.0f, 0, 42)), b(P(1.0f, 1.0f, 0, 42)), c(P(1.0f, 1.0f, 0, 43));
  std::vector<int32_t> ra, rb, rc;
  for (int i = 0; i < 64; ++i) {
    ra.push_back(a.sample(logits.data(), 50));
    rb.push_back(b.sample(logits.data(), 50));
    rc.push_back(c.sample(logits.data(), 50));
  }
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
  Sampler k1(P(1.0f, 1.0f, 1, 7));
  int best = 0;
  for (int i = 1; i < 50; ++i)
    if (logits[size_t(i)] > logits[size_t(best)]) best = i;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(logits.data(), 50), best);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  // probabilities ~ {0.5, 0.3, 0.15, 0.05}: top_p 0.7 keeps the first two only.
  const float logits[4] = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  Sampler s(P(1.0f, 0.7f, 0, 1));
  for (int i = 0; i < 500; ++i) {
    int32_t t = s.sample(logits, 4);
    EXPECT_TRUE(t == 0 || t == 1) << t;
  }
}

TEST(Sampler, FrequenciesFollowTemperedSoftmax) {
  const float logits[3] = {1.0f, 0.0f, -1.0f};
  const float T = 0.7f;
  Sampler s(P(T, 1.0f, 0, 123));
  const int n = 20000;
  std::map<int, int> count;
  for (int i = 0; i < n; ++i) count[s.sample(logits, 3)]++;
  double z = 0, p[3];
  for (int i = 0; i < 3; ++i) z += (p[i] = std::exp(logits[i] / T));
  double chi2 = 0;
  for (int i = 0; i < 3; ++i) {
    const double e = n * p[i] / z;
    chi2 += (count[i] - e) * (count[i] - e) / e;
  }
  EXPECT_LT(chi2, 13.8);  // p = 0.001 at 2 degrees of freedom
}

TEST(Sampler, BiasPenaltiesMinPAndBannedToken) {
  const float logits[4] = {2.0f, 1.0f, 0.5f, 0.0f};
  SamplingParams p = P(0.0f, 1.0f, 0, 0);
  p.logit_bias = {{3, 5.0f}};
  EXPECT_EQ(Sampler(p).sample(logits, 4), 3);
  EXPECT_EQ(Sampler(p).sample(logits, 4, {}, {}, 3), 0);  // banned (EOS before min_tokens)
  SamplingParams q = P(0.0f, 1.0f, 0, 0);
  q.frequency_penalty = 0.6f;  // token 0 generated twice: 2.0 - 1.2 = 0.8 < 1.0
  EXPECT_EQ(Sampler(q).sample(logits, 4, {}, {0, 0}), 1);
  SamplingParams r = P(0.0f, 1.0f, 0, 0);
  r.repetition_penalty = 4.0f;  // 2.0 / 4 = 0.5 < 1.0 (token 0 is in the prompt)
  EXPECT_EQ(Sampler(r).sample(logits, 4, {0}, {}), 1);
  SamplingParams m = P(1.0f, 1.0f, 0, 5);
  m.min_p = 0.5f;  // p ~ {.61, .22, .14, .08}: only token 0 is within half of the top
  Sampler ms(m);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(ms.sample(logits, 4), 0);
}

TEST(Sampler, Logprobs) {
  const float logits[3] = {0.0f, std::log(3.0f), 0.0f};  // p = {.2, .6, .2}
  float lp = 0;
  std::vector<std::pair<int32_t, float>> top;
  Sampler::logprobs(logits, 3, 0, 2, &lp, &top);
  EXPECT_NEAR(lp, std::log(0.2f), 1e-6);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_NEAR(top[0].second, std::log(0.6f), 1e-6);
  EXPECT_EQ(top[1].first, 0);  // ties: lower id first
}

}  // namespace
}  // namespace tachyon::runtime
