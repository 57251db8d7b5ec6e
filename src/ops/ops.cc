#include "ops/ops.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/check.h"

namespace tachyon::ops {

OpContext OpContext::make(const ThreadPool& pool, bool allow_fast) {
  return make(pool, allow_fast ? cpu::best_isa(cpu::detect_cpu_features()) : cpu::Isa::kScalar);
}

OpContext OpContext::make(const ThreadPool& pool, cpu::Isa isa) {
  OpContext c;
  c.pool = &pool;
  c.k = &cpu::kernel_table(isa);
  return c;
}

void linear(const OpContext& ctx, const float* x, int64_t m, const WeightView& w, float* y) {
  TACHYON_CHECK(w.data != nullptr && w.n > 0 && w.k > 0, "linear: empty weight");
  TACHYON_CHECK(w.fmt != WFormat::kFP4 || w.k % 32 == 0, "linear: FP4 needs k % 32 == 0");
  TACHYON_CHECK((w.fmt != WFormat::kFP8 && w.fmt != WFormat::kFP4) || w.scale != nullptr, "linear: missing scale");
  TACHYON_CHECK(w.fmt != WFormat::kI8 && w.fmt != WFormat::kFP4G,
                "linear: repacked weights need int8 activations (QuantizedActs)");
  if (m <= 0) return;
  // Split output features across threads in groups of 8 rows (whole register tiles). A chunk holds at
  // least 16K multiply-adds (a few microseconds at one token), several times what a hand-off costs
  // (about 2 us), so the small layers of a small model are split too.
  constexpr int64_t kGroup = 8, kMinChunkMacs = int64_t(1) << 14;
  const int64_t groups = (w.n + kGroup - 1) / kGroup;
  const int64_t grain = std::max<int64_t>(1, kMinChunkMacs / std::max<int64_t>(1, kGroup * w.k * m));
  const auto kernel = ctx.k->linear;
  auto body = [&](int64_t g0, int64_t g1) {
    const int64_t b = g0 * kGroup, e = std::min(w.n, g1 * kGroup);
    kernel(x, m, w, y, b, e);
  };
  if (ctx.pool) ctx.pool->parallel_for(groups, grain, body);
  else body(0, groups);
}

namespace {
bool use_i8(const OpContext& ctx, const WeightView& w) {
  return w.fmt == WFormat::kI8 || w.fmt == WFormat::kFP4G || (ctx.k->native_i8 && w.fmt == WFormat::kFP4);
}
}  // namespace

void quantize_acts(const OpContext& ctx, const float* x, int64_t m, int64_t k, QuantizedActs* out, unsigned layouts) {
  TACHYON_CHECK(m >= 0 && k > 0, "quantize_acts: bad shape");
  const int64_t kp = cpu::i8_padded(k), nb = kp / cpu::kI8Block;
  std::vector<int8_t> q(size_t(m * kp));
  std::vector<float> s(size_t(m * nb));
  ctx.k->quantize_i8(x, m, k, q.data(), s.data());
  out->m = m;
  out->k = k;
  if ((layouts & kActFp4) && ctx.k->native_i8) cpu::ref::pack_i8(q.data(), s.data(), m, k, &out->packed);
  else out->packed = cpu::PackedI8{};
  if (layouts & kActRows) cpu::ref::pack_i8_rows(q.data(), s.data(), m, k, &out->rows);
  else out->rows = cpu::PackedI8Rows{};
}

void pack_weight_fp4g(const OpContext& ctx, const WeightView& w, uint8_t* codes) {
  TACHYON_CHECK(w.fmt == WFormat::kFP4 && w.k % 32 == 0, "pack_weight_fp4g: FP4 weights only");
  TACHYON_CHECK(w.data != nullptr && w.n > 0 && w.row0 == 0, "pack_weight_fp4g: a whole, non-empty matrix");
  auto body = [&](int64_t r0, int64_t r1) { cpu::ref::pack_weight_fp4g(w, r0, r1, codes); };
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / w.k);
  if (ctx.pool) ctx.pool->parallel_for(w.n, grain, body);
  else body(0, w.n);
}

