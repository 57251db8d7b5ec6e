// Speculative decoding with the MTP module, on the trained demo model: greedy tokens are identical with
// and without speculation (one request at a time, and in a mixed batch with chunked prefills and a
// shared prefix), sampled tokens follow the same distribution (chi-square), a seed reproduces a sampled
// generation, and the acceptance counters move.
#include <chrono>
#include <cmath>
#include <future>
#include <map>
#include <mutex>

#include <gtest/gtest.h>

#include "collector.h"
#include "runtime/engine.h"

namespace tachyon::runtime {
namespace {

const std::string kDemo = std::string(TACHYON_TEST_DATA) + "/../../assets/tachyon-demo-v4";

using test_support::Collected;
using test_support::collect;

std::unique_ptr<Engine> engine(int k, int64_t batched_tokens = 64, bool prefix = true,
                               const std::string& draft_head = "int8") {
  EngineConfig cfg;
  cfg.model_dir = kDemo;
  cfg.threads = 2;
  cfg.cache_memory = 64 << 20;
  cfg.scheduler.max_num_seqs = 32;
  cfg.scheduler.max_num_batched_tokens = batched_tokens;
  cfg.scheduler.max_waiting = 1024;
  cfg.prefix_caching = prefix;
  cfg.speculative_tokens = k;
  cfg.spec_draft_head = draft_head;
  auto e = Engine::create(cfg);
  EXPECT_TRUE(e.is_ok()) << e.status().message();
  return e.is_ok() ? std::move(e).value() : nullptr;
}

std::vector<int32_t> prompt_of(int i, int len) {
  std::vector<int32_t> p = {0};
  for (int k = 0; k < len; ++k) p.push_back(300 + (i * 131 + k * 17) % 7000);
  return p;
}

// Runs the prompts (all at once when `together`, else one after another); returns the tokens.
std::vector<std::vector<int32_t>> run(Engine& e, const std::vector<std::vector<int32_t>>& prompts,
                                      const std::vector<GenerationParams>& params, bool together) {
  std::vector<std::shared_ptr<Collected>> c;
  for (size_t i = 0; i < prompts.size(); ++i) {
    c.push_back(std::make_shared<Collected>());
    auto r = e.submit(prompts[i], params[i], collect(c.back()));
    EXPECT_EQ(r.code, SubmitCode::kOk) << r.message;
    if (!together) {
      EXPECT_TRUE(c.back()->wait(300));
    }
  }
  std::vector<std::vector<int32_t>> out;
  for (auto& x : c) {
    if (together) {
      EXPECT_TRUE(x->wait(300));
    }
    out.push_back(x->tokens);
  }
  return out;
}

TEST(SpecDecode, GreedyTokensAreIdenticalWithAndWithoutSpeculation) {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 5; ++i) {
    prompts.push_back(prompt_of(i, 6 + 37 * i));  // up to 154 tokens: chunked prefills at 64 a step
    GenerationParams gp;
    gp.max_tokens = 20 + 7 * i;
    gp.ignore_eos = i % 2 == 0;
    params.push_back(gp);
  }
  // A shared prefix (prefix-cache hits restore the MTP layer too) and a prompt longer than the window.
  prompts.push_back(prompts[4]);
  prompts.back().push_back(17);
  params.push_back(params[4]);
  prompts.push_back(prompt_of(9, 300));
  params.push_back(params[0]);

