// `tachyon bench --speculative-tokens`: run_spec_bench on the trained demo model counts what the engines
// did (decoded tokens, drafts, acceptance) consistently and finds the greedy outputs identical.
#include <gtest/gtest.h>

#include "tools/spec_bench.h"

namespace tachyon::runtime {
namespace {

const std::string kDemo = std::string(TACHYON_TEST_DATA) + "/../../assets/tachyon-demo-v4";

TEST(SpecBench, CountsAgreeAndGreedyOutputsMatch) {
  SpecBenchOptions o;
  o.engine.model_dir = kDemo;
  o.engine.threads = 2;
  o.engine.cache_memory = 64 << 20;
  o.k = 2;
  o.max_tokens = 24;
  o.ignore_eos = true;
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> p = {0};
    for (int k = 0; k < 20 + 9 * i; ++k) p.push_back(300 + (i * 97 + k * 31) % 7000);
    o.prompts.push_back(p);
  }
  auto r = run_spec_bench(o);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->mismatched_prompts, 0);
  for (const SpecRun* run : {&r->plain, &r->spec}) {
    ASSERT_EQ(run->outputs.size(), 3u);
    for (const auto& out : run->outputs) EXPECT_EQ(int64_t(out.size()), o.max_tokens);
    EXPECT_EQ(run->tokens, 3 * (o.max_tokens - 1));  // every token after each request's first
    EXPECT_GT(run->decode_tok_s, 0);
  }
  EXPECT_EQ(r->plain.drafts, 0);
  EXPECT_GT(r->spec.drafts, 0);
  EXPECT_LE(r->spec.draft_tokens, 2 * r->spec.drafts);
  EXPECT_LE(r->spec.accepted_tokens, r->spec.draft_tokens);
  EXPECT_GT(r->spec.accepted_tokens, 0);  // a trained MTP head
  EXPECT_DOUBLE_EQ(r->acceptance_rate, double(r->spec.accepted_tokens) / double(r->spec.draft_tokens));
  EXPECT_DOUBLE_EQ(r->mean_accepted_len, 1.0 + double(r->spec.accepted_tokens) / double(r->spec.drafts));
  EXPECT_DOUBLE_EQ(r->speedup, r->spec.decode_tok_s / r->plain.decode_tok_s);
  // The step profile: one plain decode step per token after the first; a speculative step decodes one
  // token or more and verifies its drafts; only the speculative engine runs MTP passes.
  EXPECT_EQ(r->plain.steps, r->plain.tokens);
  EXPECT_GE(r->spec.steps, r->spec.drafts);
  EXPECT_LT(r->spec.steps, r->spec.tokens);
  EXPECT_EQ(r->plain.mtp_s, 0);
  EXPECT_GT(r->spec.mtp_s, 0);
  for (const SpecRun* run : {&r->plain, &r->spec}) {
    EXPECT_GT(run->forward_s, 0);
    EXPECT_GE(run->step_s, run->forward_s + run->mtp_s);
    double ops = 0;
    for (double v : run->forward_op_s) ops += v;
    EXPECT_GT(ops, 0);
    EXPECT_LE(ops, run->forward_s);
  }
  EXPECT_GT(r->spec.mtp_op_s[size_t(dsv4::OpFamily::kHead)], 0);
}

TEST(SpecBench, RejectsBadOptions) {
  SpecBenchOptions o;
  o.engine.model_dir = kDemo;
  o.k = 0;
  o.prompts = {{0, 5, 6}};
  EXPECT_FALSE(run_spec_bench(o).is_ok());
  o.k = 1;
  o.prompts.clear();
  EXPECT_FALSE(run_spec_bench(o).is_ok());
}

}  // namespace
}  // namespace tachyon::runtime
