// The engine end to end on the golden tiny checkpoint: concurrent requests are batched and give the
// same greedy tokens as a plain one-request decode loop; cancellation and small caches (forcing
// preemption) leave every cache unit returned.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "collector.h"
#include "runtime/engine.h"

namespace tachyon::runtime {
namespace {

const std::string kModel = std::string(TACHYON_TEST_DATA) + "/golden/tiny-flash/model";

// Greedy tokens from a plain decode loop on the model (no engine).
std::vector<int32_t> reference_greedy(const std::vector<int32_t>& prompt, int n) {
  auto ck = dsv4::load_checkpoint(kModel);
  EXPECT_TRUE(ck.is_ok());
  ThreadPool pool(1);
  dsv4::ModelContext ctx;
  ctx.ops = ops::OpContext::make(pool);
  dsv4::Model model(**ck);
  dsv4::SequenceState st = model.pools().new_sequence();
  std::vector<int32_t> out, feed = prompt;
  Sampler s(SamplingParams{});
  for (int i = 0; i < n; ++i) {
    dsv4::SeqInput in{&st, feed, false};
    dsv4::ForwardOutput fo;
    model.forward(ctx, std::span<const dsv4::SeqInput>(&in, 1), fo);
    out.push_back(s.sample(fo.logits.data(), (*ck)->config.vocab_size));
    feed = {out.back()};
  }
  return out;
}

using test_support::Collected;
using test_support::collect;

EngineConfig config(int64_t cache_bytes) {
  EngineConfig cfg;
  cfg.model_dir = kModel;
  cfg.threads = 2;
  cfg.cache_memory = cache_bytes;
  cfg.scheduler.max_num_seqs = 16;
  cfg.scheduler.max_num_batched_tokens = 64;
  return cfg;
}

std::vector<int32_t> prompt_of(int i) {
  std::vector<int32_t> p = {0};
  for (int k = 0; k < 5 + 7 * i; ++k) p.push_back(2 + (i * 131 + k * 17) % 2000);
  return p;
}

TEST(Engine, ConcurrentGreedyRequestsMatchTheirSoloRun) {
  auto e = Engine::create(config(64 << 20));
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  const int n = 12, gen = 10;
  std::vector<std::shared_ptr<Collected>> c;
  for (int i = 0; i < n; ++i) {
    c.push_back(std::make_shared<Collected>());
    GenerationParams gp;
    gp.max_tokens = gen;
    gp.ignore_eos = true;
    auto r = (*e)->submit(prompt_of(i), gp, collect(c.back()));
    ASSERT_EQ(r.code, SubmitCode::kOk) << r.message;
  }
  for (auto& x : c) ASSERT_TRUE(x->wait(120));
  for (int i = 0; i < n; i += 5) EXPECT_EQ(c[size_t(i)]->tokens, reference_greedy(prompt_of(i), gen)) << i;
  for (auto& x : c) EXPECT_EQ(x->reason, FinishReason::kLength);
  EXPECT_EQ((*e)->stats().cache_units_used, 0);
}

// EngineConfig::profile times decode steps only (a batch of one request: one step per token after the
// first), and nothing at all when it is off.
TEST(Engine, ProfileCountsDecodeStepsOnlyWhenOn) {
  for (bool on : {false, true}) {
    EngineConfig cfg = config(64 << 20);
    cfg.profile = on;
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.is_ok()) << e.status().message();
    auto c = std::make_shared<Collected>();
    GenerationParams gp;
    gp.max_tokens = 6;
    gp.ignore_eos = true;
    ASSERT_EQ((*e)->submit(prompt_of(3), gp, collect(c)).code, SubmitCode::kOk);
    ASSERT_TRUE(c->wait(120));
    const EngineProfile p = (*e)->profile();
    EXPECT_EQ(p.steps, on ? 5 : 0);
    EXPECT_EQ(p.mtp_s, 0);
    EXPECT_EQ(p.forward.seconds[size_t(dsv4::OpFamily::kHead)] > 0, on);
    EXPECT_EQ(p.forward_s > 0, on);
    EXPECT_GE(p.step_s, p.forward_s);
  }
}

// SeqInput::argmax_only rows (the int8 screen of the head) keep the exact head's largest logit, its
// lowest index and its bits, with every other entry at or below it; the other rows of the same pass are
// bit-identical to the exact head's.
TEST(Engine, ArgmaxOnlyRowsKeepTheExactLargestLogit) {
  auto ck = dsv4::load_checkpoint(kModel);
  ASSERT_TRUE(ck.is_ok());
  const int64_t V = (*ck)->config.vocab_size;
  ThreadPool pool(2);
  dsv4::ModelContext ctx;
  ctx.ops = ops::OpContext::make(pool);
  for (const std::vector<char>& screen : {std::vector<char>{1, 0, 1}, std::vector<char>{1, 1, 1}}) {
    dsv4::Model exact(**ck), screened(**ck);
    screened.enable_draft_head(ctx);
    dsv4::ForwardOutput out[2];
    for (int m = 0; m < 2; ++m) {
      dsv4::Model& model = m == 0 ? exact : screened;
      std::vector<dsv4::SequenceState> st;
      std::vector<std::vector<int32_t>> prompts;
      for (int i = 0; i < 3; ++i) {
        st.push_back(model.pools().new_sequence());
        prompts.push_back(prompt_of(30 + i));
      }
      std::vector<dsv4::SeqInput> in;
      for (int i = 0; i < 3; ++i) in.push_back({&st[size_t(i)], prompts[size_t(i)], false, m == 1 && screen[size_t(i)]});
      model.forward(ctx, in, out[m]);
      for (auto& s : st) model.pools().release(s);
    }
    ASSERT_EQ(out[0].logits.size(), size_t(3 * V));
    ASSERT_EQ(out[1].logits.size(), size_t(3 * V));
    for (int64_t r = 0; r < 3; ++r) {
      const float* e = out[0].logits.data() + r * V;
      const float* g = out[1].logits.data() + r * V;
      if (!screen[size_t(r)]) {
        EXPECT_EQ(std::memcmp(e, g, size_t(V) * sizeof(float)), 0) << r;
        continue;
      }
      const int64_t ea = std::max_element(e, e + V) - e, ga = std::max_element(g, g + V) - g;
      EXPECT_EQ(ea, ga) << r;
      EXPECT_EQ(std::bit_cast<uint32_t>(e[ea]), std::bit_cast<uint32_t>(g[ga])) << r;
      int64_t differing = 0;
      for (int64_t v = 0; v < V; ++v) differing += std::bit_cast<uint32_t>(e[v]) != std::bit_cast<uint32_t>(g[v]);
      EXPECT_GT(differing, 0) << r;  // the screen did run: most rows keep their int8 approximation
    }
  }
}

// SeqInput/MtpInput::no_logits: such a sequence gets no logits rows, wherever it sits in the batch, and
// every other output (the other sequences' rows, all final streams, the MTP streams, the next step) is
// bit-identical to a pass where it had its rows.
TEST(Engine, NoLogitsSequencesGetNoRowsAndChangeNothingElse) {
  auto ck = dsv4::load_checkpoint(kModel);
  ASSERT_TRUE(ck.is_ok());
  const int64_t V = (*ck)->config.vocab_size;
  const int64_t hcD = int64_t((*ck)->config.hc_mult) * (*ck)->config.hidden_size;
  ThreadPool pool(2);
  dsv4::ModelContext ctx;
  ctx.ops = ops::OpContext::make(pool);
  struct Run {
    dsv4::ForwardOutput fwd, next;
    std::vector<float> mtp_logits, mtp_streams;
  };
  const std::vector<char> skip = {1, 0, 1, 0};  // sequences 0 and 2 ask for no logits
  Run run[2];
  for (int m = 0; m < 2; ++m) {
    dsv4::Model model(**ck);
    std::vector<dsv4::SequenceState> st;
    std::vector<std::vector<int32_t>> prompts, nexts;
    for (int i = 0; i < 4; ++i) {
      st.push_back(model.pools().new_sequence());
      prompts.push_back(prompt_of(40 + i));
      nexts.push_back(std::vector<int32_t>(prompts.back().begin() + 1, prompts.back().end()));
      nexts.back().push_back(7);
    }
    std::vector<dsv4::SeqInput> in;
    for (int i = 0; i < 4; ++i) in.push_back({&st[size_t(i)], prompts[size_t(i)], i == 3, false, m == 1 && skip[size_t(i)]});
    model.forward(ctx, in, run[m].fwd);
    std::vector<dsv4::MtpInput> min;
    int64_t row = 0;
    for (int i = 0; i < 4; ++i) {
      min.push_back({&st[size_t(i)], run[m].fwd.final_streams.data() + row * hcD, nexts[size_t(i)], i == 3,
                     m == 1 && skip[size_t(i)]});
      row += int64_t(prompts[size_t(i)].size());
    }
    model.mtp_forward(ctx, min, run[m].mtp_logits, &run[m].mtp_streams);
    std::vector<int32_t> one = {5};
    std::vector<dsv4::SeqInput> step;
    for (int i = 0; i < 4; ++i) step.push_back({&st[size_t(i)], one});
    model.forward(ctx, step, run[m].next);
    for (auto& s : st) model.pools().release(s);
  }
  // Rows per sequence with logits: 1, 1, 1 and every token of sequence 3.
  const int64_t last_rows = int64_t(prompt_of(43).size());
  auto keep = [&](const std::vector<float>& all) {
    std::vector<float> kept;
    int64_t r = 0;
    for (int i = 0; i < 4; ++i) {
      const int64_t n = i == 3 ? last_rows : 1;
      if (!skip[size_t(i)]) kept.insert(kept.end(), all.begin() + r * V, all.begin() + (r + n) * V);
      r += n;
    }
    return kept;
  };
  ASSERT_EQ(run[0].fwd.logits.size(), size_t((3 + last_rows) * V));
  EXPECT_TRUE(run[1].fwd.logits == keep(run[0].fwd.logits));
  EXPECT_TRUE(run[1].mtp_logits == keep(run[0].mtp_logits));
  EXPECT_EQ(run[1].mtp_logits.size(), size_t((1 + last_rows) * V));
  EXPECT_TRUE(run[1].fwd.final_streams == run[0].fwd.final_streams);
  EXPECT_TRUE(run[1].mtp_streams == run[0].mtp_streams);
  EXPECT_TRUE(run[1].next.logits == run[0].next.logits);
}

// The int8 screen (greedy_head "int8", the default) gives the tokens of the exact head: requests
// decoded alone (one screened row per step) and together (more rows than the screen takes, and requests
// with logprobs or penalties, which always get every logit).
TEST(Engine, Int8GreedyHeadGivesTheExactHeadsTokens) {
  struct Out {
    std::vector<std::vector<int32_t>> tokens;
    std::vector<std::vector<float>> logprobs;
    bool operator==(const Out&) const = default;
  };
  Out out[2];
  for (int h = 0; h < 2; ++h) {
    EngineConfig cfg = config(64 << 20);
    cfg.greedy_head = h == 0 ? "int8" : "bf16";
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.is_ok()) << e.status().message();
    for (int round = 0; round < 2; ++round) {  // alone, then five at once
      const int n = round == 0 ? 2 : 5;
      std::vector<std::shared_ptr<Collected>> c;
      std::vector<std::shared_ptr<std::vector<float>>> lp;
      for (int i = 0; i < n; ++i) {
        c.push_back(std::make_shared<Collected>());
        lp.push_back(std::make_shared<std::vector<float>>());
        GenerationParams gp;
        gp.max_tokens = 12;
        gp.ignore_eos = true;
        if (i == 3) gp.top_logprobs = 0;
        if (i == 4) gp.sampling.repetition_penalty = 1.3f;
        EventSink sink = [inner = collect(c.back()), l = lp.back()](const RequestEvent& ev) {
          if (ev.token) l->push_back(ev.token->logprob);  // the engine thread only
          return inner(ev);
        };
        ASSERT_EQ((*e)->submit(prompt_of(40 + i), gp, sink).code, SubmitCode::kOk);
        if (round == 0) {
          ASSERT_TRUE(c.back()->wait(120));
        }
      }
      for (int i = 0; i < n; ++i) {
        ASSERT_TRUE(c[size_t(i)]->wait(120));
        out[h].tokens.push_back(c[size_t(i)]->tokens);
        out[h].logprobs.push_back(*lp[size_t(i)]);
      }
    }
  }
  EXPECT_EQ(out[0].tokens, out[1].tokens);
  EXPECT_EQ(out[0].logprobs, out[1].logprobs);
  EngineConfig bad = config(64 << 20);
  bad.greedy_head = "int4";
  EXPECT_FALSE(Engine::create(bad).is_ok());
}

