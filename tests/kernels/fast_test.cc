// Compares the vectorised kernels of every kernel set this CPU runs with their scalar reference twins on
// random shapes, odd sizes included: fake quantisation bit for bit, RMSNorm and attention within tight
// tolerances, indexer scores bit for bit. Also checks that ops:: dispatch (threaded or not, every set)
// gives the scalar set's answers. (linear: linear_fast_test.cc.) Sets the CPU lacks are named and skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"
#include "kernel_test_util.h"
#include "ops/ops.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

// Random rows for bit-exactness. Each block is either "pinned" (its amax sets the scale to exactly 1, and
// its other values are exact grid midpoints, their float neighbours, zeros and subnormals) or "wild"
// (magnitudes over 2^-60..2^40, subnormals, signed zeros, and a few infinities and NaNs).
std::vector<float> quant_data(Rng& rng, int64_t m, int64_t k, int64_t stride, int64_t block, bool fp8) {
  std::vector<float> x(size_t(m * stride), -3.0f);
  const double fp4_mid[] = {0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t b0 = 0; b0 < k; b0 += block) {
      const bool pinned = uniform_int(rng, 0, 1) == 0;
      for (int64_t j = b0; j < std::min(k, b0 + block); ++j) {
        const int kind = int(uniform_int(rng, 0, 99));
        float v;
        if (pinned && kind < 80) {
          // e4m3 midpoints in binade 2^e: (17 + 2q) * 2^(e-4), q = 0..7; e2m1: the listed midpoints.
          v = fp8 ? float(std::ldexp(double(2 * uniform_int(rng, 0, 7) + 17), int(uniform_int(rng, -14, 3))))
                  : float(fp4_mid[uniform_int(rng, 0, 6)]);
          if (kind < 20) v = std::nextafter(v, 0.0f);
          else if (kind < 40) v = std::nextafter(v, INFINITY);
        } else if (pinned) {
          v = kind < 90 ? 0.0f : float(std::ldexp(double(randn(rng, 1)[0]), -140));
        } else if (kind < 80) {
          v = float(std::ldexp(double(randn(rng, 1)[0]), int(uniform_int(rng, -60, 40))));
        } else if (kind < 90) {
          v = 0.0f;
        } else if (kind < 97) {
          v = float(std::ldexp(double(randn(rng, 1)[0]), -140));  // subnormal
        } else if (kind < 99) {
          v = INFINITY;
        } else {
          v = std::nanf("");
        }
        x[size_t(i * stride + j)] = uniform_int(rng, 0, 1) ? -v : v;
      }
      if (pinned) x[size_t(i * stride + b0)] = fp8 ? 448.0f : 6.0f;
    }
  return x;
}

void check_fast_quant(const KernelTable& K, bool fp8, uint64_t seed, int rounds) {
  Rng rng(seed);
  for (int r = 0; r < rounds; ++r) {
    const int64_t block = std::vector<int64_t>{8, 13, 32, 64, 128}[size_t(uniform_int(rng, 0, 4))];
    const int64_t k = uniform_int(rng, 1, 300), m = uniform_int(rng, 1, 5), stride = k + uniform_int(rng, 0, 9);
    auto a = quant_data(rng, m, k, stride, block, fp8);
    auto b = a;
    if (fp8) {
      ref::fp8_fake_quant(a.data(), m, k, stride, block);
      K.fp8_fake_quant(b.data(), m, k, stride, block);
    } else {
      ref::fp4_fake_quant(a.data(), m, k, stride, block);
      K.fp4_fake_quant(b.data(), m, k, stride, block);
    }
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_TRUE(same_bits(a[i], b[i]) || (std::isnan(a[i]) && std::isnan(b[i])))
          << (fp8 ? "fp8" : "fp4") << " round " << r << " k=" << k << " block=" << block << " at " << i
          << ": ref " << a[i] << " fast " << b[i];
  }
}

// Every float in [2^-12, maxv] with the low 8 mantissa bits fixed, alternating signs, in blocks of 128
// whose first element pins the scale to 1.
void sweep_quant(const KernelTable& K, bool fp8) {
  const float maxv = fp8 ? 448.0f : 6.0f;
  std::vector<float> a;
  for (uint32_t u = std::bit_cast<uint32_t>(0x1p-12f); u <= std::bit_cast<uint32_t>(maxv); u += 256) {
    if (a.size() % 128 == 0) a.push_back(maxv);
    a.push_back(std::bit_cast<float>(u) * (((u >> 8) & 1) ? -1.0f : 1.0f));
  }
  auto b = a;
  const int64_t k = int64_t(a.size());
  if (fp8) {
    ref::fp8_fake_quant(a.data(), 1, k, k, 128);
    K.fp8_fake_quant(b.data(), 1, k, k, 128);
  } else {
    ref::fp4_fake_quant(a.data(), 1, k, k, 128);
    K.fp4_fake_quant(b.data(), 1, k, k, 128);
  }
  for (size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(same_bits(a[i], b[i])) << i << " " << a[i] << " " << b[i];
}

TEST(FastFakeQuant, FP8BitExact) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    check_fast_quant(*K, true, 200, 3000);
  }
}

