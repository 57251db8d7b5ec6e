// The softmax with a sink logit that every attention_sink kernel applies to one head's scores (plain
// scalar code, the same in every instruction set; kernels.h ref::attention_sink defines it).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tachyon::cpu {

// p[j] <- e^(scale * p[j] - M) for the n raw scores p (q . k_j), M = max(sink, the scaled scores);
// returns 1 / (e^(sink - M) + sum_j p[j]), summed in key order.
inline float sink_softmax(float* p, int64_t n, float sink, float scale) {
  float mx = sink;
  for (int64_t j = 0; j < n; ++j) {
    p[j] *= scale;
    mx = std::max(mx, p[j]);
  }
  float denom = std::exp(sink - mx);
  for (int64_t j = 0; j < n; ++j) {
    p[j] = std::exp(p[j] - mx);  // now the weight p_j
    denom += p[j];
  }
  return 1.0f / denom;
}

}  // namespace tachyon::cpu
