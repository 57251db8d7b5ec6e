// ThreadPool: the compute runtime (OpenMP). One pool is owned by the Engine / command and passed by
// reference to every kernel call; there is no global pool state besides OpenMP's own team.
#pragma once

#include <cstdint>
#include <functional>

namespace tachyon {

class ThreadPool {
 public:
  // n_threads <= 0 picks the number of available cores.
  explicit ThreadPool(int n_threads = 0);
  int size() const { return n_threads_; }

  // Runs fn(begin, end) over [0, n) split into contiguous chunks of at least `grain` items, one chunk
  // per thread. Runs inline when there is too little work for more than one thread.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const;

 private:
  int n_threads_;
};

}  // namespace tachyon