TEST(FastFakeQuant, FP4BitExact) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    check_fast_quant(*K, false, 201, 3000);
  }
}

TEST(FastFakeQuant, FloatSweepAtUnitScale) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    sweep_quant(*K, true);
    sweep_quant(*K, false);
  }
}

TEST(FastRmsNorm, MatchesRef) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(300);
    for (int64_t d : {1, 7, 8, 15, 16, 33, 512, 1031}) {
      const int64_t m = 3;
      auto x = randn(rng, size_t(m * d), 3.0f);
      std::vector<uint16_t> w(static_cast<size_t>(d));
      for (auto& b : w) b = f32_to_bf16(randn(rng, 1)[0]);
      for (const uint16_t* wp : {static_cast<const uint16_t*>(nullptr), static_cast<const uint16_t*>(w.data())}) {
        std::vector<float> yr(size_t(m * d)), yf(size_t(m * d));
        ref::rmsnorm(x.data(), wp, m, d, 1e-6f, yr.data());
        K->rmsnorm(x.data(), wp, m, d, 1e-6f, yf.data());
        for (size_t i = 0; i < yr.size(); ++i) ASSERT_NEAR(yf[i], yr[i], 2e-6 * std::fabs(yr[i]) + 1e-7) << d;
      }
    }
  }
}

struct AttnData {
  std::vector<float> q, sink;
  std::vector<std::vector<float>> keys;
  std::vector<const float*> kp;
};
AttnData attn_data(Rng& rng, int64_t H, int64_t d, int64_t n_keys) {
  AttnData a;
  a.q = randn(rng, size_t(H * d));
  a.sink = randn(rng, size_t(H), 2.0f);
  for (int64_t j = 0; j < n_keys; ++j) a.keys.push_back(randn(rng, size_t(d)));
  for (auto& k : a.keys) a.kp.push_back(k.data());
  return a;
}

TEST(FastAttentionSink, MatchesRef) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(400);
    struct Case { int64_t H, d, n_keys; };
    for (const Case c : {Case{1, 1, 1}, Case{2, 7, 3}, Case{3, 17, 9}, Case{4, 64, 0}, Case{4, 64, 50},
                         Case{2, 512, 130}, Case{5, 40, 7}}) {
      auto a = attn_data(rng, c.H, c.d, c.n_keys);
      const float scale = 1.0f / std::sqrt(float(c.d));
      std::vector<float> yr(size_t(c.H * c.d)), yf(size_t(c.H * c.d), 99.0f);
      ref::attention_sink(a.q.data(), c.H, c.d, a.kp.data(), c.n_keys, a.sink.data(), scale, yr.data());
      K->attention_sink(a.q.data(), c.d, a.kp.data(), c.n_keys, a.sink.data(), scale, yf.data(), 0, c.H);
      for (size_t i = 0; i < yr.size(); ++i) ASSERT_NEAR(yf[i], yr[i], 2e-6) << "d=" << c.d << " at " << i;
      // A head range writes only its heads.
      std::vector<float> yp(size_t(c.H * c.d), 99.0f);
      K->attention_sink(a.q.data(), c.d, a.kp.data(), c.n_keys, a.sink.data(), scale, yp.data(), 1, c.H);
      for (int64_t i = 0; i < c.d; ++i) ASSERT_EQ(yp[size_t(i)], 99.0f);
      for (size_t i = size_t(c.d); i < yr.size(); ++i) ASSERT_EQ(yp[i], yf[i]);
    }
  }
}

// Equal bits, or both NaN (which NaN an operation passes on may differ).
bool same_value(float a, float b) { return (std::isnan(a) && std::isnan(b)) || same_bits(a, b); }