void pack_weight_i8(const OpContext& ctx, const WeightView& w, uint8_t* codes, uint8_t* scales) {
  TACHYON_CHECK(w.fmt == WFormat::kFP8 || w.fmt == WFormat::kBF16, "pack_weight_i8: FP8 or BF16 weights only");
  TACHYON_CHECK(w.data != nullptr && w.n > 0 && w.k > 0 && w.row0 == 0, "pack_weight_i8: a whole, non-empty matrix");
  TACHYON_CHECK(w.fmt != WFormat::kFP8 || (w.scale != nullptr && w.block > 0), "pack_weight_i8: missing scale");
  auto body = [&](int64_t r0, int64_t r1) { cpu::ref::pack_weight_i8(w, r0, r1, codes, scales); };
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / w.k);
  if (ctx.pool) ctx.pool->parallel_for(w.n, grain, body);
  else body(0, w.n);
}

void i8_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k) {
  const int64_t kp = cpu::i8_padded(k), nb = kp / cpu::kI8Block;
  std::vector<int8_t> q(size_t(m * kp));
  std::vector<float> s(size_t(m * nb));
  ctx.k->quantize_i8(x, m, k, q.data(), s.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) x[i * k + j] = float(q[size_t(i * kp + j)]) * s[size_t(i * nb + j / cpu::kI8Block)];
}

void linear(const OpContext& ctx, const QuantizedActs& x, const WeightView& w, float* y) {
  TACHYON_CHECK(x.k == w.k, "linear: the activations and the weight differ in width");
  TACHYON_CHECK(use_i8(ctx, w), "linear: this weight has no integer kernel in this set");
  const LinearJob job{nullptr, x.m, w, y, &x};
  linear_group(ctx, std::span<const LinearJob>(&job, 1));
}

void linear_group(const OpContext& ctx, std::span<const LinearJob> jobs) {
  // Units of 8 rows (whole register tiles) over every job, costed by weight bytes times tokens (plus the
  // bytes alone: a one-token job still streams its weights), then cut into chunks of about equal cost.
  constexpr int64_t kGroup = 8;
  std::vector<int64_t> first_unit(jobs.size() + 1, 0);  // job j's units are [first_unit[j], first_unit[j+1])
  std::vector<double> cost_end;                          // prefix cost at the end of each unit
  double total = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const LinearJob& job = jobs[j];
    TACHYON_CHECK(job.w.data != nullptr && job.w.n > 0 && job.w.k > 0, "linear_group: empty weight");
    TACHYON_CHECK(job.w.fmt != WFormat::kFP4 || job.w.k % 32 == 0, "linear_group: FP4 needs k % 32 == 0");
    TACHYON_CHECK((job.w.fmt != WFormat::kI8 && job.w.fmt != WFormat::kFP4G) ||
                      (job.xq && job.xq->k == job.w.k && job.xq->rows.m == job.m && job.xq->rows.k == job.w.k),
                  "linear_group: repacked weights need int8 activations of their width, in their layout");
    TACHYON_CHECK(job.w.fmt != WFormat::kFP4G || job.w.k % 32 == 0, "linear_group: FP4 needs k % 32 == 0");
    TACHYON_CHECK(!(job.xq && use_i8(ctx, job.w) && job.w.fmt == WFormat::kFP4) ||
                      (job.xq->packed.m == job.m && job.xq->packed.k == job.w.k),
                  "linear_group: the FP4 kernel needs its activation layout");
    TACHYON_CHECK(job.x != nullptr || (job.xq && use_i8(ctx, job.w)) || job.m == 0, "linear_group: no input");
    const int64_t units = job.m > 0 ? (job.w.n + kGroup - 1) / kGroup : 0;
    const double unit_cost = double(kGroup * row_bytes(job.w)) * double(1 + job.m);
    for (int64_t u = 0; u < units; ++u) cost_end.push_back(total += unit_cost);
    first_unit[j + 1] = first_unit[j] + units;
  }
  const int64_t n_units = first_unit.back();
  if (n_units == 0) return;
  const auto kernel = ctx.k->linear;
  // Units [u0, u1) in job order, each job's share as one contiguous row range.
  auto run_units = [&](int64_t u0, int64_t u1) {
    for (size_t j = 0; j < jobs.size() && u0 < u1; ++j) {
      const int64_t b = std::max(u0, first_unit[j]), e = std::min(u1, first_unit[j + 1]);
      if (b >= e) continue;
      const LinearJob& job = jobs[j];
      const int64_t r0 = (b - first_unit[j]) * kGroup, r1 = std::min(job.w.n, (e - first_unit[j]) * kGroup);
      if (job.w.fmt == WFormat::kI8) ctx.k->linear_i8_i8(job.xq->rows, job.w, job.y, r0, r1);
      else if (job.w.fmt == WFormat::kFP4G) ctx.k->linear_i8_fp4g(job.xq->rows, job.w, job.y, r0, r1);
      else if (job.xq && use_i8(ctx, job.w)) ctx.k->linear_i8_fp4(job.xq->packed, job.w, job.y, r0, r1);
      else kernel(job.x, job.m, job.w, job.y, r0, r1);
    }
  };
  const int threads = ctx.pool ? ctx.pool->size() : 1;
  const double min_chunk = double(int64_t(1) << 13);  // bytes x (1 + tokens) worth a hand-off
  const int64_t chunks = std::min<int64_t>({int64_t(threads) * (threads > 1 ? 4 : 1), n_units,
                                            std::max<int64_t>(1, int64_t(total / min_chunk))});
  if (chunks <= 1 || !ctx.pool) {
    run_units(0, n_units);
    return;
  }
  // Chunk c ends at the first unit whose prefix cost reaches (c + 1) / chunks of the total.
  std::vector<int64_t> bounds(size_t(chunks) + 1, 0);
  for (int64_t c = 1; c < chunks; ++c) {
    const double target = total * double(c) / double(chunks);
    bounds[size_t(c)] = int64_t(std::lower_bound(cost_end.begin(), cost_end.end(), target) - cost_end.begin()) + 1;
    bounds[size_t(c)] = std::clamp(bounds[size_t(c)], bounds[size_t(c) - 1], n_units);
  }
  bounds[size_t(chunks)] = n_units;
  ctx.pool->run_chunks(chunks, [&](int64_t c) { run_units(bounds[size_t(c)], bounds[size_t(c) + 1]); });
}

