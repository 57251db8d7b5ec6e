// Prefix-cache snapshots on the golden checkpoint: a sequence restored from a snapshot computes
// bit-for-bit the logits of an uncached run, in both numeric modes, while the sequence that made the
// snapshot goes on undisturbed; every block returns when all are released.
#include <array>
#include <cstring>

#include <gtest/gtest.h>

#include "golden_util.h"
#include "model/deepseek_v4/scoring.h"

namespace tachyon::dsv4::golden {
namespace {

ModelContext make_ctx(ThreadPool& pool, bool exact) {
  ModelContext c;
  c.ops = ops::OpContext::make(pool);
  c.numerics = exact ? Numerics::exact() : Numerics::official();
  return c;
}

// Feeds tokens [from, to) to `s` in chunks of `chunk`; returns their logits [to - from, V].
std::vector<float> feed(Model& m, const ModelContext& ctx, SequenceState& s, const std::vector<int32_t>& toks,
                        int64_t from, int64_t to, int64_t chunk) {
  std::vector<float> logits;
  for (int64_t a = from; a < to; a += chunk) {
    const int64_t n = std::min(chunk, to - a);
    SeqInput in{&s, std::span<const int32_t>(toks.data() + a, size_t(n)), true};
    ForwardOutput out;
    m.forward(ctx, std::span<const SeqInput>(&in, 1), out);
    logits.insert(logits.end(), out.logits.begin(), out.logits.end());
  }
  return logits;
}

bool bitwise_equal(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

class PrefixSnapshot : public ::testing::TestWithParam<bool> {};

TEST_P(PrefixSnapshot, RestoredSequenceMatchesUncachedRunBitForBit) {
  const bool exact = GetParam();
  auto ck = load_checkpoint(kModelDir);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  ThreadPool pool(2);
  const ModelContext ctx = make_ctx(pool, exact);
  Model model(**ck);
  CachePools& pools = model.pools();
  const int64_t V = (*ck)->config.vocab_size;
  std::vector<int32_t> toks = Golden().tokens(2);
  toks.resize(300);
  const int64_t n = int64_t(toks.size());
  ASSERT_EQ(pools.snapshot_granularity(), 128);

  // Uncached reference: the whole sequence in chunks of 64.
  SequenceState ref = pools.new_sequence();
  const std::vector<float> want = feed(model, ctx, ref, toks, 0, n, 64);
  pools.release(ref);

  // (snapshot position, chunk of the capturing run, where that run stops)
  const std::vector<std::array<int64_t, 3>> runs = {{128, 1, 140}, {256, 97, n}};
  for (const auto& [P, chunk, stop] : runs) {
    {
      SCOPED_TRACE("snapshot at " + std::to_string(P) + ", capture chunk " + std::to_string(chunk));
      // The capturing sequence passes P inside a chunk and keeps going.
      SequenceState a = pools.new_sequence();
      Snapshot snap = pools.new_snapshot(P);
      a.capture = &snap;
      const std::vector<float> got_a = feed(model, ctx, a, toks, 0, stop, chunk);
      a.capture = nullptr;
      ASSERT_TRUE(pools.snapshot_complete(snap, false));
      EXPECT_TRUE(bitwise_equal(got_a.data(), want.data(), size_t(stop * V)));
      pools.release(a);  // the snapshot alone keeps its blocks
      EXPECT_GT(pools.snapshot_only_bytes(), 0);

      // Two sequences restored from it, fed differently, both match the uncached run.
      for (const int64_t rest_chunk : {int64_t(1), int64_t(500)}) {
        SequenceState b = pools.new_sequence();
        pools.restore(b, snap);
        EXPECT_EQ(b.pos, P);
        const int64_t to = rest_chunk == 1 ? std::min<int64_t>(n, P + 8) : n;
        const std::vector<float> got_b = feed(model, ctx, b, toks, P, to, rest_chunk);
        EXPECT_TRUE(bitwise_equal(got_b.data(), want.data() + P * V, size_t((to - P) * V)));
        pools.release(b);
      }
      pools.release(snap);
      EXPECT_EQ(pools.bytes_in_use(), 0);
      EXPECT_EQ(pools.snapshot_only_bytes(), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Numerics, PrefixSnapshot, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Exact" : "Official"; });

}  // namespace
}  // namespace tachyon::dsv4::golden
