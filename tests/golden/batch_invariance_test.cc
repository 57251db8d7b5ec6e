// Batch invariance of the whole forward pass, bit for bit: on the golden tiny-flash checkpoint, a
// sequence's logits are identical whether it runs alone (one prefill) or batched with other sequences at
// other positions, in uneven chunks and single-token steps, with any thread count, in both numeric modes.
// Continuous batching and the prefix cache rely on this: a request's tokens must not depend on what else
// the server was running.
#include <array>
#include <bit>
#include <memory>

#include "golden_util.h"

namespace tachyon::dsv4::golden {
namespace {

TEST(BatchInvariance, MixedScheduleGivesBitIdenticalLogits) {
  auto ck = load_checkpoint(kModelDir);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  Golden golden;
  const int64_t V = (*ck)->config.vocab_size;
  std::vector<std::vector<int32_t>> toks;
  for (int s = 0; s < 3; ++s) {
    auto t = golden.tokens(s);
    t.resize(std::min<size_t>(t.size(), 40));  // enough for several compressed blocks, kept short
    toks.push_back(t);
  }
  for (bool exact : {false, true}) {
    const ThreadPool one(1);
    Model model(**ck);
    std::vector<std::vector<float>> alone;  // [n, V] each, one prefill, one thread
    for (int s = 0; s < 3; ++s) {
      SequenceState st = model.pools().new_sequence();
      SeqInput in{&st, toks[size_t(s)], true};
      ForwardOutput out;
      model.forward(make_ctx(one, exact), {&in, 1}, out);
      alone.push_back(out.logits);
      model.pools().release(st);
    }
    for (int threads : {1, 3}) {
      const ThreadPool pool(threads);
      const ModelContext ctx = make_ctx(pool, exact);
      std::vector<SequenceState> st;
      for (int s = 0; s < 3; ++s) st.push_back(model.pools().new_sequence());
      // Per step, the new tokens each sequence brings (0: not in this batch).
      const std::vector<std::vector<int64_t>> steps = {{7, 1, 20}, {1, 1, 1}, {12, 30, 1}, {1, 0, 17},
                                                       {19, 8, 1}, {0, 0, 0}};
      const auto done = run_schedule(model, ctx, st, toks, steps, [&](int s, int64_t first, const float* got, int64_t n) {
        const float* want = alone[size_t(s)].data() + first * V;
        for (int64_t i = 0; i < n * V; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
              << (exact ? "exact" : "official") << " threads " << threads << " seq" << s << " token " << first + i / V;
      });
      if (::testing::Test::HasFatalFailure()) return;
      for (int s = 0; s < 3; ++s) EXPECT_EQ(done[size_t(s)], int64_t(toks[size_t(s)].size()));
      for (auto& x : st) model.pools().release(x);
    }
  }
}

}  // namespace
}  // namespace tachyon::dsv4::golden
