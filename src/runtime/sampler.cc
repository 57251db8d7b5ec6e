#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

namespace tachyon::runtime {

double Sampler::uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::sample(const float* logits, int64_t vocab) {
  if (p_.temperature <= 0.0f) {
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i)
      if (logits[i] > logits[best]) best = i;
    return int32_t(best);
  }
  cand_.clear();
  float mx = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, logits[i]);
  for (int64_t i = 0; i < vocab; ++i) cand_.push_back({std::exp((logits[i] - mx) / p_.temperature), int32_t(i)});
  std::sort(cand_.begin(), cand_.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  size_t keep = cand_.size();
  if (p_.top_k > 0) keep = std::min(keep, size_t(p_.top_k));
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += cand_[i].first;
  if (p_.top_p < 1.0f) {
    double run = 0;
    for (size_t i = 0; i < keep; ++i) {
      run += cand_[i].first;
      if (run >= p_.top_p * total) {
        keep = i + 1;
        break;
      }
    }
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += cand_[i].first;
  }
  double u = uniform() * total, run = 0;
  for (size_t i = 0; i < keep; ++i) {
    run += cand_[i].first;
    if (u < run) return cand_[i].second;
  }
  return cand_[keep - 1].second;
}

}  // namespace tachyon::runtime
