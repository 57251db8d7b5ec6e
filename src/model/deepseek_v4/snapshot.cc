// Prefix-cache snapshots of the paged state (see Snapshot in state.h). A capture shares the full
// compressed and indexer blocks by reference and copies everything a continuing sequence may still
// write or drop: the window blocks, a partly filled last compressed/indexer block and the compressor
// partial states. A restore shares the same full blocks and copies the rest again, so neither side ever
// writes a shared block and a sequence's blocks never outnumber what its own computation would hold.
#include <numeric>

#include "core/check.h"
#include "model/deepseek_v4/state.h"

namespace tachyon::dsv4 {

Snapshot CachePools::new_snapshot(int64_t pos) const {
  Snapshot s;
  s.pos = pos;
  s.layers.resize(size_t(cfg_.num_hidden_layers + 1));
  return s;
}

int64_t CachePools::snapshot_granularity() const {
  int64_t g = kWindowBlock;
  for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
    const int r = cfg_.ratio(l);
    if (r > 0 && r != 4) g = std::lcm(g, int64_t(r));
  }
  return g;
}

bool CachePools::state_needed(int l, int64_t pos) const {
  const int r = cfg_.ratio(l);
  return r > 0 && (r == 4 || pos % r != 0);  // the overlapping compressor keeps the previous block
}

namespace {

// Window blocks that hold positions [pos - window + 1, pos): what the query at `pos` still sees.
std::pair<int64_t, int64_t> window_block_range(int64_t pos, int64_t window) {
  const int64_t first = std::max<int64_t>(0, pos - window + 1);
  if (first >= pos) return {0, 0};
  return {first / CachePools::kWindowBlock, (pos - 1) / CachePools::kWindowBlock + 1};
}

void copy_range(BlockPool& p, const std::vector<int32_t>& from, std::vector<int32_t>& to, int64_t b0, int64_t b1,
                Owner o) {
  to.assign(size_t(b1), -1);
  for (int64_t b = b0; b < b1; ++b) {
    TACHYON_CHECK(size_t(b) < from.size() && from[size_t(b)] >= 0, "snapshot of a block that is not held");
    to[size_t(b)] = p.copy(from[size_t(b)], o);
  }
}

// Entries [0, n): full blocks by reference, the partly filled last block copied.
void share_entries(BlockPool& p, const std::vector<int32_t>& from, std::vector<int32_t>& to, int64_t n, Owner o) {
  const int64_t per = CachePools::kEntryBlock, full = n / per, total = (n + per - 1) / per;
  to.assign(size_t(total), -1);
  for (int64_t b = 0; b < total; ++b) {
    TACHYON_CHECK(size_t(b) < from.size() && from[size_t(b)] >= 0, "snapshot of a block that is not held");
    if (b < full) {
      p.retain(from[size_t(b)], o);
      to[size_t(b)] = from[size_t(b)];
    } else {
      to[size_t(b)] = p.copy(from[size_t(b)], o);
    }
  }
}

void release_blocks(BlockPool& p, std::vector<int32_t>& t, Owner o) {
  for (int32_t b : t)
    if (b >= 0) p.free(b, o);
  t.clear();
}

}  // namespace

void CachePools::capture_layer(const SequenceState& s, int l, Snapshot& snap) {
  const LayerState& L = s.layers[size_t(l)];
  LayerSnapshot& o = snap.layers[size_t(l)];
  TACHYON_CHECK(!o.captured, "layer captured twice");
  const int64_t P = snap.pos;
  const auto [w0, w1] = window_block_range(P, cfg_.sliding_window);
  copy_range(window_, L.window_blocks, o.window_blocks, w0, w1, Owner::kSnapshot);
  const int r = cfg_.ratio(l);
  if (r > 0) {
    share_entries(compressed_, L.compressed_blocks, o.compressed_blocks, P / r, Owner::kSnapshot);
    if (r == 4) share_entries(indexer_, L.indexer_blocks, o.indexer_blocks, P / r, Owner::kSnapshot);
    if (state_needed(l, P)) {
      if (L.compressor_state >= 0) o.compressor_state = state_pool(r, false).copy(L.compressor_state, Owner::kSnapshot);
      if (r == 4 && L.indexer_state >= 0)
        o.indexer_state = state_pool(r, true).copy(L.indexer_state, Owner::kSnapshot);
    }
  }
  o.captured = true;
}

bool CachePools::snapshot_complete(const Snapshot& snap, bool with_mtp) const {
  for (int l = 0; l < cfg_.num_hidden_layers; ++l)
    if (!snap.layers[size_t(l)].captured) return false;
  return !with_mtp || snap.layers.back().captured;
}

int64_t CachePools::capture_bytes(int64_t P, bool with_mtp) const {
  const auto [w0, w1] = window_block_range(P, cfg_.sliding_window);
  const int n_layers = cfg_.num_hidden_layers + (with_mtp ? 1 : 0);
  int64_t bytes = 0;
  for (int l = 0; l < n_layers; ++l) {
    bytes += (w1 - w0) * window_.block_bytes();
    const int r = cfg_.ratio(l);
    if (r == 0) continue;
    const bool partial = (P / r) % kEntryBlock != 0;
    if (partial) bytes += compressed_.block_bytes() + (r == 4 ? indexer_.block_bytes() : 0);
    if (state_needed(l, P)) bytes += state_bytes(l, false) + (r == 4 ? state_bytes(l, true) : 0);
  }
  return bytes;
}

void CachePools::restore(SequenceState& s, const Snapshot& snap) {
  TACHYON_CHECK(s.pos == 0 && s.mtp_pos == 0, "restore into a sequence that already holds state");
  for (size_t l = 0; l < snap.layers.size(); ++l) {
    const LayerSnapshot& o = snap.layers[l];
    if (!o.captured) continue;
    LayerState& L = s.layers[l];
    const auto [w0, w1] = window_block_range(snap.pos, cfg_.sliding_window);
    copy_range(window_, o.window_blocks, L.window_blocks, w0, w1, Owner::kSequence);
    const int r = cfg_.ratio(int(l));
    if (r > 0) {
      share_entries(compressed_, o.compressed_blocks, L.compressed_blocks, snap.pos / r, Owner::kSequence);
      if (r == 4) share_entries(indexer_, o.indexer_blocks, L.indexer_blocks, snap.pos / r, Owner::kSequence);
      if (o.compressor_state >= 0) L.compressor_state = state_pool(r, false).copy(o.compressor_state, Owner::kSequence);
      if (o.indexer_state >= 0) L.indexer_state = state_pool(r, true).copy(o.indexer_state, Owner::kSequence);
    }
  }
  s.pos = snap.pos;
  s.mtp_pos = snap.layers.back().captured ? snap.pos : 0;
}

void CachePools::release(Snapshot& snap) {
  for (size_t l = 0; l < snap.layers.size(); ++l) {
    LayerSnapshot& o = snap.layers[l];
    release_blocks(window_, o.window_blocks, Owner::kSnapshot);
    release_blocks(compressed_, o.compressed_blocks, Owner::kSnapshot);
    release_blocks(indexer_, o.indexer_blocks, Owner::kSnapshot);
    const int r = cfg_.ratio(int(l));
    if (o.compressor_state >= 0) state_pool(r, false).free(o.compressor_state, Owner::kSnapshot);
    if (o.indexer_state >= 0) state_pool(r, true).free(o.indexer_state, Owner::kSnapshot);
    o.compressor_state = o.indexer_state = -1;
    o.captured = false;
  }
}

}  // namespace tachyon::dsv4
