// Elastic connection pool (see http_pool.h).
#include "server/http_pool.h"

#include <pthread.h>

#include <algorithm>
#include <system_error>
#include <thread>

namespace tachyon::server {

ElasticPool::ElasticPool(size_t max_threads, size_t keep_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(std::max<size_t>(1, max_threads)), keep_threads_(keep_threads), idle_timeout_(idle_timeout) {}

ElasticPool::~ElasticPool() { shutdown(); }

void ElasticPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ >= jobs_.size() || threads_ >= max_threads_) {
      work_cv_.notify_one();
      return;
    }
    ++threads_;
  }
  try {
    std::thread([this] { worker(); }).detach();
    return;
  } catch (const std::system_error&) {
  }
  std::function<void()> orphan;
  {
    std::lock_guard<std::mutex> g(mu_);
    --threads_;
    if (threads_ > 0 || jobs_.empty()) return;  // a running thread takes it
    orphan = std::move(jobs_.front());
    jobs_.pop_front();
  }
  orphan();  // no thread could be started and none runs: serve it here rather than lose it
}

void ElasticPool::worker() {
  pthread_setname_np(pthread_self(), "tachyon-http");
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if (jobs_.empty()) {
      if (stop_) break;
      ++idle_;
      const bool woke = work_cv_.wait_for(lk, idle_timeout_, [&] { return !jobs_.empty() || stop_; });
      --idle_;
      if (!woke && threads_ > keep_threads_) break;
      continue;
    }
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lk.unlock();
    job();
    job = nullptr;  // release what the job holds before taking the lock again
    lk.lock();
  }
  --threads_;
  exit_cv_.notify_all();
  // Nothing of *this is touched after the lock is released: shutdown() may destroy the pool.
}

void ElasticPool::shutdown() {
  std::unique_lock<std::mutex> lk(mu_);
  stop_ = true;
  work_cv_.notify_all();
  while (!jobs_.empty() && threads_ == 0) {  // queued with no thread left to run them
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lk.unlock();
    job();
    lk.lock();
  }
  exit_cv_.wait(lk, [&] { return threads_ == 0; });
}

size_t ElasticPool::threads() const {
  std::lock_guard<std::mutex> g(mu_);
  return threads_;
}

}  // namespace tachyon::server