namespace {
// Row-parallel driver for the in-place fake-quant kernels (rows are independent, results are bit-exact
// whichever kernel or split runs them).
using FakeQuant = void (*)(float* x, int64_t m, int64_t k, int64_t stride, int64_t block);
void fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block,
                FakeQuant kernel) {
  TACHYON_CHECK(block > 0 && stride >= k);
  if (m <= 0 || k <= 0) return;
  auto body = [&](int64_t b, int64_t e) { kernel(x + b * stride, e - b, k, stride, block); };
  const int64_t grain = std::max<int64_t>(1, 65536 / k);
  if (ctx.pool) ctx.pool->parallel_for(m, grain, body);
  else body(0, m);
}
}  // namespace

void fp8_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  fake_quant(ctx, x, m, k, stride, block, ctx.k->fp8_fake_quant);
}

void fp4_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block) {
  fake_quant(ctx, x, m, k, stride, block, ctx.k->fp4_fake_quant);
}

void rmsnorm(const OpContext& ctx, const float* x, const uint16_t* w, int64_t m, int64_t d, float eps, float* y) {
  ctx.k->rmsnorm(x, w, m, d, eps, y);
}

float quantize_i8(const float* x, int64_t k, int64_t kp, int8_t* q) {
  TACHYON_CHECK(k >= 0 && kp >= k, "quantize_i8: kp must be at least k");
  float amax = 0;
  for (int64_t j = 0; j < k; ++j) amax = std::max(amax, std::fabs(x[j]));
  std::fill(q, q + kp, int8_t(0));
  if (amax == 0) return 0;
  const float scale = amax / 127.0f;
  for (int64_t j = 0; j < k; ++j) q[j] = int8_t(std::clamp(std::nearbyint(x[j] / scale), -127.0f, 127.0f));
  return scale;
}

void dot_i8(const OpContext& ctx, const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t n_out, int32_t* out) {
  TACHYON_CHECK(k > 0 && k % 32 == 0 && k < (int64_t(1) << 31) / (127 * 127), "dot_i8: bad k");
  TACHYON_CHECK(m >= 1, "dot_i8: no query");
  const auto kernel = ctx.k->dot_i8;
  auto body = [&](int64_t b, int64_t e) { kernel(x, m, w + b * k, k, e - b, out + b, n_out); };
  const int64_t grain = std::max<int64_t>(4, (int64_t(1) << 16) / k);
  if (ctx.pool) ctx.pool->parallel_for(n_out, grain, body);
  else body(0, n_out);
}

