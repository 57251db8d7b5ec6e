// The vectorised linear kernels of every kernel set this CPU runs, against ref::linear and a double
// oracle: every format, odd shapes (k not a multiple of 8, 32 or 128, tails inside FP8 blocks, blocks
// that do not start on a 32-column boundary, row counts that fill no tile), row ranges, 1 to 20 tokens
// (register tiles and decoded panels), every FP8 and FP4 code, NaN codes in every step of a row, and
// E8M0 scale codes at both ends of the range. Sets the CPU lacks are named on stdout and skipped.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/kernels.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

// K.linear and ref::linear agree to ~fp32 rounding of sum |x w| (orders differ); rows outside
// [n_begin, n_end) untouched. `floor` is an absolute slack for results in the subnormal range.
void check_linear(const KernelTable& K, const TestWeight& w, int64_t m, int64_t n, int64_t row0, int64_t n_begin,
                  int64_t n_end, const std::vector<float>& x, double floor = 1e-30) {
  const NaiveLinear naive = naive_linear(x, m, w, row0, n);
  const WeightView v = w.view(row0, n);
  std::vector<float> yr(size_t(m * n), -1.0f), yf(size_t(m * n), -1.0f);
  ref::linear(x.data(), m, v, yr.data(), n_begin, n_end);
  K.linear(x.data(), m, v, yf.data(), n_begin, n_end);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < n; ++o) {
      const size_t at = size_t(i * n + o);
      if (o < n_begin || o >= n_end) {
        ASSERT_EQ(yf[at], -1.0f) << "wrote outside range";
        continue;
      }
      ASSERT_TRUE(std::isfinite(yr[at])) << "test data overflowed";
      ASSERT_NEAR(yf[at], yr[at], 1e-5 * naive.abs_sum[at] + floor)
          << fmt_name(w.fmt) << " m=" << m << " n=" << n << " k=" << w.k << " block=" << w.block << " at " << i
          << "," << o;
    }
}

void check_random(const KernelTable& K, WFormat fmt, int64_t m, int64_t n, int64_t k, int64_t row0, int64_t n_begin,
                  int64_t n_end, int block, uint64_t seed) {
  Rng rng(seed);
  const TestWeight w = make_weight(rng, fmt, row0 + n + 3, k, block);
  check_linear(K, w, m, n, row0, n_begin, n_end, randn(rng, size_t(m * k)));
}

TEST(FastLinear, MatchesRefAllFormatsOddShapes) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    uint64_t seed = 100;
    for (int64_t m = 1; m <= 20; ++m) {
      for (WFormat fmt : {WFormat::kF32, WFormat::kBF16, WFormat::kFP8}) {
        check_random(*K, fmt, m, 13, 77, 0, 0, 13, 128, ++seed);     // k not a multiple of 8 or 32
        check_random(*K, fmt, m, 7, 5, 2, 1, 6, 128, ++seed);        // k < 8
        check_random(*K, fmt, m, 33, 264, 130, 3, 31, 128, ++seed);  // partial tiles, row0 != 0, 8-column block
        check_random(*K, fmt, m, 19, 200, 1, 0, 19, 128, ++seed);    // a last block of 72: 64 + 8
      }
      check_random(*K, WFormat::kFP4, m, 13, 96, 0, 0, 13, 128, ++seed);
      check_random(*K, WFormat::kFP4, m, 9, 32, 5, 2, 9, 128, ++seed);
      check_random(*K, WFormat::kFP4, m, 11, 544, 3, 1, 10, 128, ++seed);  // 17 blocks: scales past 16
    }
    for (int64_t m : {1, 3, 8, 17}) {
      // FP8 scale tiles that are not multiples of 8 or 32 put tails inside every block, and groups that
      // start off a 32-column boundary.
      check_random(*K, WFormat::kFP8, m, 41, 100, 7, 0, 41, 20, ++seed);
      check_random(*K, WFormat::kFP8, m, 30, 53, 0, 0, 30, 12, ++seed);
      check_random(*K, WFormat::kFP8, m, 21, 250, 40, 2, 21, 48, ++seed);
      check_random(*K, WFormat::kFP8, m, 17, 320, 60, 0, 17, 64, ++seed);
      check_random(*K, WFormat::kFP8, m, 9, 150, 0, 0, 9, 16, ++seed);
    }
    // Larger shapes like the model's (row chunking, many tiles).
    check_random(*K, WFormat::kFP8, 5, 300, 1024, 128, 0, 300, 128, ++seed);
    check_random(*K, WFormat::kFP4, 4, 129, 512, 0, 0, 129, 128, ++seed);
    check_random(*K, WFormat::kBF16, 2, 257, 700, 0, 0, 257, 128, ++seed);
    check_random(*K, WFormat::kFP8, 24, 70, 2048, 0, 0, 70, 128, ++seed);
    check_random(*K, WFormat::kFP4, 33, 45, 1024, 0, 0, 45, 128, ++seed);
    check_random(*K, WFormat::kBF16, 70, 37, 300, 0, 0, 37, 128, ++seed);
  }
}

