// Continuous-batching scheduler (no tensors). Each step it plans one forward call:
//   1. every running request that is decoding gets its next token (decodes are never starved), plus its
//      draft tokens when it speculates (as many as the budget allows);
//   2. running requests still in prefill get chunks from what is left of the token budget;
//   3. waiting requests are admitted, oldest first, while sequence slots, budget and cache allow.
// When the cache cannot hold a running request's next tokens, the most recently arrived running
// request is preempted: its cache is freed and it goes back to the front of the queue, to be
// recomputed later (prompt and output so far). Cancellation frees everything at once.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "runtime/request.h"

namespace tachyon::runtime {

// What the scheduler needs from the cache: block accounting for a request's next tokens.
class CacheBudget {
 public:
  virtual ~CacheBudget() = default;
  // Called once when a request is admitted (or re-admitted); may attach cached prefix state and set
  // r.num_computed to the number of prompt tokens it already covers.
  virtual void on_admit(Request& r) = 0;
  // Blocks the request still needs to hold its first `upto` tokens.
  virtual int64_t blocks_needed(const Request& r, int64_t upto) const = 0;
  virtual int64_t free_blocks() const = 0;
  // Takes the blocks for the first `upto` tokens (blocks_needed() of them must be free).
  virtual void grow(Request& r, int64_t upto) = 0;
  // Returns every block the request holds.
  virtual void release(Request& r) = 0;
};

struct SchedulerConfig {
  int64_t max_num_seqs = 16;             // running requests at most
  int64_t max_num_batched_tokens = 512;  // tokens per step
  int64_t max_waiting = 256;             // queue bound; add() refuses beyond it
  int64_t max_model_len = 0;             // prompt + output tokens at most (0: what the cache holds)
};

struct ScheduledChunk {
  Request* req = nullptr;
  int64_t start = 0;  // first token index fed this step
  int64_t n = 0;      // tokens fed: the request's own, then `draft` of its draft tokens
  int64_t draft = 0;
  bool samples() const { return start + n - draft == req->total_tokens(); }  // reaches the end: sample next
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;
  std::vector<Request*> preempted;  // sent back to the queue this step, or failed (finish == kError)
  int64_t tokens() const {
    int64_t t = 0;
    for (const auto& c : chunks) t += c.n;
    return t;
  }
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& cfg, CacheBudget& cache);

  // Queues a request (state waiting). False when the waiting queue is full.
  bool add(Request* r);
  // Finishes a request as cancelled, wherever it is, and frees its blocks. False if unknown.
  bool cancel(uint64_t id);
  StepPlan schedule();
  // After the forward: advances num_computed for every chunk of the plan, over its own tokens (the
  // caller adds the draft tokens it accepts).
  void complete(const StepPlan& plan);
  // Ends a running request (stop / length / error) and frees its blocks.
  void finish(Request* r, FinishReason why);

  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  bool idle() const { return waiting_.empty() && running_.empty(); }
  uint64_t now() const { return clock_; }

 private:
  void preempt_last(StepPlan& plan, int64_t& budget);
  void start_running(Request* r, int64_t n, StepPlan& plan, int64_t& budget);
  void drop(Request* r);
  SchedulerConfig cfg_;
  CacheBudget& cache_;
  std::deque<Request*> waiting_;
  std::vector<Request*> running_;  // admission order
  uint64_t clock_ = 0;
};

}  // namespace tachyon::runtime
