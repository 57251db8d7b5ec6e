#include "model/deepseek_v4/state.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/check.h"
#include "core/finite.h"
#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

BlockPool::BlockPool(int64_t entry_bytes, int64_t block_entries)
    : entry_bytes_(entry_bytes), block_entries_(block_entries) {}

int32_t BlockPool::alloc(Owner o) {
  const int64_t n = entry_bytes_ * block_entries_;
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    b = int32_t(blocks_.size());
    blocks_.push_back(std::make_unique<uint8_t[]>(size_t(n)));
    seq_refs_.push_back(0);
    snap_refs_.push_back(0);
  }
  std::fill(blocks_[size_t(b)].get(), blocks_[size_t(b)].get() + n, uint8_t(0));
  retain(b, o);
  return b;
}

int32_t BlockPool::copy(int32_t src, Owner o) {
  const int32_t b = alloc(o);
  const int64_t n = entry_bytes_ * block_entries_;
  std::copy(blocks_[size_t(src)].get(), blocks_[size_t(src)].get() + n, blocks_[size_t(b)].get());
  return b;
}

void BlockPool::count(int32_t b, int sign) {
  if (seq_refs_[size_t(b)] == 0 && snap_refs_[size_t(b)] > 0) snapshot_only_ += sign;
}

void BlockPool::retain(int32_t b, Owner o) {
  TACHYON_CHECK(b >= 0 && size_t(b) < blocks_.size());
  count(b, -1);
  (o == Owner::kSequence ? seq_refs_ : snap_refs_)[size_t(b)]++;
  count(b, +1);
}

void BlockPool::free(int32_t b, Owner o) {
  TACHYON_CHECK(b >= 0 && size_t(b) < blocks_.size());
  int32_t& r = (o == Owner::kSequence ? seq_refs_ : snap_refs_)[size_t(b)];
  TACHYON_CHECK(r > 0, "cache block freed more often than it was taken");
  count(b, -1);
  --r;
  count(b, +1);
  if (refs(b) == 0) free_.push_back(b);
}

CachePools::CachePools(const ModelConfig& cfg, CacheFormat format)
    : cfg_(cfg),
      format_(format),
      window_(dsv4::kv_entry_bytes(format, cfg.head_dim, cfg.qk_rope_head_dim), kWindowBlock),
      compressed_(dsv4::kv_entry_bytes(format, cfg.head_dim, cfg.qk_rope_head_dim), kEntryBlock),
      indexer_(dsv4::indexer_entry_bytes(format, std::max(cfg.index_head_dim, 1)), kEntryBlock) {}

int64_t CachePools::state_bytes(int l, bool indexer) const {
  const int r = cfg_.ratio(l), c = r == 4 ? 2 : 1;
  const int64_t d = indexer ? cfg_.index_head_dim : cfg_.head_dim;
  return r > 0 ? int64_t(2) * c * r * c * d * int64_t(sizeof(float)) : 0;
}

SequenceState CachePools::new_sequence() const {
  SequenceState s;
  s.layers.resize(size_t(cfg_.num_hidden_layers + 1));
  return s;
}

namespace {
void release_table(BlockPool& p, std::vector<int32_t>& t) {
  for (int32_t b : t)
    if (b >= 0) p.free(b);
  t.clear();
}
uint8_t* table_entry(BlockPool& p, std::vector<int32_t>& t, int64_t idx, int64_t per_block) {
  const size_t lb = size_t(idx / per_block);
  if (t.size() <= lb) t.resize(lb + 1, -1);
  if (t[lb] < 0) {
    t[lb] = p.alloc();
  } else if (p.refs(t[lb]) > 1) {  // shared with a snapshot or another sequence: copy on write
    const int32_t mine = p.copy(t[lb], Owner::kSequence);
    p.free(t[lb]);
    t[lb] = mine;
  }
  return p.bytes(t[lb], idx % per_block);
}
const uint8_t* table_read(const BlockPool& p, const std::vector<int32_t>& t, int64_t idx, int64_t per_block) {
  const size_t lb = size_t(idx / per_block);
  TACHYON_CHECK(lb < t.size() && t[lb] >= 0, "cache read of an entry that was never written or was released");
  return p.bytes(t[lb], idx % per_block);
}
float* as_f32(uint8_t* p) { return reinterpret_cast<float*>(p); }
const float* as_f32(const uint8_t* p) { return reinterpret_cast<const float*>(p); }
}  // namespace

