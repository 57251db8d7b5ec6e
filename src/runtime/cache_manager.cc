#include "runtime/cache_manager.h"

#include <algorithm>

#include "core/check.h"

namespace tachyon::runtime {

CacheManager::CacheManager(const ModelConfig& cfg, dsv4::CachePools& pools, int64_t budget_bytes, bool prefix_caching,
                           int speculative_tokens)
    : cfg_(cfg),
      pools_(pools),
      spec_tokens_(speculative_tokens),
      total_units_(std::max<int64_t>(0, budget_bytes / kUnitBytes)) {
  if (prefix_caching) prefix_ = std::make_unique<PrefixCache>(pools);
  // Largest n with units_for(n) <= total (sequence_bytes is monotone in n).
  int64_t lo = 0, hi = 1;
  while (hi < (int64_t(1) << 40) && units_for(hi) <= total_units_) hi *= 2;
  while (lo + 1 < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    (units_for(mid) <= total_units_ ? lo : hi) = mid;
  }
  max_tokens_ = lo;
}

int64_t CacheManager::sequence_bytes(int64_t n) const {
  if (n <= 0) return 0;
  n += spec_tokens_;  // chained MTP drafts run ahead of the reserved tokens
  using P = dsv4::CachePools;
  const int64_t kv = pools_.kv_entry_bytes(), ix = pools_.indexer_entry_bytes();
  const int64_t W = cfg_.sliding_window;
  auto cdiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  // Live window blocks: those covering the last W positions, plus one being filled before the
  // previous one is trimmed within a step.
  const int64_t window_blocks = std::min(cdiv(n, P::kWindowBlock), cdiv(W, P::kWindowBlock) + 2);
  int64_t bytes = 0;
  const int layers = cfg_.num_hidden_layers + (spec_tokens_ > 0 ? 1 : 0);  // the MTP layer only when drafting
  for (int l = 0; l < layers; ++l) {
    bytes += window_blocks * P::kWindowBlock * kv;
    const int r = cfg_.ratio(l);
    if (r == 0) continue;
    const int64_t blocks = cdiv(n / r, P::kEntryBlock);
    bytes += blocks * P::kEntryBlock * kv + pools_.state_bytes(l, false);
    if (r == 4) bytes += blocks * P::kEntryBlock * ix + pools_.state_bytes(l, true);
  }
  return bytes;
}

dsv4::SequenceState& CacheManager::state(const Request& r) {
  auto it = held_.find(r.id);
  TACHYON_CHECK(it != held_.end(), "cache: request holds no state");
  return it->second.state;
}

CacheManager::~CacheManager() {
  for (auto& [id, h] : held_) pools_.release(h.state);
  prefix_.reset();
}

int64_t CacheManager::snapshot_units() const {
  return (pools_.snapshot_only_bytes() + kUnitBytes - 1) / kUnitBytes;
}

int64_t CacheManager::spare_bytes() const {
  return (total_units_ - used_units_) * kUnitBytes - pools_.snapshot_only_bytes() - capture_bytes_;
}

void CacheManager::on_admit(Request& r) {
  auto [it, inserted] = held_.try_emplace(r.id);
  if (inserted) it->second.state = pools_.new_sequence();
  if (prefix_ && r.num_computed == 0 && it->second.state.pos == 0) restore_prefix(r, it->second.state);
}

void CacheManager::restore_prefix(Request& r, dsv4::SequenceState& s) {
  std::vector<int32_t> tokens = r.prompt;
  tokens.insert(tokens.end(), r.output.begin(), r.output.end());
  // At least one token is left to compute: its logits give the next token.
  const dsv4::Snapshot* snap = prefix_->lookup(tokens, r.total_tokens() - 1);
  const int64_t hit = snap ? snap->pos : 0;
  if (snap) {
    pools_.restore(s, *snap);
    r.num_computed = hit;
  }
  if (!r.prefix_counted) {  // counted once per request, at its first admission
    r.prefix_counted = true;
    r.num_cached_prefix = std::min<int64_t>(hit, int64_t(r.prompt.size()));
    prefix_queries_ += int64_t(r.prompt.size());
    prefix_hits_ += r.num_cached_prefix;
  }
}

bool CacheManager::reserve_capture(int64_t bytes) {
  if (!prefix_) return false;
  while (spare_bytes() < bytes)
    if (!prefix_->evict_one()) return false;
  capture_bytes_ += bytes;
  return true;
}

void CacheManager::settle() {
  capture_bytes_ = 0;
  if (prefix_)
    while (spare_bytes() < 0 && prefix_->evict_one()) {
    }
  TACHYON_CHECK(spare_bytes() >= 0, "cache: reservations and snapshots exceed the budget");
}

int64_t CacheManager::blocks_needed(const Request& r, int64_t upto) const {
  auto it = held_.find(r.id);
  const int64_t have = it == held_.end() ? 0 : it->second.units;
  return std::max<int64_t>(0, units_for(upto) - have);
}

void CacheManager::grow(Request& r, int64_t upto) {
  on_admit(r);
  Held& h = held_[r.id];
  const int64_t need = std::max<int64_t>(0, units_for(upto) - h.units);
  TACHYON_CHECK(need <= free_blocks(), "cache: grow beyond the budget");
  // Snapshot-only blocks count as free to the scheduler: give back as many as this takes.
  if (prefix_)
    while (spare_bytes() < need * kUnitBytes && prefix_->evict_one()) {
    }
  h.units += need;
  used_units_ += need;
}

void CacheManager::release(Request& r) {
  auto it = held_.find(r.id);
  if (it == held_.end()) return;
  pools_.release(it->second.state);
  used_units_ -= it->second.units;
  held_.erase(it);
}

}  // namespace tachyon::runtime
