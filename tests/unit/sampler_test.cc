// The generation sampler: greedy is argmax, seeds reproduce, top-k / top-p restrict the support, and
// sampled frequencies follow the tempered softmax.
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "runtime/sampler.h"

namespace tachyon::runtime {
namespace {

TEST(Sampler, GreedyIsArgmax) {
  const float logits[5] = {0.1f, 2.0f, -1.0f, 1.99f, 0.0f};
  Sampler s({0.0f, 1.0f, 0, 0});
  EXPECT_EQ(s.sample(logits, 5), 1);
}

TEST(Sampler, SeedReproducesAndTopKOneIsGreedy) {
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[size_t(i)] = std::sin(float(i));
  Sampler a({1.0f, 1.0f, 0, 42}), b({1.0f, 1.0f, 0, 42}), c({1.0f, 1.0f, 0, 43});
  std::vector<int32_t> ra, rb, rc;
  for (int i = 0; i < 64; ++i) {
    ra.push_back(a.sample(logits.data(), 50));
    rb.push_back(b.sample(logits.data(), 50));
    rc.push_back(c.sample(logits.data(), 50));
  }
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
  Sampler k1({1.0f, 1.0f, 1, 7});
  int best = 0;
  for (int i = 1; i < 50; ++i)
    if (logits[size_t(i)] > logits[size_t(best)]) best = i;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(logits.data(), 50), best);
}

TEST(Sampler, TopPKeepsTheNucleus) {
  // probabilities ~ {0.5, 0.3, 0.15, 0.05}: top_p 0.7 keeps the first two only.
  const float logits[4] = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  Sampler s({1.0f, 0.7f, 0, 1});
  for (int i = 0; i < 500; ++i) {
    int32_t t = s.sample(logits, 4);
    EXPECT_TRUE(t == 0 || t == 1) << t;
  }
}

TEST(Sampler, FrequenciesFollowTemperedSoftmax) {
  const float logits[3] = {1.0f, 0.0f, -1.0f};
  const float T = 0.7f;
  Sampler s({T, 1.0f, 0, 123});
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

}  // namespace
}  // namespace tachyon::runtime
