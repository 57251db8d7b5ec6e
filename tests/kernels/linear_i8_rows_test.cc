// Int8-row weights (WFormat::kI8, linear_i8.h): the load-time repack of FP8 and BF16 weights against the
// format's definition (FP8 values within a factor 8 of their group's largest come through exactly, every
// other value within half a step), and every set's int8-row linear against the scalar reference and a
// double oracle on odd shapes, with batch invariance. Sets the CPU lacks are named on stdout and skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/linear_i8.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

struct Packed {
  int64_t kp = 0;
  std::vector<uint8_t> codes, scales;
};

Packed pack(const TestWeight& w) {
  Packed p;
  p.kp = i8_padded(w.k);
  p.codes.assign(size_t(w.rows * p.kp), 7);
  p.scales.assign(size_t(w.rows * p.kp / 32), 7);
  ref::pack_weight_i8(w.view(0, w.rows), 0, w.rows, p.codes.data(), p.scales.data());
  return p;
}

// Checks one repacked matrix against the definition in linear_i8.h.
void check_repack(const TestWeight& w, const Packed& p) {
  const int64_t nb = p.kp / 32;
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      double amax = 0;
      bool finite = true;
      for (int64_t j = b * 32; j < std::min(w.k, b * 32 + 32); ++j) {
        finite = finite && std::isfinite(w.deq[size_t(r * w.k + j)]);
        amax = std::max(amax, std::fabs(w.deq[size_t(r * w.k + j)]));
      }
      const uint8_t code = p.scales[size_t(r * nb + b)];
      if (!finite || amax == 0) {
        ASSERT_EQ(code, finite ? 0 : 255) << r << "," << b;
        for (int64_t j = b * 32; j < b * 32 + 32; ++j) ASSERT_EQ(p.codes[size_t(r * p.kp + i8_row_offset(j, p.kp))], 128);
        continue;
      }
      const double step = e8m0_value(code);
      ASSERT_LE(amax, 127 * step) << "scale too small at " << r << "," << b;
      ASSERT_GT(amax, 63.5 * step) << "scale not the smallest at " << r << "," << b;
      int emax = 0;
      std::frexp(amax, &emax);
      for (int64_t j = b * 32; j < b * 32 + 32; ++j) {
        const int q = int(p.codes[size_t(r * p.kp + i8_row_offset(j, p.kp))]) - 128;
        ASSERT_LE(std::abs(q), 127);
        if (j >= w.k) {
          ASSERT_EQ(q, 0) << "padding";
          continue;
        }
        const double v = w.deq[size_t(r * w.k + j)];
        ASSERT_LE(std::fabs(v - q * step), 0.5 * step) << r << "," << j;
        int e = 0;
        std::frexp(v, &e);
        if (w.fmt == WFormat::kFP8 && v != 0 && e >= emax - 3) {  // 4 significant bits, shifted by <= 3
          ASSERT_EQ(q * step, v) << "an FP8 value near its group's largest must be exact, at " << r << "," << j;
        }
      }
    }
}

// The group order is a permutation of the row, and a 64-byte load of a full group holds four columns of
// each of its sixteen blocks, in block order.
TEST(I8RowOffset, PermutesEachRowInGroups) {
  for (int64_t kp : {32, 64, 480, 512, 544, 1024, 2048 + 96}) {
    std::vector<int> seen(size_t(kp), 0);
    for (int64_t j = 0; j < kp; ++j) {
      const int64_t o = i8_row_offset(j, kp);
      ASSERT_TRUE(o >= 0 && o < kp) << kp << " " << j;
      ++seen[size_t(o)];
      ASSERT_EQ(o / kI8Group, j / kI8Group) << "stays in its group";
    }
    for (int64_t o = 0; o < kp; ++o) ASSERT_EQ(seen[size_t(o)], 1) << kp << " " << o;
  }
  for (int64_t s = 0; s < 8; ++s)
    for (int64_t l = 0; l < 16; ++l)
      for (int64_t b = 0; b < 4; ++b) EXPECT_EQ(i8_row_offset(512 + 32 * l + 4 * s + b, 1024), 512 + 64 * s + 4 * l + b);
}

TEST(PackWeightI8, Fp8AndBf16FollowTheDefinition) {
  Rng rng(21);
  for (int64_t k : {32, 100, 128, 300, 1024}) {
    SCOPED_TRACE(k);
    const TestWeight f8 = make_weight(rng, WFormat::kFP8, 130, k, 128, 100, 150);
    check_repack(f8, pack(f8));
    const TestWeight bf = make_weight(rng, WFormat::kBF16, 9, k);
    check_repack(bf, pack(bf));
  }
  // A whole group of zeros, a NaN code and a row range (rows outside it untouched).
  TestWeight w = make_weight(rng, WFormat::kFP8, 4, 96);
  for (int64_t j = 32; j < 64; ++j) w.bytes[size_t(1 * 96 + j)] = 0;
  w.bytes[size_t(2 * 96 + 70)] = 0x7f;
  w = reweigh(w);
  check_repack(w, pack(w));
  Packed part;
  part.kp = 96;
  part.codes.assign(4 * 96, 7);
  part.scales.assign(4 * 3, 7);
  ref::pack_weight_i8(w.view(0, 4), 1, 3, part.codes.data(), part.scales.data());
  const Packed whole = pack(w);
  for (int64_t i = 0; i < 4 * 96; ++i) EXPECT_EQ(part.codes[size_t(i)], (i / 96 == 1 || i / 96 == 2) ? whole.codes[size_t(i)] : 7);
}

