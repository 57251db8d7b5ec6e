// Prometheus text rendering of the server metrics (see metrics.h). Bucket bounds follow vLLM's.
#include "server/metrics.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/process_stats.h"

namespace tachyon::server {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double v) {
  const size_t i = size_t(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());  // first bound >= v
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(uint64_t(v < 0 ? 0 : v * 1e6), std::memory_order_relaxed);
}

void Histogram::render(const std::string& name, const std::string& labels, std::string* out,
                       double max_bound) const {
  uint64_t cum = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cum += counts_[i].load(std::memory_order_relaxed);
    if (i < bounds_.size() && bounds_[i] > max_bound) continue;
    const std::string le = i < bounds_.size() ? fmt::format("{}", bounds_[i]) : "+Inf";
    *out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le, cum);
  }
  // Divided, not multiplied by 1e-6: whole sums (token counts) print exactly.
  *out += fmt::format("{}_sum{{{}}} {}\n", name, labels, double(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  *out += fmt::format("{}_count{{{}}} {}\n", name, labels, count_.load(std::memory_order_relaxed));
}

std::vector<double> one_two_five_bounds(double max_value) {
  std::vector<double> b;
  for (double scale = 1;; scale *= 10)
    for (double m : {1.0, 2.0, 5.0}) {
      if (m * scale > max_value) return b;
      b.push_back(m * scale);
    }
}

RequestPhases request_phases(const runtime::RequestTimes& t) {
  auto sec = [](runtime::RequestTimes::TimePoint a, runtime::RequestTimes::TimePoint b) {
    return std::chrono::duration<double>(b - a).count();
  };
  return {sec(t.submitted, t.first_scheduled), sec(t.first_scheduled, t.first_token),
          sec(t.first_token, t.last_token), sec(t.first_scheduled, t.last_token)};
}

namespace {

// vLLM's request_latency_buckets (e2e, queue, prefill, decode and inference time) and its inter-token
// buckets (inter-token latency, time per output token).
const std::vector<double> kRequestLatency = {0.3,  0.5,  0.8,  1.0,   1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                                             30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
const std::vector<double> kTokenLatency = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                           0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
// Token-count buckets are kept up to a length no model reaches and rendered up to max_model_len.
constexpr double kTokenBucketsMax = 1e10;

}  // namespace

Metrics::Metrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
             40.0, 80.0, 160.0, 640.0, 2560.0}),
      itl_(kTokenLatency),
      e2e_(kRequestLatency),
      queue_(kRequestLatency),
      prefill_(kRequestLatency),
      decode_(kRequestLatency),
      inference_(kRequestLatency),
      tpot_(kTokenLatency),
      prompt_tokens_(one_two_five_bounds(kTokenBucketsMax)),
      generation_tokens_(one_two_five_bounds(kTokenBucketsMax)),
      max_tokens_(one_two_five_bounds(kTokenBucketsMax)) {}

void Metrics::observe_finished(const FinishedRequest& r) {
  const RequestPhases p = request_phases(r.times);
  queue_.observe(p.queue);
  prefill_.observe(p.prefill);
  decode_.observe(p.decode);
  inference_.observe(p.inference);
  // As vLLM: the first token belongs to the prefill, so decode time is spread over the others.
  tpot_.observe(r.generation_tokens > 1 ? p.decode / double(r.generation_tokens - 1) : 0.0);
  prompt_tokens_.observe(double(r.prompt_tokens));
  generation_tokens_.observe(double(r.generation_tokens));
  max_tokens_.observe(double(r.max_tokens));
}