void dot_f64(const OpContext& ctx, const float* a, const float* w, int64_t n, int64_t n_out, double* out) {
  ctx.k->dot_f64(a, w, n, n_out, out);
}

void rope(float* x, int64_t dim, const float* cs, bool inverse) {
  TACHYON_CHECK(dim % 2 == 0);
  cpu::ref::rope(x, dim, cs, inverse);
}

void hadamard(float* x, int64_t n) {
  TACHYON_CHECK(n > 0 && (n & (n - 1)) == 0, "hadamard: n must be a power of two");
  cpu::ref::hadamard(x, n);
}

void decode_fp4_row(const uint8_t* row, int64_t d, float* out) {
  cpu::ref::decode_fp4_row(row, d, out);
}

void topk(const float* scores, int64_t n, int64_t k, int32_t* out) { cpu::ref::topk(scores, n, k, out); }

void attention_sink(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* const* keys,
                    int64_t n_keys, const float* sink, float scale, float* out) {
  if (n_heads <= 0) return;
  // Units of two heads (the kernel runs heads in pairs that share each key load), split across threads
  // once a unit's work (two passes over n_keys * d per head) is worth a fork.
  const int64_t units = (n_heads + 1) / 2;
  auto body = [&](int64_t b, int64_t e) {
    ctx.k->attention_sink(q, d, keys, n_keys, sink, scale, out, 2 * b, std::min(n_heads, 2 * e));
  };
  const int64_t per_unit = std::max<int64_t>(1, 2 * n_keys * d);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / per_unit);
  if (ctx.pool) ctx.pool->parallel_for(units, grain, body);
  else body(0, units);
}

namespace {
// Indexer scores of n_keys keys of type K, in groups of eight keys split across
// threads once a share is worth a fork (each key is n_heads * d multiply-adds); every key's result is
// the same however the groups fall. FP4 shares are at least eight groups, so that the kernel's integer
// path (which first converts the query) applies to each.
template <typename K>
void indexer_scores_split(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* w,
                          const K* const* keys, int64_t n_keys, float* out) {
  const int64_t groups = (n_keys + 7) / 8;
  const int64_t per_group = std::max<int64_t>(1, 8 * n_heads * d);
  const int64_t min_grain = std::is_same_v<K, float> ? 1 : 8;
  const int64_t grain = std::max<int64_t>(min_grain, (int64_t(1) << 16) / per_group);
  auto body = [&](int64_t b, int64_t e) {
    if constexpr (std::is_same_v<K, float>)
      ctx.k->indexer_scores(q, n_heads, d, w, keys, out, b * 8, std::min(n_keys, e * 8));
    else
      ctx.k->indexer_scores_fp4(q, n_heads, d, w, keys, out, b * 8, std::min(n_keys, e * 8));
  };
  if (ctx.pool) ctx.pool->parallel_for(groups, grain, body);
  else body(0, groups);
}
}  // namespace

void indexer_scores(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* w,
                    const float* const* keys, int64_t n_keys, float* out) {
  if (n_keys <= 0) return;
  indexer_scores_split(ctx, q, n_heads, d, w, keys, n_keys, out);
}

void indexer_scores_fp4(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* w,
                        const uint8_t* const* keys, int64_t n_keys, float* out) {
  TACHYON_CHECK(d % 32 == 0, "indexer_scores_fp4: d must be a multiple of 32");
  if (n_keys <= 0) return;
  indexer_scores_split(ctx, q, n_heads, d, w, keys, n_keys, out);
}

void decode_fp8(const OpContext& ctx, const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t block,
                float* out) {
  TACHYON_CHECK(block > 0, "decode_fp8: block must be positive");
  ctx.k->decode_fp8(codes, scales, n, block, out);
}

void hc_split_sinkhorn(const float* mixes, const float* scale3, const float* base, int hc, int iters, float eps,
                       float* pre, float* post, float* comb) {
  cpu::ref::hc_split_sinkhorn(mixes, scale3, base, hc, iters, eps, pre, post, comb);
}

}  // namespace tachyon::ops
