// DraftHead (the MTP module's draft logits): the largest output is the exact BF16 head's largest logit,
// at the same lowest index and with the same bits; every other output is either exact or below it; few
// rows need the exact pass; the approximate logits stay close. Both kernel choices, with ties and
// near-ties, and k not a multiple of 32.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "model/deepseek_v4/draft_head.h"

namespace tachyon::dsv4 {
namespace {

struct Head {
  int64_t n, k;
  std::vector<uint16_t> w;  // bf16 [n, k]
  WeightView view() const {
    WeightView v;
    v.fmt = WFormat::kBF16;
    v.n = n;
    v.k = k;
    v.data = w.data();
    return v;
  }
};

Head random_head(std::mt19937_64& rng, int64_t n, int64_t k) {
  std::normal_distribution<float> d(0.0f, 0.05f);
  Head h{n, k, std::vector<uint16_t>(size_t(n * k))};
  for (auto& v : h.w) v = f32_to_bf16(d(rng));
  return h;
}

// Checks one query; returns the number of exactly computed rows.
int64_t check(const ops::OpContext& ctx, const DraftHead& dh, const Head& h, const std::vector<float>& x,
              const std::string& what) {
  std::vector<float> exact(size_t(h.n)), got(size_t(h.n));
  ops::linear(ctx, x.data(), 1, h.view(), exact.data());
  const int64_t n_exact = dh.logits(ctx, h.view(), x.data(), 1, got.data());
  const auto top = std::max_element(exact.begin(), exact.end());  // first index of the maximum
  EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(), top - exact.begin()) << what;
  EXPECT_EQ(std::bit_cast<uint32_t>(got[size_t(top - exact.begin())]), std::bit_cast<uint32_t>(*top)) << what;
  float amax = 0;
  for (float e : exact) amax = std::max(amax, std::fabs(e));
  int64_t same = 0;
  for (int64_t r = 0; r < h.n; ++r) {
    const float g = got[size_t(r)], e = exact[size_t(r)];
    if (std::bit_cast<uint32_t>(g) == std::bit_cast<uint32_t>(e)) {
      ++same;
      continue;
    }
    EXPECT_LT(g, *top) << what << " row " << r;
    EXPECT_LE(std::fabs(g - e), 0.02f * amax + 1e-6f) << what << " row " << r;
  }
  EXPECT_GE(same, n_exact) << what;
  return n_exact;
}

TEST(DraftHead, LargestLogitIsTheExactHeads) {
  std::mt19937_64 rng(21);
  ThreadPool pool(2);
  for (int64_t k : {256, 200}) {
    Head h = random_head(rng, 3000, k);
    // Ties: rows 2500.. repeat rows 10.. exactly (same bits, so the exact logits tie).
    for (int64_t r = 0; r < 20; ++r) std::copy_n(h.w.begin() + (10 + r) * k, k, h.w.begin() + (2500 + r) * k);
    for (bool allow_fast : {true, false}) {
      const ops::OpContext ctx = ops::OpContext::make(pool, allow_fast);
      const DraftHead dh(ctx, h.w.data(), h.n, h.k);
      const std::string tag = "k=" + std::to_string(k) + (allow_fast ? " fast" : " ref");
      std::normal_distribution<float> d(0.0f, 1.0f);
      int64_t exact_rows = 0;
      for (int q = 0; q < 20; ++q) {
        std::vector<float> x(static_cast<size_t>(k));
        for (auto& v : x) v = d(rng);
        exact_rows += check(ctx, dh, h, x, tag + " random " + std::to_string(q));
      }
      EXPECT_LT(exact_rows, 20 * 30) << tag << ": the screen should leave few rows to the exact pass";
      // Aligned with a duplicated row: the maximum is a tie between rows 15 and 2505; row 15 must win.
      std::vector<float> x(static_cast<size_t>(k));
      for (int64_t j = 0; j < k; ++j) x[size_t(j)] = bf16_to_f32(h.w[size_t(15 * k + j)]) * 40.0f;
      check(ctx, dh, h, x, tag + " tie");
      // All zero: every logit is zero, all rows tie.
      std::fill(x.begin(), x.end(), 0.0f);
      EXPECT_EQ(check(ctx, dh, h, x, tag + " zero"), h.n);
    }
  }
}

TEST(DraftHead, NearTiesStayExact) {
  // Rows that differ from one base row by one bf16 step in one column: their logits are within the
  // screen's error of each other, so all of them must go to the exact pass and the right one must win.
  std::mt19937_64 rng(22);
  ThreadPool pool(2);
  const int64_t k = 128;
  Head h = random_head(rng, 500, k);
  for (int64_t r = 100; r < 164; ++r) {
    std::copy_n(h.w.begin(), k, h.w.begin() + r * k);
    h.w[size_t(r * k + (r % k))] = uint16_t(h.w[size_t(r * k + (r % k))] + 1);
  }
  const ops::OpContext ctx = ops::OpContext::make(pool);
  const DraftHead dh(ctx, h.w.data(), h.n, h.k);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (int q = 0; q < 20; ++q) {
    std::vector<float> x(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) x[size_t(j)] = bf16_to_f32(h.w[size_t(j)]) * 50.0f + 0.1f * d(rng);
    EXPECT_GT(check(ctx, dh, h, x, "near ties " + std::to_string(q)), 1);
  }
}

TEST(DraftHead, RowsOfOneCallEqualOneRowCalls) {
  // Rows screened together (one dot_i8 pass over the int8 head) give exactly what each gives alone: every
  // row keeps its own quantisation scale and bounds. Rows of very different size and shape, with a zero
  // row and a one-hot row among them, and every row count up to five (query pairs and a last single one).
  std::mt19937_64 rng(23);
  ThreadPool pool(2);
  const int64_t k = 96;
  Head h = random_head(rng, 700, k);
  const ops::OpContext ctx = ops::OpContext::make(pool);
  const DraftHead dh(ctx, h.w.data(), h.n, h.k);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(size_t(5 * k));  // [5, k]
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < k; ++j) x[size_t(i * k + j)] = d(rng) * float(1 + 30 * (i % 2));
  std::fill(x.begin() + 2 * k, x.begin() + 3 * k, 0.0f);  // row 2: zero
  std::fill(x.begin() + 3 * k, x.begin() + 4 * k, 0.0f);
  x[size_t(3 * k + 7)] = 5.0f;  // row 3: one-hot
  for (int64_t rows = 1; rows <= 5; ++rows) {
    std::vector<float> together(size_t(rows * h.n)), alone(static_cast<size_t>(h.n));
    int64_t n_alone = 0;
    const int64_t n_together = dh.logits(ctx, h.view(), x.data(), rows, together.data());
    for (int64_t i = 0; i < rows; ++i) {
      n_alone += dh.logits(ctx, h.view(), x.data() + i * k, 1, alone.data());
      EXPECT_EQ(std::memcmp(alone.data(), together.data() + i * h.n, size_t(h.n) * sizeof(float)), 0)
          << "rows=" << rows << " row " << i;
    }
    EXPECT_EQ(n_together, n_alone) << "rows=" << rows;
  }
}

