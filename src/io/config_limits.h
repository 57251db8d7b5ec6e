// The allowed range of every numeric config.json key the loader reads. Each range holds both real
// DeepSeek-V4 checkpoints (V4-Flash and V4-Pro) and the small test models with wide headroom, and
// keeps a hostile config from asking for endless loops (hc_sinkhorn_iters = 1e9) or absurd sizes
// before any weight is looked at.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tachyon {

// Largest config.json read (real ones are a few KiB).
inline constexpr uint64_t kMaxConfigFileBytes = 1ull << 20;

struct ConfigLimit {
  std::string_view key;  // the JSON key; nested ones as "rope_scaling.factor"; array entries as "compress_ratios[]"
  double lo, hi;         // inclusive
  bool integer;
};

std::span<const ConfigLimit> config_limits();
const ConfigLimit* find_config_limit(std::string_view key);

// "[1, 1000]" for the limit of `key` (which must have one).
std::string config_limit_range(const ConfigLimit& limit);

// An error naming `src`, `name` (the key, or e.g. "compress_ratios[3]") and the allowed range when
// `v` lies outside the limit of `key` (NaN included); ok otherwise.
Status check_config_limit(const std::string& src, std::string_view key, std::string_view name, double v);
inline Status check_config_limit(const std::string& src, std::string_view key, double v) {
  return check_config_limit(src, key, key, v);
}

}  // namespace tachyon
