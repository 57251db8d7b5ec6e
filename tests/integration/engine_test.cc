// The engine end to end on the golden tiny checkpoint: concurrent requests are batched and give the
// same greedy tokens as a plain one-request decode loop; cancellation and small caches (forcing
// preemption) leave every cache unit returned.
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

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

struct Collected {
  std::mutex mu;
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::kNone;
  std::promise<void> done;
};

EventSink collect(Collected& c) {
  return [&c](const RequestEvent& ev) {
    std::lock_guard<std::mutex> g(c.mu);
    if (ev.token) c.tokens.push_back(ev.token->token);
    if (ev.finished) {
      c.reason = ev.reason;
      c.done.set_value();
    }
    return true;
  };
}

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
  std::vector<std::unique_ptr<Collected>> c;
  for (int i = 0; i < n; ++i) {
    c.push_back(std::make_unique<Collected>());
    GenerationParams gp;
    gp.max_tokens = gen;
    gp.ignore_eos = true;
    auto r = (*e)->submit(prompt_of(i), gp, collect(*c.back()));
    ASSERT_EQ(r.code, SubmitCode::kOk) << r.message;
  }
  for (auto& x : c) ASSERT_EQ(x->done.get_future().wait_for(std::chrono::seconds(120)), std::future_status::ready);
  for (int i = 0; i < n; i += 5) EXPECT_EQ(c[size_t(i)]->tokens, reference_greedy(prompt_of(i), gen)) << i;
  for (auto& x : c) EXPECT_EQ(x->reason, FinishReason::kLength);
  EXPECT_EQ((*e)->stats().cache_units_used, 0);
}

TEST(Engine, SmallCachePreemptsButEveryRequestCompletes) {
  // Room for about two of these sequences at a time.
  auto e = Engine::create(config(1 << 20));
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  const int n = 4, gen = 24;
  std::vector<std::unique_ptr<Collected>> c;
  for (int i = 0; i < n; ++i) {
    c.push_back(std::make_unique<Collected>());
    GenerationParams gp;
    gp.max_tokens = gen;
    gp.ignore_eos = true;
    auto r = (*e)->submit(prompt_of(10 + i), gp, collect(*c.back()));
    ASSERT_EQ(r.code, SubmitCode::kOk) << r.message;
  }
  for (auto& x : c) ASSERT_EQ(x->done.get_future().wait_for(std::chrono::seconds(120)), std::future_status::ready);
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
  Collected c;
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
  ASSERT_EQ(c.done.get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(c.reason, FinishReason::kCancelled);
  EXPECT_LT(c.tokens.size(), 200u);
  EXPECT_EQ((*e)->stats().cache_units_used, 0);
}

}  // namespace
}  // namespace tachyon::runtime
