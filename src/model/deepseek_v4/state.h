// Per-sequence decode state (spec §3), designed for paging: every kind of cached entry lives in
// fixed-size blocks taken from a pool, and each sequence addresses them through its own block tables.
//
// Kinds (one pool each):
//   window      the layer's raw KV per position (post norm, RoPE, FP8 sim)      entry = head_dim floats
//   compressed  compressed KV blocks (CSA/HCA), indexed by block number j        entry = head_dim floats
//   indexer     the Lightning Indexer's compressed keys, same numbering          entry = index_head_dim
//   state       compressor partial state (kv and score rows), one slot a layer   fixed size per ratio
// Window blocks that fall out of the sliding window are returned to the pool as the sequence advances;
// everything returns when the sequence is released.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/config.h"

namespace tachyon::dsv4 {

class BlockPool {
 public:
  BlockPool(int64_t entry_floats, int64_t block_entries, float fill = 0.0f);
  int32_t alloc();  // a block with every float set to the pool's fill value
  void free(int32_t block);
  float* entry(int32_t block, int64_t i) { return blocks_[size_t(block)].get() + i * entry_floats_; }
  const float* entry(int32_t block, int64_t i) const { return blocks_[size_t(block)].get() + i * entry_floats_; }
  int64_t entry_floats() const { return entry_floats_; }
  int64_t block_entries() const { return block_entries_; }
  int64_t blocks_in_use() const { return int64_t(blocks_.size() - free_.size()); }
  int64_t blocks_allocated() const { return int64_t(blocks_.size()); }
  int64_t block_bytes() const { return entry_floats_ * block_entries_ * int64_t(sizeof(float)); }

 private:
  int64_t entry_floats_, block_entries_;
  float fill_;
  std::vector<std::unique_ptr<float[]>> blocks_;
  std::vector<int32_t> free_;
};

// Block tables of one layer for one sequence (-1 = not allocated / already released).
struct LayerState {
  std::vector<int32_t> window_blocks;      // logical block pos / window_block -> physical
  std::vector<int32_t> compressed_blocks;  // logical block j / entry_block -> physical
  std::vector<int32_t> indexer_blocks;
  int32_t compressor_state = -1;           // slot in the state pool of this layer's ratio
  int32_t indexer_state = -1;
};

struct SequenceState {
  int64_t pos = 0;      // tokens processed by the main model
  int64_t mtp_pos = 0;  // tokens processed by the MTP layer
  std::vector<LayerState> layers;  // main layers, then the MTP layer
};

// All pools for one model. Sizes come from the config; pools grow on demand.
class CachePools {
 public:
  static constexpr int64_t kWindowBlock = 64;  // positions per window block
  static constexpr int64_t kEntryBlock = 64;   // compressed entries per block

  explicit CachePools(const ModelConfig& cfg);

  SequenceState new_sequence() const;
  void release(SequenceState& s);

  // Window entry of `pos` in layer `l` (allocates its block on first write).
  float* window_write(SequenceState& s, int l, int64_t pos);
  const float* window_read(const SequenceState& s, int l, int64_t pos) const;
  // Drops window blocks that no query at position >= next_pos can see.
  void trim_window(SequenceState& s, int l, int64_t next_pos);

  float* compressed_write(SequenceState& s, int l, int64_t j);
  const float* compressed_read(const SequenceState& s, int l, int64_t j) const;
  float* indexer_write(SequenceState& s, int l, int64_t j);
  const float* indexer_read(const SequenceState& s, int l, int64_t j) const;

  // Compressor partial state of layer l: kv rows then score rows, each [c*r, c*d] (spec §3 item 4).
  float* compressor_state(SequenceState& s, int l);
  float* indexer_state(SequenceState& s, int l);

  int64_t bytes_in_use() const;

 private:
  BlockPool& state_pool(int ratio, bool indexer);
  const ModelConfig& cfg_;
  BlockPool window_, compressed_, indexer_;
  std::vector<std::unique_ptr<BlockPool>> state_pools_;  // by (ratio, indexer) key
  std::vector<std::pair<int, bool>> state_keys_;
};

}  // namespace tachyon::dsv4
