// Hyper-connection ops (ops.h; spec §2.2, §2.8).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "ops/ops.h"

namespace tachyon::ops {

void hc_mixes(const OpContext& ctx, const float* streams, int64_t n_tokens, int64_t n, const float* fn, int64_t n_mix,
              float eps, float* mixes) {
  TACHYON_CHECK(n > 0 && n_mix > 0, "hc_mixes: empty mix");
  // mixes[t] from the dot products d [n_mix] of token t.
  auto finish = [&](int64_t t, const double* d) {
    const float* a = streams + t * n;                    // [n]
    double ss = 0;
    dot_f64(ctx, a, a, n, 1, &ss);
    const float r = 1.0f / std::sqrt(float(ss / double(n)) + eps);
    for (int64_t o = 0; o < n_mix; ++o) mixes[t * n_mix + o] = float(d[o]) * r;
  };
  if (n_tokens == 1 && ctx.pool) {
    // One token (decode): the outputs split across threads in groups of four (each output is the same
    // whichever group computes it).
    std::vector<double> d(static_cast<size_t>(n_mix));  // [n_mix]
    ctx.pool->parallel_for((n_mix + 3) / 4, 1, [&](int64_t g0, int64_t g1) {
      const int64_t o0 = g0 * 4, o1 = std::min(n_mix, g1 * 4);
      dot_f64(ctx, streams, fn + o0 * n, n, o1 - o0, d.data() + o0);
    });
    return finish(0, d.data());
  }
  auto rows = [&](int64_t t0, int64_t t1) {
    std::vector<double> dt(static_cast<size_t>(n_mix));  // [n_mix]
    for (int64_t t = t0; t < t1; ++t) {
      dot_f64(ctx, streams + t * n, fn, n, n_mix, dt.data());
      finish(t, dt.data());
    }
  };
  if (ctx.pool) ctx.pool->parallel_for(n_tokens, 1, rows);
  else rows(0, n_tokens);
}

namespace {
// body(t0, t1) over the tokens, split across threads once a share holds ~64K floats of streams.
template <typename Body>
void split_tokens(const OpContext& ctx, int64_t n_tokens, int64_t floats_per_token, const Body& body) {
  if (n_tokens <= 0) return;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, floats_per_token));
  if (ctx.pool && n_tokens > grain) ctx.pool->parallel_for(n_tokens, grain, body);
  else body(0, n_tokens);
}
}  // namespace

void mix_streams(const OpContext& ctx, const float* streams, const float* weight, int64_t n_tokens, int hc, int64_t d,
                 float* y) {
  TACHYON_CHECK(hc > 0, "mix_streams: no stream");
  const auto kernel = ctx.k->mix_rows;
  split_tokens(ctx, n_tokens, hc * d, [&](int64_t t0, int64_t t1) {
    std::vector<const float*> rows(static_cast<size_t>(hc));  // [hc] the token's streams
    for (int64_t t = t0; t < t1; ++t) {
      for (int i = 0; i < hc; ++i) rows[size_t(i)] = streams + (t * hc + i) * d;
      kernel(rows.data(), weight + t * hc, hc, d, y + t * d);
    }
  });
}

void hc_post(const OpContext& ctx, const float* f, const float* post, const float* comb, int64_t n_tokens, int hc,
             int64_t d, float* streams) {
  TACHYON_CHECK(hc > 0, "hc_post: no stream");
  const auto kernel = ctx.k->mix_rows;
  split_tokens(ctx, n_tokens, hc * d, [&](int64_t t0, int64_t t1) {
    std::vector<float> old(size_t(hc * d));                   // [hc, d] the token's streams before the update
    std::vector<const float*> rows(size_t(hc) + 1);           // the old streams, then f
    std::vector<float> w(size_t(hc) + 1);                     // column j of comb, then post[j]
    for (int64_t t = t0; t < t1; ++t) {
      float* X = streams + t * hc * d;                        // [hc, d]
      std::copy(X, X + hc * d, old.begin());
      for (int i = 0; i < hc; ++i) rows[size_t(i)] = &old[size_t(i * d)];
      rows[size_t(hc)] = f + t * d;
      const float* C = comb + t * hc * hc;                    // [hc, hc]
      for (int j = 0; j < hc; ++j) {
        // sum_i C[i][j] * X_i in order of i, plus post * f: the reference's post * f + sum (one
        // addition, which commutes).
        for (int i = 0; i < hc; ++i) w[size_t(i)] = C[i * hc + j];
        w[size_t(hc)] = post[t * hc + j];
        kernel(rows.data(), w.data(), hc + 1, d, X + j * d);
      }
    }
  });
}

void hc_head_weights(const float* mixes, float scale, const float* base, int hc, float eps, float* weight) {
  cpu::ref::hc_head_weights(mixes, scale, base, hc, eps, weight);
}

}  // namespace tachyon::ops