// A head row that holds a NaN is never screened out: its logit is computed exactly (NaN) whatever the
// query, so the caller sees it. A query row that is not finite gives a row of NaN. Other rows of the same
// call are unaffected.
TEST(DraftHead, ShowsNanRowsInsteadOfScreeningThemOut) {
  ThreadPool pool(2);
  const ops::OpContext ctx = ops::OpContext::make(pool);
  std::mt19937_64 rng(5);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  const int64_t n = 300, k = 96, bad_row = 123;
  Head h{n, k, std::vector<uint16_t>(size_t(n * k))};
  for (auto& v : h.w) v = f32_to_bf16(dist(rng));
  // A row whose other entries make its approximate logit tiny, so a screen would drop it.
  for (int64_t j = 0; j < k; ++j) h.w[size_t(bad_row * k + j)] = f32_to_bf16(j == 7 ? std::numeric_limits<float>::quiet_NaN() : 1e-6f);
  DraftHead dh(ctx, h.w.data(), n, k);
  std::vector<float> x(size_t(3 * k));
  for (float& v : x) v = dist(rng) * 10.0f;
  x[size_t(k + 5)] = INFINITY;  // row 1 of the query is not finite
  std::vector<float> got(size_t(3 * n)), exact(size_t(3 * n));
  dh.logits(ctx, h.view(), x.data(), 3, got.data());
  ops::linear(ctx, x.data(), 3, h.view(), exact.data());
  for (int64_t r : {int64_t(0), int64_t(2)}) {
    EXPECT_TRUE(std::isnan(got[size_t(r * n + bad_row)])) << r;
    // The largest finite logit is still the exact head's.
    float best = -INFINITY, best_exact = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      if (i == bad_row) continue;
      best = std::max(best, got[size_t(r * n + i)]);
      best_exact = std::max(best_exact, exact[size_t(r * n + i)]);
    }
    EXPECT_EQ(best, best_exact) << r;
  }
  for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(std::isnan(got[size_t(n + i)])) << i;
}

}  // namespace
}  // namespace tachyon::dsv4
