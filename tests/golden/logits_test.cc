// Logits and MTP logits against the official reference (golden README "Suggested tolerances"):
//   exact numerics vs `identity`: max_abs <= 1e-4, rel_l2 <= 1e-5, top-1 100 % on every sequence;
//   official numerics vs `emulate`: seq0 max_abs <= 1e-3 and top-1 100 %; seq1/seq2 rel_l2 <= 0.05 and
//   top-1 >= 95 % (FP8 rounding flips make only a statistical criterion meaningful there).
// Every variant of prefill chunking / decode split must meet the same bar, and a batch of all
// sequences must give what each gives alone.
#include <array>
#include <memory>

#include "golden_util.h"

namespace tachyon::dsv4::golden {
namespace {

struct Env {
  std::unique_ptr<Checkpoint> ck;
  Golden golden;
  ThreadPool pool{2};
  Env() {
    auto r = load_checkpoint(kModelDir);
    if (!r.is_ok()) throw std::runtime_error(r.status().message());
    ck = std::move(r).value();
  }
  ModelContext ctx(bool exact) {
    ModelContext c;
    c.ops = ops::OpContext::make(pool, golden_isa());
    c.numerics = exact ? Numerics::exact() : Numerics::official();
    return c;
  }
};

Env& env() {
  static Env e;
  return e;
}

struct Case {
  int seq;
  bool exact;
  ScoringPlan plan;
  std::string name;
};

void check(const Case& c) {
  Env& e = env();
  Model model(*e.ck);
  const auto tokens = e.golden.tokens(c.seq);
  const int64_t n = int64_t(tokens.size()), V = e.ck->config.vocab_size;
  ScoringPlan plan = c.plan;
  plan.mtp = !c.exact;
  ScoringResult r = score_tokens(model, e.ctx(c.exact), tokens, plan);
  const std::string pre = "seq" + std::to_string(c.seq) + (c.exact ? ".identity" : ".emulate");
  auto want = e.golden.floats(pre + ".logits");
  ASSERT_EQ(r.logits.size(), size_t(n * V));
  Metrics m = compare(r.logits.data(), want.data(), n, V);
  SCOPED_TRACE(c.name);
  if (c.exact) {
    EXPECT_LE(m.max_abs, 1e-4);
    EXPECT_LE(m.rel_l2, 1e-5);
    EXPECT_EQ(m.top1, 1.0);
  } else if (c.seq == 0) {
    EXPECT_LE(m.max_abs, 1e-3);
    EXPECT_EQ(m.top1, 1.0);
  } else {
    EXPECT_LE(m.rel_l2, 0.05);
    EXPECT_GE(m.top1, 0.95);
  }
  std::printf("[%s] logits max_abs %.3g rel_l2 %.3g top1 %.4f\n", c.name.c_str(), m.max_abs, m.rel_l2, m.top1);
  if (!c.exact) {
    auto want_mtp = e.golden.floats(pre + ".mtp_logits");
    ASSERT_EQ(r.mtp_logits.size(), size_t((n - 1) * V));
    Metrics mm = compare(r.mtp_logits.data(), want_mtp.data(), n - 1, V);
    if (c.seq == 0) {
      EXPECT_LE(mm.max_abs, 1e-3);
      EXPECT_EQ(mm.top1, 1.0);
    } else {
      EXPECT_LE(mm.rel_l2, 0.05);
      EXPECT_GE(mm.top1, 0.95);
    }
    std::printf("[%s] mtp max_abs %.3g rel_l2 %.3g top1 %.4f\n", c.name.c_str(), mm.max_abs, mm.rel_l2, mm.top1);
  }
}

class GoldenLogits : public ::testing::TestWithParam<Case> {};
TEST_P(GoldenLogits, MatchesReference) { check(GetParam()); }

std::vector<Case> cases() {
  std::vector<Case> v;
  for (int s = 0; s < 3; ++s)
    for (bool exact : {true, false})
      v.push_back({s, exact, {}, "seq" + std::to_string(s) + (exact ? "_exact" : "_official") + "_prefill"});
  // Chunked prefill and prefill-then-decode variants, across window wrap and compressor boundaries.
  v.push_back({0, true, {0, 1, false}, "seq0_exact_decode_from_1"});
  v.push_back({0, false, {0, 1, false}, "seq0_official_decode_from_1"});
  v.push_back({1, true, {7, 64, false}, "seq1_exact_chunk7_decode_from_64"});
  v.push_back({1, false, {0, 64, false}, "seq1_official_decode_from_64"});
  v.push_back({2, true, {100, 137, false}, "seq2_exact_chunk100_decode_from_137"});
  v.push_back({2, true, {33, -1, false}, "seq2_exact_chunk33"});
  v.push_back({2, false, {129, 300, false}, "seq2_official_chunk129_decode_from_300"});
  return v;
}

INSTANTIATE_TEST_SUITE_P(TinyFlash, GoldenLogits, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

// All golden sequences in one batch give the same logits as each alone.
TEST(GoldenBatch, BatchEqualsSingle) {
  Env& e = env();
  for (bool exact : {true, false}) {
    ModelContext ctx = e.ctx(exact);
    const int64_t V = e.ck->config.vocab_size;
    Model model(*e.ck);
    std::vector<std::vector<int32_t>> toks;
    std::vector<SequenceState> states;
    for (int s = 0; s < 3; ++s) {
      toks.push_back(e.golden.tokens(s));
      states.push_back(model.pools().new_sequence());
    }
    std::vector<SeqInput> batch;
    for (int s = 0; s < 3; ++s) batch.push_back({&states[size_t(s)], toks[size_t(s)], true});
    ForwardOutput out;
    model.forward(ctx, batch, out);
    int64_t row = 0;
    for (int s = 0; s < 3; ++s) {
      ScoringResult alone = score_tokens(model, ctx, toks[size_t(s)], {});
      const int64_t n = int64_t(toks[size_t(s)].size());
      Metrics m = compare(out.logits.data() + row * V, alone.logits.data(), n, V);
      EXPECT_LE(m.max_abs, 1e-5) << "seq" << s << (exact ? " exact" : " official");
      row += n;
    }
    for (auto& st : states) model.pools().release(st);
  }
}

}  // namespace
}  // namespace tachyon::dsv4::golden

namespace tachyon::dsv4::golden {
namespace {

// One forward call over sequences at different positions and with different numbers of new tokens
// (a decode step beside prefill chunks) gives each sequence the logits it gets alone.
TEST(GoldenBatch, MixedPositionsEqualSingle) {
  Env& e = env();
  ModelContext ctx = e.ctx(true);
  const int64_t V = e.ck->config.vocab_size;
  Model model(*e.ck);
  std::vector<std::vector<int32_t>> toks;
  for (int s = 0; s < 3; ++s) toks.push_back(e.golden.tokens(s));
  std::vector<std::vector<float>> alone;
  for (int s = 0; s < 3; ++s) alone.push_back(score_tokens(model, ctx, toks[size_t(s)], {}).logits);
  std::vector<SequenceState> st(3);
  for (auto& s : st) s = model.pools().new_sequence();
  // Schedule: per step, how many new tokens each sequence takes (0 = not in this batch).
  const std::vector<std::vector<int64_t>> steps = {{5, 100, 130}, {1, 1, 200}, {3, 49, 1}, {0, 0, 69}};
  const auto done = run_schedule(model, ctx, st, toks, steps, [&](int s, int64_t first, const float* got, int64_t n) {
    Metrics m = compare(got, alone[size_t(s)].data() + first * V, n, V);
    EXPECT_LE(m.max_abs, 1e-5) << "seq" << s << " at " << first;
  });
  for (int s = 0; s < 3; ++s) EXPECT_EQ(done[size_t(s)], int64_t(toks[size_t(s)].size()));
  for (auto& s : st) model.pools().release(s);
  EXPECT_EQ(model.pools().bytes_in_use(), 0);
}

}  // namespace
}  // namespace tachyon::dsv4::golden
