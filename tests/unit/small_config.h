// A small valid DeepSeek-V4 config for cache tests (no checkpoint needed): window 128, head_dim 128 with
// 64 rope dims, an indexer of 64 dims, and the given compress ratios (main layers, then the MTP layer).
#pragma once

#include <vector>

#include "io/config.h"

namespace tachyon::testing {

inline ModelConfig small_cache_config(std::vector<int> ratios) {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_hidden_layers = int(ratios.size()) - 1;
  c.num_attention_heads = 2;
  c.head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.q_lora_rank = 32;
  c.o_groups = 1;
  c.o_lora_rank = 32;
  c.sliding_window = 128;
  c.compress_ratios = std::move(ratios);
  c.index_n_heads = 2;
  c.index_head_dim = 64;
  c.index_topk = 4;
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.moe_intermediate_size = 64;
  c.vocab_size = 1000;
  return c;
}

}  // namespace tachyon::testing
