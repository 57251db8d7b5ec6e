#include "io/config_limits.h"

#include <array>
#include <cmath>

namespace tachyon {

namespace {

constexpr double kI32 = 2147483647.0;

// V4-Flash / V4-Pro values in the comments.
constexpr std::array kLimits = {
    ConfigLimit{"hidden_size", 1, 65536, true},                  // 4096 / 7168
    ConfigLimit{"num_hidden_layers", 1, 1024, true},             // 43 / 61
    ConfigLimit{"num_attention_heads", 1, 1024, true},           // 64 / 128
    ConfigLimit{"head_dim", 1, 4096, true},                      // 512
    ConfigLimit{"qk_rope_head_dim", 2, 1024, true},              // 64
    ConfigLimit{"q_lora_rank", 1, 65536, true},                  // 1024 / 1536
    ConfigLimit{"o_groups", 1, 1024, true},                      // 8 / 16
    ConfigLimit{"o_lora_rank", 1, 65536, true},                  // 1024
    ConfigLimit{"sliding_window", 1, 65536, true},               // 128
    ConfigLimit{"compress_ratios[]", 0, 1024, true},             // 0, 4, 128 (1 is refused separately)
    ConfigLimit{"rope_theta", 2, 1e12, false},                   // 10000
    ConfigLimit{"compress_rope_theta", 2, 1e12, false},          // 160000
    ConfigLimit{"max_position_embeddings", 0, 1 << 30, true},    // 1048576
    ConfigLimit{"index_n_heads", 0, 1024, true},                 // 64
    ConfigLimit{"index_head_dim", 0, 4096, true},                // 128
    ConfigLimit{"index_topk", 0, 65536, true},                   // 512 / 1024
    ConfigLimit{"n_routed_experts", 1, 16384, true},             // 256 / 384
    ConfigLimit{"num_experts_per_tok", 1, 1024, true},           // 6
    ConfigLimit{"n_shared_experts", 0, 1, true},                 // 1
    ConfigLimit{"moe_intermediate_size", 1, 65536, true},        // 2048 / 3072
    ConfigLimit{"routed_scaling_factor", 0, 1000, false},        // 1.5 / 2.5
    ConfigLimit{"num_hash_layers", 0, 1024, true},               // 3
    ConfigLimit{"swiglu_limit", 0, 1e6, false},                  // 10 (0: no clamp)
    ConfigLimit{"hc_mult", 1, 64, true},                         // 4
    ConfigLimit{"hc_sinkhorn_iters", 1, 1000, true},             // 20
    ConfigLimit{"hc_eps", 0, 1, false},                          // 1e-6
    ConfigLimit{"rms_norm_eps", 1e-12, 1, false},                // 1e-6
    ConfigLimit{"vocab_size", 1, 1 << 24, true},                 // 129280
    ConfigLimit{"num_nextn_predict_layers", 0, 1, true},         // 1
    ConfigLimit{"bos_token_id", 0, kI32, true},                  // 0; also below vocab_size
    ConfigLimit{"eos_token_id", 0, kI32, true},                  // 1; also below vocab_size
    ConfigLimit{"rope_scaling.factor", 1, 1024, false},          // 16
    ConfigLimit{"rope_scaling.original_max_position_embeddings", 0, 1 << 30, true},  // 65536
    ConfigLimit{"rope_scaling.beta_fast", 0.001, 10000, false},  // 32
    ConfigLimit{"rope_scaling.beta_slow", 0.001, 10000, false},  // 1
    ConfigLimit{"quantization_config.weight_block_size[]", 1, 1024, true},  // [128, 128]
};

std::string number(double v, bool integer) {
  if (integer && std::isfinite(v) && std::fabs(v) < 9.0e15) return fmt::format("{}", int64_t(v));
  return fmt::format("{}", v);
}

}  // namespace

std::span<const ConfigLimit> config_limits() { return kLimits; }

const ConfigLimit* find_config_limit(std::string_view key) {
  for (const ConfigLimit& l : kLimits)
    if (l.key == key) return &l;
  return nullptr;
}

std::string config_limit_range(const ConfigLimit& l) {
  return fmt::format("[{}, {}]", number(l.lo, l.integer), number(l.hi, l.integer));
}

Status check_config_limit(const std::string& src, std::string_view key, std::string_view name, double v) {
  const ConfigLimit* l = find_config_limit(key);
  if (l == nullptr) return error("{}: '{}' has no known range (internal error)", src, key);
  if (v >= l->lo && v <= l->hi && (!l->integer || v == std::floor(v))) return Status::ok();
  return error("{}: '{}' = {} is out of range; allowed {}", src, name, number(v, l->integer),
               config_limit_range(*l));
}

}  // namespace tachyon
