// Batch invariance of the fast linear kernels, for every kernel set this CPU runs: a token's outputs are
// bit-for-bit the same whether it is alone in the call or one of m tokens (register tiles for a few
// tokens, decoded panels for many), for every format, odd shapes, partial tiles, row offsets and thread
// splits. The server's batching and the prefix cache rely on this. Also: the panel path agrees with ref::
// like the tiles do, and FP8/FP4 scale codes at the ends of the E8M0 range (where the FP8 kernels'
// folded 2^8 would overflow) give the reference's values. Sets the CPU lacks are named and skipped.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "backends/cpu/kernels.h"
#include "kernel_test_util.h"
#include "ops/ops.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

bool same(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

void check_invariant(const KernelTable& K, WFormat fmt, int64_t m, int64_t n, int64_t k, int64_t row0, int block,
                     uint64_t seed) {
  Rng rng(seed);
  const TestWeight w = make_weight(rng, fmt, row0 + n, k, block);
  const auto x = randn(rng, size_t(m * k));
  const WeightView v = w.view(row0, n);
  std::vector<float> all(size_t(m * n));
  K.linear(x.data(), m, v, all.data(), 0, n);
  // Each token alone, and the rows split in two ranges.
  for (int64_t i = 0; i < m; ++i) {
    std::vector<float> one(static_cast<size_t>(n));
    const int64_t split = n / 3;
    K.linear(x.data() + i * k, 1, v, one.data(), 0, split);
    K.linear(x.data() + i * k, 1, v, one.data(), split, n);
    for (int64_t o = 0; o < n; ++o)
      ASSERT_TRUE(same(all[size_t(i * n + o)], one[size_t(o)]))
          << fmt_name(fmt) << " m=" << m << " n=" << n << " k=" << k << " token " << i << " row " << o << ": "
          << all[size_t(i * n + o)] << " vs " << one[size_t(o)];
  }
  // Any prefix of the batch gives the same rows too (token tiles line up differently, and the prefix
  // may fall on the other side of the panel threshold).
  for (int64_t mm : {m - 1, m - 2, m / 2}) {
    if (mm < 1) continue;
    std::vector<float> part(size_t(mm * n));
    K.linear(x.data(), mm, v, part.data(), 0, n);
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
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    uint64_t seed = 900;
    for (int64_t m = 2; m <= 20; ++m) {
      for (WFormat fmt : {WFormat::kF32, WFormat::kBF16, WFormat::kFP8}) {
        check_invariant(*K, fmt, m, 13, 77, 0, 128, ++seed);    // k % 8 != 0
        check_invariant(*K, fmt, m, 37, 256, 3, 128, ++seed);   // odd row count
        check_invariant(*K, fmt, m, 9, 264, 130, 128, ++seed);  // partial last FP8 block, row0 across a tile
        check_invariant(*K, fmt, m, 11, 200, 0, 128, ++seed);   // a last block of 72 columns
      }
      check_invariant(*K, WFormat::kFP8, m, 30, 96, 5, 16, ++seed);    // small scale tiles
      check_invariant(*K, WFormat::kFP8, m, 30, 100, 0, 20, ++seed);   // tiles of 20
      check_invariant(*K, WFormat::kFP8, m, 10, 250, 40, 48, ++seed);  // blocks off 32-column boundaries
      check_invariant(*K, WFormat::kFP4, m, 19, 96, 0, 128, ++seed);
      check_invariant(*K, WFormat::kFP4, m, 6, 512, 7, 128, ++seed);
      check_invariant(*K, WFormat::kFP4, m, 9, 544, 2, 128, ++seed);   // 17 scale blocks per row
    }
  }
}

// Prefill-sized calls (about a hundred tokens, over a thousand columns with a partial last FP8 block):
// every token still gets what it gets alone.
TEST(LinearInvariance, PrefillSizedCallsMatchSingleTokenCalls) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    uint64_t seed = 950;
    for (WFormat fmt : {WFormat::kF32, WFormat::kBF16, WFormat::kFP8})
      check_invariant(*K, fmt, 101, 9, 1100, 3, 128, ++seed);
    check_invariant(*K, WFormat::kFP8, 97, 6, 600, 0, 20, ++seed);
    for (WFormat fmt : {WFormat::kF32, WFormat::kBF16}) check_invariant(*K, fmt, 43, 29, 300, 2, 128, ++seed);
    check_invariant(*K, WFormat::kFP4, 100, 7, 1120, 5, 128, ++seed);
  }
}