  auto base = engine(0);
  ASSERT_TRUE(base);
  const auto want = run(*base, prompts, params, false);
  for (int k : {1, 3}) {
    for (bool together : {false, true}) {
      SCOPED_TRACE("k=" + std::to_string(k) + (together ? " batched" : " one at a time"));
      auto e = engine(k);
      ASSERT_TRUE(e);
      EXPECT_EQ(run(*e, prompts, params, together), want);
      const EngineStats st = e->stats();
      EXPECT_GT(st.spec_draft_tokens, 0);
      EXPECT_GT(st.spec_accepted_tokens, 0);
      EXPECT_LE(st.spec_accepted_tokens, st.spec_draft_tokens);
      EXPECT_LE(st.spec_draft_tokens, st.spec_drafts * k);
      EXPECT_EQ(st.cache_units_used, 0);
      std::printf("k=%d %s: %lld drafts, %lld draft tokens, %lld accepted (%.1f%%), %lld steps\n", k,
                  together ? "batched" : "solo", (long long)st.spec_drafts, (long long)st.spec_draft_tokens,
                  (long long)st.spec_accepted_tokens, 100.0 * double(st.spec_accepted_tokens) / double(st.spec_draft_tokens),
                  (long long)st.steps);
    }
  }
}

// Greedy drafts are the argmax of batch-invariant MTP logits, so a request drafts and accepts the same
// tokens whether it runs alone or next to others' prefill chunks (those that do not sample have no logits
// rows in either pass): the counters of a batched run are the sums of the solo runs.
TEST(SpecDecode, DraftsDoNotDependOnTheBatch) {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 4; ++i) {
    prompts.push_back(prompt_of(i + 40, i == 0 ? 8 : 90 + 40 * i));  // long prompts prefill in chunks of 32
    GenerationParams gp;
    gp.max_tokens = 16 + 4 * i;
    gp.ignore_eos = true;
    params.push_back(gp);
  }
  EngineStats solo;
  std::vector<std::vector<int32_t>> want;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto e = engine(1, 32);
    ASSERT_TRUE(e);
    want.push_back(run(*e, {prompts[i]}, {params[i]}, false)[0]);
    const EngineStats st = e->stats();
    solo.spec_drafts += st.spec_drafts;
    solo.spec_draft_tokens += st.spec_draft_tokens;
    solo.spec_accepted_tokens += st.spec_accepted_tokens;
  }
  auto e = engine(1, 32);
  ASSERT_TRUE(e);
  EXPECT_EQ(run(*e, prompts, params, true), want);
  const EngineStats st = e->stats();
  EXPECT_GT(solo.spec_accepted_tokens, 0);
  EXPECT_EQ(st.spec_drafts, solo.spec_drafts);
  EXPECT_EQ(st.spec_draft_tokens, solo.spec_draft_tokens);
  EXPECT_EQ(st.spec_accepted_tokens, solo.spec_accepted_tokens);
}

TEST(SpecDecode, Int8DraftHeadDraftsWhatTheBf16HeadDrafts) {
  // Greedy drafts are the argmax of the MTP logits, which the int8 screen keeps exact: the same drafts,
  // so the same acceptance.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 3; ++i) {
    prompts.push_back(prompt_of(i + 20, 10 + 30 * i));
    GenerationParams gp;
    gp.max_tokens = 24;
    gp.ignore_eos = true;
    params.push_back(gp);
  }
  EngineStats st[2];
  std::vector<std::vector<int32_t>> out[2];
  for (int h = 0; h < 2; ++h) {
    auto e = engine(2, 64, true, h == 0 ? "int8" : "bf16");
    ASSERT_TRUE(e);
    out[h] = run(*e, prompts, params, false);
    st[h] = e->stats();
  }
  EXPECT_EQ(out[0], out[1]);
  EXPECT_GT(st[0].spec_accepted_tokens, 0);
  EXPECT_EQ(st[0].spec_drafts, st[1].spec_drafts);
  EXPECT_EQ(st[0].spec_draft_tokens, st[1].spec_draft_tokens);
  EXPECT_EQ(st[0].spec_accepted_tokens, st[1].spec_accepted_tokens);
  EngineConfig bad;
  bad.model_dir = kDemo;
  bad.speculative_tokens = 1;
  bad.spec_draft_head = "int4";
  EXPECT_FALSE(Engine::create(bad).is_ok());
}

