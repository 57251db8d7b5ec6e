// Job hand-off: the caller writes the job (function, chunk count), then publishes it by storing
// (generation << 32 | next chunk = 0) into `claim` and bumping `epoch`. Every participant claims a chunk
// with a compare-and-swap on `claim` that only succeeds while the generation is still the one it saw, so a
// worker that wakes late can never take a chunk of a later job with a stale view of it. The caller waits
// until `done` reaches the chunk count (it never waits for a worker that claimed nothing), then closes the
// generation by setting its next chunk past any count.
#include "core/thread_pool.h"

#include "core/check.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace tachyon {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
constexpr auto kSpin = std::chrono::microseconds(50);  // how long an idle worker spins before sleeping

// Plain futex calls on the epoch word (std::atomic::wait/notify in GCC 12's libstdc++ can lose wake-ups).
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
}
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
}  // namespace

struct ThreadPool::Shared {
  std::atomic<uint64_t> claim{0};  // generation << 32 | next chunk
  std::atomic<const std::function<void(int64_t)>*> fn{nullptr};
  std::atomic<int64_t> n_chunks{0};
  std::atomic<int64_t> done{0};
  std::atomic<uint32_t> epoch{0};  // bumped per job and at shutdown; idle workers wait on it
  std::atomic<int> sleepers{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> busy{false};   // a parallel_for is running
  std::vector<std::thread> workers;

  // Claims and runs chunks of generation `gen` until none are left. Returns whether it ran any.
  void work(uint32_t gen) {
    uint64_t c = claim.load(std::memory_order_acquire);
    for (;;) {
      if (uint32_t(c >> 32) != gen) return;
      const int64_t i = int64_t(c & 0xffffffffu);
      if (i >= n_chunks.load(std::memory_order_relaxed)) return;
      if (!claim.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      (*fn.load(std::memory_order_relaxed))(i);
      done.fetch_add(1, std::memory_order_acq_rel);
      c = claim.load(std::memory_order_acquire);
    }
  }

  // `seen` starts at the epoch of construction (0), not at the value when the thread gets going: a late
  // starter must not sleep through a shutdown that happened before it ran.
  void worker_loop() {
    uint32_t seen = 0;
    for (;;) {
      // Wait for a new epoch: spin a little, then sleep.
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; epoch.load(std::memory_order_acquire) == seen; ++i) {
        if ((i & 255) == 255 && std::chrono::steady_clock::now() - t0 > kSpin) {
          sleepers.fetch_add(1);
          if (epoch.load() == seen) futex_wait(epoch, seen);
          sleepers.fetch_sub(1);
        } else {
          cpu_relax();
        }
      }
      seen = epoch.load(std::memory_order_acquire);
      if (stop.load(std::memory_order_acquire)) return;
      work(uint32_t(claim.load(std::memory_order_acquire) >> 32));
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : s_(std::make_unique<Shared>()) {
  if (n_threads <= 0) {
    cpu_set_t set;
    n_threads = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  }
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) s_->workers.emplace_back([s = s_.get()] { s->worker_loop(); });
}

ThreadPool::~ThreadPool() {
  s_->stop.store(true, std::memory_order_release);
  s_->epoch.fetch_add(1);
  futex_wake_all(s_->epoch);
  for (auto& t : s_->workers) t.join();
}

void ThreadPool::run_chunks(int64_t n_chunks, const std::function<void(int64_t)>& fn) const {
  if (n_chunks <= 0) return;
  TACHYON_CHECK(n_chunks < 0xffffffffll, "run_chunks: too many chunks");
  bool idle = false;
  if (n_chunks == 1 || s_->workers.empty() || !s_->busy.compare_exchange_strong(idle, true)) {
    for (int64_t c = 0; c < n_chunks; ++c) fn(c);  // nested or concurrent use: run inline
    return;
  }
  Shared& s = *s_;
  const uint32_t gen = uint32_t(s.claim.load(std::memory_order_relaxed) >> 32) + 1;
  s.fn.store(&fn, std::memory_order_relaxed);
  s.n_chunks.store(n_chunks, std::memory_order_relaxed);
  s.done.store(0, std::memory_order_relaxed);
  s.claim.store(uint64_t(gen) << 32, std::memory_order_release);
  s.epoch.fetch_add(1);
  if (s.sleepers.load() > 0) futex_wake_all(s.epoch);
  s.work(gen);
  for (int i = 0; s.done.load(std::memory_order_acquire) < n_chunks; ++i) {
    if (i < 4096) cpu_relax();
    else std::this_thread::yield();  // a worker holding a chunk is not running
  }
  // Close the job: a worker still holding this generation's exhausted counter could otherwise compare
  // it with the next job's chunk count while that job is being written.
  s.claim.store((uint64_t(gen) << 32) | 0xffffffffu, std::memory_order_release);
  s.busy.store(false, std::memory_order_release);
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(int64_t(n_threads_) * (n_threads_ > 1 ? 4 : 1), n / grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  run_chunks(chunks, [&](int64_t c) {
    const int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) fn(b, e);
  });
}

}  // namespace tachyon
