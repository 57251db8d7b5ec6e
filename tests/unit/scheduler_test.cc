// Scheduler behaviour with a fake cache (blocks of 16 tokens) and a fake executor (the "model" emits
// token = position % 97): continuous batching, chunked prefill under the token budget without starving
// decodes, preemption with recompute, the bounded queue, cancellation, and blocks returning to zero.
#include <map>
#include <memory>

#include <gtest/gtest.h>

#include "runtime/scheduler.h"

namespace tachyon::runtime {
namespace {

class FakeCache : public CacheBudget {
 public:
  explicit FakeCache(int64_t blocks, int64_t block_tokens = 16) : total_(blocks), bt_(block_tokens) {}
  void on_admit(Request&) override {}
  int64_t blocks_needed(const Request& r, int64_t upto) const override {
    return std::max<int64_t>(0, (upto + bt_ - 1) / bt_ - held(r));
  }
  int64_t free_blocks() const override { return total_ - used_; }
  void grow(Request& r, int64_t upto) override {
    const int64_t need = blocks_needed(r, upto);
    ASSERT_LE(need, free_blocks());
    held_[r.id] += need;
    used_ += need;
  }
  void release(Request& r) override {
    used_ -= held(r);
    held_.erase(r.id);
  }
  int64_t used() const { return used_; }

 private:
  int64_t held(const Request& r) const {
    auto it = held_.find(r.id);
    return it == held_.end() ? 0 : it->second;
  }
  int64_t total_, bt_, used_ = 0;
  std::map<uint64_t, int64_t> held_;
};

// Runs the plan: chunks reaching the end of a request sample token (position % 97); length limit ends it.
void execute(Scheduler& s, const StepPlan& plan) {
  s.complete(plan);
  for (const ScheduledChunk& c : plan.chunks) {
    if (!c.samples()) continue;
    Request* r = c.req;
    r->output.push_back(int32_t(r->total_tokens() % 97));
    if (int64_t(r->output.size()) >= r->max_new_tokens) s.finish(r, FinishReason::kLength);
  }
}

std::unique_ptr<Request> make(uint64_t id, int64_t prompt_len, int64_t max_new) {
  auto r = std::make_unique<Request>();
  r->id = id;
  for (int64_t i = 0; i < prompt_len; ++i) r->prompt.push_back(int32_t(i % 97));
  r->max_new_tokens = max_new;
  return r;
}

// The tokens a request must end with if it was computed correctly (recompute included).
void expect_output(const Request& r) {
  ASSERT_EQ(int64_t(r.output.size()), r.max_new_tokens);
  for (size_t i = 0; i < r.output.size(); ++i) EXPECT_EQ(r.output[i], int32_t((r.prompt.size() + i) % 97));
}

TEST(Scheduler, ChunkedPrefillDoesNotStarveDecodes) {
  FakeCache cache(1000);
  Scheduler s({8, 64, 16, 4096}, cache);
  auto a = make(1, 10, 40), big = make(2, 300, 4);
  ASSERT_TRUE(s.add(a.get()));
  execute(s, s.schedule());  // a: prefill
  ASSERT_TRUE(s.add(big.get()));
  int steps = 0;
  while (!s.idle() && steps < 200) {
    StepPlan p = s.schedule();
    EXPECT_LE(p.tokens(), 64);
    // While `a` is decoding, it is in every step.
    if (!a->finished()) {
      bool has_a = false;
      for (const auto& c : p.chunks) has_a |= c.req == a.get() && c.n == 1;
      EXPECT_TRUE(has_a) << "decode starved at step " << steps;
    }
    execute(s, p);
    ++steps;
  }
  EXPECT_TRUE(s.idle());
  expect_output(*a);
  expect_output(*big);
  EXPECT_EQ(cache.used(), 0);
}

TEST(Scheduler, ContinuousBatchingAdmitsUpToMaxSeqs) {
  FakeCache cache(1000);
  Scheduler s({3, 512, 64, 4096}, cache);
  std::vector<std::unique_ptr<Request>> reqs;
  for (uint64_t i = 0; i < 8; ++i) {
    reqs.push_back(make(i, 5 + int64_t(i), 6));
    ASSERT_TRUE(s.add(reqs.back().get()));
  }
  int steps = 0;
  while (!s.idle() && steps < 100) {
    StepPlan p = s.schedule();
    EXPECT_LE(s.num_running(), 3u);
    execute(s, p);
    ++steps;
  }
  for (auto& r : reqs) expect_output(*r);
  EXPECT_EQ(cache.used(), 0);
}

TEST(Scheduler, PreemptsAndRecomputesWhenBlocksRunOut) {
  FakeCache cache(12);  // 192 tokens in all
  Scheduler s({8, 256, 64, 4096}, cache);
  std::vector<std::unique_ptr<Request>> reqs;
  for (uint64_t i = 0; i < 4; ++i) {
    reqs.push_back(make(i, 40, 40));  // 80 tokens each at the end: they cannot all fit
    ASSERT_TRUE(s.add(reqs.back().get()));
  }
  int steps = 0, preempted = 0;
  while (!s.idle() && steps < 1000) {
    StepPlan p = s.schedule();
    preempted += int(p.preempted.size());
    EXPECT_LE(cache.used(), 12);
    execute(s, p);
    ++steps;
  }
  EXPECT_TRUE(s.idle());
  EXPECT_GT(preempted, 0);
  for (auto& r : reqs) {
    EXPECT_EQ(r->finish, FinishReason::kLength);
    expect_output(*r);
  }
  EXPECT_EQ(cache.used(), 0);
}

TEST(Scheduler, QueueIsBoundedAndCancelFreesAtOnce) {
  FakeCache cache(100);
  Scheduler s({1, 64, 2, 4096}, cache);
  auto a = make(1, 100, 50), b = make(2, 10, 5), c = make(3, 10, 5), d = make(4, 10, 5);
  ASSERT_TRUE(s.add(a.get()));
  ASSERT_TRUE(s.add(b.get()));
  EXPECT_FALSE(s.add(c.get()));  // at most 2 waiting: each further request is refused
  EXPECT_FALSE(s.add(d.get()));
  execute(s, s.schedule());                        // a runs (prefill chunk), b waits
  EXPECT_GT(cache.used(), 0);
  EXPECT_TRUE(s.cancel(1));
  EXPECT_EQ(a->finish, FinishReason::kCancelled);
  EXPECT_EQ(cache.used(), 0);
  EXPECT_TRUE(s.cancel(2));  // waiting
  EXPECT_FALSE(s.cancel(2));
  EXPECT_FALSE(s.cancel(99));
}

TEST(Scheduler, RequestTooLargeForTheWholeCacheFails) {
  FakeCache cache(2);
  Scheduler s({4, 512, 8, 4096}, cache);
  auto r = make(1, 100, 10);
  ASSERT_TRUE(s.add(r.get()));
  int steps = 0;
  while (!s.idle() && steps < 20) {
    execute(s, s.schedule());
    ++steps;
  }
  EXPECT_EQ(r->finish, FinishReason::kError);
  EXPECT_EQ(cache.used(), 0);
}

}  // namespace
}  // namespace tachyon::runtime
