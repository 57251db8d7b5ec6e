// CacheManager: the scheduler's view of the DeepSeek-V4 cache. It owns every request's paged
// SequenceState and accounts memory exactly: the bytes a sequence of n tokens holds in the pools
// (window blocks, compressed-entry blocks, indexer blocks, compressor states) are computed from the
// same layout the pools allocate, and reservations are made in fixed units against a memory budget.
// The maximum context follows from that budget.
//
// With prefix caching on, the same budget also holds the prefix cache's snapshots. Blocks held only by
// snapshots count against it exactly (CachePools::snapshot_only_bytes()); they are given back, least
// recently used first, whenever a request needs room, so to the scheduler they count as free.
// Invariant at every step boundary: reserved units + snapshot-only bytes <= budget.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "model/deepseek_v4/state.h"
#include "runtime/prefix_cache.h"
#include "runtime/scheduler.h"

namespace tachyon::runtime {

class CacheManager : public CacheBudget {
 public:
  static constexpr int64_t kUnitBytes = 16 * 1024;  // accounting unit ("block")

  // speculative_tokens > 0: requests also hold their MTP layer's state, and draft positions up to that
  // many past the tokens they reserve (the MTP layer drafts ahead of the main model).
  CacheManager(const ModelConfig& cfg, dsv4::CachePools& pools, int64_t budget_bytes, bool prefix_caching = false,
               int speculative_tokens = 0);
  ~CacheManager();

  // Bytes the pools hold for one sequence after `n` tokens (upper bound over the step that gets there).
  int64_t sequence_bytes(int64_t n) const;
  // Longest sequence that fits the whole budget.
  int64_t max_tokens() const { return max_tokens_; }
  int64_t total_units() const { return total_units_; }
  int64_t used_units() const { return used_units_; }

  dsv4::SequenceState& state(const Request& r);

  // Prefix cache (null when off).
  PrefixCache* prefix_cache() { return prefix_.get(); }
  // Makes room for a capture of `bytes` during the coming step (evicting snapshots); false if it
  // cannot fit. Reservations last until settle().
  bool reserve_capture(int64_t bytes);
  // After a step: drops capture reservations and evicts snapshots until the invariant holds.
  void settle();
  int64_t snapshot_units() const;  // units the prefix cache holds alone
  int64_t prefix_queries() const { return prefix_queries_; }  // prompt tokens looked up
  int64_t prefix_hits() const { return prefix_hits_; }        // of those, tokens restored

  // CacheBudget
  void on_admit(Request& r) override;
  int64_t blocks_needed(const Request& r, int64_t upto) const override;
  int64_t free_blocks() const override { return total_units_ - used_units_; }
  void grow(Request& r, int64_t upto) override;
  void release(Request& r) override;

 private:
  struct Held {
    int64_t units = 0;
    dsv4::SequenceState state;
  };
  int64_t units_for(int64_t n) const { return (sequence_bytes(n) + kUnitBytes - 1) / kUnitBytes; }
  int64_t spare_bytes() const;  // budget - reservations - snapshot-only bytes - capture reservations
  void restore_prefix(Request& r, dsv4::SequenceState& s);
  const ModelConfig& cfg_;
  dsv4::CachePools& pools_;
  int spec_tokens_ = 0;
  int64_t total_units_, used_units_ = 0, max_tokens_ = 0;
  int64_t capture_bytes_ = 0, prefix_queries_ = 0, prefix_hits_ = 0;
  std::unique_ptr<PrefixCache> prefix_;
  std::unordered_map<uint64_t, Held> held_;
};

}  // namespace tachyon::runtime
