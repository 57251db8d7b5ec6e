// Int8-activation kernels of the fast numerics (linear_i8.h): the quantiser's bounds, and every set's
// FP4 linear against the scalar reference and a double oracle, on odd shapes (k not a multiple of 128,
// row ranges, 1 to 20 tokens, extreme scale codes), with batch invariance (a token's outputs are the
// same bits whatever else shares the call). Sets the CPU lacks are named on stdout and skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backends/cpu/kernel_table.h"
#include "backends/cpu/linear_i8.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

struct Quantised {
  std::vector<int8_t> q;
  std::vector<float> s;
  PackedI8 packed(int64_t m, int64_t k) const {
    PackedI8 p;
    ref::pack_i8(q.data(), s.data(), m, k, &p);
    return p;
  }
};

Quantised quantise(const std::vector<float>& x, int64_t m, int64_t k) {
  Quantised r{std::vector<int8_t>(size_t(m * i8_padded(k)), 99), std::vector<float>(size_t(m * i8_padded(k) / 32))};
  ref::quantize_i8(x.data(), m, k, r.q.data(), r.s.data());
  return r;
}

TEST(QuantizeI8, BoundsPaddingZerosAndNaN) {
  Rng rng(5);
  for (int64_t k : {1, 31, 32, 33, 100, 256}) {
    const int64_t m = 3, kp = i8_padded(k), nb = kp / 32;
    auto x = randn(rng, size_t(m * k), 3.0f);
    for (int64_t j = 0; j < std::min<int64_t>(k, 32); ++j) x[size_t(k + j)] = 0.0f;  // token 1: first block zero
    const Quantised r = quantise(x, m, k);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t b = 0; b < nb; ++b) {
        const float s = r.s[size_t(i * nb + b)];
        double amax = 0;
        for (int64_t j = b * 32; j < std::min(k, b * 32 + 32); ++j) amax = std::max(amax, double(std::fabs(x[size_t(i * k + j)])));
        ASSERT_NEAR(s, amax / 127.0, 1e-6 * amax);
        for (int64_t j = b * 32; j < b * 32 + 32; ++j) {
          const int q = r.q[size_t(i * kp + j)];
          ASSERT_LE(std::abs(q), 127);
          if (j >= k) {
            ASSERT_EQ(q, 0) << "padding";
            continue;
          }
          // |x - s q| <= s / 2, up to the rounding of x * 127 / amax.
          ASSERT_LE(std::fabs(double(x[size_t(i * k + j)]) - double(s) * q), 0.5001 * s + 1e-30) << k << " " << j;
        }
      }
    // The all-zero block.
    EXPECT_EQ(r.s[size_t(nb)], 0.0f);
    for (int64_t j = 0; j < 32; ++j) EXPECT_EQ(r.q[size_t(kp + j)], 0);
  }
  std::vector<float> bad(64, 1.0f);
  bad[40] = std::numeric_limits<float>::infinity();
  const Quantised r = quantise(bad, 1, 64);
  EXPECT_EQ(r.s[0], 1.0f / 127.0f);
  EXPECT_TRUE(std::isnan(r.s[1]));
}

TEST(QuantizeI8, EverySetIsBitExactWithTheReference) {
  Rng rng(8);
  std::vector<const KernelTable*> tables;
  for (Isa isa : fast_isas()) tables.push_back(&kernel_table(isa));
  for (int64_t k : {1, 5, 16, 17, 31, 32, 33, 64, 100, 2048}) {
    const int64_t m = 4, kp = i8_padded(k), nb = kp / 32;
    auto x = randn(rng, size_t(m * k), 2.0f);
    x[size_t(k)] = 0.0f;
    if (k > 3) x[size_t(2 * k + 3)] = std::numeric_limits<float>::quiet_NaN();
    if (k > 40) x[size_t(3 * k + 40)] = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < k; j += 7) x[size_t(j)] = std::ldexp(x[size_t(j)], -20);  // tiny values round to 0
    const Quantised want = quantise(x, m, k);
    for (const KernelTable* K : tables) {
      std::vector<int8_t> q(size_t(m * kp), 99);
      std::vector<float> s(size_t(m * nb));
      K->quantize_i8(x.data(), m, k, q.data(), s.data());
      EXPECT_EQ(q, want.q) << isa_name(K->isa) << " k=" << k;
      for (size_t b = 0; b < s.size(); ++b)
        EXPECT_EQ(std::bit_cast<uint32_t>(s[b]), std::bit_cast<uint32_t>(want.s[b])) << isa_name(K->isa) << " k=" << k;
    }
  }
}

