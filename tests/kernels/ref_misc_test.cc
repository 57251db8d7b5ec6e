// Checks the remaining scalar reference kernels against independent definitions: RMSNorm and attention
// with a sink in double precision, Hadamard against the explicit Sylvester matrix, RoPE against complex
// rotation (and its inverse), top-k against a full stable sort, and the hyper-connection Sinkhorn split
// against a double-precision transcription of spec §2.2.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

TEST(RefRmsNorm, MatchesDouble) {
  Rng rng(21);
  for (int64_t d : {1, 7, 64, 257}) {
    const int64_t m = 3;
    auto x = randn(rng, size_t(m * d), 2.0f);
    std::vector<uint16_t> w(static_cast<size_t>(d));
    for (auto& b : w) b = f32_to_bf16(randn(rng, 1)[0]);
    for (bool weighted : {false, true}) {
      std::vector<float> y(size_t(m * d));
      ref::rmsnorm(x.data(), weighted ? w.data() : nullptr, m, d, 1e-6f, y.data());
      for (int64_t i = 0; i < m; ++i) {
        double ss = 0;
        for (int64_t j = 0; j < d; ++j) ss += double(x[size_t(i * d + j)]) * x[size_t(i * d + j)];
        const double r = 1.0 / std::sqrt(ss / double(d) + 1e-6);
        for (int64_t j = 0; j < d; ++j) {
          const double want = x[size_t(i * d + j)] * r * (weighted ? bf16_value(w[size_t(j)]) : 1.0);
          ASSERT_NEAR(y[size_t(i * d + j)], want, 1e-5 * std::fabs(want) + 1e-7) << d << " " << weighted;
        }
      }
    }
  }
}

TEST(RefRope, MatchesComplexRotationAndInverseUndoes) {
  Rng rng(22);
  const int64_t dim = 64;
  auto x = randn(rng, size_t(dim));
  std::vector<float> cs(static_cast<size_t>(dim));
  std::vector<double> ang(size_t(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    ang[size_t(i)] = 37.0 * std::pow(10000.0, -2.0 * double(i) / double(dim));
    cs[size_t(2 * i)] = float(std::cos(ang[size_t(i)]));
    cs[size_t(2 * i + 1)] = float(std::sin(ang[size_t(i)]));
  }
  auto y = x;
  ref::rope(y.data(), dim, cs.data(), false);
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double c = cs[size_t(2 * i)], s = cs[size_t(2 * i + 1)];
    const double a = x[size_t(2 * i)], b = x[size_t(2 * i + 1)];
    EXPECT_NEAR(y[size_t(2 * i)], a * c - b * s, 1e-6);
    EXPECT_NEAR(y[size_t(2 * i + 1)], a * s + b * c, 1e-6);
  }
  ref::rope(y.data(), dim, cs.data(), true);
  for (int64_t i = 0; i < dim; ++i) EXPECT_NEAR(y[size_t(i)], x[size_t(i)], 2e-6);
}

TEST(RefHadamard, MatchesSylvesterMatrix) {
  Rng rng(23);
  for (int64_t n = 1; n <= 256; n *= 2) {
    auto x = randn(rng, size_t(n));
    auto y = x;
    ref::hadamard(y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < n; ++j)
        s += ((std::popcount(uint64_t(i & j)) & 1) ? -1.0 : 1.0) * double(x[size_t(j)]);
      s /= std::sqrt(double(n));
      ASSERT_NEAR(y[size_t(i)], s, 1e-5) << "n=" << n << " i=" << i;
    }
  }
}

TEST(RefTopK, MatchesStableSortWithTies) {
  Rng rng(24);
  for (int64_t n : {1, 5, 64, 300}) {
    std::vector<float> s(static_cast<size_t>(n));
    for (auto& v : s) v = float(uniform_int(rng, -8, 8));  // many ties
    std::vector<int32_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return s[size_t(a)] > s[size_t(b)]; });
    for (int64_t k : {int64_t(1), (n + 1) / 2, n}) {
      std::vector<int32_t> got(size_t(k), -1);
      ref::topk(s.data(), n, k, got.data());
      for (int64_t i = 0; i < k; ++i) ASSERT_EQ(got[size_t(i)], order[size_t(i)]) << "n=" << n << " k=" << k;
    }
  }
}

// o_h = sum_j e^{s_j} k_j / (sum_j e^{s_j} + e^{sink_h}), s_j = scale q_h.k_j, all in double.
std::vector<double> naive_attention(const std::vector<float>& q, int64_t H, int64_t d,
                                    const std::vector<std::vector<float>>& keys, const std::vector<float>& sink,
                                    float scale) {
  std::vector<double> out(size_t(H * d), 0.0);
  for (int64_t h = 0; h < H; ++h) {
    std::vector<double> s;
    double mx = sink[size_t(h)];
    for (const auto& kj : keys) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += double(q[size_t(h * d + c)]) * kj[size_t(c)];
      s.push_back(dot * scale);
      mx = std::max(mx, s.back());
    }
    double den = std::exp(double(sink[size_t(h)]) - mx);
    for (size_t j = 0; j < keys.size(); ++j) {
      const double p = std::exp(s[j] - mx);
      den += p;
      for (int64_t c = 0; c < d; ++c) out[size_t(h * d + c)] += p * keys[j][size_t(c)];
    }
    for (int64_t c = 0; c < d; ++c) out[size_t(h * d + c)] /= den;
  }
  return out;
}

