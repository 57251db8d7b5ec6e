// Batch invariance of the fast linear kernels: a token's outputs are bit-for-bit the same whether it is
// alone in the call or one of m tokens (register tiles for a few tokens, decoded panels for many), for
// every format, odd shapes, partial tiles, row offsets and thread splits. The server's batching and the
// prefix cache rely on this. Also: the panel path agrees with ref:: like the tiles do, and FP8 scale codes
// at the ends of the E8M0 range (where the folded 2^8 would overflow) give the reference's values.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "backends/cpu/kernels.h"
#include "kernel_test_util.h"
#include "ops/ops.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

#define REQUIRE_FAST() \
  if (!fast::available()) GTEST_SKIP() << "CPU lacks AVX2/FMA/F16C"

bool same(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

void check_invariant(WFormat fmt, int64_t m, int64_t n, int64_t k, int64_t row0, int block, uint64_t seed) {
  Rng rng(seed);
  const TestWeight w = make_weight(rng, fmt, row0 + n, k, block);
  const auto x = randn(rng, size_t(m * k));
  const WeightView v = w.view(row0, n);
  std::vector<float> all(size_t(m * n));
  fast::linear(x.data(), m, v, all.data(), 0, n);
  // Each token alone, and the rows split in two ranges.
  for (int64_t i = 0; i < m; ++i) {
    std::vector<float> one(static_cast<size_t>(n));
    const int64_t split = n / 3;
    fast::linear(x.data() + i * k, 1, v, one.data(), 0, split);
    fast::linear(x.data() + i * k, 1, v, one.data(), split, n);
    for (int64_t o = 0; o < n; ++o)
      ASSERT_TRUE(same(all[size_t(i * n + o)], one[size_t(o)]))
          << fmt_name(fmt) << " m=" << m << " n=" << n << " k=" << k << " token " << i << " row " << o << ": "
          << all[size_t(i * n + o)] << " vs " << one[size_t(o)];
  }
  // Any prefix of the batch gives the same rows too (tiles of 3, 2 and 1 tokens line up differently).
  for (int64_t mm : {m - 1, m - 2}) {
    if (mm < 1) continue;
    std::vector<float> part(size_t(mm * n));
    fast::linear(x.data(), mm, v, part.data(), 0, n);
    for (int64_t i = 0; i < mm * n; ++i) ASSERT_TRUE(same(part[size_t(i)], all[size_t(i)])) << fmt_name(fmt) << " mm=" << mm;
  }
  // And the panel path agrees with the reference like the tiles do.
  const NaiveLinear naive = naive_linear(x, m, w, row0, n);
  std::vector<float> yr(size_t(m * n));
  ref::linear(x.data(), m, v, yr.data(), 0, n);
  for (size_t i = 0; i < yr.size(); ++i)
    ASSERT_NEAR(all[i], yr[i], 1e-5 * naive.abs_sum[i] + 1e-30) << fmt_name(fmt) << " m=" << m << " at " << i;
}

TEST(LinearInvariance, TokenResultsDoNotDependOnBatch) {
  REQUIRE_FAST();
  uint64_t seed = 900;
  for (int64_t m : {2, 3, 4, 5, 7, 8, 9, 13, 17, 18}) {
    for (WFormat fmt : {WFormat::kF32, WFormat::kBF16, WFormat::kFP8}) {
      check_invariant(fmt, m, 13, 77, 0, 128, ++seed);    // k % 8 != 0: register tiles for every m
      check_invariant(fmt, m, 37, 256, 3, 128, ++seed);   // panels for m >= 4, odd row count
      check_invariant(fmt, m, 9, 264, 130, 128, ++seed);  // partial last FP8 block, row0 across a tile
    }
    check_invariant(WFormat::kFP8, m, 30, 96, 5, 16, ++seed);  // small scale tiles
    check_invariant(WFormat::kFP8, m, 30, 100, 0, 20, ++seed); // tiles of 20: register path
    check_invariant(WFormat::kFP4, m, 19, 96, 0, 128, ++seed);
    check_invariant(WFormat::kFP4, m, 6, 512, 7, 128, ++seed);
  }
}

// Prefill-sized calls (about a hundred tokens, over a thousand columns with a partial last FP8 block):
// every token still gets what it gets alone.
TEST(LinearInvariance, PrefillSizedCallsMatchSingleTokenCalls) {
  REQUIRE_FAST();
  uint64_t seed = 950;
  for (WFormat fmt : {WFormat::kF32, WFormat::kBF16, WFormat::kFP8}) check_invariant(fmt, 101, 9, 1100, 3, 128, ++seed);
  check_invariant(WFormat::kFP8, 97, 6, 600, 0, 20, ++seed);
  for (WFormat fmt : {WFormat::kF32, WFormat::kBF16}) check_invariant(fmt, 43, 29, 300, 2, 128, ++seed);  // tiles
  check_invariant(WFormat::kFP4, 100, 7, 1120, 5, 128, ++seed);
}

TEST(LinearInvariance, ThreadedOpsMatchSingleTokenCalls) {
  REQUIRE_FAST();
  const ThreadPool pool(3);
  const ops::OpContext ctx = ops::OpContext::make(pool);
  Rng rng(77);
  for (WFormat fmt : {WFormat::kBF16, WFormat::kFP8, WFormat::kFP4}) {
    const int64_t m = 11, n = 300, k = 512;
    const TestWeight w = make_weight(rng, fmt, n, k);
    const auto x = randn(rng, size_t(m * k));
    std::vector<float> all(size_t(m * n)), one(static_cast<size_t>(n));
    ops::linear(ctx, x.data(), m, w.view(0, n), all.data());
    for (int64_t i = 0; i < m; ++i) {
      ops::linear(ctx, x.data() + i * k, 1, w.view(0, n), one.data());
      for (int64_t o = 0; o < n; ++o) ASSERT_TRUE(same(all[size_t(i * n + o)], one[size_t(o)])) << fmt_name(fmt);
    }
  }
}

TEST(LinearGroup, EachJobEqualsItsOwnLinear) {
  Rng rng(31);
  // Expert-like jobs: FP4 and FP8 weights of different shapes, 0..5 tokens each, some rows shared.
  struct Spec {
    WFormat fmt;
    int64_t n, k, m;
  };
  const Spec specs[] = {{WFormat::kFP4, 64, 256, 1}, {WFormat::kFP4, 64, 256, 3}, {WFormat::kFP8, 100, 256, 2},
                        {WFormat::kBF16, 37, 96, 5}, {WFormat::kFP4, 256, 64, 0}, {WFormat::kFP8, 9, 512, 1}};
  std::vector<TestWeight> ws;
  std::vector<std::vector<float>> xs;
  for (const Spec& s : specs) {
    ws.push_back(make_weight(rng, s.fmt, s.n, s.k));
    xs.push_back(randn(rng, size_t(std::max<int64_t>(s.m, 1) * s.k)));
  }
  for (int threads : {1, 2, 3, 7}) {
    for (bool use_fast : {false, true}) {
      if (use_fast && !fast::available()) continue;
      const ThreadPool pool(threads);
      const ops::OpContext ctx = ops::OpContext::make(pool, use_fast);
      std::vector<std::vector<float>> ys, want;
      std::vector<ops::LinearJob> jobs;
      for (size_t i = 0; i < ws.size(); ++i) {
        ys.emplace_back(size_t(specs[i].m * specs[i].n), -7.0f);
        want.emplace_back(size_t(specs[i].m * specs[i].n), -7.0f);
        ops::linear(ctx, xs[i].data(), specs[i].m, ws[i].view(0, specs[i].n), want.back().data());
      }
      for (size_t i = 0; i < ws.size(); ++i) jobs.push_back({xs[i].data(), specs[i].m, ws[i].view(0, specs[i].n), ys[i].data()});
      ops::linear_group(ctx, jobs);
      for (size_t i = 0; i < ws.size(); ++i)
        for (size_t o = 0; o < ys[i].size(); ++o)
          ASSERT_TRUE(same(ys[i][o], want[i][o])) << "job " << i << " threads " << threads << " fast " << use_fast;
    }
  }
}

TEST(LinearInvariance, Fp8ScalesAtTheEndsOfTheRange) {
  REQUIRE_FAST();
  // One row of 32 ones (code 0x38), x = 2^-20 each: the block sum is 2^-15, times the scale.
  for (int code : {0, 1, 100, 127, 246, 247, 250, 254, 255}) {
    std::vector<uint8_t> wq(32, 0x38), sc = {uint8_t(code)};
    WeightView v;
    v.fmt = WFormat::kFP8;
    v.n = 1;
    v.k = 32;
    v.data = wq.data();
    v.scale = sc.data();
    for (int64_t m : {1, 4}) {
      std::vector<float> x(size_t(32 * m), std::ldexp(1.0f, -20)), yf(static_cast<size_t>(m)), yr(static_cast<size_t>(m));
      fast::linear(x.data(), m, v, yf.data(), 0, 1);
      ref::linear(x.data(), m, v, yr.data(), 0, 1);
      for (int64_t i = 0; i < m; ++i) {
        if (code == 255) EXPECT_TRUE(std::isnan(yf[size_t(i)]));
        else EXPECT_EQ(yf[size_t(i)], yr[size_t(i)]) << "code " << code << " m " << m;
      }
    }
  }
}

}  // namespace
}  // namespace tachyon::cpu
