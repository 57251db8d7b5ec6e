// A generation request as the scheduler sees it: token ids and progress counters, no tensors.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tachyon::runtime {

enum class RequestState : uint8_t { kWaiting, kRunning, kFinished };
enum class FinishReason : uint8_t { kNone, kStop, kLength, kCancelled, kError };

const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

// When a request reached each stage, on the engine's steady clock; a default (zero) time point: not
// reached. Preemption does not move first_scheduled: queue time counts to the first admission only, and
// the time a preempted request waits again is part of its prefill or decode time (as in vLLM).
struct RequestTimes {
  using TimePoint = std::chrono::steady_clock::time_point;
  TimePoint submitted, first_scheduled, first_token, last_token;
};

struct Request {
  uint64_t id = 0;
  std::vector<int32_t> prompt;
  std::vector<int32_t> output;  // generated so far
  int64_t max_new_tokens = 16;
  int64_t num_computed = 0;     // leading tokens (prompt, then output) whose state is cached
  int64_t num_cached_prefix = 0;  // of the prompt, tokens found in the prefix cache at admission
  bool prefix_counted = false;    // the prefix-cache lookup of its first admission is in the metrics
  int64_t preemptions = 0;
  uint64_t arrival = 0;         // scheduler clock at submission (orders admission and preemption)
  RequestTimes times;
  // Speculative decoding: draft tokens proposed to follow the output; a decode step feeds them after
  // the last token and keeps those the model accepts (num_computed then advances past them).
  std::vector<int32_t> draft;
  RequestState state = RequestState::kWaiting;
  FinishReason finish = FinishReason::kNone;

  int64_t total_tokens() const { return int64_t(prompt.size() + output.size()); }
  int32_t token_at(int64_t i) const {
    return i < int64_t(prompt.size()) ? prompt[size_t(i)] : output[size_t(i - int64_t(prompt.size()))];
  }
  // Still feeding the prompt (or recomputing after preemption): more than one token is uncached.
  bool in_prefill() const { return total_tokens() - num_computed > 1 || output.empty(); }
  bool finished() const { return state == RequestState::kFinished; }
};

}  // namespace tachyon::runtime
