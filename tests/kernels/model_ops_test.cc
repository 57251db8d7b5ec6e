// The ops the model's row arithmetic goes through (embedding rows, gather and scatter of expert rows,
// broadcast adds, the hyper-connection mixes, SwiGLU and routing), in every kernel set and split across
// threads, against plain loops that transcribe their definitions: each must match bit for bit.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernel_test_util.h"
#include "ops/ops.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

// The scalar set without threads, then every set the CPU runs with three threads.
std::vector<ops::OpContext> contexts(const ThreadPool& pool) {
  std::vector<ops::OpContext> out(1);  // no pool, scalar references
  out.push_back(ops::OpContext::make(pool, Isa::kScalar));
  for (Isa isa : fast_isas()) out.push_back(ops::OpContext::make(pool, isa));
  return out;
}

std::string name(const ops::OpContext& c) { return std::string(isa_name(c.isa())) + (c.pool ? " threads" : ""); }

void expect_bits(const std::vector<float>& want, const std::vector<float>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * 4), 0) << what;
}

TEST(ModelOps, EmbedRows) {
  const ThreadPool pool(3);
  Rng rng(301);
  const int64_t V = 50, D = 75, T = 2000, copies = 4;  // 2000 tokens x 300 floats: several thread shares
  std::vector<uint16_t> table(size_t(V * D));
  for (auto& b : table) b = f32_to_bf16(randn(rng, 1)[0]);
  std::vector<int32_t> ids(static_cast<size_t>(T));
  for (auto& t : ids) t = int32_t(uniform_int(rng, 0, V - 1));
  std::vector<float> want(size_t(T * copies * D));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < copies; ++c)
      for (int64_t d = 0; d < D; ++d)
        want[size_t((t * copies + c) * D + d)] = bf16_to_f32(table[size_t(ids[size_t(t)] * D + d)]);
  for (const ops::OpContext& ctx : contexts(pool)) {
    std::vector<float> got(want.size());
    ops::embed_rows(ctx, table.data(), V, D, ids.data(), T, copies, got.data());
    expect_bits(want, got, name(ctx));
  }
}

TEST(ModelOpsDeathTest, EmbedRowsRefusesAnIdOutsideTheTable) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::vector<uint16_t> table(8);
  const int32_t ids[2] = {1, 4};  // 4 rows of 2
  std::vector<float> out(8);
  EXPECT_DEATH(ops::embed_rows(ops::OpContext{}, table.data(), 4, 2, ids, 2, 1, out.data()), "out of range");
}

TEST(ModelOps, GatherAndScatterAddRows) {
  const ThreadPool pool(3);
  Rng rng(302);
  const int64_t T = 40, D = 1000;
  const auto x = randn(rng, size_t(T * D)), base = randn(rng, size_t(T * D));
  std::vector<int64_t> rows;  // every token about three times, in a random order, as routing gives
  for (int i = 0; i < 3 * T; ++i) rows.push_back(uniform_int(rng, 0, T - 1));
  const int64_t n = int64_t(rows.size());
  std::vector<float> gathered(size_t(n * D)), summed = base;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < D; ++d) gathered[size_t(i * D + d)] = x[size_t(rows[size_t(i)] * D + d)];
  const auto y = randn(rng, size_t(n * D));
  for (int64_t i = 0; i < n; ++i)  // in list order
    for (int64_t d = 0; d < D; ++d) summed[size_t(rows[size_t(i)] * D + d)] += y[size_t(i * D + d)];
  for (const ops::OpContext& ctx : contexts(pool)) {
    std::vector<float> g(size_t(n * D)), s = base;
    ops::gather_rows(ctx, x.data(), D, rows, g.data());
    expect_bits(gathered, g, "gather " + name(ctx));
    ops::scatter_add_rows(ctx, y.data(), D, rows, s.data());
    expect_bits(summed, s, "scatter " + name(ctx));
  }
}

TEST(ModelOps, AddScaleAndBroadcast) {
  const ThreadPool pool(3);
  Rng rng(303);
  const int64_t T = 300, D = 257, hc = 4;
  const auto x = randn(rng, size_t(T * D)), y0 = randn(rng, size_t(T * hc * D));
  std::vector<float> bcast = y0, plain(y0.begin(), y0.begin() + T * D), scaled = plain;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < hc; ++c)
      for (int64_t d = 0; d < D; ++d) bcast[size_t((t * hc + c) * D + d)] += x[size_t(t * D + d)];
  for (int64_t i = 0; i < T * D; ++i) plain[size_t(i)] += x[size_t(i)];
  for (float& v : scaled) v *= 0.3f;
  for (const ops::OpContext& ctx : contexts(pool)) {
    std::vector<float> b = y0, p(y0.begin(), y0.begin() + T * D), s = p;
    ops::add_broadcast(ctx, x.data(), T, hc, D, b.data());
    expect_bits(bcast, b, "add_broadcast " + name(ctx));
    ops::add(ctx, x.data(), T * D, p.data());
    expect_bits(plain, p, "add " + name(ctx));
    ops::scale(ctx, s.data(), T * D, 0.3f);
    expect_bits(scaled, s, "scale " + name(ctx));
  }
}