TEST(RefAttentionSink, MatchesDoubleSoftmaxWithSinkInDenominator) {
  Rng rng(25);
  struct Case { int64_t H, d, n_keys; };
  for (const Case c : {Case{1, 8, 1}, Case{3, 17, 5}, Case{4, 64, 40}, Case{2, 512, 33}}) {
    auto q = randn(rng, size_t(c.H * c.d));
    std::vector<std::vector<float>> keys;
    std::vector<const float*> kp;
    for (int64_t j = 0; j < c.n_keys; ++j) keys.push_back(randn(rng, size_t(c.d)));
    for (auto& kj : keys) kp.push_back(kj.data());
    auto sink = randn(rng, size_t(c.H), 2.0f);
    const float scale = 1.0f / std::sqrt(float(c.d));
    std::vector<float> out(size_t(c.H * c.d));
    ref::attention_sink(q.data(), c.H, c.d, kp.data(), c.n_keys, sink.data(), scale, out.data());
    const auto want = naive_attention(q, c.H, c.d, keys, sink, scale);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << "d=" << c.d << " i=" << i;
  }
}

TEST(RefAttentionSink, HugeSinkSuppressesAndNoKeysGivesZero) {
  std::vector<float> q = {1, 0, 0, 0}, k0 = {1, 2, 3, 4};
  const float* keys[] = {k0.data()};
  float sink_big = 50.0f, sink_small = -50.0f;
  std::vector<float> out(4);
  ref::attention_sink(q.data(), 1, 4, keys, 1, &sink_big, 1.0f, out.data());
  for (float v : out) EXPECT_NEAR(v, 0.0f, 1e-12);
  ref::attention_sink(q.data(), 1, 4, keys, 1, &sink_small, 1.0f, out.data());
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(out[size_t(c)], k0[size_t(c)], 1e-6);
  ref::attention_sink(q.data(), 1, 4, keys, 0, &sink_small, 1.0f, out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(RefSinkhorn, MatchesSpecInDoubleAndColumnsSumToOne) {
  Rng rng(26);
  const int hc = 4, iters = 20;
  const double eps = 1e-6;
  for (int trial = 0; trial < 5; ++trial) {
    auto mixes = randn(rng, size_t((2 + hc) * hc), 3.0f);
    auto base = randn(rng, size_t((2 + hc) * hc));
    auto scale3 = randn(rng, 3);
    std::vector<float> pre(hc), post(hc), comb(hc * hc);
    ref::hc_split_sinkhorn(mixes.data(), scale3.data(), base.data(), hc, iters, float(eps), pre.data(),
                           post.data(), comb.data());
    auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
    for (int i = 0; i < hc; ++i) {
      EXPECT_NEAR(pre[size_t(i)], sig(double(mixes[size_t(i)]) * scale3[0] + base[size_t(i)]) + eps, 1e-6);
      EXPECT_NEAR(post[size_t(i)], 2 * sig(double(mixes[size_t(hc + i)]) * scale3[1] + base[size_t(hc + i)]), 1e-6);
    }
    // C = softmax rows + eps; C /= col sums + eps; 19 x {rows; cols}.
    std::vector<double> C(size_t(hc * hc));
    for (int i = 0; i < hc; ++i) {
      double mx = -INFINITY, sum = 0;
      for (int j = 0; j < hc; ++j) {
        const size_t at = size_t(2 * hc + i * hc + j);
        C[size_t(i * hc + j)] = double(mixes[at]) * scale3[2] + base[at];
        mx = std::max(mx, C[size_t(i * hc + j)]);
      }
      for (int j = 0; j < hc; ++j) sum += (C[size_t(i * hc + j)] = std::exp(C[size_t(i * hc + j)] - mx));
      for (int j = 0; j < hc; ++j) C[size_t(i * hc + j)] = C[size_t(i * hc + j)] / sum + eps;
    }
    auto norm = [&](bool rows) {
      for (int a = 0; a < hc; ++a) {
        double s = 0;
        for (int b = 0; b < hc; ++b) s += rows ? C[size_t(a * hc + b)] : C[size_t(b * hc + a)];
        for (int b = 0; b < hc; ++b) (rows ? C[size_t(a * hc + b)] : C[size_t(b * hc + a)]) /= (s + eps);
      }
    };
    norm(false);
    for (int t = 1; t < iters; ++t) {
      norm(true);
      norm(false);
    }
    for (int i = 0; i < hc * hc; ++i) EXPECT_NEAR(comb[size_t(i)], C[size_t(i)], 1e-5);
    for (int j = 0; j < hc; ++j) {
      double s = 0;
      for (int i = 0; i < hc; ++i) s += comb[size_t(i * hc + j)];
      EXPECT_NEAR(s, 1.0, 1e-5) << "column " << j;
    }
  }
}

}  // namespace
}  // namespace tachyon::cpu