void CachePools::release(SequenceState& s) {
  for (size_t l = 0; l < s.layers.size(); ++l) {
    LayerState& L = s.layers[l];
    release_table(window_, L.window_blocks);
    release_table(compressed_, L.compressed_blocks);
    release_table(indexer_, L.indexer_blocks);
    const int ratio = cfg_.ratio(int(l));
    if (L.compressor_state >= 0) state_pool(ratio, false).free(L.compressor_state);
    if (L.indexer_state >= 0) state_pool(ratio, true).free(L.indexer_state);
    L.compressor_state = L.indexer_state = -1;
  }
  s.pos = s.mtp_pos = 0;
  s.nonfinite = false;
}

float* CachePools::window_write(SequenceState& s, int l, int64_t pos) {
  TACHYON_CHECK(format_ == CacheFormat::kF32);
  return as_f32(table_entry(window_, s.layers[size_t(l)].window_blocks, pos, kWindowBlock));
}
const float* CachePools::window_read(const SequenceState& s, int l, int64_t pos) const {
  TACHYON_CHECK(format_ == CacheFormat::kF32);
  return as_f32(table_read(window_, s.layers[size_t(l)].window_blocks, pos, kWindowBlock));
}

namespace {
constexpr const char* kNotExact = "compact cache entries need the official KV/indexer quantisation (use kF32)";
}

// A NaN or infinity comes from the data (corrupt weights, an overflow): the entry is written as well as
// it goes and the sequence is marked, for the caller to fail. Finite values of the official numerics
// always fit the compact formats exactly, so a refusal of those remains an invariant.
void CachePools::encode_kv(SequenceState& s, uint8_t* e, const float* v) const {
  if (!all_finite(v, cfg_.head_dim)) {
    s.nonfinite = true;
    (void)kv_encode(format_, v, cfg_.head_dim, cfg_.qk_rope_head_dim, e);
    return;
  }
  TACHYON_CHECK(kv_encode(format_, v, cfg_.head_dim, cfg_.qk_rope_head_dim, e), kNotExact);
}
const float* CachePools::decode_kv(const ops::OpContext& ctx, const uint8_t* e, float* scratch) const {
  if (format_ == CacheFormat::kF32) return as_f32(e);
  kv_decode(ctx, format_, e, cfg_.head_dim, cfg_.qk_rope_head_dim, scratch);
  return scratch;
}
void CachePools::encode_indexer(SequenceState& s, uint8_t* e, const float* v) const {
  if (!all_finite(v, cfg_.index_head_dim)) {
    s.nonfinite = true;
    (void)indexer_encode(format_, v, cfg_.index_head_dim, e);
    return;
  }
  TACHYON_CHECK(indexer_encode(format_, v, cfg_.index_head_dim, e), kNotExact);
}

void CachePools::window_store(SequenceState& s, int l, int64_t pos, const float* v) {
  encode_kv(s, table_entry(window_, s.layers[size_t(l)].window_blocks, pos, kWindowBlock), v);
}
const float* CachePools::window_get(const ops::OpContext& ctx, const SequenceState& s, int l, int64_t pos,
                                   float* scratch) const {
  return decode_kv(ctx, table_read(window_, s.layers[size_t(l)].window_blocks, pos, kWindowBlock), scratch);
}
void CachePools::compressed_store(SequenceState& s, int l, int64_t j, const float* v) {
  encode_kv(s, table_entry(compressed_, s.layers[size_t(l)].compressed_blocks, j, kEntryBlock), v);
}
const float* CachePools::compressed_get(const ops::OpContext& ctx, const SequenceState& s, int l, int64_t j,
                                       float* scratch) const {
  return decode_kv(ctx, table_read(compressed_, s.layers[size_t(l)].compressed_blocks, j, kEntryBlock), scratch);
}
void CachePools::indexer_store(SequenceState& s, int l, int64_t j, const float* v) {
  encode_indexer(s, table_entry(indexer_, s.layers[size_t(l)].indexer_blocks, j, kEntryBlock), v);
}
const uint8_t* CachePools::indexer_entry(const SequenceState& s, int l, int64_t j) const {
  return table_read(indexer_, s.layers[size_t(l)].indexer_blocks, j, kEntryBlock);
}

