#include "runtime/scheduler.h"

#include <algorithm>

#include "core/check.h"

namespace tachyon::runtime {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

Scheduler::Scheduler(const SchedulerConfig& cfg, CacheBudget& cache) : cfg_(cfg), cache_(cache) {}

bool Scheduler::add(Request* r) {
  if (int64_t(waiting_.size()) >= cfg_.max_waiting) return false;
  r->state = RequestState::kWaiting;
  r->arrival = ++clock_;
  waiting_.push_back(r);
  return true;
}

void Scheduler::drop(Request* r) {
  auto w = std::find(waiting_.begin(), waiting_.end(), r);
  if (w != waiting_.end()) waiting_.erase(w);
  auto it = std::find(running_.begin(), running_.end(), r);
  if (it != running_.end()) running_.erase(it);
}

bool Scheduler::cancel(uint64_t id) {
  auto match = [&](Request* r) { return r->id == id; };
  Request* r = nullptr;
  if (auto w = std::find_if(waiting_.begin(), waiting_.end(), match); w != waiting_.end()) r = *w;
  if (auto it = std::find_if(running_.begin(), running_.end(), match); it != running_.end()) r = *it;
  if (!r) return false;
  finish(r, FinishReason::kCancelled);
  return true;
}

void Scheduler::finish(Request* r, FinishReason why) {
  drop(r);
  cache_.release(*r);
  r->state = RequestState::kFinished;
  r->finish = why;
}

void Scheduler::preempt_last(StepPlan& plan, int64_t& budget) {
  // The most recently admitted running request goes back to the front of the queue; whatever was
  // planned for it this step is dropped.
  Request* v = running_.back();
  running_.pop_back();
  cache_.release(*v);
  v->num_computed = 0;
  v->preemptions++;
  v->state = RequestState::kWaiting;
  waiting_.push_front(v);
  for (auto it = plan.chunks.begin(); it != plan.chunks.end();) {
    if (it->req == v) {
      budget += it->n;
      it = plan.chunks.erase(it);
    } else {
      ++it;
    }
  }
  plan.preempted.push_back(v);
}

void Scheduler::start_running(Request* r, int64_t n, StepPlan& plan, int64_t& budget) {
  waiting_.pop_front();
  r->state = RequestState::kRunning;
  running_.push_back(r);
  cache_.grow(*r, r->num_computed + n);
  plan.chunks.push_back({r, r->num_computed, n, 0});
  budget -= n;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int64_t budget = cfg_.max_num_batched_tokens;
  auto fits = [&](const Request& r, int64_t n) {
    return cache_.blocks_needed(r, r.num_computed + n) <= cache_.free_blocks();
  };
  // Running requests in admission order: decodes first, then prefill chunks.
  for (int pass = 0; pass < 2; ++pass) {
    size_t i = 0;
    while (i < running_.size() && budget > 0) {
      Request* r = running_[i];
      const int64_t own = r->total_tokens() - r->num_computed;
      const int64_t drafts = pass == 0 && !r->in_prefill() ? int64_t(r->draft.size()) : 0;
      const int64_t want = std::min(own + drafts, budget);
      if ((pass == 0) == r->in_prefill() || want <= 0) {
        ++i;
        continue;
      }
      bool self_preempted = false;
      while (!fits(*r, want)) {
        if (running_.size() == 1) break;  // alone and still too big: it can never finish
        self_preempted = running_.back() == r;
        preempt_last(plan, budget);
        if (self_preempted) break;
      }
      if (self_preempted) continue;  // r left running_; index i now holds the next request
      if (!fits(*r, want)) {
        finish(r, FinishReason::kError);
        plan.preempted.push_back(r);
        continue;
      }
      cache_.grow(*r, r->num_computed + want);
      plan.chunks.push_back({r, r->num_computed, want, std::max<int64_t>(0, want - own)});
      budget -= want;
      ++i;
    }
  }
  // Admit waiting requests, oldest first (preempted ones sit at the front).
  while (!waiting_.empty() && budget > 0 && int64_t(running_.size()) < cfg_.max_num_seqs) {
    Request* r = waiting_.front();
    cache_.on_admit(*r);
    int64_t n = std::min(r->total_tokens() - r->num_computed, budget);
    if (fits(*r, n)) {
      start_running(r, n, plan, budget);
      continue;
    }
    if (!running_.empty() || !plan.chunks.empty()) {  // wait for running requests to free blocks
      cache_.release(*r);
      r->num_computed = 0;
      break;
    }
    // Alone in the engine and still too big for this step: take the largest chunk that fits.
    while (n > 1 && !fits(*r, n)) n /= 2;
    if (fits(*r, n)) {
      start_running(r, n, plan, budget);
      continue;
    }
    // Not even one token fits into an empty cache: this request can never run.
    waiting_.pop_front();
    cache_.release(*r);
    r->state = RequestState::kFinished;
    r->finish = FinishReason::kError;
    plan.preempted.push_back(r);
  }
  return plan;
}

void Scheduler::complete(const StepPlan& plan) {
  for (const ScheduledChunk& c : plan.chunks) {
    TACHYON_CHECK(c.req->num_computed == c.start, "scheduler: chunk does not continue the request");
    c.req->num_computed += c.n - c.draft;
  }
}

}  // namespace tachyon::runtime
