// Checks the scalar reference linear and fake-quant kernels against independent naive definitions:
// weights dequantised to double from the format definitions, and fake quantisation written from the
// formulas of the golden README ("Numeric modes") with nearest-grid-point search instead of bit tricks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backends/cpu/kernels.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

// ---- linear ------------------------------------------------------------------------------------------

struct LinearCase {
  WFormat fmt;
  int64_t full_rows, k, row0, n, n_begin, n_end, m;
  int block;
};

void check_ref_linear(const LinearCase& c, uint64_t seed) {
  Rng rng(seed);
  const TestWeight w = make_weight(rng, c.fmt, c.full_rows, c.k, c.block);
  const auto x = randn(rng, size_t(c.m * c.k));
  const NaiveLinear want = naive_linear(x, c.m, w, c.row0, c.n);
  const float sentinel = 12345.0f;
  std::vector<float> y(size_t(c.m * c.n), sentinel);
  ref::linear(x.data(), c.m, w.view(c.row0, c.n), y.data(), c.n_begin, c.n_end);
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t o = 0; o < c.n; ++o) {
      const size_t idx = size_t(i * c.n + o);
      if (o < c.n_begin || o >= c.n_end) {
        ASSERT_EQ(y[idx], sentinel) << "wrote outside [n_begin, n_end) at " << i << "," << o;
        continue;
      }
      const double tol = 1e-5 * want.abs_sum[idx] + 1e-30;
      ASSERT_NEAR(y[idx], want.y[idx], tol) << fmt_name(c.fmt) << " token " << i << " row " << o;
    }
}

TEST(RefLinear, F32AndBF16MatchDoubleMatmul) {
  check_ref_linear({WFormat::kF32, 9, 37, 0, 9, 0, 9, 3, 128}, 1);
  check_ref_linear({WFormat::kF32, 20, 64, 5, 11, 2, 10, 2, 128}, 2);
  check_ref_linear({WFormat::kBF16, 13, 101, 3, 7, 0, 7, 4, 128}, 3);
  check_ref_linear({WFormat::kBF16, 8, 8, 0, 8, 3, 4, 1, 128}, 4);
}

TEST(RefLinear, FP8PartialScaleTilesAndSubViews) {
  // n and k not multiples of 128: partial scale tiles along both axes; row0 crosses a tile boundary.
  check_ref_linear({WFormat::kFP8, 300, 300, 70, 200, 0, 200, 2, 128}, 5);
  check_ref_linear({WFormat::kFP8, 300, 259, 129, 150, 7, 141, 3, 128}, 6);
  check_ref_linear({WFormat::kFP8, 40, 77, 0, 40, 0, 40, 1, 16}, 7);   // small tiles, partial last one
  check_ref_linear({WFormat::kFP8, 64, 50, 33, 31, 0, 31, 2, 20}, 8);  // tile not a multiple of 8
}

TEST(RefLinear, FP4PerRowScales) {
  check_ref_linear({WFormat::kFP4, 17, 32, 0, 17, 0, 17, 2, 128}, 9);
  check_ref_linear({WFormat::kFP4, 40, 160, 9, 25, 4, 25, 3, 128}, 10);
}

TEST(RefLinear, FP8ScalesReallyApplyPerTile) {
  // One weight = 1.0 (code 0x38) per tile, x = 1: y must be exactly the product of the two tile scales.
  const int64_t rows = 3, k = 300, B = 128;
  std::vector<uint8_t> wq(size_t(rows * k), 0);
  std::vector<uint8_t> sc = {127, 128, 129};  // one tile row, three column tiles: 1, 2, 4
  for (int64_t r = 0; r < rows; ++r) wq[size_t(r * k + 5)] = wq[size_t(r * k + 130)] = wq[size_t(r * k + 299)] = 0x38;
  WeightView v;
  v.fmt = WFormat::kFP8;
  v.n = rows;
  v.k = k;
  v.data = wq.data();
  v.scale = sc.data();
  v.block = int(B);
  std::vector<float> x(size_t(k), 1.0f), y(static_cast<size_t>(rows));
  ref::linear(x.data(), 1, v, y.data(), 0, rows);
  for (float f : y) EXPECT_EQ(f, 7.0f);
}

// ---- fake quantisation -------------------------------------------------------------------------------

