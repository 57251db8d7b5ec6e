// Server metrics in the Prometheus text format, with vLLM's metric names under a `tachyon:` prefix
// (so existing vLLM dashboards work after a prefix rename). Latency histograms, per-request histograms
// and request counters are recorded here; queue depths, token totals and cache usage are read from the
// engine's stats when /metrics is rendered, and the process_* figures (unprefixed, as Prometheus'
// process collector names them) from /proc. Recording is a few atomic adds, safe from the engine thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace tachyon::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends the _bucket / _sum / _count lines of `name` with `labels` ("model_name=\"x\""), leaving out
  // the buckets above `max_bound` (their counts still go into the larger buckets and +Inf).
  void render(const std::string& name, const std::string& labels, std::string* out,
              double max_bound = std::numeric_limits<double>::infinity()) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};  // sum in 1e-6 units
};

// vLLM's 1-2-5 bucket bounds (1, 2, 5, 10, 20, 50, ...) up to `max_value`.
std::vector<double> one_two_five_bounds(double max_value);

// The phases of a request in seconds, from its stage times, as vLLM defines them: queue = submitted ->
// first scheduled, prefill = first scheduled -> first token, decode = first token -> last token,
// inference = first scheduled -> last token (so prefill + decode = inference).
struct RequestPhases {
  double queue = 0, prefill = 0, decode = 0, inference = 0;
};
RequestPhases request_phases(const runtime::RequestTimes& t);

// What vLLM's per-request histograms record of one engine request that finished with stop or length.
struct FinishedRequest {
  runtime::RequestTimes times;
  int64_t prompt_tokens = 0, generation_tokens = 0, max_tokens = 0;
};

// How a request ended, as vLLM's request_success_total labels it (plus abort/error counters).
enum class RequestOutcome : uint8_t { kStop, kLength, kToolCalls, kAbort, kError };

class Metrics {
 public:
  Metrics();
  void observe_ttft(double seconds) { ttft_.observe(seconds); }
  void observe_itl(double seconds) { itl_.observe(seconds); }
  void observe_e2e(double seconds) { e2e_.observe(seconds); }
  // The per-request histograms: phases, time per output token, prompt and generation tokens, max_tokens.
  void observe_finished(const FinishedRequest& r);
  void count_request(RequestOutcome o) { outcomes_[size_t(o)].fetch_add(1, std::memory_order_relaxed); }
  void count_http_error() { http_errors_.fetch_add(1, std::memory_order_relaxed); }

  // The whole /metrics page.
  std::string render(const std::string& model_name, const runtime::EngineStats& stats) const;

 private:
  Histogram ttft_, itl_, e2e_;
  Histogram queue_, prefill_, decode_, inference_, tpot_;
  Histogram prompt_tokens_, generation_tokens_, max_tokens_;  // 1-2-5 buckets, rendered up to max_model_len
  std::array<std::atomic<uint64_t>, 5> outcomes_{};
  std::atomic<uint64_t> http_errors_{0};
};

}  // namespace tachyon::server
