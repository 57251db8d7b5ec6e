// Row ops: embedding rows, element-wise sums, gather and scatter of rows (ops.h).
#include <algorithm>

#include "core/check.h"
#include "ops/ops.h"

namespace tachyon::ops {

namespace {
// Runs body(b, e) over [0, n) items of `item_size` floats each, split across threads in chunks of at
// least ~64K floats (a hand-off costs about a microsecond).
template <typename Body>
void split_items(const OpContext& ctx, int64_t n, int64_t item_size, const Body& body) {
  if (n <= 0) return;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, item_size));
  if (ctx.pool && n > grain) ctx.pool->parallel_for(n, grain, body);
  else body(0, n);
}
}  // namespace

void embed_rows(const OpContext& ctx, const uint16_t* table, int64_t n_rows, int64_t d, const int32_t* ids, int64_t n,
                int64_t copies, float* out) {
  TACHYON_CHECK(d > 0 && copies > 0, "embed_rows: empty rows");
  for (int64_t t = 0; t < n; ++t)
    TACHYON_CHECK(ids[t] >= 0 && ids[t] < n_rows, "embed_rows: token id out of range [0, vocab_size)");
  const auto kernel = ctx.k->widen_bf16;
  split_items(ctx, n, copies * d, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* row = out + t * copies * d;                 // [copies, d]
      kernel(table + int64_t(ids[t]) * d, d, row);
      for (int64_t c = 1; c < copies; ++c) std::copy_n(row, d, row + c * d);
    }
  });
}

void add(const OpContext& ctx, const float* x, int64_t n, float* y) {
  const auto kernel = ctx.k->add;
  split_items(ctx, n, 1, [&](int64_t b, int64_t e) { kernel(x + b, e - b, y + b); });
}

void add_broadcast(const OpContext& ctx, const float* x, int64_t n, int64_t copies, int64_t d, float* y) {
  TACHYON_CHECK(copies > 0 && d >= 0, "add_broadcast: bad shape");
  const auto kernel = ctx.k->add;
  split_items(ctx, n, copies * d, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t c = 0; c < copies; ++c) kernel(x + t * d, d, y + (t * copies + c) * d);
  });
}

void scale(const OpContext& ctx, float* x, int64_t n, float a) {
  const auto kernel = ctx.k->scale;
  split_items(ctx, n, 1, [&](int64_t b, int64_t e) { kernel(x + b, e - b, a); });
}

void gather_rows(const OpContext& ctx, const float* x, int64_t d, std::span<const int64_t> rows, float* out) {
  for (int64_t r : rows) TACHYON_CHECK(r >= 0, "gather_rows: negative row");
  split_items(ctx, int64_t(rows.size()), d, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) std::copy_n(x + rows[size_t(i)] * d, d, out + i * d);
  });
}

void scatter_add_rows(const OpContext& ctx, const float* y, int64_t d, std::span<const int64_t> rows, float* out) {
  // One pass in list order (rows may repeat); the columns split across threads keep that order.
  for (int64_t r : rows) TACHYON_CHECK(r >= 0, "scatter_add_rows: negative row");
  const auto kernel = ctx.k->add;
  const int64_t n = int64_t(rows.size());
  constexpr int64_t kCols = 64;  // columns per unit (whole vectors)
  split_items(ctx, (d + kCols - 1) / kCols, n * kCols, [&](int64_t u0, int64_t u1) {
    const int64_t c0 = u0 * kCols, c1 = std::min(d, u1 * kCols);
    for (int64_t i = 0; i < n; ++i) kernel(y + i * d + c0, c1 - c0, out + rows[size_t(i)] * d + c0);
  });
}

}  // namespace tachyon::ops
