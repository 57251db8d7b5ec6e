// The fast numerics' repacked weights (repack.h) on the golden tiny-flash checkpoint: every FP8 linear,
// the compressors' projections and the head get int8 rows and every FP4 expert regrouped codes; their
// memory is what the tensor listing predicts (what inspect and bench report), each int8-row matrix
// multiplies within its rounding bound of the FP8/BF16 original (FP4 ones give the same sums), and the
// forward pass that reads them stays batch invariant bit for bit. Needs a kernel set with integer dot products
// (avx512-vnni); elsewhere the tests say so and skip.
#include <bit>
#include <cmath>
#include <optional>
#include <random>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/kernel_table.h"
#include "golden_util.h"
#include "model/deepseek_v4/layers.h"
#include "model/deepseek_v4/repack.h"

namespace tachyon::dsv4::golden {
namespace {

// A context with the integer kernels and the fast numerics, or none on this CPU.
std::optional<ModelContext> fast_ctx(const ThreadPool& pool) {
  if (!cpu::isa_supported(cpu::Isa::kAvx512Vnni, cpu::detect_cpu_features())) return std::nullopt;
  ModelContext c;
  c.ops = ops::OpContext::make(pool, cpu::Isa::kAvx512Vnni);
  c.numerics = Numerics::fast();
  return c;
}

TEST(RepackInt8, EveryFp8LinearAndTheHeadGetRowsOfThePredictedSize) {
  const ThreadPool pool(2);
  const auto ctx = fast_ctx(pool);
  if (!ctx) GTEST_SKIP() << "this CPU runs no integer dot-product kernel set (avx512-vnni)";
  auto ck = load_checkpoint(kModelDir);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  Checkpoint& c = **ck;
  EXPECT_TRUE(wants_int8_rows(*ctx));
  const int64_t bytes = repack_int8(c, ctx->ops);
  EXPECT_EQ(bytes, int8_repack_bytes(c.config));
  EXPECT_EQ(repack_int8(c, ctx->ops), bytes) << "a second call adds nothing";
  ASSERT_NE(c.weights.head_i8, nullptr);
  int fp8 = 0, fp4 = 0;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for_each_tensor(c.config, &c.weights, [&](TensorSlot& s) {
    if (!s.linear || s.role != TensorRole::kWeight) return;
    const Linear& l = *s.linear;
    ASSERT_NE(l.i8, nullptr) << s.name;
    std::vector<float> x(size_t(l.k)), y8(size_t(l.n)), yq(size_t(l.n));
    for (auto& v : x) v = nd(rng);
    WeightView q = view(l);
    q.fmt = l.i8->fmt;
    q.data = l.i8->codes();
    q.scale = l.i8->scales();
    cpu::ref::linear(x.data(), 1, view(l), y8.data(), 0, l.n);
    cpu::ref::linear(x.data(), 1, q, yq.data(), 0, l.n);
    if (l.fmt == WFormat::kFP4) {  // regrouped codes, the same values: the same sums bit for bit
      ++fp4;
      ASSERT_EQ(l.i8->fmt, WFormat::kFP4G) << s.name;
      ASSERT_EQ(q.scale, view(l).scale) << "the checkpoint's scales";
      for (int64_t r = 0; r < l.n; ++r) ASSERT_EQ(yq[size_t(r)], y8[size_t(r)]) << s.name << " row " << r;
      return;
    }
    ASSERT_TRUE(l.fmt == WFormat::kFP8 || l.fmt == WFormat::kBF16) << s.name;
    ASSERT_EQ(l.i8->fmt, WFormat::kI8) << s.name;
    fp8 += l.fmt == WFormat::kFP8;
    // y over the int8 rows (the fp32 reference reads them) against y over the original: each weight
    // moved by at most half its group's step 2^e, so |dy| <= sum_j |x_j| 2^e / 2.
    const int64_t nb = l.i8->kp / 32;
    for (int64_t r = 0; r < l.n; ++r) {
      double bound = 0;
      for (int64_t j = 0; j < l.k; ++j) bound += std::fabs(x[size_t(j)]) * std::ldexp(0.5, int(l.i8->scales()[r * nb + j / 32]) - 127);
      ASSERT_LE(std::fabs(double(yq[size_t(r)]) - y8[size_t(r)]), bound + 1e-5 * (std::fabs(y8[size_t(r)]) + 1)) << s.name << " row " << r;
    }
  });
  EXPECT_GT(fp8, 0);
  EXPECT_GT(fp4, 0);
}

TEST(RepackInt8, ForwardOverInt8RowsIsBatchInvariant) {
  const ThreadPool one(1);
  const auto ctx1 = fast_ctx(one);
  if (!ctx1) GTEST_SKIP() << "this CPU runs no integer dot-product kernel set (avx512-vnni)";
  auto ck = load_checkpoint(kModelDir);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  repack_int8(**ck, ctx1->ops);
  Golden golden;
  const int64_t V = (*ck)->config.vocab_size;
  std::vector<std::vector<int32_t>> toks;
  for (int s = 0; s < 3; ++s) {
    auto t = golden.tokens(s);
    t.resize(std::min<size_t>(t.size(), 40));
    toks.push_back(t);
  }
  Model model(**ck);
  std::vector<std::vector<float>> alone;
  for (int s = 0; s < 3; ++s) {
    SequenceState st = model.pools().new_sequence();
    SeqInput in{&st, toks[size_t(s)], true};
    ForwardOutput out;
    model.forward(*ctx1, {&in, 1}, out);
    alone.push_back(out.logits);
    model.pools().release(st);
  }
  const ThreadPool pool(3);
  const ModelContext ctx = *fast_ctx(pool);
  std::vector<SequenceState> st;
  for (int s = 0; s < 3; ++s) st.push_back(model.pools().new_sequence());
  const std::vector<std::vector<int64_t>> steps = {{7, 1, 20}, {1, 1, 1}, {12, 30, 1}, {1, 0, 17}, {19, 8, 1}};
  run_schedule(model, ctx, st, toks, steps, [&](int s, int64_t first, const float* got, int64_t n) {
    const float* want = alone[size_t(s)].data() + first * V;
    for (int64_t i = 0; i < n * V; ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i])) << "seq" << s << " token " << first + i / V;
  });
  for (auto& x : st) model.pools().release(x);
}

}  // namespace
}  // namespace tachyon::dsv4::golden