void CachePools::trim_window(SequenceState& s, int l, int64_t next_pos) {
  const int64_t first_needed = std::max<int64_t>(0, next_pos - cfg_.sliding_window + 1);
  auto& t = s.layers[size_t(l)].window_blocks;
  for (size_t b = 0; b < t.size() && int64_t(b + 1) * kWindowBlock <= first_needed; ++b)
    if (t[b] >= 0) {
      window_.free(t[b]);
      t[b] = -1;
    }
}
float* CachePools::compressed_write(SequenceState& s, int l, int64_t j) {
  TACHYON_CHECK(format_ == CacheFormat::kF32);
  return as_f32(table_entry(compressed_, s.layers[size_t(l)].compressed_blocks, j, kEntryBlock));
}
const float* CachePools::compressed_read(const SequenceState& s, int l, int64_t j) const {
  TACHYON_CHECK(format_ == CacheFormat::kF32);
  return as_f32(table_read(compressed_, s.layers[size_t(l)].compressed_blocks, j, kEntryBlock));
}
float* CachePools::indexer_write(SequenceState& s, int l, int64_t j) {
  TACHYON_CHECK(format_ == CacheFormat::kF32);
  return as_f32(table_entry(indexer_, s.layers[size_t(l)].indexer_blocks, j, kEntryBlock));
}
const float* CachePools::indexer_read(const SequenceState& s, int l, int64_t j) const {
  TACHYON_CHECK(format_ == CacheFormat::kF32);
  return as_f32(table_read(indexer_, s.layers[size_t(l)].indexer_blocks, j, kEntryBlock));
}

BlockPool& CachePools::state_pool(int ratio, bool indexer) {
  for (size_t i = 0; i < state_keys_.size(); ++i)
    if (state_keys_[i] == std::pair{ratio, indexer}) return *state_pools_[i];
  const int d = indexer ? cfg_.index_head_dim : cfg_.head_dim;
  const int c = ratio == 4 ? 2 : 1;
  // One entry = kv rows then score rows. Score rows start at -inf (empty), kv rows at 0: the pool fills
  // with 0 and callers set the score half on first use (see compressor_state()).
  state_keys_.push_back({ratio, indexer});
  state_pools_.push_back(std::make_unique<BlockPool>(int64_t(2) * c * ratio * c * d * int64_t(sizeof(float)), 1));
  return *state_pools_.back();
}

namespace {
float* init_state(BlockPool& p, int32_t& slot) {
  if (slot >= 0) return p.entry(slot, 0);
  slot = p.alloc();
  float* e = p.entry(slot, 0);
  const int64_t half = p.entry_bytes() / int64_t(sizeof(float)) / 2;
  std::fill(e + half, e + 2 * half, -INFINITY);
  return e;
}
}  // namespace

float* CachePools::compressor_state(SequenceState& s, int l) {
  return init_state(state_pool(cfg_.ratio(l), false), s.layers[size_t(l)].compressor_state);
}
float* CachePools::indexer_state(SequenceState& s, int l) {
  return init_state(state_pool(cfg_.ratio(l), true), s.layers[size_t(l)].indexer_state);
}

void CachePools::check_compressor_rows(SequenceState& s, const float* st, int ratio, int d, int64_t pos) {
  std::array<std::pair<int64_t, int64_t>, 4> parts;
  compressor_touched(ratio, d, pos, parts);  // parts 0 and 1: the position's kv and score rows
  for (int i = 0; i < 2; ++i)
    if (!all_finite(st + parts[size_t(i)].first, parts[size_t(i)].second)) s.nonfinite = true;
}

namespace {
// Saves the parts of `st` that compressor_step at pos will overwrite.
void save_touched(SpecLayerLog& g, const float* st, int ratio, int d, int64_t pos, bool indexer) {
  std::array<std::pair<int64_t, int64_t>, 4> parts;
  const int n = compressor_touched(ratio, d, pos, parts);
  for (int i = 0; i < n; ++i) {
    const auto [off, count] = parts[size_t(i)];
    g.undo.push_back({pos, indexer, off, count, g.saved.size()});
    g.saved.insert(g.saved.end(), st + off, st + off + count);
  }
}
}  // namespace

