// Test helper: an EventSink that gathers a request's tokens and signals when the request ends.
// The sink shares ownership of its Collected, so the engine thread can never touch a collector that
// the test has already dropped (it may still be inside the sink just after fulfilling the promise).
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/engine.h"

namespace tachyon::runtime::test_support {

struct Collected {
  std::mutex mu;
  std::vector<int32_t> tokens;
  FinishReason reason = FinishReason::kNone;
  int64_t cached_tokens = -1;
  std::promise<void> done_promise;
  std::shared_future<void> done = done_promise.get_future().share();

  // Waits up to `seconds` for the request to end.
  bool wait(int seconds) { return done.wait_for(std::chrono::seconds(seconds)) == std::future_status::ready; }
};

inline EventSink collect(const std::shared_ptr<Collected>& c) {
  return [c](const RequestEvent& ev) {
    bool finished = false;
    {
      std::lock_guard<std::mutex> g(c->mu);
      if (ev.token) c->tokens.push_back(ev.token->token);
      if (ev.finished) {
        c->reason = ev.reason;
        c->cached_tokens = ev.cached_tokens;
        finished = true;
      }
    }
    if (finished) c->done_promise.set_value();
    return true;
  };
}

}  // namespace tachyon::runtime::test_support