// Scale codes from both ends of the E8M0 range next to ordinary ones: codes 0..4 (2^-127.., where a
// block's contribution is subnormal) and 246..254 (where the FP8 kernels' folded 2^8 would overflow, and
// results near 2^127). x is small enough that no sum overflows.
TEST(FastLinear, ExtremeScaleCodes) {
  REQUIRE_FAST_TABLES(tables);
  const int codes[] = {0, 1, 2, 4, 120, 127, 133, 246, 247, 248, 250, 253, 254};
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(321);
    for (WFormat fmt : {WFormat::kFP8, WFormat::kFP4}) {
      for (int64_t m : {1, 2, 5, 9, 20}) {
        const int64_t n = 37, k = fmt == WFormat::kFP8 ? 1100 : 640;
        TestWeight w = make_weight(rng, fmt, n, k, fmt == WFormat::kFP8 ? 64 : 128);
        for (auto& s : w.scale) s = uint8_t(codes[uniform_int(rng, 0, std::size(codes) - 1)]);
        w = reweigh(w);
        auto x = randn(rng, size_t(m * k));
        for (auto& v : x) v = std::ldexp(v, -24);
        check_linear(*K, w, m, n, 0, 0, n, x, 1e-43);
      }
    }
  }
}

TEST(FastLinear, DecodesEveryFP8CodeAndNaN) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    // Row r, column j holds code (r * k + j); token t's x is one-hot at column (j + t) % k, so y picks
    // single decoded weights exactly. k = 16 runs the 16-code steps, 32 to 128 the 32- and 64-code ones;
    // 9 tokens take the decoded panels.
    for (int64_t k : {16, 32, 64, 96, 128}) {
      const int64_t rows = 256 / k + (256 % k != 0);
      std::vector<uint8_t> wq(size_t(rows * k));
      for (int64_t i = 0; i < rows * k; ++i) wq[size_t(i)] = (i & 0x7f) == 0x7f ? 0 : uint8_t(i);  // NaNs below
      std::vector<uint8_t> sc = {127};
      WeightView v;
      v.fmt = WFormat::kFP8;
      v.n = rows;
      v.k = k;
      v.data = wq.data();
      v.scale = sc.data();
      for (int64_t m : {1, 9}) {
        for (int64_t j = 0; j < k; ++j) {
          std::vector<float> x(size_t(m * k), 0.0f), y(size_t(m * rows));
          for (int64_t t = 0; t < m; ++t) x[size_t(t * k + (j + t) % k)] = 1.0f;
          K->linear(x.data(), m, v, y.data(), 0, rows);
          for (int64_t t = 0; t < m; ++t)
            for (int64_t r = 0; r < rows; ++r) {
              const uint8_t c = uint8_t(r * k + (j + t) % k);
              ASSERT_EQ(y[size_t(t * rows + r)], (c & 0x7f) == 0x7f ? 0.0f : float(e4m3_value(c)))
                  << "code " << int(c) << " k " << k << " m " << m;
            }
        }
      }
    }
    // NaN codes poison their row, as in ref::.
    for (uint8_t nan_code : {uint8_t(0x7f), uint8_t(0xff)}) {
      for (int64_t k : {8, 32, 64, 100}) {
        std::vector<uint8_t> row(size_t(k), 0x38);
        row[5] = nan_code;
        WeightView v;
        v.fmt = WFormat::kFP8;
        v.n = 1;
        v.k = k;
        v.data = row.data();
        std::vector<uint8_t> sc = {127};
        v.scale = sc.data();
        for (int64_t m : {1, 12}) {
          std::vector<float> x(size_t(m * k), 1.0f), y(static_cast<size_t>(m));
          K->linear(x.data(), m, v, y.data(), 0, 1);
          for (float e : y) EXPECT_TRUE(std::isnan(e)) << "k " << k << " m " << m;
        }
      }
    }
  }
}

