// The logit-deviation metrics of `tachyon accuracy` (tools/accuracy.h), on rows worked out by hand.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "tools/accuracy.h"

namespace tachyon::runtime {
namespace {

TEST(Accuracy, IdenticalRowsDeviateByNothing) {
  const std::vector<float> a = {1, 2, 3, -1, 0.5f, 0.25f};
  DeviationSum s;
  s.add(a.data(), a.data(), 2, 3);
  const LogitDeviation d = s.result();
  EXPECT_EQ(d.rows, 2);
  EXPECT_EQ(d.rel_l2, 0.0);
  EXPECT_NEAR(d.mean_kl, 0.0, 1e-15);
  EXPECT_EQ(d.top1, 1.0);
}

TEST(Accuracy, HandComputedRow) {
  // exact [0, ln 3] -> p = [1/4, 3/4]; mode [0, 0] -> q = [1/2, 1/2].
  // KL(p || q) = 1/4 ln(1/2) + 3/4 ln(3/2); rel_l2 = ln 3 / ln 3 = 1; argmax differs (ties pick index 0).
  const float l3 = std::log(3.0f);
  const std::vector<float> ref = {0, l3}, got = {0, 0};
  DeviationSum s;
  s.add(ref.data(), got.data(), 1, 2);
  const LogitDeviation d = s.result();
  EXPECT_NEAR(d.mean_kl, 0.25 * std::log(0.5) + 0.75 * std::log(1.5), 1e-7);
  EXPECT_NEAR(d.rel_l2, 1.0, 1e-7);
  EXPECT_EQ(d.top1, 0.0);
}

TEST(Accuracy, AConstantShiftChangesOnlyTheL2) {
  // Softmax ignores a per-row constant: KL 0 and the same argmax, but the logits differ.
  const std::vector<float> ref = {1, 2, 4, 3, 0, -2}, got = {2, 3, 5, 1, -2, -4};
  DeviationSum s;
  s.add(ref.data(), got.data(), 2, 3);
  const LogitDeviation d = s.result();
  EXPECT_NEAR(d.mean_kl, 0.0, 1e-7);
  EXPECT_EQ(d.top1, 1.0);
  // ||diff||^2 = 3 * 1 + 3 * 4 = 15, ||ref||^2 = 1 + 4 + 16 + 9 + 0 + 4 = 34.
  EXPECT_NEAR(d.rel_l2, std::sqrt(15.0 / 34.0), 1e-12);
}

TEST(Accuracy, PoolsRowsAcrossCalls) {
  const std::vector<float> ref = {0, 1}, same = {0, 1}, flipped = {1, 0};
  DeviationSum s;
  s.add(ref.data(), same.data(), 1, 2);
  s.add(ref.data(), flipped.data(), 1, 2);
  EXPECT_EQ(s.result().rows, 2);
  EXPECT_EQ(s.result().top1, 0.5);
  // diff^2 = 0 + 2, ref^2 = 1 + 1.
  EXPECT_NEAR(s.result().rel_l2, 1.0, 1e-12);
}

TEST(Accuracy, WithinOfficialNeedsEveryMetric) {
  AccuracyReport rep;
  ModeAccuracy off, better, worse_kl, worse_top1;
  off.mode = "official";
  off.logits = {0.10, 0.010, 0.90, 10};
  better = {"fast", {0.05, 0.005, 0.95, 10}, {}, {}};
  worse_kl = {"fast", {0.05, 0.011, 0.95, 10}, {}, {}};
  worse_top1 = {"fast", {0.05, 0.005, 0.85, 10}, {}, {}};
  rep.modes = {off, better, worse_kl, worse_top1};
  EXPECT_TRUE(rep.within_official(rep.modes[0]));
  EXPECT_TRUE(rep.within_official(rep.modes[1]));
  EXPECT_FALSE(rep.within_official(rep.modes[2]));
  EXPECT_FALSE(rep.within_official(rep.modes[3]));
  // MTP logits count too, when there are any.
  rep.modes[1].mtp = {0.2, 0.01, 0.9, 5};
  rep.modes[0].mtp = {0.1, 0.01, 0.9, 5};
  EXPECT_FALSE(rep.within_official(rep.modes[1]));
}

}  // namespace
}  // namespace tachyon::runtime
