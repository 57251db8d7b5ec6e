// ThreadPool: every chunk runs exactly once, whatever the thread count; nested and concurrent callers run
// inline and still cover everything; many tiny back-to-back jobs (the late-worker races) stay exact.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace tachyon {
namespace {

TEST(ThreadPool, EveryItemOnceAnySize) {
  for (int threads : {1, 2, 3, 8}) {
    const ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 7, 64, 1000, 4097}) {
      for (int64_t grain : {1, 3, 100}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          ASSERT_LE(0, b);
          ASSERT_LT(b, e);
          ASSERT_LE(e, n);
          ASSERT_GE(e - b, std::min<int64_t>(grain, n));
          for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << threads << " " << n << " " << i;
      }
    }
  }
}

TEST(ThreadPool, ManyTinyJobsBackToBack) {
  const ThreadPool pool(4);
  std::vector<int64_t> sum(64, 0);
  for (int rep = 0; rep < 20000; ++rep) {
    const int64_t chunks = 1 + rep % 9;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(chunks));
    pool.run_chunks(chunks, [&](int64_t c) { hits[size_t(c)]++; });
    for (int64_t c = 0; c < chunks; ++c) ASSERT_EQ(hits[size_t(c)].load(), 1) << rep;
  }
}

TEST(ThreadPool, NestedCallsRunInline) {
  const ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  pool.parallel_for(12, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(100, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
  });
  EXPECT_EQ(total.load(), 1200);
}

TEST(ThreadPool, ConcurrentCallersShareOnePool) {
  const ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 500; ++rep) pool.parallel_for(50, 1, [&](int64_t b, int64_t e) { total += e - b; });
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(total.load(), 4 * 500 * 50);
}

TEST(ThreadPool, IdleWorkersSleepAndWake) {
  const ThreadPool pool(2);
  std::atomic<int> n{0};
  pool.run_chunks(4, [&](int64_t) { n++; });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers are asleep by now
  pool.run_chunks(4, [&](int64_t) { n++; });
  EXPECT_EQ(n.load(), 8);
}

}  // namespace
}  // namespace tachyon
