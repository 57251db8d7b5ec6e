// Per-sequence decode state (spec §3), designed for paging: every kind of cached entry lives in
// fixed-size blocks taken from a pool, and each sequence addresses them through its own block tables.
//
// Kinds (one pool each):
//   window      the layer's raw KV per position (post norm, RoPE, FP8 sim)      one KV entry
//   compressed  compressed KV blocks (CSA/HCA), indexed by block number j        one KV entry
//   indexer     the Lightning Indexer's compressed keys, same numbering          one indexer entry
//   state       compressor partial state (kv and score rows), one slot a layer   fp32, fixed size per ratio
// Entries are fp32 or the compact official format (cache_codec.h: 584-byte KV entries at V4 sizes).
// Window blocks that fall out of the sliding window are returned to the pool as the sequence advances;
// everything returns when the sequence is released.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "io/config.h"
#include "model/deepseek_v4/cache_codec.h"

namespace tachyon::dsv4 {

// Blocks are reference counted, by two kinds of owner: live sequences and prefix-cache snapshots. A
// block returns to the free list when its last reference goes; blocks that only snapshots hold are
// counted separately, because the prefix cache can give them back on demand.
enum class Owner : uint8_t { kSequence, kSnapshot };

class BlockPool {
 public:
  BlockPool(int64_t entry_bytes, int64_t block_entries);
  int32_t alloc(Owner o = Owner::kSequence);  // a zero-filled block
  int32_t copy(int32_t block, Owner o);       // a new block holding the same floats
  void retain(int32_t block, Owner o);
  void free(int32_t block, Owner o = Owner::kSequence);  // drops one reference
  int32_t refs(int32_t block) const { return seq_refs_[size_t(block)] + snap_refs_[size_t(block)]; }
  uint8_t* bytes(int32_t block, int64_t i) { return blocks_[size_t(block)].get() + i * entry_bytes_; }
  const uint8_t* bytes(int32_t block, int64_t i) const { return blocks_[size_t(block)].get() + i * entry_bytes_; }
  // Entries of fp32 pools (entry_bytes a multiple of 4; blocks are 16-byte aligned).
  float* entry(int32_t block, int64_t i) { return reinterpret_cast<float*>(bytes(block, i)); }
  const float* entry(int32_t block, int64_t i) const { return reinterpret_cast<const float*>(bytes(block, i)); }
  int64_t entry_bytes() const { return entry_bytes_; }
  int64_t block_entries() const { return block_entries_; }
  int64_t blocks_in_use() const { return int64_t(blocks_.size() - free_.size()); }
  int64_t snapshot_only_blocks() const { return snapshot_only_; }  // held by snapshots and no sequence
  int64_t blocks_allocated() const { return int64_t(blocks_.size()); }
  int64_t block_bytes() const { return entry_bytes_ * block_entries_; }

 private:
  void count(int32_t b, int sign);  // adds sign to snapshot_only_ if b is held by snapshots only
  int64_t entry_bytes_, block_entries_;
  std::vector<std::unique_ptr<uint8_t[]>> blocks_;
  std::vector<int32_t> seq_refs_, snap_refs_;
  std::vector<int32_t> free_;
  int64_t snapshot_only_ = 0;
};

// Block tables of one layer for one sequence (-1 = not allocated / already released).
struct LayerState {
  std::vector<int32_t> window_blocks;      // logical block pos / window_block -> physical
  std::vector<int32_t> compressed_blocks;  // logical block j / entry_block -> physical
  std::vector<int32_t> indexer_blocks;
  int32_t compressor_state = -1;           // slot in the state pool of this layer's ratio
  int32_t indexer_state = -1;
};

// The state of a sequence's first `pos` tokens, kept by the prefix cache. Full compressed/indexer
// blocks are shared by reference (they never change once full); window blocks, a partly filled last
// compressed/indexer block and the compressor states are copied, so the sequence that made the
// snapshot goes on writing its own blocks.
struct LayerSnapshot {
  std::vector<int32_t> window_blocks, compressed_blocks, indexer_blocks;  // -1 = not held
  int32_t compressor_state = -1, indexer_state = -1;  // -1: not needed at this position
  bool captured = false;
};
struct Snapshot {
  int64_t pos = 0;
  std::vector<LayerSnapshot> layers;  // main layers, then the MTP layer
};

// Speculative positions (speculative decoding). While a SequenceState points at a SpecLog, every layer
// the forward pass touches saves, before each logged position, the parts of its compressor/indexer
// partial states that the position is about to overwrite, and keeps the window blocks that position
// `base` still needs, so that CachePools::rollback can return the layer to any position in
// [base, base + n] by restoring the saved parts of the later positions, newest first.
struct SpecUndo {
  int64_t pos;      // the position that overwrote this part
  bool indexer;     // the indexer's compressor state, else the attention compressor's
  int64_t offset;   // first float of the part within the state
  int64_t count;    // floats
  size_t at;        // where the old values start in SpecLayerLog::saved
};
struct SpecLayerLog {
  int64_t base = -1;          // first logged position (-1: nothing logged yet)
  int64_t n = 0;              // positions logged
  std::vector<SpecUndo> undo;  // in the order they were taken
  std::vector<float> saved;    // the old values of every part in undo
};
struct SpecLog {
  std::vector<SpecLayerLog> layers;  // main layers, then the MTP layer (resized by the forward pass)
};

struct SequenceState {
  int64_t pos = 0;      // tokens processed by the main model
  int64_t mtp_pos = 0;  // tokens processed by the MTP layer
  std::vector<LayerState> layers;  // main layers, then the MTP layer
  // When set, each layer copies its state into `capture` right after processing position
  // capture->pos - 1 (the forward pass fills it in; the caller owns it).
  Snapshot* capture = nullptr;
  // When set, the positions fed may be rolled back (see SpecLog; the caller owns it).
  SpecLog* spec = nullptr;
  // Set by the pools when a value this sequence stored (a cache entry, a compressor partial state) was NaN
  // or infinite: its state is unusable. The forward pass goes on (rows never mix across sequences); the
  // caller fails the sequence and must not snapshot it. release() clears it.
  bool nonfinite = false;
};

// All pools for one model. Sizes come from the config; pools grow on demand.
class CachePools {
 public:
  static constexpr int64_t kWindowBlock = 64;  // positions per window block
  static constexpr int64_t kEntryBlock = 64;   // compressed entries per block

