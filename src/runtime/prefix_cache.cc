#include "runtime/prefix_cache.h"

#include <algorithm>

#include "core/check.h"

namespace tachyon::runtime {

namespace {
constexpr uint64_t kRoot = 0x9e3779b97f4a7c15ull;  // key of the empty prefix

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

PrefixCache::PrefixCache(dsv4::CachePools& pools) : pools_(pools), g_(pools.snapshot_granularity()) {}

PrefixCache::~PrefixCache() {
  while (evict_one()) {
  }
}

uint64_t PrefixCache::key_of(uint64_t parent, std::span<const int32_t> block) {
  uint64_t h = mix(parent);
  for (int32_t t : block) h = mix(h ^ (uint64_t(uint32_t(t)) + 0x632be59bd9b4e019ull));
  return h == kRoot ? h + 1 : h;
}

const PrefixCache::Node* PrefixCache::find(uint64_t key, uint64_t parent, std::span<const int32_t> block) const {
  auto it = nodes_.find(key);
  if (it == nodes_.end()) return nullptr;
  const Node& n = it->second;
  if (n.parent != parent || !std::equal(block.begin(), block.end(), n.tokens.begin(), n.tokens.end())) return nullptr;
  return &n;
}

const dsv4::Snapshot* PrefixCache::lookup(std::span<const int32_t> tokens, int64_t max_pos) {
  uint64_t parent = kRoot, best = 0;
  const Node* best_node = nullptr;
  for (int64_t end = g_; end <= std::min<int64_t>(max_pos, int64_t(tokens.size())); end += g_) {
    const auto block = tokens.subspan(size_t(end - g_), size_t(g_));
    const uint64_t key = key_of(parent, block);
    const Node* n = find(key, parent, block);
    if (!n) break;
    if (n->snap) {
      best = key;
      best_node = n;
    }
    parent = key;
  }
  if (!best_node) return nullptr;
  Node& n = nodes_.at(best);
  lru_.splice(lru_.begin(), lru_, n.lru);
  return n.snap.get();
}

bool PrefixCache::contains(std::span<const int32_t> tokens, int64_t pos) const {
  if (pos <= 0 || pos % g_ != 0 || pos > int64_t(tokens.size())) return false;
  uint64_t parent = kRoot;
  const Node* n = nullptr;
  for (int64_t end = g_; end <= pos; end += g_) {
    const auto block = tokens.subspan(size_t(end - g_), size_t(g_));
    const uint64_t key = key_of(parent, block);
    n = find(key, parent, block);
    if (!n) return false;
    parent = key;
  }
  return n && n->snap;
}

void PrefixCache::insert(std::span<const int32_t> tokens, dsv4::Snapshot snap) {
  TACHYON_CHECK(snap.pos > 0 && snap.pos % g_ == 0 && snap.pos <= int64_t(tokens.size()), "bad snapshot position");
  uint64_t parent = kRoot, key = 0;
  for (int64_t end = g_; end <= snap.pos; end += g_) {
    const auto block = tokens.subspan(size_t(end - g_), size_t(g_));
    key = key_of(parent, block);
    auto it = nodes_.find(key);
    if (it == nodes_.end()) {
      Node n;
      n.parent = parent;
      n.tokens.assign(block.begin(), block.end());
      nodes_.emplace(key, std::move(n));
      if (parent != kRoot) nodes_.at(parent).children++;
    } else if (!find(key, parent, block)) {  // a different prefix under the same key: keep the old one
      pools_.release(snap);
      prune(parent);
      return;
    }
    parent = key;
  }
  Node& n = nodes_.at(key);
  if (n.snap) {  // already held: keep the older one, it may be in use by lookups' callers
    pools_.release(snap);
    lru_.splice(lru_.begin(), lru_, n.lru);
    return;
  }
  n.snap = std::make_unique<dsv4::Snapshot>(std::move(snap));
  lru_.push_front(key);
  n.lru = lru_.begin();
}

bool PrefixCache::evict_one() {
  if (lru_.empty()) return false;
  const uint64_t key = lru_.back();
  lru_.pop_back();
  Node& n = nodes_.at(key);
  pools_.release(*n.snap);
  n.snap.reset();
  prune(key);
  return true;
}

void PrefixCache::prune(uint64_t key) {
  while (key != kRoot) {
    auto it = nodes_.find(key);
    if (it == nodes_.end() || it->second.snap || it->second.children > 0) return;
    const uint64_t parent = it->second.parent;
    nodes_.erase(it);
    if (parent == kRoot) return;
    nodes_.at(parent).children--;
    key = parent;
  }
}

}  // namespace tachyon::runtime
