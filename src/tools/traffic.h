// Bytes a forward step reads from weights and from the decode state (`tachyon bench`): the figure that
// bounds decode speed on a memory-bound machine.
//
// Weights: every main-layer tensor outside the routed experts is read once per step, whatever the batch
// (attention, compressors, indexer, router, shared expert, norms, hyper-connections), and so are the head,
// the final norm and the head mix. A routed expert is read once per step when at least one token picked
// it, so the step's share is the number of distinct experts each layer ran (Profile::experts_run) times
// one expert's bytes. The embedding and the hash-routing table are read one row per token. The MTP
// module is not part of Model::forward and is not counted.
//
// Cache: per token, what the main layers' attention reads after writing its own entry (attention.cc):
// the sliding window, every compressed entry of a ratio-128 layer, and for a ratio-4 layer every
// indexer key plus the top-k compressed entries it picks; a compressor's partial state is read when a
// block completes. Entry sizes are the pools' (fp32 or the compact formats of cache_codec.h); compressor
// states are fp32.
//
// FLOPs (2 per multiply-add) for the prefill rate and the roofline: every main-layer linear and
// hyper-connection mix, the num_experts_per_tok routed experts and the shared expert per token, the
// attention scores and weighted sums over the keys the token sees, the indexer scores, and the head for
// each logits row; by op family like the bytes (norms and the embedding count none).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "io/config.h"
#include "model/deepseek_v4/profile.h"

namespace tachyon::dsv4 {

// Bytes per op family (profile.h): which family's time a tensor's reads fall in.
using FamilyBytes = std::array<int64_t, size_t(OpFamily::kCount)>;
// FLOPs per op family.
using FamilyFlops = std::array<int64_t, size_t(OpFamily::kCount)>;

class TrafficModel {
 public:
  // From the tensor listing (needs no checkpoint). Cache entry sizes in bytes; 0 means fp32 entries.
  // With int8_rows, the tensors the fast numerics repack (TensorSlot::int8_repack) count as the int8
  // rows the kernels then read instead (TensorSlot::repacked_nbytes).
  explicit TrafficModel(const ModelConfig& cfg, int64_t kv_entry_bytes = 0, int64_t indexer_entry_bytes = 0,
                        bool int8_rows = false);

  int64_t dense_bytes() const { return dense_; }                 // read once per step
  int64_t expert_bytes(int layer) const { return expert_[size_t(layer)]; }  // one routed expert
  int64_t per_token_weight_bytes() const { return per_token_; }  // embedding row + hash-table rows

  // Weight bytes of one step over `tokens` tokens that ran experts_run[l] distinct experts in layer l
  // (layers past the end of the span ran none).
  int64_t step_weight_bytes(std::span<const int64_t> experts_run, int64_t tokens) const;
  // The same bytes split by op family (they sum to step_weight_bytes).
  FamilyBytes step_weight_bytes_by_family(std::span<const int64_t> experts_run, int64_t tokens) const;
  // Cache bytes the main layers read for the token at position `pos` (0-based).
  int64_t cache_read_bytes(int64_t pos) const;

  // FLOPs of the main layers for the token at position `pos`, and of the head mix + head per logits row.
  int64_t token_flops(int64_t pos) const;
  int64_t head_flops(int64_t rows) const;
  // The same split by op family (they sum to the figures above; the head mix is under mhc).
  FamilyFlops token_flops_by_family(int64_t pos) const;
  FamilyFlops head_flops_by_family(int64_t rows) const;
  // Of a token's FLOPs, those of the main layers' linears the fast numerics repack into int8 rows
  // (TensorSlot::int8_repack, the head not included): every FP8 linear a token runs.
  int64_t token_int8_row_flops() const { return int8_row_flops_; }

 private:
  ModelConfig cfg_;  // a copy: the model may outlive the caller's config
  int64_t dense_ = 0, per_token_ = 0, kv_entry_ = 0, indexer_entry_ = 0, int8_row_flops_ = 0;
  FamilyBytes dense_by_family_{}, per_token_by_family_{};
  std::vector<int64_t> expert_;  // per main layer
};

}  // namespace tachyon::dsv4