// 2^ceil(log2(t)) for t > 0 via frexp.
double pow2_ceil_naive(float t) {
  int e;
  const double f = std::frexp(double(t), &e);  // t = f * 2^e, f in [0.5, 1)
  return f == 0.5 ? std::ldexp(1.0, e - 1) : std::ldexp(1.0, e);
}

// Nearest value of a sorted non-negative grid (index = code), ties to the even code.
double nearest_even(double a, const std::vector<double>& grid) {
  size_t best = 0;
  for (size_t i = 1; i < grid.size(); ++i) {
    const double di = std::fabs(a - grid[i]), db = std::fabs(a - grid[best]);
    if (di < db || (di == db && i % 2 == 0)) best = i;
  }
  return grid[best];
}

const std::vector<double>& e4m3_grid() {
  static const std::vector<double> g = [] {
    std::vector<double> v;
    for (int c = 0; c < 0x7f; ++c) v.push_back(e4m3_value(uint8_t(c)));
    return v;
  }();
  return g;
}
const std::vector<double>& e2m1_grid() {
  static const std::vector<double> g = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  return g;
}

// One row of the golden README's fake quantisation, in double except where it says fp32.
void naive_fake_quant(float* r, int64_t k, int64_t block, bool fp8) {
  const float floor_amax = fp8 ? 1e-4f : float(6.0 * std::ldexp(1.0, -126));
  const float inv = fp8 ? 1.0f / 448.0f : 1.0f / 6.0f;
  const double maxv = fp8 ? 448.0 : 6.0;
  const auto& grid = fp8 ? e4m3_grid() : e2m1_grid();
  for (int64_t b0 = 0; b0 < k; b0 += block) {
    const int64_t b1 = std::min(k, b0 + block);
    float amax = floor_amax;
    for (int64_t j = b0; j < b1; ++j) amax = std::max(amax, std::fabs(r[j]));
    const double s = pow2_ceil_naive(amax * inv);  // fp32 product, exact power-of-two result
    for (int64_t j = b0; j < b1; ++j) {
      const double q = std::clamp(double(r[j]) / s, -maxv, maxv);
      r[j] = float(std::copysign(nearest_even(std::fabs(q), grid) * s, double(r[j])));
    }
  }
}

// Rows of blocks built to probe the rounding: values at grid midpoints (and one ulp either side) of a
// known scale, random values over a wide range, all-zero blocks and blocks below the amax floor.
std::vector<float> probe_rows(Rng& rng, int64_t m, int64_t k, int64_t stride, int64_t block, bool fp8) {
  std::vector<float> x(size_t(m * stride), -777.0f);  // padding sentinel
  const auto& grid = fp8 ? e4m3_grid() : e2m1_grid();
  const float top = fp8 ? 400.0f : 5.0f;  // amax / maxv in (0.5, 1): scale = 2^E exactly
  for (int64_t i = 0; i < m; ++i)
    for (int64_t b0 = 0; b0 < k; b0 += block) {
      const int64_t b1 = std::min(k, b0 + block);
      const int kind = int(uniform_int(rng, 0, 5));
      const int E = int(uniform_int(rng, fp8 ? -40 : -120, 40));
      for (int64_t j = b0; j < b1; ++j) {
        float v = 0.0f;
        if (kind <= 2) {  // midpoints of the grid at scale 2^E
          const size_t g = size_t(uniform_int(rng, 0, int64_t(grid.size()) - 2));
          v = float(std::ldexp((grid[g] + grid[g + 1]) / 2, E));
          if (kind == 1) v = std::nextafter(v, 0.0f);
          if (kind == 2) v = std::nextafter(v, INFINITY);
          if (uniform_int(rng, 0, 1)) v = -v;
        } else if (kind == 3) {  // wide random magnitudes, some subnormal
          v = float(std::ldexp(double(randn(rng, 1)[0]), E - int(uniform_int(rng, 0, 20))));
        } else if (kind == 4) {
          v = 0.0f;
        } else {  // below the amax floor
          v = float(std::ldexp(double(randn(rng, 1)[0]), fp8 ? -20 : -130));
        }
        x[size_t(i * stride + j)] = v;
      }
      if (kind <= 2) x[size_t(i * stride + b0)] = float(std::ldexp(double(top), E));  // pins the scale
    }
  return x;
}