// sum over blocks of (q * s) . w in double.
double oracle(const Quantised& x, int64_t i, const TestWeight& w, int64_t row) {
  const int64_t kp = i8_padded(w.k), nb = kp / 32;
  double acc = 0;
  for (int64_t j = 0; j < w.k; ++j)
    acc += double(x.q[size_t(i * kp + j)]) * double(x.s[size_t(i * nb + j / 32)]) * w.deq[size_t(row * w.k + j)];
  return acc;
}

void check(const KernelTable& K, int64_t m, int64_t n, int64_t k, int64_t row0, int64_t n_begin, int64_t n_end,
           uint64_t seed, int sc_lo = 119, int sc_hi = 131) {
  Rng rng(seed);
  const TestWeight w = make_weight(rng, WFormat::kFP4, row0 + n + 2, k, 128, sc_lo, sc_hi);
  const Quantised x = quantise(randn(rng, size_t(m * k)), m, k);
  const WeightView v = w.view(row0, n);
  std::vector<float> yr(size_t(m * n), -1.0f), yk(size_t(m * n), -1.0f);
  const PackedI8 px = x.packed(m, k);
  ref::linear_i8_fp4(px, v, yr.data(), n_begin, n_end);
  K.linear_i8_fp4(px, v, yk.data(), n_begin, n_end);
  const int64_t kp = i8_padded(k), nb = kp / 32;
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
        mag += std::fabs(double(x.q[size_t(i * kp + j)]) * x.s[size_t(i * nb + j / 32)] * w.deq[size_t((row0 + o) * k + j)]);
      const double want = oracle(x, i, w, row0 + o);
      ASSERT_NEAR(yr[at], want, 1e-6 * mag + 1e-35) << "reference, m=" << m << " k=" << k << " at " << i << "," << o;
      ASSERT_NEAR(yk[at], want, 1e-6 * mag + 1e-35) << isa_name(K.isa) << " m=" << m << " k=" << k << " at " << i << "," << o;
    }
  // Batch invariance: each token alone gives the same bits.
  for (int64_t i = 0; i < m; ++i) {
    std::vector<float> one(size_t(n), -1.0f);
    PackedI8 p1;
    ref::pack_i8(x.q.data() + i * kp, x.s.data() + i * nb, 1, k, &p1);
    K.linear_i8_fp4(p1, v, one.data(), n_begin, n_end);
    for (int64_t o = n_begin; o < n_end; ++o)
      ASSERT_EQ(std::bit_cast<uint32_t>(one[size_t(o)]), std::bit_cast<uint32_t>(yk[size_t(i * n + o)]))
          << isa_name(K.isa) << " token " << i << " of " << m << " row " << o;
  }
}

TEST(LinearI8Fp4, EverySetMatchesReferenceAndOracle) {
  const std::vector<Isa> isas = fast_isas();
  std::vector<const KernelTable*> tables = {&kernel_table(Isa::kScalar)};
  for (Isa isa : isas) tables.push_back(&kernel_table(isa));
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    uint64_t seed = 10;
    for (int64_t m = 1; m <= 20; m += (m < 10 ? 1 : 5)) {
      check(*K, m, 9, 32, 0, 0, 9, ++seed);        // one block, one partial chunk
      check(*K, m, 7, 96, 3, 1, 6, ++seed);        // three blocks, a row range, row0 != 0
      check(*K, m, 5, 128, 0, 0, 5, ++seed);       // one whole chunk
      check(*K, m, 11, 416, 2, 0, 11, ++seed);     // three chunks and a 32-column tail
      check(*K, m, 4, 2048 + 64, 0, 1, 4, ++seed);  // sixteen chunks and a 64-column tail
    }
    // Scale codes at both ends (2^-127 is subnormal; 2^+8 with |q| 127 and 12 stays finite).
    check(*K, 3, 6, 256, 0, 0, 6, 99, 0, 3);
    check(*K, 3, 6, 256, 0, 0, 6, 98, 120, 135);
  }
}

TEST(LinearI8Fp4, NaNScaleCodePoisonsItsRow) {
  Rng rng(3);
  TestWeight w = make_weight(rng, WFormat::kFP4, 4, 256);
  w.scale[size_t(2 * 8 + 5)] = 255;  // row 2, block 5
  const Quantised x = quantise(randn(rng, 256), 1, 256);
  std::vector<const KernelTable*> tables = {&kernel_table(Isa::kScalar)};
  for (Isa isa : fast_isas()) tables.push_back(&kernel_table(isa));
  for (const KernelTable* K : tables) {
    std::vector<float> y(4);
    K->linear_i8_fp4(x.packed(1, 256), w.view(0, 4), y.data(), 0, 4);
    EXPECT_TRUE(std::isnan(y[2])) << isa_name(K->isa);
    EXPECT_TRUE(std::isfinite(y[0]) && std::isfinite(y[1]) && std::isfinite(y[3])) << isa_name(K->isa);
  }
}

}  // namespace
}  // namespace tachyon::cpu
