// Prefix cache for agent loops: snapshots of sequence state at multiples of G tokens (G from
// CachePools::snapshot_granularity()), found through a chain of block hashes. Node k of a chain stands
// for tokens [0, (k+1)G) and is keyed by hash(parent key, its G tokens); its tokens are kept and
// compared, so a hash collision is a miss, never a wrong hit. Nodes are shared by every snapshot whose
// prefix passes through them, so the token memory is linear in the distinct blocks held.
// Snapshots are evicted least recently used first; a snapshot's blocks stay alive for as long as any
// sequence restored from it still uses them.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "model/deepseek_v4/state.h"

namespace tachyon::runtime {

class PrefixCache {
 public:
  explicit PrefixCache(dsv4::CachePools& pools);
  ~PrefixCache();
  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  int64_t granularity() const { return g_; }
  // The longest snapshot of tokens[0, pos) with pos <= max_pos, or null. Marks it recently used.
  const dsv4::Snapshot* lookup(std::span<const int32_t> tokens, int64_t max_pos);
  // Whether a snapshot of exactly tokens[0, pos) is held.
  bool contains(std::span<const int32_t> tokens, int64_t pos) const;
  // Takes a complete snapshot of tokens[0, snap.pos) (a multiple of granularity()). If one is already
  // held for that prefix, the new one is released instead.
  void insert(std::span<const int32_t> tokens, dsv4::Snapshot snap);
  // Drops the least recently used snapshot; false when none is held.
  bool evict_one();
  int64_t snapshots() const { return int64_t(lru_.size()); }
  int64_t nodes() const { return int64_t(nodes_.size()); }

 private:
  struct Node {
    uint64_t parent = 0;
    std::vector<int32_t> tokens;  // this node's G tokens
    int64_t children = 0;
    std::unique_ptr<dsv4::Snapshot> snap;
    std::list<uint64_t>::iterator lru;  // valid while snap is set
  };
  static uint64_t key_of(uint64_t parent, std::span<const int32_t> block);
  // The node of tokens[0, (k+1)G), or null when absent (or a different block under the same key).
  const Node* find(uint64_t key, uint64_t parent, std::span<const int32_t> block) const;
  void prune(uint64_t key);  // removes empty leaves upward from `key`

  dsv4::CachePools& pools_;
  int64_t g_;
  std::unordered_map<uint64_t, Node> nodes_;
  std::list<uint64_t> lru_;  // keys of nodes holding a snapshot, most recently used first
};

}  // namespace tachyon::runtime
