// Paged decode state: blocks come from pools, the window keeps only what the sliding window can see,
// and every block returns to its pool when the sequence is released.
#include <gtest/gtest.h>

#include "small_config.h"

#include "model/deepseek_v4/state.h"

namespace tachyon::dsv4 {
namespace {

ModelConfig small_config() { return testing::small_cache_config({4, 128, 0}); }

TEST(CachePools, WindowIsTrimmedAndEverythingIsReleased) {
  ModelConfig cfg = small_config();
  ASSERT_TRUE(cfg.validate("test").is_ok());
  CachePools pools(cfg);
  SequenceState s = pools.new_sequence();
  ASSERT_EQ(s.layers.size(), 3u);
  for (int64_t pos = 0; pos < 1000; ++pos) {
    pools.window_write(s, 0, pos)[0] = float(pos);
    pools.trim_window(s, 0, pos + 1);
    if (pos % 4 == 3) pools.compressed_write(s, 0, pos / 4)[0] = float(pos);
  }
  // Positions still visible to the next query are readable and hold what was written.
  for (int64_t pos = 1000 - 127; pos < 1000; ++pos) EXPECT_EQ(pools.window_read(s, 0, pos)[0], float(pos));
  int live = 0;
  for (int32_t b : s.layers[0].window_blocks) live += b >= 0;
  EXPECT_LE(live, 3);  // 128 visible positions span at most 3 blocks of 64
  EXPECT_EQ(pools.compressed_read(s, 0, 249)[0], 999.0f);
  float* st = pools.compressor_state(s, 0);
  EXPECT_EQ(st[0], 0.0f);                      // kv rows start at 0
  EXPECT_EQ(st[2 * 4 * 2 * 128], -INFINITY);   // score rows start at -inf
  EXPECT_GT(pools.bytes_in_use(), 0);
  pools.release(s);
  EXPECT_EQ(pools.bytes_in_use(), 0);
  // A reused block is reset: a new sequence's compressor state starts clean.
  SequenceState s2 = pools.new_sequence();
  float* st2 = pools.compressor_state(s2, 0);
  EXPECT_EQ(st2[2 * 4 * 2 * 128], -INFINITY);
  pools.release(s2);
}

}  // namespace
}  // namespace tachyon::dsv4
