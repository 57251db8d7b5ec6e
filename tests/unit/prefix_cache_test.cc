// Prefix cache without a model: block reference counts, snapshot capture/restore of hand-written state,
// the hash chain (longest hit, collisions of content are misses, pruning) and LRU eviction, and the
// cache manager's budget with snapshots in it.
#include <gtest/gtest.h>

#include "small_config.h"

#include "runtime/cache_manager.h"
#include "runtime/prefix_cache.h"

namespace tachyon::runtime {
namespace {

ModelConfig small_config() { return testing::small_cache_config({0, 4, 128, 0}); }

// What a forward pass would write for position `pos` in every layer: window entry, compressed and
// indexer entries at block ends, compressor states. Values encode (layer, pos) so copies are checkable.
void write_position(dsv4::CachePools& p, dsv4::SequenceState& s, const ModelConfig& cfg, int64_t pos) {
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    p.window_write(s, l, pos)[0] = float(l * 100000 + pos);
    const int r = cfg.ratio(l);
    if (r > 0) {
      p.compressor_state(s, l)[pos % r] = float(pos);
      if ((pos + 1) % r == 0) p.compressed_write(s, l, pos / r)[0] = float(l * 100000 + pos);
      if (r == 4) {
        p.indexer_state(s, l)[pos % r] = float(pos);
        if ((pos + 1) % r == 0) p.indexer_write(s, l, pos / r)[1] = float(pos);
      }
    }
    if (s.capture && pos + 1 == s.capture->pos) p.capture_layer(s, l, *s.capture);
    p.trim_window(s, l, pos + 1);
  }
  s.pos = pos + 1;
}

void run(dsv4::CachePools& p, dsv4::SequenceState& s, const ModelConfig& cfg, int64_t to) {
  for (int64_t pos = s.pos; pos < to; ++pos) write_position(p, s, cfg, pos);
}

TEST(BlockPool, ReferenceCountsAndSnapshotOnlyBlocks) {
  dsv4::BlockPool p(16, 2);  // entries of 4 floats
  const int32_t a = p.alloc();
  p.entry(a, 1)[3] = 7.0f;
  p.retain(a, dsv4::Owner::kSnapshot);
  EXPECT_EQ(p.refs(a), 2);
  EXPECT_EQ(p.snapshot_only_blocks(), 0);
  p.free(a);  // the sequence lets go: only the snapshot holds it
  EXPECT_EQ(p.snapshot_only_blocks(), 1);
  EXPECT_EQ(p.blocks_in_use(), 1);
  const int32_t c = p.copy(a, dsv4::Owner::kSequence);
  EXPECT_NE(c, a);
  EXPECT_EQ(p.entry(c, 1)[3], 7.0f);
  p.free(a, dsv4::Owner::kSnapshot);
  EXPECT_EQ(p.snapshot_only_blocks(), 0);
  EXPECT_EQ(p.blocks_in_use(), 1);
  p.free(c);
  EXPECT_EQ(p.blocks_in_use(), 0);
}

TEST(Snapshot, RestoreGivesTheStateAtItsPositionAndSharesOnlyFullBlocks) {
  const ModelConfig cfg = small_config();
  ASSERT_TRUE(cfg.validate("test").is_ok());
  dsv4::CachePools p(cfg);
  ASSERT_EQ(p.snapshot_granularity(), 128);
  dsv4::SequenceState a = p.new_sequence();
  dsv4::Snapshot snap = p.new_snapshot(256);
  a.capture = &snap;
  run(p, a, cfg, 300);  // the writer goes past the snapshot
  a.capture = nullptr;
  ASSERT_TRUE(p.snapshot_complete(snap, false));
  EXPECT_FALSE(p.snapshot_complete(snap, true));  // the MTP layer was not captured
  const int64_t before = p.bytes_in_use();
  EXPECT_EQ(p.snapshot_only_bytes(), p.capture_bytes(256, false));  // exactly its copies
  // Full compressed blocks are shared with the writer, not copied.
  EXPECT_EQ(snap.layers[1].compressed_blocks[0], a.layers[1].compressed_blocks[0]);

  dsv4::SequenceState b = p.new_sequence();
  p.restore(b, snap);
  EXPECT_EQ(b.pos, 256);
  EXPECT_EQ(b.mtp_pos, 0);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    for (int64_t pos = 256 - 127; pos < 256; ++pos) EXPECT_EQ(p.window_read(b, l, pos)[0], float(l * 100000 + pos));
    const int r = cfg.ratio(l);
    for (int64_t j = 0; r > 0 && j < 256 / r; ++j)
      EXPECT_EQ(p.compressed_read(b, l, j)[0], float(l * 100000 + (j + 1) * r - 1));
  }
  // The overlapping compressor's state at 256 is the one the writer had then (slots 252..255), not later.
  EXPECT_EQ(p.compressor_state(b, 1)[0], 252.0f);
  EXPECT_EQ(p.indexer_state(b, 1)[3], 255.0f);
  // The ratio-128 compressor's state is empty at a multiple of 128: not stored, starts fresh.
  EXPECT_EQ(snap.layers[2].compressor_state, -1);
  // b continues on its own blocks; the writer's entries past 256 are untouched.
  run(p, b, cfg, 260);
  EXPECT_EQ(p.compressed_read(a, 1, 64)[0], float(100000 + 259));
  EXPECT_GT(p.bytes_in_use(), before);
  p.release(a);
  p.release(b);
  p.release(snap);
  EXPECT_EQ(p.bytes_in_use(), 0);
  EXPECT_EQ(p.snapshot_only_bytes(), 0);
}

