// NaN and infinity reaching the decode state: a store of such a value marks the sequence (no abort, in
// every cache format), a finite store does not, a compressor slot written with one is caught, and
// release() clears the mark. (The DraftHead on rows that are not finite: draft_head_test.cc.)
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "small_config.h"

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "model/deepseek_v4/layers.h"
#include "model/deepseek_v4/state.h"

namespace tachyon::dsv4 {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// A value every format holds exactly: 0.5 (e4m3 and e2m1 codes with scale 1).
std::vector<float> exact_values(int64_t n) { return std::vector<float>(size_t(n), 0.5f); }

TEST(NonFiniteState, StoresOfNanOrInfinityMarkTheSequenceInEveryFormat) {
  const ModelConfig cfg = testing::small_cache_config({4, 128, 0});
  for (CacheFormat f : {CacheFormat::kF32, CacheFormat::kCompact, CacheFormat::kCompactBf16})
    for (float bad : {kNaN, INFINITY, -INFINITY})
      for (int where : {0, 1, 2}) {  // window, compressed, indexer
        for (int64_t dim : {int64_t(0), int64_t(63), int64_t(127)}) {  // a nope dim, a rope dim
          SCOPED_TRACE(std::string(cache_format_name(f)) + " where " + std::to_string(where) + " dim " +
                       std::to_string(dim) + " value " + std::to_string(bad));
          CachePools pools(cfg, f);
          SequenceState s = pools.new_sequence();
          std::vector<float> kv = exact_values(cfg.head_dim), ix = exact_values(cfg.index_head_dim);
          pools.window_store(s, 0, 0, kv.data());
          pools.compressed_store(s, 0, 0, kv.data());
          pools.indexer_store(s, 0, 0, ix.data());
          EXPECT_FALSE(s.nonfinite);
          if (where == 2 && dim >= cfg.index_head_dim) continue;
          std::vector<float>& v = where == 2 ? ix : kv;
          v[size_t(dim)] = bad;
          if (where == 0) pools.window_store(s, 0, 1, v.data());
          if (where == 1) pools.compressed_store(s, 0, 1, v.data());
          if (where == 2) pools.indexer_store(s, 0, 1, v.data());
          EXPECT_TRUE(s.nonfinite);
          pools.release(s);
          EXPECT_FALSE(s.nonfinite);
          EXPECT_EQ(pools.bytes_in_use(), 0);
        }
      }
}

TEST(NonFiniteState, CompressorRowsThatAreNotFiniteMarkTheSequence) {
  const ModelConfig cfg = testing::small_cache_config({4, 128, 0});
  CachePools pools(cfg);
  const int d = cfg.head_dim;
  std::vector<float> kv(size_t(2 * d), 0.25f), gate(size_t(2 * d), 0.0f), ape(size_t(4 * 2 * d), 0.0f);
  std::vector<float> out(static_cast<size_t>(d));
  SequenceState s = pools.new_sequence();
  float* st = pools.compressor_state(s, 0);
  // Clean positions, including a block that completes (the empty slots' -inf scores are no fault).
  for (int64_t pos = 0; pos < 6; ++pos) {
    compressor_step(st, 4, d, kv.data(), gate.data(), ape.data(), pos, out.data());
    CachePools::check_compressor_rows(s, st, 4, d, pos);
  }
  EXPECT_FALSE(s.nonfinite);
  for (bool in_gate : {false, true}) {
    SequenceState t = pools.new_sequence();
    float* ts = pools.compressor_state(t, 0);
    std::vector<float> k2 = kv, g2 = gate;
    (in_gate ? g2 : k2)[size_t(d + 3)] = in_gate ? INFINITY : kNaN;
    compressor_step(ts, 4, d, k2.data(), g2.data(), ape.data(), 3, out.data());  // completes block 0
    CachePools::check_compressor_rows(t, ts, 4, d, 3);
    EXPECT_TRUE(t.nonfinite) << in_gate;
    pools.release(t);
  }
  pools.release(s);
}

}  // namespace
}  // namespace tachyon::dsv4
