#include "model/deepseek_v4/draft_head.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/check.h"
#include "core/dtype.h"
#include "core/finite.h"

namespace tachyon::dsv4 {

namespace {
// Largest element, through eight running maxima that the compiler keeps in registers.
float max_of(const std::vector<float>& v) {
  float m[8];
  std::fill(m, m + 8, -INFINITY);
  size_t r = 0;
  for (; r + 8 <= v.size(); r += 8)
    for (size_t l = 0; l < 8; ++l) m[l] = std::max(m[l], v[r + l]);
  for (; r < v.size(); ++r) m[0] = std::max(m[0], v[r]);
  return *std::max_element(m, m + 8);
}

int64_t abs_sum(const int8_t* q, int64_t n) {
  int64_t s = 0;
  for (int64_t j = 0; j < n; ++j) s += std::abs(int(q[j]));
  return s;
}
}  // namespace

DraftHead::DraftHead(const ops::OpContext& ctx, const uint16_t* head, int64_t n, int64_t k)
    : n_(n), k_(k), kp_((k + 31) / 32 * 32), q_(size_t(n * kp_)), scale_(size_t(n)), l1_(size_t(n)) {
  TACHYON_CHECK(n > 0 && k > 0, "draft head: empty head");
  auto body = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(k));  // [k]
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t j = 0; j < k; ++j) row[size_t(j)] = bf16_to_f32(head[r * k + j]);
      int8_t* q = q_.data() + r * kp_;
      if (!all_finite(row.data(), k)) {  // no bound: the row is always computed exactly (and is not finite)
        std::fill(q, q + kp_, int8_t(0));
        scale_[size_t(r)] = 0;
        l1_[size_t(r)] = INFINITY;
        continue;
      }
      scale_[size_t(r)] = ops::quantize_i8(row.data(), k, kp_, q);
      l1_[size_t(r)] = float(double(scale_[size_t(r)]) * double(abs_sum(q, k)) * 1.000001);  // rounded up
    }
  };
  if (ctx.pool) ctx.pool->parallel_for(n, 256, body);
  else body(0, n);
}

int64_t DraftHead::logits(const ops::OpContext& ctx, const WeightView& exact, const float* x, int64_t rows,
                          float* out) const {
  TACHYON_CHECK(exact.fmt == WFormat::kBF16 && exact.n == n_ && exact.k == k_, "draft head: wrong exact head");
  std::vector<int8_t> xq(size_t(rows * kp_));          // [rows, kp]
  std::vector<float> sxs(static_cast<size_t>(rows));      // [rows] scales of x
  std::vector<int32_t> accs(size_t(rows * n_));         // [rows, n]
  std::vector<float> lo(static_cast<size_t>(n_)), hi(static_cast<size_t>(n_));  // [n] logit -/+ bound
  const double k = double(k_), gamma = 1.01 * k * 0x1p-24;  // fp32 summation error of k terms, relative
  // An input row that is not finite has no meaningful screen: its logits are all NaN, for the caller to
  // see (a head row that is not finite has an infinite bound instead, so it is always computed exactly).
  std::vector<char> finite(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    finite[size_t(i)] = all_finite(x + i * k_, k_);
    sxs[size_t(i)] = finite[size_t(i)] ? ops::quantize_i8(x + i * k_, k_, kp_, xq.data() + i * kp_) : 0.0f;
  }
  ops::dot_i8(ctx, xq.data(), rows, q_.data(), kp_, n_, accs.data());  // every row of the head read once
  int64_t n_exact = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* xi = x + i * k_;
    float* oi = out + i * n_;
    if (!finite[size_t(i)]) {
      std::fill(oi, oi + n_, std::numeric_limits<float>::quiet_NaN());
      continue;
    }
    const float sx = sxs[size_t(i)];
    const int32_t* acc = accs.data() + i * n_;
    const int64_t qsum = abs_sum(xq.data() + i * kp_, kp_);
    const double x1 = double(sx) * double(qsum), ex = 0.50001 * double(sx);
    const float exf = float(ex), c = float(0.50001 * x1 + k * ex * 0.50001 + gamma * (x1 + k * ex) * 127.5);
    for (int64_t r = 0; r < n_; ++r) {  // (vectorises)
      const float sw = scale_[size_t(r)];
      const float a = float(acc[r]) * (sx * sw);
      const float b = (exf * l1_[size_t(r)] + sw * c + 0x1p-21f * std::fabs(a)) * 1.0001f;
      oi[r] = a;
      lo[size_t(r)] = a - b;
      hi[size_t(r)] = a + b;
    }
    const float floor_max = max_of(lo);  // the largest lower bound
    // Exact logits for every row that can reach floor_max, by runs of adjacent rows.
    for (int64_t r = 0; r < n_;) {
      if (hi[size_t(r)] < floor_max) {
        ++r;
        continue;
      }
      int64_t e = r + 1;
      while (e < n_ && hi[size_t(e)] >= floor_max) ++e;
      WeightView v = exact;
      v.row0 = exact.row0 + r;
      v.n = e - r;
      ops::linear(ctx, xi, 1, v, oi + r);  // [1, e - r]
      n_exact += e - r;
      r = e;
    }
  }
  return n_exact;
}

}  // namespace tachyon::dsv4
