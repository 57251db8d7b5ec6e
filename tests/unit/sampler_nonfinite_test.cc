// The sampler on logits that are not numbers: the engine fails such requests before sampling, so this only
// checks that bad input stays defined: NaN is never chosen, -1 when nothing can be, and logprobs and
// top-k orderings do not break on NaN (std::partial_sort needs a strict weak order).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/sampler.h"

namespace tachyon::runtime {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

SamplingParams sampled(float top_p = 1.0f, int top_k = 0, float min_p = 0.0f) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = top_p;
  p.top_k = top_k;
  p.min_p = min_p;
  p.seed = 3;
  return p;
}

TEST(SamplerNonFinite, GreedySkipsNanAndReturnsMinusOneWhenNothingIsANumber) {
  Sampler s(SamplingParams{});
  const std::vector<float> mixed = {kNaN, 1.0f, 3.0f, kNaN, 3.0f, 2.0f};
  EXPECT_EQ(s.sample(mixed.data(), int64_t(mixed.size())), 2);  // the first largest number
  const std::vector<float> none = {kNaN, kNaN, -INFINITY};
  EXPECT_EQ(s.sample(none.data(), int64_t(none.size())), -1);
  const std::vector<float> clean = {0.5f, -1.0f, 0.5f};
  EXPECT_EQ(s.sample(clean.data(), 3), 0);
  EXPECT_EQ(s.sample(clean.data(), 3, {}, {}, 0), 2);  // the banned token is skipped
}

TEST(SamplerNonFinite, SampledNeverDrawsNanAndReturnsMinusOneWhenNothingIsANumber) {
  const std::vector<float> mixed = {kNaN, 0.0f, 0.5f, kNaN, 1.0f};
  for (const SamplingParams& p : {sampled(), sampled(0.5f), sampled(1.0f, 2), sampled(1.0f, 0, 0.5f)}) {
    Sampler s(p);
    for (int i = 0; i < 200; ++i) {
      const int32_t t = s.sample(mixed.data(), int64_t(mixed.size()));
      EXPECT_TRUE(t == 1 || t == 2 || t == 4) << t;
    }
    const std::vector<float> none = {kNaN, kNaN};
    EXPECT_EQ(s.sample(none.data(), 2), -1);
    const std::vector<float> inf = {INFINITY, 1.0f};  // exp(inf - inf) is no weight
    EXPECT_EQ(s.sample(inf.data(), 2), -1);
    std::vector<float> probs;
    s.distribution(none.data(), 2, {}, {}, -1, probs);
    EXPECT_EQ(probs, std::vector<float>(2, 0.0f));
    EXPECT_EQ(s.draw(probs), -1);
  }
}

TEST(SamplerNonFinite, DrawSkipsEntriesThatAreNotPositiveNumbers) {
  Sampler s(sampled());
  const std::vector<float> probs = {kNaN, 0.0f, INFINITY, -1.0f, 0.25f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.draw(probs), 4);
  EXPECT_EQ(s.draw({kNaN, 0.0f}), -1);
}

TEST(SamplerNonFinite, LogprobsOrderNanLast) {
  std::vector<float> logits(64);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = i % 3 == 0 ? kNaN : float(i % 7);
  float lp = 0;
  std::vector<std::pair<int32_t, float>> top;
  Sampler::logprobs(logits.data(), int64_t(logits.size()), 1, 5, &lp, &top);
  ASSERT_EQ(top.size(), 5u);
  for (const auto& [id, v] : top) EXPECT_FALSE(std::isnan(logits[size_t(id)])) << id;
}

}  // namespace
}  // namespace tachyon::runtime