  explicit CachePools(const ModelConfig& cfg, CacheFormat format = CacheFormat::kF32);
  CacheFormat format() const { return format_; }
  int64_t kv_entry_bytes() const { return window_.entry_bytes(); }
  int64_t indexer_entry_bytes() const { return indexer_.entry_bytes(); }
  int64_t state_bytes(int l, bool indexer) const;  // one compressor state slot of layer l

  SequenceState new_sequence() const;
  void release(SequenceState& s);

  // Entries in either format: store encodes, get decodes into `scratch` (or points into the pool for
  // kF32) and returns the values. A store of a value that is NaN or infinite sets s.nonfinite.
  void window_store(SequenceState& s, int l, int64_t pos, const float* v);
  const float* window_get(const ops::OpContext& ctx, const SequenceState& s, int l, int64_t pos, float* scratch) const;
  void compressed_store(SequenceState& s, int l, int64_t j, const float* v);
  const float* compressed_get(const ops::OpContext& ctx, const SequenceState& s, int l, int64_t j,
                              float* scratch) const;
  void indexer_store(SequenceState& s, int l, int64_t j, const float* v);
  // Indexer entry j as stored: index_head_dim floats (kF32) or a compact FP4 row (cache_codec.h), which
  // ops::indexer_scores_fp4 reads as it is.
  const uint8_t* indexer_entry(const SequenceState& s, int l, int64_t j) const;

  // Direct fp32 access (kF32 pools only). Window entry of `pos` in layer `l` (allocates its block on
  // first write).
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
  // After compressor_step(st, ratio, d, ..., pos) wrote the position's kv and score rows into `st`:
  // sets s.nonfinite if any of them is NaN or infinite (the partial state is cached and snapshotted).
  static void check_compressor_rows(SequenceState& s, const float* st, int ratio, int d, int64_t pos);

  // Speculative rollback. spec_log_before saves what position pos is about to overwrite in layer l's
  // partial states, spec_log_after counts the position (the forward pass calls them while s.spec is
  // set). rollback() returns the main layers (or, with `mtp`, the MTP layer) to exactly the state of a
  // sequence that was fed only positions [0, new_pos): partial states restored from the log,
  // window/compressed/indexer blocks past new_pos freed, the window trimmed, pos (mtp_pos) set; those
  // layers' logs are cleared. new_pos must lie in [base, base + n] of
  // every logged layer; a layer without a log must not have been fed since the last rollback.
  void spec_log_before(SequenceState& s, int l, int64_t pos);
  void spec_log_after(SequenceState& s, int l, int64_t pos);
  void rollback(SequenceState& s, int64_t new_pos, bool mtp = false);
  // Where window trimming may go for layer l after position pos: pos + 1, or the log's base.
  int64_t trim_limit(const SequenceState& s, int l, int64_t pos) const;

  int64_t bytes_in_use() const;
  int64_t snapshot_only_bytes() const;  // of bytes_in_use(), what only snapshots hold

  // Prefix-cache snapshots (snapshot.cc).
  Snapshot new_snapshot(int64_t pos) const;
  // Copies layer l of `s` (which has just processed position snap.pos - 1) into the snapshot.
  void capture_layer(const SequenceState& s, int l, Snapshot& snap);
  // True when every main layer (and the MTP layer when `with_mtp`) has been captured.
  bool snapshot_complete(const Snapshot& snap, bool with_mtp) const;
  // Bytes a capture at `pos` allocates (its copies), main layers plus the MTP layer when `with_mtp`.
  int64_t capture_bytes(int64_t pos, bool with_mtp) const;
  // Gives a fresh sequence the snapshot's state: it continues at snap.pos (and its MTP layer too when
  // the snapshot holds it; otherwise mtp_pos stays 0).
  void restore(SequenceState& s, const Snapshot& snap);
  void release(Snapshot& snap);
  // Snapshot positions: multiples of this many tokens (whole window blocks, and whole blocks of every
  // compressor without overlap, whose partial state is then empty).
  int64_t snapshot_granularity() const;

 private:
  BlockPool& state_pool(int ratio, bool indexer);
  bool state_needed(int l, int64_t pos) const;  // does a compressor's partial state matter at pos?
  // One attention (kv) or indexer entry in this pool's format: encode into e, or the fp32 values of a kv
  // entry (e itself for kF32, else decoded into scratch).
  void encode_kv(SequenceState& s, uint8_t* e, const float* v) const;
  const float* decode_kv(const ops::OpContext& ctx, const uint8_t* e, float* scratch) const;
  void encode_indexer(SequenceState& s, uint8_t* e, const float* v) const;
  const ModelConfig& cfg_;
  CacheFormat format_;
  BlockPool window_, compressed_, indexer_;
  std::vector<std::unique_ptr<BlockPool>> state_pools_;  // by (ratio, indexer) key
  std::vector<std::pair<int, bool>> state_keys_;
};

}  // namespace tachyon::dsv4
