// An elastic thread pool for httplib's connections: a connection runs on an idle thread if there is
// one, else on a new thread (up to max_threads, beyond which connections wait in a queue), and
// threads that stay idle for idle_timeout end, down to keep_threads. A fixed pool would let as many
// slow clients as it has threads stop every other client; here each connection holds only its own
// thread, and HttpServer's admission limits bound how many there are.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include <httplib.h>

namespace tachyon::server {

class ElasticPool final : public httplib::TaskQueue {
 public:
  ElasticPool(size_t max_threads, size_t keep_threads, std::chrono::milliseconds idle_timeout);
  ~ElasticPool() override;
  void enqueue(std::function<void()> fn) override;
  // Runs every queued job, then waits for every thread to end.
  void shutdown() override;

  size_t threads() const;

 private:
  void worker();

  const size_t max_threads_, keep_threads_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, exit_cv_;
  std::deque<std::function<void()>> jobs_;
  size_t threads_ = 0, idle_ = 0;
  bool stop_ = false;
};

}  // namespace tachyon::server