void CachePools::spec_log_before(SequenceState& s, int l, int64_t pos) {
  if (s.spec->layers.size() < s.layers.size()) s.spec->layers.resize(s.layers.size());
  SpecLayerLog& g = s.spec->layers[size_t(l)];
  if (g.base < 0) {
    g.base = pos;
    g.n = 0;
    g.undo.clear();
    g.saved.clear();
  }
  TACHYON_CHECK(pos == g.base + g.n, "speculative log: positions out of order");
  const int r = cfg_.ratio(l);
  if (r == 0) return;
  save_touched(g, compressor_state(s, l), r, cfg_.head_dim, pos, false);
  if (r == 4) save_touched(g, indexer_state(s, l), r, cfg_.index_head_dim, pos, true);
}

void CachePools::spec_log_after(SequenceState& s, int l, int64_t pos) {
  SpecLayerLog& g = s.spec->layers[size_t(l)];
  TACHYON_CHECK(g.base >= 0 && pos == g.base + g.n, "speculative log: positions out of order");
  ++g.n;
}

int64_t CachePools::trim_limit(const SequenceState& s, int l, int64_t pos) const {
  if (!s.spec || s.spec->layers.size() <= size_t(l) || s.spec->layers[size_t(l)].base < 0) return pos + 1;
  return std::min(pos + 1, s.spec->layers[size_t(l)].base);
}

namespace {
// Frees the blocks of table `t` whose first index is >= `keep` (they hold only entries past it).
void free_from(BlockPool& p, std::vector<int32_t>& t, int64_t keep, int64_t per_block) {
  for (size_t b = size_t((keep + per_block - 1) / per_block); b < t.size(); ++b)
    if (t[b] >= 0) {
      p.free(t[b]);
      t[b] = -1;
    }
}
}  // namespace

void CachePools::rollback(SequenceState& s, int64_t new_pos, bool mtp) {
  const int l0 = mtp ? cfg_.num_hidden_layers : 0, l1 = mtp ? cfg_.num_hidden_layers + 1 : cfg_.num_hidden_layers;
  int64_t& cur = mtp ? s.mtp_pos : s.pos;
  TACHYON_CHECK(new_pos <= cur, "rollback past the sequence's position");
  for (int l = l0; l < l1; ++l) {
    LayerState& L = s.layers[size_t(l)];
    const int r = cfg_.ratio(l);
    SpecLayerLog* g = s.spec && size_t(l) < s.spec->layers.size() ? &s.spec->layers[size_t(l)] : nullptr;
    if (g && g->base >= 0) {
      TACHYON_CHECK(new_pos >= g->base && new_pos <= g->base + g->n, "rollback outside the speculative log");
      for (auto u = g->undo.rbegin(); u != g->undo.rend() && u->pos >= new_pos; ++u) {
        float* st = u->indexer ? indexer_state(s, l) : compressor_state(s, l);
        std::copy_n(g->saved.data() + u->at, u->count, st + u->offset);
      }
      g->base = -1;
      g->n = 0;
      g->undo.clear();
      g->saved.clear();
    } else {
      TACHYON_CHECK(new_pos == cur, "rollback of layer " + std::to_string(l) + ", fed without a speculative log");
    }
    free_from(window_, L.window_blocks, new_pos, kWindowBlock);
    if (r > 0) {
      free_from(compressed_, L.compressed_blocks, new_pos / r, kEntryBlock);
      if (r == 4) free_from(indexer_, L.indexer_blocks, new_pos / r, kEntryBlock);
    }
    trim_window(s, l, new_pos);
  }
  cur = new_pos;
}

int64_t CachePools::bytes_in_use() const {
  int64_t b = window_.blocks_in_use() * window_.block_bytes() + compressed_.blocks_in_use() * compressed_.block_bytes() +
              indexer_.blocks_in_use() * indexer_.block_bytes();
  for (const auto& p : state_pools_) b += p->blocks_in_use() * p->block_bytes();
  return b;
}

int64_t CachePools::snapshot_only_bytes() const {
  int64_t b = window_.snapshot_only_blocks() * window_.block_bytes() +
              compressed_.snapshot_only_blocks() * compressed_.block_bytes() +
              indexer_.snapshot_only_blocks() * indexer_.block_bytes();
  for (const auto& p : state_pools_) b += p->snapshot_only_blocks() * p->block_bytes();
  return b;
}

}  // namespace tachyon::dsv4