std::vector<int32_t> tokens(int64_t n, int32_t seed) {
  std::vector<int32_t> t;
  for (int64_t i = 0; i < n; ++i) t.push_back(int32_t((i * 37 + seed * 101) % 997));
  return t;
}

TEST(PrefixCache, LongestHitCollisionsAndLruEviction) {
  const ModelConfig cfg = small_config();
  dsv4::CachePools p(cfg);
  {
    PrefixCache pc(p);
    const auto t = tokens(600, 1);
    // Snapshots of t at 128 and 384 (captured from one writer, as the engine would across steps).
    dsv4::SequenceState a = p.new_sequence();
    for (int64_t at : {128, 384}) {
      dsv4::Snapshot s = p.new_snapshot(at);
      a.capture = &s;
      run(p, a, cfg, at);
      a.capture = nullptr;
      pc.insert(t, std::move(s));
    }
    p.release(a);
    EXPECT_EQ(pc.snapshots(), 2);
    EXPECT_EQ(pc.nodes(), 3);  // blocks [0,128), [128,256), [256,384)
    EXPECT_TRUE(pc.contains(t, 128));
    EXPECT_FALSE(pc.contains(t, 256));

    const dsv4::Snapshot* hit = pc.lookup(t, 599);
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->pos, 384);
    hit = pc.lookup(t, 383);  // must leave a token to compute
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->pos, 128);
    EXPECT_EQ(pc.lookup(t, 127), nullptr);
    // A prompt that differs inside the second block only reaches the first snapshot.
    auto u = t;
    u[200] += 1;
    hit = pc.lookup(u, 599);
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->pos, 128);
    EXPECT_EQ(pc.lookup(tokens(600, 2), 599), nullptr);

    // LRU: the hits on 128 came after the one on 384, so 384 is the least recently used.
    ASSERT_TRUE(pc.evict_one());
    EXPECT_FALSE(pc.contains(t, 384));
    EXPECT_TRUE(pc.contains(t, 128));
    EXPECT_EQ(pc.nodes(), 1);  // the emptied chain was pruned
    ASSERT_TRUE(pc.evict_one());
    EXPECT_FALSE(pc.evict_one());
    EXPECT_EQ(pc.nodes(), 0);
    EXPECT_EQ(p.bytes_in_use(), 0);
  }
}

TEST(CacheManager, SnapshotsShareTheBudgetAndAreEvictedForRequests) {
  const ModelConfig cfg = small_config();
  dsv4::CachePools p(cfg);
  CacheManager cm(cfg, p, 64 << 20, /*prefix_caching=*/true);
  ASSERT_NE(cm.prefix_cache(), nullptr);
  const int64_t total = cm.total_units();

  // Request 1 computes 300 tokens and leaves a snapshot at 256.
  Request r1;
  r1.id = 1;
  r1.prompt = tokens(300, 3);
  cm.on_admit(r1);
  EXPECT_EQ(r1.num_computed, 0);
  cm.grow(r1, 300);
  dsv4::SequenceState& s1 = cm.state(r1);
  ASSERT_TRUE(cm.reserve_capture(p.capture_bytes(256, false)));
  dsv4::Snapshot snap = p.new_snapshot(256);
  s1.capture = &snap;
  run(p, s1, cfg, 300);
  s1.capture = nullptr;
  cm.prefix_cache()->insert(r1.prompt, std::move(snap));
  cm.settle();
  cm.release(r1);
  EXPECT_EQ(cm.used_units(), 0);
  EXPECT_GT(cm.snapshot_units(), 0);
  EXPECT_EQ(cm.free_blocks(), total);  // snapshot-only blocks count as free

  // Request 2 shares 280 tokens: it starts at 256 and reports 256 cached prompt tokens.
  Request r2;
  r2.id = 2;
  r2.prompt = tokens(280, 3);
  r2.prompt.push_back(5);
  cm.on_admit(r2);
  EXPECT_EQ(r2.num_computed, 256);
  EXPECT_EQ(r2.num_cached_prefix, 256);
  EXPECT_EQ(cm.state(r2).pos, 256);
  EXPECT_EQ(cm.prefix_queries(), 300 + 281);
  EXPECT_EQ(cm.prefix_hits(), 256);
  cm.grow(r2, 281);
  cm.release(r2);

  // A request that needs the whole budget evicts the snapshot.
  Request big;
  big.id = 3;
  big.prompt = tokens(10, 9);
  cm.on_admit(big);
  cm.grow(big, cm.max_tokens());
  EXPECT_EQ(cm.prefix_cache()->snapshots(), 0);
  EXPECT_EQ(cm.snapshot_units(), 0);
  cm.release(big);
  EXPECT_EQ(p.bytes_in_use(), 0);
}

}  // namespace
}  // namespace tachyon::runtime