TEST(SpecDecode, SampledGenerationIsReproducibleFromItsSeed) {
  auto e = engine(2);
  ASSERT_TRUE(e);
  GenerationParams gp;
  gp.max_tokens = 24;
  gp.ignore_eos = true;
  gp.sampling.temperature = 0.8f;
  gp.sampling.seed = 1234;
  const std::vector<std::vector<int32_t>> prompts = {prompt_of(1, 20), prompt_of(2, 30), prompt_of(1, 20)};
  const auto a = run(*e, prompts, {gp, gp, gp}, true);
  EXPECT_EQ(a[0], a[2]);
  EXPECT_EQ(run(*e, {prompts[0]}, {gp}, false)[0], a[0]);
}

// Two-sample chi-square (homogeneity) statistic over the categories of `a` and `b`: the 10 most common
// tokens of both together, plus "other".
double chi_square(const std::vector<int32_t>& a, const std::vector<int32_t>& b, int* dof) {
  std::map<int32_t, int> all;
  for (int32_t t : a) all[t]++;
  for (int32_t t : b) all[t]++;
  std::vector<std::pair<int, int32_t>> order;
  for (auto [t, n] : all) order.push_back({-n, t});
  std::sort(order.begin(), order.end());
  std::map<int32_t, int> cat;
  for (size_t i = 0; i < order.size() && i < 10; ++i) cat[order[i].second] = int(i);
  const int C = int(cat.size()) + 1;
  std::vector<double> ca(static_cast<size_t>(C)), cb(static_cast<size_t>(C));
  for (int32_t t : a) ca[size_t(cat.count(t) ? cat[t] : C - 1)] += 1;
  for (int32_t t : b) cb[size_t(cat.count(t) ? cat[t] : C - 1)] += 1;
  const double na = double(a.size()), nb = double(b.size());
  double x2 = 0;
  int used = 0;
  for (int c = 0; c < C; ++c) {
    const double tot = ca[size_t(c)] + cb[size_t(c)];
    if (tot == 0) continue;
    ++used;
    const double ea = tot * na / (na + nb), eb = tot * nb / (na + nb);
    x2 += (ca[size_t(c)] - ea) * (ca[size_t(c)] - ea) / ea + (cb[size_t(c)] - eb) * (cb[size_t(c)] - eb) / eb;
  }
  *dof = used - 1;
  return x2;
}

TEST(SpecDecode, SampledTokensKeepTheirDistribution) {
  const int n = 400;
  const std::vector<int32_t> prompt = prompt_of(3, 12);
  std::vector<int32_t> second[2], third[2];
  for (int k : {0, 3}) {
    auto e = engine(k, 512, false);
    ASSERT_TRUE(e);
    std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(n), prompt);
    std::vector<GenerationParams> params(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      params[size_t(i)].max_tokens = 3;
      params[size_t(i)].ignore_eos = true;
      params[size_t(i)].sampling.temperature = 1.0f;
      params[size_t(i)].sampling.seed = uint64_t(1 + i + (k ? n : 0));  // independent samples
    }
    const auto out = run(*e, prompts, params, true);
    for (const auto& t : out) {
      ASSERT_EQ(t.size(), 3u);
      second[k ? 1 : 0].push_back(t[1]);
      third[k ? 1 : 0].push_back(t[2]);
    }
    if (k) {
      EXPECT_GT(e->stats().spec_draft_tokens, 0);
    }
  }
  // 11 categories at most: the 0.1% critical value of chi-square with 10 degrees of freedom is 29.59.
  for (auto* v : {second, third}) {
    int dof = 0;
    const double x2 = chi_square(v[0], v[1], &dof);
    std::printf("chi-square %.2f with %d degrees of freedom\n", x2, dof);
    EXPECT_GE(dof, 3);  // the statistic must see a spread distribution
    EXPECT_LT(x2, 29.59);
  }
}

}  // namespace
}  // namespace tachyon::runtime