// Which rows the engine screens: every sampled row of a plain greedy request; none of a request with
// logprobs, a penalty or logit bias, or of a sampled one; and under min_tokens (EOS banned) only the rows
// after it. Nothing with greedy_head "bf16".
TEST(Engine, GreedyHeadScreensOnlyPlainGreedyRows) {
  auto screened = [](const std::string& head, const GenerationParams& gp) -> int64_t {
    EngineConfig cfg = config(64 << 20);
    cfg.greedy_head = head;
    auto e = Engine::create(cfg);
    EXPECT_TRUE(e.is_ok()) << e.status().message();
    if (!e.is_ok()) return -1;
    auto c = std::make_shared<Collected>();
    EXPECT_EQ((*e)->submit(prompt_of(50), gp, collect(c)).code, SubmitCode::kOk);
    EXPECT_TRUE(c->wait(120));
    EXPECT_EQ(int64_t(c->tokens.size()), gp.max_tokens);
    return (*e)->stats().greedy_screened_rows;
  };
  GenerationParams plain;
  plain.max_tokens = 8;
  plain.ignore_eos = true;
  EXPECT_EQ(screened("int8", plain), 8);  // the prefill's sampled row and seven decode steps
  EXPECT_EQ(screened("bf16", plain), 0);
  GenerationParams g = plain;
  g.top_logprobs = 0;
  EXPECT_EQ(screened("int8", g), 0);
  g = plain;
  g.sampling.presence_penalty = 0.5f;
  EXPECT_EQ(screened("int8", g), 0);
  g = plain;
  g.sampling.logit_bias = {{5, 1.0f}};
  EXPECT_EQ(screened("int8", g), 0);
  g = plain;
  g.sampling.temperature = 0.7f;
  EXPECT_EQ(screened("int8", g), 0);
  g = plain;
  g.ignore_eos = false;
  g.min_tokens = 5;
  // EOS is banned for output indices 0..4, so rows 5..7 are screened (the size check in `screened`
  // shows the request ran its 8 tokens without stopping at EOS).
  EXPECT_EQ(screened("int8", g), 3);
}

