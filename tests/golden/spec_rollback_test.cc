// Speculative rollback on the golden checkpoint: a sequence fed k+1 tokens at once (some of them wrong)
// and rolled back to the accepted ones computes, from then on, bit-for-bit the logits of a plain run, in
// both numeric modes, for the main model and for the MTP layer. The steps cross window-block,
// CSA-block and HCA-block (128) boundaries, so rolled-back compressor states, trimmed windows and
// compressed entries written in a rejected span are all exercised.
#include <cstring>

#include <gtest/gtest.h>

#include "golden_util.h"

namespace tachyon::dsv4::golden {
namespace {

bool bitwise_equal(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

struct PlainRun {
  std::vector<float> logits;   // [n, V]
  std::vector<float> mtp;      // [n - 1, V]: row i from position i and token i+1
};

// Plain run: main model in chunks of `chunk`, the MTP layer on each chunk's rows that have a next token.
PlainRun plain(Model& m, const ModelContext& ctx, const std::vector<int32_t>& toks, int64_t chunk) {
  PlainRun r;
  const int64_t n = int64_t(toks.size());
  SequenceState s = m.pools().new_sequence();
  for (int64_t a = 0; a < n; a += chunk) {
    const int64_t e = std::min(n, a + chunk);
    SeqInput in{&s, std::span<const int32_t>(toks.data() + a, size_t(e - a)), true};
    ForwardOutput out;
    m.forward(ctx, std::span<const SeqInput>(&in, 1), out);
    r.logits.insert(r.logits.end(), out.logits.begin(), out.logits.end());
    const int64_t k = std::min(e, n - 1) - a;
    if (k > 0) {
      std::vector<float> ml;
      MtpInput mi{&s, out.final_streams.data(), std::span<const int32_t>(toks.data() + a + 1, size_t(k))};
      m.mtp_forward(ctx, std::span<const MtpInput>(&mi, 1), ml);
      r.mtp.insert(r.mtp.end(), ml.begin(), ml.end());
    }
  }
  m.pools().release(s);
  return r;
}

class SpecRollback : public ::testing::TestWithParam<bool> {};

TEST_P(SpecRollback, RolledBackSequenceMatchesPlainRunBitForBit) {
  const bool exact = GetParam();
  auto ck = load_checkpoint(kModelDir);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  ThreadPool pool(2);
  const ModelContext ctx = make_ctx(pool, exact);
  Model model(**ck);
  CachePools& pools = model.pools();
  const int64_t V = (*ck)->config.vocab_size, hcD = (*ck)->config.hc_mult * (*ck)->config.hidden_size;
  std::vector<int32_t> toks = Golden().tokens(2);
  toks.resize(300);
  const int64_t n = int64_t(toks.size());
  const PlainRun want = plain(model, ctx, toks, 64);
  ASSERT_EQ(pools.bytes_in_use(), 0);

  SequenceState s = pools.new_sequence();
  SpecLog log;
  // Prefill 100 tokens (main and MTP), plainly.
  int64_t p = 100;
  {
    SeqInput in{&s, std::span<const int32_t>(toks.data(), size_t(p)), false};
    ForwardOutput out;
    model.forward(ctx, std::span<const SeqInput>(&in, 1), out);
    std::vector<float> ml;
    MtpInput mi{&s, out.final_streams.data(), std::span<const int32_t>(toks.data() + 1, size_t(p))};
    model.mtp_forward(ctx, std::span<const MtpInput>(&mi, 1), ml);
  }
  // Then speculative steps: feed [toks[p], k drafts], keep `accept` of the k+1 positions (0..k+1; the
  // drafts past the accepted ones are wrong tokens), roll back, and check the kept rows.
  const int64_t pattern[][2] = {{3, 2}, {3, 4}, {1, 1}, {5, 0}, {4, 3}, {2, 1}, {7, 5}, {3, 3}, {6, 2}};
  int step = 0;
  std::vector<float> ml, mstreams;
  while (p + 8 < n) {
    const auto [k, accept_raw] = pattern[step % std::size(pattern)];
    const int64_t accept = std::min<int64_t>(accept_raw, k + 1);
    ++step;
    SCOPED_TRACE("step at position " + std::to_string(p));
    std::vector<int32_t> feed(toks.begin() + p, toks.begin() + p + k + 1);
    for (int64_t i = accept; i <= k; ++i)
      if (i > 0) feed[size_t(i)] = (toks[size_t(p + i)] + 17 + int32_t(i)) % int32_t(V);  // wrong drafts
    s.spec = &log;
    SeqInput in{&s, feed, true};
    ForwardOutput out;
    model.forward(ctx, std::span<const SeqInput>(&in, 1), out);
    // Rows of correct-prefix positions equal the plain run's (a row depends only on earlier tokens).
    const int64_t good = std::max<int64_t>(accept, 1);
    ASSERT_TRUE(bitwise_equal(out.logits.data(), want.logits.data() + p * V, size_t(good * V)));
    pools.rollback(s, p + accept);
    ASSERT_EQ(s.pos, p + accept);

    // The MTP layer: feed the committed positions (their true next tokens), then a chained
    // speculative draft of two positions on wrong inputs, rolled back.
    s.spec = nullptr;
    if (accept > 0) {
      MtpInput mi{&s, out.final_streams.data(), std::span<const int32_t>(toks.data() + p + 1, size_t(accept))};
      model.mtp_forward(ctx, std::span<const MtpInput>(&mi, 1), ml, &mstreams);
      ASSERT_TRUE(bitwise_equal(ml.data(), want.mtp.data() + p * V, size_t(accept * V)));
    }
    s.spec = &log;
    const int64_t mtp_before = s.mtp_pos;
    for (int d = 0; d < 2; ++d) {
      const int32_t wrong = int32_t((p + d * 5) % V);
      MtpInput mi{&s, mstreams.data(), std::span<const int32_t>(&wrong, 1)};
      std::vector<float> dl, ds;
      model.mtp_forward(ctx, std::span<const MtpInput>(&mi, 1), dl, &ds);
      mstreams.assign(ds.begin(), ds.begin() + hcD);
    }
    pools.rollback(s, mtp_before, true);
    s.spec = nullptr;
    ASSERT_EQ(s.mtp_pos, mtp_before);
    p += accept;
    if (accept == 0) {  // nothing kept: feed toks[p] plainly so the sequence advances
      SeqInput one{&s, std::span<const int32_t>(toks.data() + p, 1), true};
      model.forward(ctx, std::span<const SeqInput>(&one, 1), out);
      ASSERT_TRUE(bitwise_equal(out.logits.data(), want.logits.data() + p * V, size_t(V)));
      MtpInput mi{&s, out.final_streams.data(), std::span<const int32_t>(toks.data() + p + 1, 1)};
      model.mtp_forward(ctx, std::span<const MtpInput>(&mi, 1), ml, &mstreams);
      ASSERT_TRUE(bitwise_equal(ml.data(), want.mtp.data() + p * V, size_t(V)));
      ++p;
    }
  }
  EXPECT_GT(p, 260);
  // The rest plainly, in one chunk: still bit-identical.
  SeqInput in{&s, std::span<const int32_t>(toks.data() + p, size_t(n - p)), true};
  ForwardOutput out;
  model.forward(ctx, std::span<const SeqInput>(&in, 1), out);
  EXPECT_TRUE(bitwise_equal(out.logits.data(), want.logits.data() + p * V, size_t((n - p) * V)));
  pools.release(s);
  EXPECT_EQ(pools.bytes_in_use(), 0);
}

INSTANTIATE_TEST_SUITE_P(Numerics, SpecRollback, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Exact" : "Official"; });

}  // namespace
}  // namespace tachyon::dsv4::golden
