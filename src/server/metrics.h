// Server metrics in the Prometheus text format, with vLLM's metric names under a `tachyon:` prefix
// (so existing vLLM dashboards work after a prefix rename). Latency histograms and request counters
// are recorded here; queue depths, token totals and cache usage are read from the engine's stats
// when /metrics is rendered. Recording is a few atomic adds, safe from the engine thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/engine.h"

namespace tachyon::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends the _bucket / _sum / _count lines of `name` with `labels` ("model_name=\"x\"").
  void render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<uint64_t>> counts_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};  // sum in 1e-6 units
};

// How a request ended, as vLLM's request_success_total labels it (plus abort/error counters).
enum class RequestOutcome : uint8_t { kStop, kLength, kToolCalls, kAbort, kError };

class Metrics {
 public:
  Metrics();
  void observe_ttft(double seconds) { ttft_.observe(seconds); }
  void observe_itl(double seconds) { itl_.observe(seconds); }
  void observe_e2e(double seconds) { e2e_.observe(seconds); }
  void count_request(RequestOutcome o) { outcomes_[size_t(o)].fetch_add(1, std::memory_order_relaxed); }
  void count_http_error() { http_errors_.fetch_add(1, std::memory_order_relaxed); }

  // The whole /metrics page.
  std::string render(const std::string& model_name, const runtime::EngineStats& stats) const;

 private:
  Histogram ttft_, itl_, e2e_;
  std::array<std::atomic<uint64_t>, 5> outcomes_{};
  std::atomic<uint64_t> http_errors_{0};
};

}  // namespace tachyon::server