void check_ref_fake_quant(bool fp8, int64_t m, int64_t k, int64_t stride, int64_t block, uint64_t seed) {
  Rng rng(seed);
  auto x = probe_rows(rng, m, k, stride, block, fp8);
  auto want = x;
  for (int64_t i = 0; i < m; ++i) naive_fake_quant(want.data() + i * stride, k, block, fp8);
  if (fp8) ref::fp8_fake_quant(x.data(), m, k, stride, block);
  else ref::fp4_fake_quant(x.data(), m, k, stride, block);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_TRUE(same_bits(x[i], want[i])) << (fp8 ? "fp8" : "fp4") << " element " << i << ": got " << x[i]
                                          << " want " << want[i];
}

TEST(RefFakeQuant, FP8MatchesFormula) {
  check_ref_fake_quant(true, 7, 448, 448, 64, 11);    // KV layout: 7 blocks of 64
  check_ref_fake_quant(true, 5, 300, 310, 128, 12);   // partial last block, stride > k
  check_ref_fake_quant(true, 9, 77, 80, 16, 13);
}

TEST(RefFakeQuant, FP4MatchesFormula) {
  check_ref_fake_quant(false, 8, 128, 128, 32, 14);
  check_ref_fake_quant(false, 5, 100, 105, 32, 15);  // partial last block, stride > k
}

TEST(RefFakeQuant, AmaxFloors) {
  // All-zero block: amax floor 1e-4 gives s = 2^-22; values stay zero.
  std::vector<float> z(64, 0.0f);
  ref::fp8_fake_quant(z.data(), 1, 64, 64, 64);
  for (float v : z) EXPECT_TRUE(same_bits(v, 0.0f));
  // A block below the floor is quantised on the floor's scale 2^-22: 3e-6 / 2^-22 = 12.58 -> 13 (e4m3).
  std::vector<float> t(64, 0.0f);
  t[3] = 3e-6f;
  ref::fp8_fake_quant(t.data(), 1, 64, 64, 64);
  EXPECT_EQ(t[3], float(13.0 * std::ldexp(1.0, -22)));
  // FP4 floor 6*2^-126 gives s = 2^-126: subnormal inputs land on the e2m1 grid times 2^-126.
  std::vector<float> f(32, 0.0f);
  f[0] = float(std::ldexp(1.3, -126));
  f[1] = -float(std::ldexp(0.2, -126));
  ref::fp4_fake_quant(f.data(), 1, 32, 32, 32);
  EXPECT_EQ(f[0], float(std::ldexp(1.5, -126)));
  EXPECT_TRUE(same_bits(f[1], -0.0f));
}

TEST(RefFakeQuant, KnownValues) {
  // amax 448 -> s = 1: values are plain e4m3 roundings. 17 is a tie between 16 and 18 -> 16 (even code).
  std::vector<float> x = {448.0f, 17.0f, 19.0f, -0.0009765625f, 1.0f / 1024.0f * 1.5f, 500.0f};
  ref::fp8_fake_quant(x.data(), 1, 5, 6, 128);
  EXPECT_EQ(x[1], 16.0f);
  EXPECT_EQ(x[2], 20.0f);
  EXPECT_TRUE(same_bits(x[3], -0.0f));       // -2^-10 is half the smallest subnormal: tie to 0 (even)
  EXPECT_EQ(x[4], 0.001953125f);             // 1.5 * 2^-10 rounds up to 2^-9
  EXPECT_EQ(x[5], 500.0f);                   // outside k: untouched
  // FP4, amax 6 -> s = 1: 5 is a tie between 4 and 6 -> 4 (code 6, even); 2.5 -> 2; 0.25 -> 0.
  std::vector<float> f = {6.0f, 5.0f, 2.5f, 0.25f, 0.75f, -1.75f};
  ref::fp4_fake_quant(f.data(), 1, 6, 6, 32);
  EXPECT_EQ(f[1], 4.0f);
  EXPECT_EQ(f[2], 2.0f);
  EXPECT_EQ(f[3], 0.0f);
  EXPECT_EQ(f[4], 1.0f);
  EXPECT_EQ(f[5], -2.0f);
}

}  // namespace
}  // namespace tachyon::cpu
