#include "model/deepseek_v4/rope.h"

#include <algorithm>
#include <cmath>

namespace tachyon::dsv4 {

RopeTable::RopeTable(int rope_dim, double base, bool yarn, const ModelConfig& cfg) : dim_(rope_dim) {
  const int half = rope_dim / 2;
  freqs_.resize(size_t(half));
  for (int i = 0; i < half; ++i) {
    const float e = float(2 * i) / float(rope_dim);
    freqs_[size_t(i)] = 1.0f / std::pow(float(base), e);
  }
  if (yarn && cfg.original_max_position_embeddings > 0) {
    auto corr_dim = [&](double rot) {
      return rope_dim * std::log(double(cfg.original_max_position_embeddings) / (rot * 2 * M_PI)) /
             (2 * std::log(base));
    };
    double lo = std::max(std::floor(corr_dim(cfg.beta_fast)), 0.0);
    double hi = std::min(std::ceil(corr_dim(cfg.beta_slow)), double(rope_dim - 1));
    if (lo == hi) hi += 0.001;
    const float factor = float(cfg.rope_factor);
    for (int i = 0; i < half; ++i) {
      float ramp = std::clamp((float(i) - float(lo)) / (float(hi) - float(lo)), 0.0f, 1.0f);
      float smooth = 1.0f - ramp;
      float f = freqs_[size_t(i)];
      freqs_[size_t(i)] = f / factor * (1.0f - smooth) + f * smooth;
    }
  }
}

void RopeTable::fill(int64_t pos, float* cs) const {
  for (size_t i = 0; i < freqs_.size(); ++i) {
    const float a = float(pos) * freqs_[i];
    cs[2 * i] = float(std::cos(double(a)));
    cs[2 * i + 1] = float(std::sin(double(a)));
  }
}

}  // namespace tachyon::dsv4
