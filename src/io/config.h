// ModelConfig: the DeepSeek-V4 hyper-parameters, parsed from the Hugging Face config.json (spec §1) and
// validated. Field names follow the HF keys; derived helpers give each layer's attention kind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace tachyon {

enum class ScoreFunc { kSqrtSoftplus, kSigmoid, kSoftmax };

struct ModelConfig {
  int hidden_size = 0;              // D
  int num_hidden_layers = 0;        // main layers (the MTP layer is extra)
  int num_attention_heads = 0;      // H
  int head_dim = 512;
  int qk_rope_head_dim = 64;
  int q_lora_rank = 0;
  int o_groups = 0;
  int o_lora_rank = 0;
  int sliding_window = 128;
  std::vector<int> compress_ratios;  // num_hidden_layers + 1 entries; the last is the MTP layer
  double rope_theta = 10000.0;
  double compress_rope_theta = 160000.0;
  // YaRN (applied on compressed layers when original_max_position_embeddings > 0)
  double rope_factor = 1.0;
  int original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  int64_t max_position_embeddings = 0;
  int index_n_heads = 0;
  int index_head_dim = 0;
  int index_topk = 0;
  int n_routed_experts = 0;
  int num_experts_per_tok = 0;
  int n_shared_experts = 1;
  int moe_intermediate_size = 0;
  ScoreFunc scoring_func = ScoreFunc::kSqrtSoftplus;
  double routed_scaling_factor = 1.0;
  int num_hash_layers = 0;
  double swiglu_limit = 0.0;
  int hc_mult = 4;
  int hc_sinkhorn_iters = 20;
  double hc_eps = 1e-6;
  double rms_norm_eps = 1e-6;
  int vocab_size = 0;
  int num_nextn_predict_layers = 0;
  bool expert_fp4 = true;  // expert_dtype == "fp4" (else FP8 experts with 128x128 scales)
  int bos_token_id = 0;
  int eos_token_id = 1;
  int weight_block_size = 128;

  // ---- derived ----
  int nope_head_dim() const { return head_dim - qk_rope_head_dim; }
  int ratio(int layer) const { return compress_ratios[size_t(layer)]; }  // layer == num_hidden_layers: MTP
  bool has_indexer(int layer) const { return ratio(layer) == 4; }
  bool overlap(int layer) const { return ratio(layer) == 4; }
  bool is_hash_layer(int layer) const { return layer < num_hash_layers; }
  int heads_per_group() const { return num_attention_heads / o_groups; }
  bool has_mtp() const { return num_nextn_predict_layers > 0; }

  // Parse and validate. `source` names the file in error messages.
  static Result<ModelConfig> from_json_text(const std::string& text, const std::string& source);
  static Result<ModelConfig> load(const std::string& model_dir);
  Status validate(const std::string& source) const;
  std::string to_json() const;  // HF config.json text (for the tiny-model generator)
};

}  // namespace tachyon
