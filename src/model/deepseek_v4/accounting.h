// Parameter, byte and KV-cache accounting for a DeepSeek-V4 checkpoint (`tachyon inspect`).
//
// Parameters are logical elements: a packed FP4 byte holds two, scale tensors hold none
// (TensorSlot::logical_params). Active parameters per token = everything outside the routed experts and
// the MTP module, plus num_experts_per_tok routed experts in each main layer.
//
// Cache sizes follow the reference bf16 layout of spec §3:
//   per token, per main layer:  ratio 4: (head_dim*2 + index_head_dim*2) / 4 bytes;  ratio r > 0: head_dim*2 / r
//   fixed, per sequence:        a window of min(N, W) x head_dim bf16 entries per layer (MTP included) and the
//                               fp32 compressor state (kv_state + score_state, each [c*r, c*d], c = 2 for r = 4)
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "io/config.h"
#include "io/safetensors.h"
#include "model/deepseek_v4/cache_codec.h"

namespace tachyon::dsv4 {

struct ParamAccounting {
  int64_t tensor_count = 0;
  int64_t params_total = 0;
  int64_t params_active_per_token = 0;
  int64_t params_routed_experts = 0;  // all routed experts, main layers and MTP
  int64_t params_mtp = 0;             // the whole MTP module
  uint64_t bytes_total = 0;
  std::map<std::string, uint64_t> bytes_by_dtype;     // safetensors dtype name -> bytes
  std::map<std::string, int64_t> tensors_by_dtype;    // safetensors dtype name -> tensor count
};

// Accounts every tensor for_each_tensor lists for `cfg`. Byte sizes and dtypes come from `store` when it
// is given (the tensors must match the listing, as load_checkpoint ensures), else from the listing.
ParamAccounting account_params(const ModelConfig& cfg, const TensorStore* store = nullptr);

struct CacheAccounting {
  double bytes_per_token = 0;            // growth per token, all main layers
  int64_t context = 0;                   // N
  uint64_t compressed_bytes = 0;         // floor(N / r) entries per compressed layer (+ indexer keys)
  uint64_t window_bytes = 0;             // min(N, W) entries per layer, MTP included
  uint64_t compressor_state_bytes = 0;   // fp32 partial-block state
  uint64_t bytes_at_context = 0;         // sum of the three
};

CacheAccounting account_cache(const ModelConfig& cfg, int64_t context);

// Growth per token of Tachyon's own cache in a storage format (cache_codec.h), all main layers:
// ratio 4: (kv entry + indexer entry) / 4; ratio r > 0: kv entry / r.
double cache_bytes_per_token(const ModelConfig& cfg, CacheFormat format);

}  // namespace tachyon::dsv4
