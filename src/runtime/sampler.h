// Token sampling from a row of logits: greedy at temperature 0, otherwise temperature softmax with
// optional top-k / top-p. The random stream is a per-request seeded generator, so a seed reproduces a
// generation regardless of what else runs.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace tachyon::runtime {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  float top_p = 1.0f;
  int top_k = 0;             // 0 = off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  int32_t sample(const float* logits, int64_t vocab);

 private:
  double uniform();  // in [0, 1), from the raw 64-bit stream (portable, unlike std::uniform_*_distribution)
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace tachyon::runtime
