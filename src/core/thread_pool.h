// ThreadPool: the compute runtime. One pool is owned by the Engine / command and passed by reference to
// every kernel call; it holds no global state.
//
// size() - 1 persistent workers plus the calling thread run each parallel_for. Work is split into
// chunks that every participant claims from a shared counter, so a worker that the OS has not scheduled
// yet (a busy machine, more threads than cores) delays nothing: the others take its chunks. Workers spin
// briefly after a job, then sleep on a futex. Which thread runs a chunk never changes what it computes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace tachyon {

class ThreadPool {
 public:
  // n_threads <= 0 picks the number of CPUs this process may run on.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(begin, end) over [0, n) split into contiguous chunks of at least `grain` items (a few per
  // thread, for balance). Runs inline when there is too little work for more than one chunk, and when
  // called from inside another parallel_for of this pool or while another thread is using it.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const;

  // Runs fn(c) for every chunk c in [0, n_chunks), each exactly once, on the caller and the workers.
  void run_chunks(int64_t n_chunks, const std::function<void(int64_t)>& fn) const;

 private:
  struct Shared;
  int n_threads_;
  std::unique_ptr<Shared> s_;
};

}  // namespace tachyon
