// `tachyon accuracy`: how far each numeric mode's logits lie from `exact` (fp32, no quantisation) on the
// same token sequences, teacher-forced. The acceptance rule for any faster mode: its deviation from exact
// is no larger than `official`'s (the reference's own quantisation points) on every metric.
//
//   rel_l2   ||mode - exact||_2 / ||exact||_2 over all rows and the vocabulary
//   mean_kl  mean over rows of KL(softmax(exact) || softmax(mode)), in nats
//   top1     fraction of rows whose argmax equals exact's
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/deepseek_v4/model.h"

namespace tachyon::runtime {

struct LogitDeviation {
  double rel_l2 = 0, mean_kl = 0, top1 = 1;
  int64_t rows = 0;
};

// Sums over rows, so that sequences can be pooled before the ratios are taken.
class DeviationSum {
 public:
  void add(const float* ref, const float* got, int64_t rows, int64_t vocab);
  LogitDeviation result() const;

 private:
  double diff2_ = 0, ref2_ = 0, kl_ = 0;
  int64_t agree_ = 0, rows_ = 0;
};

struct ModeAccuracy {
  std::string mode;
  LogitDeviation logits, mtp;  // mtp.rows == 0 when the model has no MTP module
  // Per sequence, in input order (logits only).
  std::vector<LogitDeviation> per_sequence;
};

struct AccuracyReport {
  int64_t sequences = 0, tokens = 0;
  std::vector<ModeAccuracy> modes;  // in the order asked
  // Whether `mode`'s deviation is at most official's on every metric (rel_l2 and mean_kl no larger,
  // top1 no smaller; logits and MTP logits). Official itself is always within.
  bool within_official(const ModeAccuracy& mode) const;
};

// An error naming the first of `modes` that is not a mode to compare with exact.
Status check_modes(const std::vector<std::string>& modes);

// Scores every sequence in exact numerics and in each of `modes` (names Numerics::parse accepts; official
// is added when missing, since it is the yardstick), with MTP logits when the model has an MTP module.
Result<AccuracyReport> measure_accuracy(dsv4::Model& model, const dsv4::ModelContext& base,
                                        const std::vector<std::vector<int32_t>>& sequences,
                                        const std::vector<std::string>& modes);

// `count` sequences of `length` tokens that the model itself finds likely: a few seeded random tokens,
// then its greedy continuation in exact numerics. Deterministic for a seed.
std::vector<std::vector<int32_t>> greedy_sequences(dsv4::Model& model, const dsv4::ModelContext& base, int count,
                                                   int64_t length, uint64_t seed);

}  // namespace tachyon::runtime