TEST(Engine, SmallCachePreemptsButEveryRequestCompletes) {
  // Room for about two of these sequences at a time (fp32 cache entries; the sizes are tuned to them).
  EngineConfig cfg = config(1 << 20);
  cfg.kv_cache_dtype = "fp32";
  auto e = Engine::create(cfg);
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  const int n = 4, gen = 24;
  std::vector<std::shared_ptr<Collected>> c;
  for (int i = 0; i < n; ++i) {
    c.push_back(std::make_shared<Collected>());
    GenerationParams gp;
    gp.max_tokens = gen;
    gp.ignore_eos = true;
    auto r = (*e)->submit(prompt_of(10 + i), gp, collect(c.back()));
    ASSERT_EQ(r.code, SubmitCode::kOk) << r.message;
  }
  for (auto& x : c) ASSERT_TRUE(x->wait(120));
  for (auto& x : c) EXPECT_EQ(int(x->tokens.size()), gen);
  EXPECT_EQ(c[0]->tokens, reference_greedy(prompt_of(10), gen));
  EXPECT_EQ(c[3]->tokens, reference_greedy(prompt_of(13), gen));
  EXPECT_GT((*e)->stats().preemptions, 0);
  EXPECT_EQ((*e)->stats().cache_units_used, 0);
}

