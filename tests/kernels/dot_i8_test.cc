// dot_i8 (the MTP draft head's screening pass) and quantize_i8: every kernel set's twin equals the scalar reference
// bit for bit, the reference equals an independent int64 sum, and quantisation stays within half a step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backends/cpu/kernels.h"
#include "kernel_test_util.h"
#include "ops/ops.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

std::vector<int8_t> random_i8(Rng& rng, size_t n, int lim) {
  std::vector<int8_t> v(n);
  for (auto& e : v) e = int8_t(uniform_int(rng, -lim, lim));
  return v;
}

TEST(DotI8, FastMatchesRefAndInt64Sum) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(11);
    for (int64_t k : {32, 64, 96, 256, 4096}) {
      for (int64_t n_out : {1, 3, 4, 5, 9, 64}) {
        for (int lim : {1, 127}) {  // 127: every product at the extreme, the int16 pairs at their largest
          const auto x = random_i8(rng, size_t(k), lim);
          auto w = random_i8(rng, size_t(k * n_out), lim);
          if (lim == 127) {  // one row of all +-127 against x's signs: the largest pair sums
            for (int64_t j = 0; j < k; ++j) w[size_t(j)] = int8_t(x[size_t(j)] < 0 ? -127 : 127);
          }
          std::vector<int32_t> r(static_cast<size_t>(n_out)), f(static_cast<size_t>(n_out));
          ref::dot_i8(x.data(), 1, w.data(), k, n_out, r.data(), n_out);
          K->dot_i8(x.data(), 1, w.data(), k, n_out, f.data(), n_out);
          for (int64_t o = 0; o < n_out; ++o) {
            int64_t want = 0;
            for (int64_t j = 0; j < k; ++j) want += int64_t(x[size_t(j)]) * w[size_t(o * k + j)];
            ASSERT_EQ(r[size_t(o)], want) << "k=" << k << " n_out=" << n_out << " o=" << o;
            ASSERT_EQ(f[size_t(o)], r[size_t(o)]) << "k=" << k << " n_out=" << n_out << " o=" << o;
          }
        }
      }
    }
  }
}

// Several queries at once (pairs and a last single one), into rows of a wider output (ldo > n_out):
// each query's outputs equal its own single-query call, and nothing outside them is written.
TEST(DotI8, QueriesShareEachRowPass) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(14);
    for (int64_t m : {1, 2, 3, 5}) {
      for (int64_t n_out : {1, 4, 7}) {
        const int64_t k = 96, ldo = n_out + 3;
        const auto x = random_i8(rng, size_t(m * k), 127);
        const auto w = random_i8(rng, size_t(k * n_out), 127);
        std::vector<int32_t> r(size_t(m * ldo), -1), f(size_t(m * ldo), -1), one(static_cast<size_t>(n_out));
        ref::dot_i8(x.data(), m, w.data(), k, n_out, r.data(), ldo);
        K->dot_i8(x.data(), m, w.data(), k, n_out, f.data(), ldo);
        EXPECT_EQ(f, r) << "m=" << m << " n_out=" << n_out;
        for (int64_t q = 0; q < m; ++q) {
          ref::dot_i8(x.data() + q * k, 1, w.data(), k, n_out, one.data(), n_out);
          for (int64_t o = 0; o < ldo; ++o)
            ASSERT_EQ(r[size_t(q * ldo + o)], o < n_out ? one[size_t(o)] : -1) << "m=" << m << " q=" << q << " o=" << o;
        }
      }
    }
  }
}

TEST(DotI8, OpSplitsRowsAcrossThreads) {
  Rng rng(12);
  const int64_t k = 128, n = 1001;
  const int64_t m = 3;
  const auto x = random_i8(rng, size_t(m * k), 127);
  const auto w = random_i8(rng, size_t(k * n), 127);
  std::vector<int32_t> want(size_t(m * n)), got(size_t(m * n));
  ref::dot_i8(x.data(), m, w.data(), k, n, want.data(), n);
  ThreadPool pool(3);
  std::vector<Isa> isas = {Isa::kScalar};
  for (Isa isa : fast_isas()) isas.push_back(isa);
  for (Isa isa : isas) {
    ops::dot_i8(ops::OpContext::make(pool, isa), x.data(), m, w.data(), k, n, got.data());
    EXPECT_EQ(got, want) << isa_name(isa);
  }
}

TEST(QuantizeI8, WithinHalfAStepAndPadded) {
  Rng rng(13);
  for (int64_t k : {1, 5, 32, 100, 257}) {
    auto x = randn(rng, size_t(k), 2.0f);
    for (auto& v : x) v = std::clamp(v, -7.0f, 7.0f);
    x[size_t(k / 2)] = -7.5f;  // the largest magnitude, negative: maps to -127
    const int64_t kp = (k + 31) / 32 * 32;
    std::vector<int8_t> q(static_cast<size_t>(kp), int8_t(99));
    const float s = ops::quantize_i8(x.data(), k, kp, q.data());
    EXPECT_FLOAT_EQ(s, 7.5f / 127.0f);
    EXPECT_EQ(q[size_t(k / 2)], -127);
    for (int64_t j = 0; j < k; ++j) {
      ASSERT_GE(q[size_t(j)], -127);
      ASSERT_LE(std::fabs(double(x[size_t(j)]) - double(s) * q[size_t(j)]), 0.50001 * s) << "j=" << j;
    }
    for (int64_t j = k; j < kp; ++j) ASSERT_EQ(q[size_t(j)], 0);
  }
  std::vector<float> zero(8, 0.0f);
  std::vector<int8_t> q(32, int8_t(5));
  EXPECT_EQ(ops::quantize_i8(zero.data(), 8, 32, q.data()), 0.0f);
  for (int8_t v : q) EXPECT_EQ(v, 0);
}

}  // namespace
}  // namespace tachyon::cpu