// sum over j of (q s)_x . w in double.
double oracle(const std::vector<int8_t>& q, const std::vector<float>& s, int64_t i, const TestWeight& w, int64_t row) {
  const int64_t kp = i8_padded(w.k), nb = kp / 32;
  double acc = 0;
  for (int64_t j = 0; j < w.k; ++j) acc += double(q[size_t(i * kp + j)]) * s[size_t(i * nb + j / 32)] * w.deq[size_t(row * w.k + j)];
  return acc;
}

void check(const KernelTable& K, WFormat fmt, int64_t m, int64_t n, int64_t k, int64_t row0, int64_t n_begin,
           int64_t n_end, uint64_t seed, int sc_lo = 119, int sc_hi = 131) {
  Rng rng(seed);
  const TestWeight w = make_weight(rng, fmt, row0 + n + 2, k, 128, sc_lo, sc_hi);
  const auto run = [&](const KernelTable& T, const PackedI8Rows& px, const WeightView& v, float* y) {
    if (fmt == WFormat::kFP4G) T.linear_i8_fp4g(px, v, y, n_begin, n_end);
    else T.linear_i8_i8(px, v, y, n_begin, n_end);
  };
  const int64_t kp = i8_padded(k), nb = kp / 32;
  const auto x = randn(rng, size_t(m * k));
  std::vector<int8_t> q(size_t(m * kp));
  std::vector<float> s(size_t(m * nb));
  ref::quantize_i8(x.data(), m, k, q.data(), s.data());
  PackedI8Rows px;
  ref::pack_i8_rows(q.data(), s.data(), m, k, &px);
  const WeightView v = w.view(row0, n);
  std::vector<float> yr(size_t(m * n), -1.0f), yk(size_t(m * n), -1.0f);
  run(kernel_table(Isa::kScalar), px, v, yr.data());
  run(K, px, v, yk.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < n; ++o) {
      const size_t at = size_t(i * n + o);
      if (o < n_begin || o >= n_end) {
        ASSERT_EQ(yk[at], -1.0f) << "wrote outside range";
        ASSERT_EQ(yr[at], -1.0f) << "wrote outside range";
        continue;
      }
      double mag = 0;  // sum |q s w|: the scale of fp32 rounding
      for (int64_t j = 0; j < k; ++j)
        mag += std::fabs(double(q[size_t(i * kp + j)]) * s[size_t(i * nb + j / 32)] * w.deq[size_t((row0 + o) * k + j)]);
      const double want = oracle(q, s, i, w, row0 + o);
      ASSERT_NEAR(yr[at], want, 1e-6 * mag + 1e-35) << "reference, m=" << m << " k=" << k << " at " << i << "," << o;
      ASSERT_NEAR(yk[at], want, 1e-6 * mag + 1e-35) << isa_name(K.isa) << " m=" << m << " k=" << k << " at " << i << "," << o;
    }
  // Batch invariance: each token alone gives the same bits.
  for (int64_t i = 0; i < m; ++i) {
    std::vector<float> one(size_t(n), -1.0f);
    PackedI8Rows p1;
    ref::pack_i8_rows(q.data() + i * kp, s.data() + i * nb, 1, k, &p1);
    run(K, p1, v, one.data());
    for (int64_t o = n_begin; o < n_end; ++o)
      ASSERT_EQ(std::bit_cast<uint32_t>(one[size_t(o)]), std::bit_cast<uint32_t>(yk[size_t(i * n + o)]))
          << isa_name(K.isa) << " token " << i << " of " << m << " row " << o;
  }
}

TEST(LinearI8Rows, EverySetMatchesReferenceAndOracle) {
  std::vector<const KernelTable*> tables = {&kernel_table(Isa::kScalar)};
  for (Isa isa : fast_isas()) tables.push_back(&kernel_table(isa));
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    uint64_t seed = 40;
    for (WFormat f : {WFormat::kI8, WFormat::kFP4G}) {
      SCOPED_TRACE(fmt_name(f));
      for (int64_t m = 1; m <= 20; m += (m < 10 ? 1 : 5)) {
        check(*K, f, m, 9, 32, 0, 0, 9, ++seed);          // one block
        check(*K, f, m, 7, f == WFormat::kI8 ? 100 : 96, 3, 1, 6, ++seed);  // (int8: k padded), rows, row0
        check(*K, f, m, 5, 512, 0, 0, 5, ++seed);         // one full group
        check(*K, f, m, 11, 544, 2, 0, 11, ++seed);       // a full group and a one-block group
        check(*K, f, m, 4, 2048 + 96, 0, 1, 4, ++seed);   // four full groups and a three-block one
      }
      // Scale codes at both ends (2^-127 is subnormal).
      check(*K, f, 3, 6, 256, 0, 0, 6, 99, 0, 3);
      check(*K, f, 3, 6, 256, 0, 0, 6, 98, 120, 140);
    }
  }
}