TEST(Engine, CancelAndValidation) {
  auto e = Engine::create(config(64 << 20));
  ASSERT_TRUE(e.is_ok());
  GenerationParams gp;
  gp.max_tokens = 100000;
  auto c = std::make_shared<Collected>();
  auto tl = (*e)->submit(prompt_of(1), gp, collect(c));
  EXPECT_EQ(tl.code, SubmitCode::kTooLong);
  EXPECT_EQ((*e)->submit({}, GenerationParams{}, collect(c)).code, SubmitCode::kInvalid);
  EXPECT_EQ((*e)->submit({0, 999999}, GenerationParams{}, collect(c)).code, SubmitCode::kInvalid);
  gp.max_tokens = 200;
  gp.ignore_eos = true;
  auto r = (*e)->submit(prompt_of(2), gp, collect(c));
  ASSERT_EQ(r.code, SubmitCode::kOk);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (*e)->cancel(r.id);
  ASSERT_TRUE(c->wait(60));
  EXPECT_EQ(c->reason, FinishReason::kCancelled);
  EXPECT_LT(c->tokens.size(), 200u);
  EXPECT_EQ((*e)->stats().cache_units_used, 0);
}

// An agent loop: each request's prompt is the previous prompt, its answer and a new turn. With the
// prefix cache, later requests start from cached state (reported as cached tokens) and still produce
// exactly the tokens of an engine without it and of a plain decode loop.
TEST(Engine, PrefixCacheHitsGiveIdenticalTokens) {
  std::vector<std::vector<int32_t>> outputs[2];
  std::vector<int64_t> cached[2];
  for (int on = 0; on < 2; ++on) {
    EngineConfig cfg = config(64 << 20);
    cfg.prefix_caching = on == 1;
    auto e = Engine::create(cfg);
    ASSERT_TRUE(e.is_ok()) << e.status().message();
    std::vector<int32_t> prompt = prompt_of(30);  // 216 tokens
    for (int turn = 0; turn < 3; ++turn) {
      auto c = std::make_shared<Collected>();
      GenerationParams gp;
      gp.max_tokens = 12;
      gp.ignore_eos = true;
      ASSERT_EQ((*e)->submit(prompt, gp, collect(c)).code, SubmitCode::kOk);
      ASSERT_TRUE(c->wait(120));
      outputs[on].push_back(c->tokens);
      cached[on].push_back(c->cached_tokens);
      if (turn == 0) {
        EXPECT_EQ(c->tokens, reference_greedy(prompt, 12));
      }
      prompt.insert(prompt.end(), c->tokens.begin(), c->tokens.end());
      for (int k = 0; k < 50; ++k) prompt.push_back(3 + (turn * 71 + k * 13) % 1500);
    }
    const EngineStats st = (*e)->stats();
    EXPECT_EQ(st.cache_units_used, 0);
    if (on == 1) {
      EXPECT_GT(st.prefix_hits, 0);
      EXPECT_GT(st.prefix_snapshots, 0);
    } else {
      EXPECT_EQ(st.prefix_hits, 0);
    }
  }
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(cached[0], (std::vector<int64_t>{0, 0, 0}));
  // Turn 0 (216 tokens) leaves snapshots at 128; turn 1 (278 tokens) hits 128 and leaves 256; turn 2
  // (340 tokens) hits 256.
  EXPECT_EQ(cached[1], (std::vector<int64_t>{0, 128, 256}));
}

}  // namespace
}  // namespace tachyon::runtime
