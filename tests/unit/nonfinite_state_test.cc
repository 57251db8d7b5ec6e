// NaN and infinity reaching the decode state: a store of such a value marks the sequence (no abort, in
// every cache format), a finite store does not, a compressor slot written with one is caught, and
// release() clears the mark. Also the DraftHead (int8 screen of the head) on rows that are not finite.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "small_config.h"

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "model/deepseek_v4/draft_head.h"
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

struct Head {
  int64_t n, k;
  std::vector<uint16_t> w;  // bf16 [n, k]
  cpu::WeightView view() const {
    cpu::WeightView v;
    v.fmt = cpu::WFormat::kBF16;
    v.n = n;
    v.k = k;
    v.data = w.data();
    return v;
  }
};

// A head row that holds a NaN is never screened out: its logit is computed exactly (NaN) whatever the
// query, so the caller sees it. A query row that is not finite gives a row of NaN. Other rows of the same
// call are unaffected.
TEST(NonFiniteState, DraftHeadShowsNanRowsInsteadOfScreeningThemOut) {
  ThreadPool pool(2);
  const ops::OpContext ctx = ops::OpContext::make(pool);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  const int64_t n = 300, k = 96, bad_row = 123;
  Head h{n, k, std::vector<uint16_t>(size_t(n * k))};
  for (auto& v : h.w) v = f32_to_bf16(dist(rng));
  // A row whose other entries make its approximate logit tiny, so a screen would drop it.
  for (int64_t j = 0; j < k; ++j) h.w[size_t(bad_row * k + j)] = f32_to_bf16(j == 7 ? kNaN : 1e-6f);
  DraftHead dh(ctx, h.w.data(), n, k);
  std::vector<float> x(size_t(3 * k));
  for (float& v : x) v = dist(rng) * 10.0f;
  x[size_t(k + 5)] = INFINITY;  // row 1 of the query is not finite
  std::vector<float> got(size_t(3 * n)), exact(size_t(3 * n));
  dh.logits(ctx, h.view(), x.data(), 3, got.data());
  ops::linear(ctx, x.data(), 3, h.view(), exact.data());
  for (int64_t r : {int64_t(0), int64_t(2)}) {
    EXPECT_TRUE(std::isnan(got[size_t(r * n + bad_row)])) << r;
    // The largest finite logit is still the exact head's.
    float best = -INFINITY, best_exact = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      if (i == bad_row) continue;
      best = std::max(best, got[size_t(r * n + i)]);
      best_exact = std::max(best_exact, exact[size_t(r * n + i)]);
    }
    EXPECT_EQ(best, best_exact) << r;
  }
  for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(std::isnan(got[size_t(n + i)])) << i;
}

}  // namespace
}  // namespace tachyon::dsv4