// The indexer scores: bit for bit what the scalar reference computes, for any key range and head count
// (eight-head groups and the remainder), with zero, negative and NaN dot products.
TEST(FastIndexerScores, BitExactWithRef) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(450);
    struct Case { int64_t H, d, n_keys; };
    for (const Case c : {Case{1, 1, 1}, Case{3, 5, 7}, Case{8, 64, 8}, Case{13, 64, 9}, Case{64, 128, 33},
                         Case{8, 128, 100}, Case{16, 3, 17}}) {
      auto a = attn_data(rng, c.H, c.d, c.n_keys);
      const auto w = randn(rng, size_t(c.H));
      if (c.n_keys > 2) {
        std::fill(a.keys[1].begin(), a.keys[1].end(), 0.0f);  // every dot product 0
        a.keys[2][0] = std::numeric_limits<float>::quiet_NaN();
      }
      std::vector<float> yr(size_t(c.n_keys)), yf(size_t(c.n_keys), 99.0f);
      ref::indexer_scores(a.q.data(), c.H, c.d, w.data(), a.kp.data(), c.n_keys, yr.data());
      K->indexer_scores(a.q.data(), c.H, c.d, w.data(), a.kp.data(), yf.data(), 0, c.n_keys);
      for (size_t j = 0; j < yr.size(); ++j)
        ASSERT_TRUE(same_value(yf[j], yr[j])) << "H=" << c.H << " d=" << c.d << " key " << j << ": " << yf[j] << " vs " << yr[j];
      // A key range writes only its keys.
      std::vector<float> yp(size_t(c.n_keys), 99.0f);
      K->indexer_scores(a.q.data(), c.H, c.d, w.data(), a.kp.data(), yp.data(), 1, c.n_keys);
      ASSERT_EQ(yp[0], 99.0f);
      for (size_t j = 1; j < yr.size(); ++j) ASSERT_TRUE(same_value(yp[j], yf[j]));
    }
  }
}

// ops:: with a thread pool and each fast set vs ops:: forced onto the references.
TEST(OpsDispatch, ThreadedFastMatchesScalar) {
  ThreadPool pool(4);
  const ops::OpContext off = ops::OpContext::make(pool, false);
  EXPECT_FALSE(off.fast());
  EXPECT_EQ(ops::OpContext::make(pool, true).isa(), best_isa(detect_cpu_features()));
  for (Isa isa : fast_isas()) {
    SCOPED_TRACE(isa_name(isa));
    const ops::OpContext on = ops::OpContext::make(pool, isa);
    EXPECT_EQ(on.isa(), isa);
    Rng rng(500);

    const TestWeight w = make_weight(rng, WFormat::kFP8, 1100, 300);
    const auto x = randn(rng, size_t(3 * 300));
    const NaiveLinear naive = naive_linear(x, 3, w, 50, 1000);
    std::vector<float> y1(3 * 1000), y2(3 * 1000);
    ops::linear(on, x.data(), 3, w.view(50, 1000), y1.data());
    ops::linear(off, x.data(), 3, w.view(50, 1000), y2.data());
    for (size_t i = 0; i < y1.size(); ++i) ASSERT_NEAR(y1[i], y2[i], 1e-5 * naive.abs_sum[i]);

    auto q = quant_data(rng, 64, 448, 512, 64, true);
    auto q2 = q;
    ops::fp8_fake_quant(on, q.data(), 64, 448, 512, 64);
    ops::fp8_fake_quant(off, q2.data(), 64, 448, 512, 64);
    for (size_t i = 0; i < q.size(); ++i)
      ASSERT_TRUE(same_bits(q[i], q2[i]) || (std::isnan(q[i]) && std::isnan(q2[i])));
    auto f = quant_data(rng, 96, 128, 128, 32, false);
    auto f2 = f;
    ops::fp4_fake_quant(on, f.data(), 96, 128, 128, 32);
    ops::fp4_fake_quant(off, f2.data(), 96, 128, 128, 32);
    for (size_t i = 0; i < f.size(); ++i) ASSERT_TRUE(same_bits(f[i], f2[i]));

    auto a = attn_data(rng, 16, 512, 160);  // large enough to split heads across threads
    std::vector<float> o1(16 * 512), o2(16 * 512);
    ops::attention_sink(on, a.q.data(), 16, 512, a.kp.data(), 160, a.sink.data(), 0.044f, o1.data());
    ops::attention_sink(off, a.q.data(), 16, 512, a.kp.data(), 160, a.sink.data(), 0.044f, o2.data());
    for (size_t i = 0; i < o1.size(); ++i) ASSERT_NEAR(o1[i], o2[i], 2e-6);

    auto xs = randn(rng, 4 * 300);
    std::vector<float> r1(4 * 300), r2(4 * 300);
    ops::rmsnorm(on, xs.data(), nullptr, 4, 300, 1e-6f, r1.data());
    ops::rmsnorm(off, xs.data(), nullptr, 4, 300, 1e-6f, r2.data());
    for (size_t i = 0; i < r1.size(); ++i) ASSERT_NEAR(r1[i], r2[i], 2e-6 * std::fabs(r2[i]) + 1e-7);
  }
}

}  // namespace
}  // namespace tachyon::cpu
