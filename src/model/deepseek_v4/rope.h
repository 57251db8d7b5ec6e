// RoPE tables (spec §2.6). Window-only layers (ratio 0, and the MTP layer) use theta = rope_theta without
// YaRN; compressed layers use compress_rope_theta with YaRN always applied. Angles are formed in fp32 as
// float(pos) * freq, as the reference does, then cos/sin are taken.
#pragma once

#include <cstdint>
#include <vector>

#include "io/config.h"

namespace tachyon::dsv4 {

class RopeTable {
 public:
  RopeTable() = default;
  RopeTable(int rope_dim, double base, bool yarn, const ModelConfig& cfg);
  // cos_sin[2i] = cos(pos * f_i), cos_sin[2i + 1] = sin(pos * f_i), i < rope_dim / 2.
  void fill(int64_t pos, float* cos_sin) const;
  int dim() const { return dim_; }
  const std::vector<float>& freqs() const { return freqs_; }

 private:
  int dim_ = 0;
  std::vector<float> freqs_;
};

}  // namespace tachyon::dsv4