// A row with a NaN FP8 code is NaN for every token whatever the batch, and its neighbours keep their
// bits (the register tiles and the panels find NaN codes differently).
TEST(LinearInvariance, Fp8NanRowsWhateverTheBatch) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(61);
    const int64_t n = 13, k = 300;
    TestWeight w = make_weight(rng, WFormat::kFP8, n, k);
    w.bytes[size_t(4 * k + 77)] = 0x7f;
    w.bytes[size_t(9 * k + 296)] = 0xff;  // in the last block's tail
    for (int64_t m : {1, 3, 8, 16, 20}) {
      const auto x = randn(rng, size_t(m * k));
      std::vector<float> all(size_t(m * n)), one(static_cast<size_t>(n));
      K->linear(x.data(), m, w.view(0, n), all.data(), 0, n);
      for (int64_t i = 0; i < m; ++i) {
        K->linear(x.data() + i * k, 1, w.view(0, n), one.data(), 0, n);
        for (int64_t o = 0; o < n; ++o) {
          const float a = all[size_t(i * n + o)], b = one[size_t(o)];
          if (o == 4 || o == 9) ASSERT_TRUE(std::isnan(a) && std::isnan(b)) << "m=" << m << " row " << o;
          else ASSERT_TRUE(same(a, b)) << "m=" << m << " token " << i << " row " << o;
        }
      }
    }
  }
}

TEST(LinearInvariance, ThreadedOpsMatchSingleTokenCalls) {
  const ThreadPool pool(3);
  for (Isa isa : fast_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const ops::OpContext ctx = ops::OpContext::make(pool, isa);
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
  std::vector<Isa> isas = {Isa::kScalar};
  for (Isa isa : fast_isas()) isas.push_back(isa);
  for (int threads : {1, 2, 3, 7}) {
    for (Isa isa : isas) {
      const ThreadPool pool(threads);
      const ops::OpContext ctx = ops::OpContext::make(pool, isa);
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
          ASSERT_TRUE(same(ys[i][o], want[i][o])) << "job " << i << " threads " << threads << " " << isa_name(isa);
    }
  }
}

TEST(LinearInvariance, ScalesAtTheEndsOfTheRange) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    // One row of 32 ones (FP8 code 0x38, FP4 nibble 2), x = 2^-20 each: the block sum is 2^-15, times the
    // scale: exact in every order, so the result equals ref::'s bit for bit (or is NaN for code 255).
    for (WFormat fmt : {WFormat::kFP8, WFormat::kFP4}) {
      for (int code : {0, 1, 2, 100, 127, 246, 247, 250, 253, 254, 255}) {
        std::vector<uint8_t> wq(fmt == WFormat::kFP8 ? 32 : 16, fmt == WFormat::kFP8 ? 0x38 : 0x22);
        std::vector<uint8_t> sc = {uint8_t(code)};
        WeightView v;
        v.fmt = fmt;
        v.n = 1;
        v.k = 32;
        v.data = wq.data();
        v.scale = sc.data();
        for (int64_t m : {1, 4, 9, 20}) {
          std::vector<float> x(size_t(32 * m), std::ldexp(1.0f, -20)), yf(static_cast<size_t>(m)),
              yr(static_cast<size_t>(m));
          K->linear(x.data(), m, v, yf.data(), 0, 1);
          ref::linear(x.data(), m, v, yr.data(), 0, 1);
          for (int64_t i = 0; i < m; ++i) {
            if (code == 255) EXPECT_TRUE(std::isnan(yf[size_t(i)]));
            else EXPECT_EQ(yf[size_t(i)], yr[size_t(i)]) << fmt_name(fmt) << " code " << code << " m " << m;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace tachyon::cpu