namespace {

// Prometheus label values escape backslash, quote and newline.
std::string escape_label(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

void header(std::string* out, const char* name, const char* type, const char* help) {
  *out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// The process collector's metrics (no labels, as prometheus_client exports them). When /proc cannot be
// read they are left out and a comment line says why.
void render_process(std::string* out) {
  const Result<ProcessStats> p = read_process_stats();
  if (!p.is_ok()) {
    *out += fmt::format("# process metrics unavailable: {}\n", p.status().message());
    return;
  }
  auto line = [&](const char* name, const char* type, const char* help, auto v) {
    header(out, name, type, help);
    *out += fmt::format("{} {}\n", name, v);
  };
  line("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p->virtual_bytes);
  line("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p->resident_bytes);
  line("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
       p->start_time_seconds);
  line("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p->cpu_seconds);
  line("process_open_fds", "gauge", "Number of open file descriptors.", p->open_fds);
  line("process_max_fds", "gauge", "Maximum number of open file descriptors.", p->max_fds);
}

}  // namespace

std::string Metrics::render(const std::string& model_name, const runtime::EngineStats& s) const {
  const std::string lbl = fmt::format("model_name=\"{}\"", escape_label(model_name));
  std::string o;
  auto scalar = [&](const char* name, const char* type, const char* help, double v) {
    header(&o, name, type, help);
    o += fmt::format("{}{{{}}} {}\n", name, lbl, v);
  };
  scalar("tachyon:num_requests_running", "gauge", "Number of requests in model execution batches.",
         double(s.running));
  scalar("tachyon:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", double(s.waiting));
  const double usage =
      s.cache_units_total > 0 ? double(s.cache_units_used) / double(s.cache_units_total) : 0.0;
  scalar("tachyon:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", usage);
  scalar("tachyon:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
         double(s.prompt_tokens_total));
  scalar("tachyon:generation_tokens_total", "counter", "Number of generation tokens processed.",
         double(s.generation_tokens_total));
  scalar("tachyon:prefix_cache_queries_total", "counter", "Prefix cache queries, in tokens.",
         double(s.prefix_queries));
  scalar("tachyon:prefix_cache_hits_total", "counter", "Prefix cache hits, in tokens.", double(s.prefix_hits));
  scalar("tachyon:num_preemptions_total", "counter", "Cumulative number of preemptions.", double(s.preemptions));
  scalar("tachyon:engine_steps_total", "counter", "Forward steps run by the engine.", double(s.steps));
  scalar("tachyon:greedy_head_screened_rows_total", "counter",
         "Greedy logits rows whose token came from the int8 screen of the head.", double(s.greedy_screened_rows));
  scalar("tachyon:spec_decode_num_drafts_total", "counter", "Number of spec decoding drafts verified.",
         double(s.spec_drafts));
  scalar("tachyon:spec_decode_num_draft_tokens_total", "counter", "Number of draft tokens verified.",
         double(s.spec_draft_tokens));
  scalar("tachyon:spec_decode_num_accepted_tokens_total", "counter", "Number of accepted draft tokens.",
         double(s.spec_accepted_tokens));
  // Derived from the counters since start-up (0 before any draft): the share of draft tokens accepted,
  // and the tokens a verification step yields (1 + accepted drafts per step).
  scalar("tachyon:spec_decode_acceptance_rate", "gauge", "Accepted draft tokens over verified draft tokens.",
         s.spec_draft_tokens > 0 ? double(s.spec_accepted_tokens) / double(s.spec_draft_tokens) : 0.0);
  scalar("tachyon:spec_decode_mean_accepted_length", "gauge", "Tokens per speculative verification step.",
         s.spec_drafts > 0 ? 1.0 + double(s.spec_accepted_tokens) / double(s.spec_drafts) : 0.0);

  header(&o, "tachyon:request_success_total", "counter", "Count of successfully processed requests.");
  const char* reasons[] = {"stop", "length", "tool_calls"};
  for (size_t i = 0; i < 3; ++i)
    o += fmt::format("tachyon:request_success_total{{{},finished_reason=\"{}\"}} {}\n", lbl, reasons[i],
                     outcomes_[i].load(std::memory_order_relaxed));
  scalar("tachyon:request_abort_total", "counter", "Requests cancelled (client disconnect or shutdown).",
         double(outcomes_[size_t(RequestOutcome::kAbort)].load(std::memory_order_relaxed)));
  scalar("tachyon:request_error_total", "counter", "Requests that ended with an engine error.",
         double(outcomes_[size_t(RequestOutcome::kError)].load(std::memory_order_relaxed)));
  scalar("tachyon:nonfinite_failures_total", "counter",
         "Requests failed because the model produced NaN or infinity for them (corrupt weights).",
         double(s.nonfinite_failures));
  scalar("tachyon:http_request_errors_total", "counter", "Requests answered with an HTTP error status.",
         double(http_errors_.load(std::memory_order_relaxed)));

  header(&o, "tachyon:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.");
  ttft_.render("tachyon:time_to_first_token_seconds", lbl, &o);
  header(&o, "tachyon:inter_token_latency_seconds", "histogram", "Histogram of inter-token latency in seconds.");
  itl_.render("tachyon:inter_token_latency_seconds", lbl, &o);
  header(&o, "tachyon:e2e_request_latency_seconds", "histogram", "Histogram of end-to-end request latency.");
  e2e_.render("tachyon:e2e_request_latency_seconds", lbl, &o);

  // Per-request histograms: one observation per engine request that finished with stop or length.
  auto histogram = [&](const char* name, const char* help, const Histogram& h, double max_bound) {
    header(&o, name, "histogram", help);
    h.render(name, lbl, &o, max_bound);
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double max_len = s.max_model_len > 0 ? double(s.max_model_len) : inf;
  histogram("tachyon:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", queue_,
            inf);
  histogram("tachyon:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.",
            inference_, inf);
  histogram("tachyon:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
            prefill_, inf);
  histogram("tachyon:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", decode_,
            inf);
  histogram("tachyon:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request.", tpot_, inf);
  histogram("tachyon:request_prompt_tokens", "Number of prefill tokens processed.", prompt_tokens_, max_len);
  histogram("tachyon:request_generation_tokens", "Number of generation tokens processed.", generation_tokens_,
            max_len);
  histogram("tachyon:request_params_max_tokens", "Histogram of the max_tokens request parameter.", max_tokens_,
            max_len);
  render_process(&o);
  return o;
}

}  // namespace tachyon::server