// A NaN code anywhere in a row (64- and 32-code steps, 16- and 8-wide steps, the tails; any row of a
// register tile or panel) makes that row NaN for every token, and leaves the other rows bit for bit as
// they are without it.
TEST(FastLinear, FP8NanCodesInEveryStep) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(4242);
    const int64_t n = 11, k = 300;  // blocks of 128, 128 and 44 (32 + 12, or 32 + 8 + a masked 4)
    const TestWeight w = make_weight(rng, WFormat::kFP8, n, k);
    for (int64_t m : {1, 2, 3, 4, 5, 8, 9, 13, 20}) {
      const auto x = randn(rng, size_t(m * k));
      std::vector<float> clean(size_t(m * n));
      K->linear(x.data(), m, w.view(0, n), clean.data(), 0, n);
      for (int64_t col : {0, 37, 100, 200, 270, 291, 299}) {
        for (uint8_t code : {uint8_t(0x7f), uint8_t(0xff)}) {
          const int64_t bad = (col + m) % n;
          TestWeight wn = w;
          wn.bytes[size_t(bad * k + col)] = code;
          std::vector<float> y(size_t(m * n));
          K->linear(x.data(), m, wn.view(0, n), y.data(), 0, n);
          for (int64_t i = 0; i < m; ++i)
            for (int64_t o = 0; o < n; ++o) {
              const size_t at = size_t(i * n + o);
              if (o == bad) ASSERT_TRUE(std::isnan(y[at])) << "m " << m << " col " << col << " token " << i;
              else ASSERT_TRUE(same_bits(y[at], clean[at])) << "m " << m << " col " << col << " row " << o;
            }
        }
      }
    }
  }
}

TEST(FastLinear, DecodesEveryFP4Code) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    const int64_t k = 32;
    std::vector<uint8_t> wq(16);
    for (int i = 0; i < 16; ++i) wq[size_t(i)] = uint8_t(i | ((15 - i) << 4));  // both nibble positions
    std::vector<uint8_t> sc = {128};                                              // x2
    WeightView v;
    v.fmt = WFormat::kFP4;
    v.n = 1;
    v.k = k;
    v.data = wq.data();
    v.scale = sc.data();
    for (int64_t m : {1, 8, 17}) {
      for (int64_t j = 0; j < k; ++j) {
        std::vector<float> x(size_t(m * k), 0.0f), y(static_cast<size_t>(m));
        for (int64_t t = 0; t < m; ++t) x[size_t(t * k + (j + t) % k)] = 1.0f;
        K->linear(x.data(), m, v, y.data(), 0, 1);
        for (int64_t t = 0; t < m; ++t) {
          const int64_t c = (j + t) % k;
          const uint8_t nib = (c & 1) ? uint8_t(15 - c / 2) : uint8_t(c / 2);
          ASSERT_EQ(y[size_t(t)], float(2 * e2m1_value(nib))) << "column " << c << " m " << m;
        }
      }
    }
  }
}

}  // namespace
}  // namespace tachyon::cpu