TEST(LinearI8I8, NaNScaleCodePoisonsItsRow) {
  Rng rng(3);
  TestWeight w = make_weight(rng, WFormat::kI8, 5, 256);
  w.scale[size_t(2 * 8 + 5)] = 255;  // row 2, block 5
  const auto x = randn(rng, 256);
  std::vector<int8_t> q(256);
  std::vector<float> s(8);
  ref::quantize_i8(x.data(), 1, 256, q.data(), s.data());
  PackedI8Rows px;
  ref::pack_i8_rows(q.data(), s.data(), 1, 256, &px);
  std::vector<const KernelTable*> tables = {&kernel_table(Isa::kScalar)};
  for (Isa isa : fast_isas()) tables.push_back(&kernel_table(isa));
  for (const KernelTable* K : tables) {
    std::vector<float> y(5);
    K->linear_i8_i8(px, w.view(0, 5), y.data(), 0, 5);
    EXPECT_TRUE(std::isnan(y[2])) << isa_name(K->isa);
    EXPECT_TRUE(std::isfinite(y[0]) && std::isfinite(y[1]) && std::isfinite(y[3]) && std::isfinite(y[4]))
        << isa_name(K->isa);
  }
}

// The fp32 reference reads int8 rows too (x . W^T with the definition's W).
TEST(LinearI8I8, FloatReferenceReadsInt8Rows) {
  Rng rng(4);
  const TestWeight w = make_weight(rng, WFormat::kI8, 6, 100);
  const auto x = randn(rng, 2 * 100);
  std::vector<float> y(12);
  ref::linear(x.data(), 2, w.view(0, 6), y.data(), 0, 6);
  const NaiveLinear want = naive_linear(x, 2, w, 0, 6);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want.y[i], 1e-6 * want.abs_sum[i]);
}

}  // namespace
}  // namespace tachyon::cpu

namespace tachyon::cpu {
namespace {
using namespace testing;

// The grouped FP4 order is a permutation of each row's nibbles: packing a kFP4 matrix gives the same
// values (the oracle's dequantisation) at every column, and the FP4 kernels agree on both orders.
TEST(PackWeightFp4g, PermutesNibblesWithinEachGroup) {
  Rng rng(31);
  for (int64_t k : {32, 96, 512, 544, 2048 + 96}) {
    SCOPED_TRACE(k);
    const TestWeight w = make_weight(rng, WFormat::kFP4, 5, k);
    std::vector<uint8_t> codes(size_t(5 * k / 2), 0xAA);
    ref::pack_weight_fp4g(w.view(0, 5), 0, 5, codes.data());
    for (int64_t r = 0; r < 5; ++r)
      for (int64_t j = 0; j < k; ++j) {
        const uint8_t b = codes[size_t(r * (k / 2) + fp4g_byte(j, k))];
        const uint8_t nib = fp4g_high(j) ? uint8_t(b >> 4) : uint8_t(b & 15);
        ASSERT_EQ(e2m1_value(nib) * e8m0_value(w.scale[size_t(r * (k / 32) + j / 32)]), w.deq[size_t(r * k + j)])
            << r << "," << j;
      }
    // The same products through the original order's kernel and the grouped one.
    const int64_t kp = i8_padded(k), nb = kp / 32;
    const auto x = randn(rng, size_t(2 * k));
    std::vector<int8_t> q(size_t(2 * kp));
    std::vector<float> s(size_t(2 * nb));
    ref::quantize_i8(x.data(), 2, k, q.data(), s.data());
    PackedI8 p4;
    PackedI8Rows p8;
    ref::pack_i8(q.data(), s.data(), 2, k, &p4);
    ref::pack_i8_rows(q.data(), s.data(), 2, k, &p8);
    WeightView g = w.view(0, 5);
    g.fmt = WFormat::kFP4G;
    g.data = codes.data();
    std::vector<float> y4(10), yg(10);
    ref::linear_i8_fp4(p4, w.view(0, 5), y4.data(), 0, 5);
    ref::linear_i8_fp4g(p8, g, yg.data(), 0, 5);
    for (size_t i = 0; i < y4.size(); ++i) EXPECT_EQ(yg[i], y4[i]) << i;  // same blocks, same order
  }
}

}  // namespace
}  // namespace tachyon::cpu