// The hyper-connection read (weighted sum of the streams) and write back, as the model wrote them.
TEST(ModelOps, HyperConnectionStreams) {
  const ThreadPool pool(3);
  Rng rng(304);
  const int hc = 4;
  for (int64_t T : {1, 3, 70}) {
    const int64_t D = 300;
    const auto X = randn(rng, size_t(T * hc * D)), f = randn(rng, size_t(T * D));
    const auto pre = randn(rng, size_t(T * hc)), post = randn(rng, size_t(T * hc));
    const auto comb = randn(rng, size_t(T * hc * hc));
    std::vector<float> y(size_t(T * D)), X2 = X;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d) {
        float acc = 0.0f;
        for (int i = 0; i < hc; ++i) acc += pre[size_t(t * hc + i)] * X[size_t((t * hc + i) * D + d)];
        y[size_t(t * D + d)] = acc;
      }
    for (int64_t t = 0; t < T; ++t)
      for (int j = 0; j < hc; ++j)
        for (int64_t d = 0; d < D; ++d) {
          float mix = 0.0f;
          for (int i = 0; i < hc; ++i) mix += comb[size_t(t * hc * hc + i * hc + j)] * X[size_t((t * hc + i) * D + d)];
          X2[size_t((t * hc + j) * D + d)] = post[size_t(t * hc + j)] * f[size_t(t * D + d)] + mix;
        }
    for (const ops::OpContext& ctx : contexts(pool)) {
      std::vector<float> gy(size_t(T * D)), gX = X;
      ops::mix_streams(ctx, X.data(), pre.data(), T, hc, D, gy.data());
      expect_bits(y, gy, "mix_streams " + name(ctx));
      ops::hc_post(ctx, f.data(), post.data(), comb.data(), T, hc, D, gX.data());
      expect_bits(X2, gX, "hc_post " + name(ctx));
    }
  }
}

TEST(ModelOps, HcMixesSplitsWithoutChangingAValue) {
  const ThreadPool pool(3);
  Rng rng(305);
  const int64_t n = 4 * 96, n_mix = 24;
  const auto fn = randn(rng, size_t(n_mix * n), 0.1f);
  for (int64_t T : {1, 5}) {
    const auto streams = randn(rng, size_t(T * n));
    std::vector<float> want(size_t(T * n_mix));
    for (int64_t t = 0; t < T; ++t) {
      const float* a = &streams[size_t(t * n)];
      double ss = 0;
      ref::dot_f64(a, a, n, 1, &ss);
      std::vector<double> d(static_cast<size_t>(n_mix));
      ref::dot_f64(a, fn.data(), n, n_mix, d.data());
      const float r = 1.0f / std::sqrt(float(ss / double(n)) + 1e-6f);
      for (int64_t o = 0; o < n_mix; ++o) want[size_t(t * n_mix + o)] = float(d[size_t(o)]) * r;
    }
    for (const ops::OpContext& ctx : contexts(pool)) {
      std::vector<float> got(want.size());
      ops::hc_mixes(ctx, streams.data(), T, n, fn.data(), n_mix, 1e-6f, got.data());
      expect_bits(want, got, "hc_mixes " + name(ctx));
    }
  }
}

TEST(ModelOps, SwigluRowWeightsAndThreads) {
  const ThreadPool pool(3);
  Rng rng(306);
  const int64_t m = 9, n = 300;  // rows that the 256-element thread shares cut in the middle
  const auto g = randn(rng, size_t(m * n), 6.0f), u = randn(rng, size_t(m * n), 6.0f), rw = randn(rng, size_t(m));
  for (bool weighted : {false, true}) {
    std::vector<float> want(size_t(m * n));
    for (int64_t r = 0; r < m; ++r)
      ref::swiglu(&g[size_t(r * n)], &u[size_t(r * n)], n, 10.0f, weighted ? &rw[size_t(r)] : nullptr,
                  &want[size_t(r * n)]);
    for (const ops::OpContext& ctx : contexts(pool)) {
      std::vector<float> got = g;  // in place, as the experts run it
      ops::swiglu(ctx, got.data(), u.data(), m, n, 10.0f, weighted ? rw.data() : nullptr, got.data());
      expect_bits(want, got, "swiglu " + name(ctx) + (weighted ? " weighted" : ""));
    }
  }
}

TEST(ModelOps, RouteSplitsTokensWithoutChangingARoute) {
  const ThreadPool pool(3);
  Rng rng(307);
  const int64_t T = 700, E = 16, K = 4;  // several shares of 256 tokens
  const auto logits = randn(rng, size_t(T * E), 2.0f), bias = randn(rng, size_t(E), 0.3f);
  RouterSpec s;
  s.n_experts = E;
  s.top_k = K;
  s.bias = bias.data();
  s.scale = 2.5f;
  std::vector<int32_t> want_ids(size_t(T * K));
  std::vector<float> want_w(size_t(T * K));
  ref::route(logits.data(), T, s, want_ids.data(), want_w.data());
  for (const ops::OpContext& ctx : contexts(pool)) {
    std::vector<int32_t> ids(size_t(T * K));
    std::vector<float> w(size_t(T * K));
    ops::route(ctx, logits.data(), T, s, ids.data(), w.data());
    EXPECT_EQ(ids, want_ids) << name(ctx);
    expect_bits(want_w, w, "route " + name(ctx));
  }
}

TEST(ModelOpsDeathTest, RouteRefusesAHashedIdOutsideTheExperts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const float logits[4] = {0, 0, 0, 0};
  RouterSpec s;
  s.n_experts = 4;
  s.top_k = 1;
  s.hashed = true;
  int32_t ids[1] = {4};
  float w[1];
  EXPECT_DEATH(ops::route(ops::OpContext{}, logits, 1, s, ids, w), "out of range");
}

}  // namespace
}  // namespace tachyon::cpu
