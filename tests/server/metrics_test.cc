// The /metrics page: vLLM's per-request histograms (queue, prefill, decode and inference time, time per
// output token, prompt and generation tokens, max_tokens) and the process_* metrics. Hand-made stage
// times check the arithmetic and the buckets; requests through the engine (the golden tiny checkpoint)
// and Generation check that the engine's stage times and the recorded counts and sums agree with what
// the test submitted, preemption included.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/process_stats.h"
#include "runtime/engine.h"
#include "server/generation.h"
#include "server/metrics.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace tachyon::server {
namespace {

using runtime::RequestTimes;
using TimePoint = RequestTimes::TimePoint;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

const std::string kModel = std::string(TACHYON_TEST_DATA) + "/golden/tiny-flash/model";
const std::string kLabel = "{model_name=\"m\"}";

// Every sample line of a page, keyed by name and labels. Also checks that each sample's family was
// introduced by a HELP and a TYPE line before it.
std::map<std::string, double> samples(const std::string& page) {
  std::map<std::string, double> out;
  std::set<std::string> helped, typed;
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) helped.insert(line.substr(7, line.find(' ', 7) - 7));
    if (line.rfind("# TYPE ", 0) == 0) typed.insert(line.substr(7, line.find(' ', 7) - 7));
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    const std::string key = line.substr(0, sp);
    std::string family = key.substr(0, key.find('{'));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (family.size() > s.size() && family.ends_with(s) && typed.count(family.substr(0, family.size() - s.size())))
        family.resize(family.size() - s.size());
    }
    EXPECT_TRUE(helped.count(family) && typed.count(family)) << "no HELP/TYPE before " << line;
    out[key] = std::stod(line.substr(sp + 1));
  }
  return out;
}

double at(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  EXPECT_NE(it, m.end()) << "missing " << key;
  return it == m.end() ? -1 : it->second;
}
double sum(const std::map<std::string, double>& m, const std::string& h) { return at(m, h + "_sum" + kLabel); }
double count(const std::map<std::string, double>& m, const std::string& h) { return at(m, h + "_count" + kLabel); }
double bucket(const std::map<std::string, double>& m, const std::string& h, const std::string& le) {
  return at(m, h + "_bucket{model_name=\"m\",le=\"" + le + "\"}");
}
// The finite `le` values rendered for histogram h, in page order.
std::vector<std::string> bucket_bounds(const std::string& page, const std::string& h) {
  std::vector<std::string> les;
  const std::string prefix = h + "_bucket{model_name=\"m\",le=\"";
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) {
      const std::string le = line.substr(prefix.size(), line.find('"', prefix.size()) - prefix.size());
      if (le != "+Inf") les.push_back(le);
    }
  return les;
}

const char* kTimeHistograms[] = {"tachyon:request_queue_time_seconds", "tachyon:request_prefill_time_seconds",
                                 "tachyon:request_decode_time_seconds", "tachyon:request_inference_time_seconds",
                                 "tachyon:request_time_per_output_token_seconds"};
const char* kTokenHistograms[] = {"tachyon:request_prompt_tokens", "tachyon:request_generation_tokens",
                                  "tachyon:request_params_max_tokens"};

RequestTimes times_ms(int submitted, int scheduled, int first, int last) {
  const TimePoint base = TimePoint{} + std::chrono::seconds(1000);
  return {base + milliseconds(submitted), base + milliseconds(scheduled), base + milliseconds(first),
          base + milliseconds(last)};
}

TEST(Metrics, RequestPhasesFollowVllmsDefinitions) {
  const RequestPhases p = request_phases(times_ms(0, 250, 750, 3750));
  EXPECT_DOUBLE_EQ(p.queue, 0.25);
  EXPECT_DOUBLE_EQ(p.prefill, 0.5);
  EXPECT_DOUBLE_EQ(p.decode, 3.0);
  EXPECT_DOUBLE_EQ(p.inference, 3.5);
}

TEST(Metrics, OneTwoFiveBounds) {
  EXPECT_EQ(one_two_five_bounds(100), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(one_two_five_bounds(4096), (std::vector<double>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}));
  EXPECT_TRUE(one_two_five_bounds(0.5).empty());
}

TEST(Metrics, PerRequestHistogramsRecordCountsSumsAndBuckets) {
  Metrics m;
  m.observe_finished({times_ms(0, 250, 750, 3750), 7, 4, 16});
  m.observe_finished({times_ms(0, 1000, 1500, 1500), 100, 1, 1});
  runtime::EngineStats stats;
  stats.max_model_len = 1500;
  const std::string page = m.render("m", stats);
  const auto s = samples(page);
  for (const char* h : kTimeHistograms) EXPECT_EQ(count(s, h), 2) << h;
  for (const char* h : kTokenHistograms) EXPECT_EQ(count(s, h), 2) << h;
  EXPECT_NEAR(sum(s, "tachyon:request_queue_time_seconds"), 1.25, 1e-9);
  EXPECT_NEAR(sum(s, "tachyon:request_prefill_time_seconds"), 1.0, 1e-9);
  EXPECT_NEAR(sum(s, "tachyon:request_decode_time_seconds"), 3.0, 1e-9);
  EXPECT_NEAR(sum(s, "tachyon:request_inference_time_seconds"), 4.0, 1e-9);
  // 3 s over the 3 tokens after the first; a one-token request counts 0, as in vLLM.
  EXPECT_NEAR(sum(s, "tachyon:request_time_per_output_token_seconds"), 1.0, 1e-9);
  EXPECT_EQ(sum(s, "tachyon:request_prompt_tokens"), 107);
  EXPECT_EQ(sum(s, "tachyon:request_generation_tokens"), 5);
  EXPECT_EQ(sum(s, "tachyon:request_params_max_tokens"), 17);
  // Bucket edges: a value on a bound falls in that bucket.
  EXPECT_EQ(bucket(s, "tachyon:request_queue_time_seconds", "0.3"), 1);
  EXPECT_EQ(bucket(s, "tachyon:request_queue_time_seconds", "0.8"), 1);
  EXPECT_EQ(bucket(s, "tachyon:request_queue_time_seconds", "1"), 2);
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "5"), 0);
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "10"), 1);
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "50"), 1);
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "100"), 2);
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "+Inf"), 2);
  EXPECT_EQ(bucket(s, "tachyon:request_generation_tokens", "1"), 1);
  // Token buckets stop at max_model_len (1500: the last 1-2-5 bound is 1000).
  const std::vector<std::string> les = {"1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"};
  for (const char* h : kTokenHistograms) EXPECT_EQ(bucket_bounds(page, h), les) << h;
  EXPECT_EQ(bucket_bounds(page, "tachyon:request_decode_time_seconds").back(), "7680");
}

// A value above every rendered token bound still counts in +Inf, and an unknown max_model_len (0)
// renders every bound.
TEST(Metrics, TokenBucketsAboveTheLimitStillCount) {
  Metrics m;
  m.observe_finished({times_ms(0, 1, 2, 3), 3000, 2, 2});
  runtime::EngineStats stats;
  stats.max_model_len = 2000;
  auto s = samples(m.render("m", stats));
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "2000"), 0);
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "+Inf"), 1);
  EXPECT_EQ(s.count("tachyon:request_prompt_tokens_bucket{model_name=\"m\",le=\"5000\"}"), 0u);
  stats.max_model_len = 0;
  s = samples(m.render("m", stats));
  EXPECT_EQ(bucket(s, "tachyon:request_prompt_tokens", "5000"), 1);
}

TEST(Metrics, ProcessMetricsHaveNoPrefixAndNoLabels) {
  // The kernel counts CPU time in clock ticks (10 ms here), and a test process alone may not have used
  // one yet: spin until it has (at most two seconds), so that the counter cannot read 0.
  const auto t0 = std::chrono::steady_clock::now();
  volatile uint64_t spin = 0;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2)) {
    for (int i = 0; i < 1000000; ++i) spin = spin + 1;
    auto ps = read_process_stats();
    if (ps.is_ok() && ps->cpu_seconds > 0) break;
  }
  Metrics m;
  const std::string page = m.render("m", runtime::EngineStats{});
  const auto s = samples(page);
  EXPECT_GT(at(s, "process_resident_memory_bytes"), 0);
  EXPECT_GE(at(s, "process_virtual_memory_bytes"), at(s, "process_resident_memory_bytes"));
  EXPECT_GE(at(s, "process_open_fds"), 3);
  EXPECT_GE(at(s, "process_max_fds"), at(s, "process_open_fds"));
  EXPECT_GT(at(s, "process_cpu_seconds_total"), 0);
  EXPECT_GT(at(s, "process_start_time_seconds"), 1e9);
  EXPECT_NE(page.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(page.find("# TYPE process_resident_memory_bytes gauge\n"), std::string::npos);
}

// A byte-level tokenizer (ids 0..255 are the bytes): Generation detokenizes, the test reads numbers.
std::unique_ptr<tok::Tokenizer> byte_tokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    tok::append_code_point(tok::byte_to_code_point(uint8_t(b)), &ch);
    vocab[ch] = b;
  }
  const nlohmann::json j = {{"version", "1.0"},
                            {"normalizer", nullptr},
                            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
                            {"decoder", {{"type", "ByteLevel"}}},
                            {"added_tokens", nlohmann::json::array()},
                            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  auto t = tok::Tokenizer::from_json(j.dump(), "bytes.json");
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return std::move(t).value();
}

runtime::EngineConfig engine_config(int64_t cache_bytes) {
  runtime::EngineConfig cfg;
  cfg.model_dir = kModel;
  cfg.threads = 2;
  cfg.cache_memory = cache_bytes;
  cfg.scheduler.max_num_seqs = 16;
  cfg.scheduler.max_num_batched_tokens = 64;
  cfg.scheduler.max_model_len = 512;
  return cfg;
}

std::vector<int32_t> prompt_of(int i) {
  std::vector<int32_t> p = {0};
  for (int k = 0; k < 5 + 7 * i; ++k) p.push_back(2 + (i * 131 + k * 17) % 2000);
  return p;
}

// Runs the choices through one Generation to the end.
void run(runtime::Engine& e, const tok::Tokenizer& t, Metrics& m, std::vector<ChoiceSpec> specs) {
  Generation g(e, t, m, 1);
  ASSERT_EQ(g.start(std::move(specs), TextOptions{}).code, runtime::SubmitCode::kOk);
  std::vector<ChoiceEvent> evs;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (g.next(&evs, deadline)) ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "generation timed out";
}

TEST(Metrics, EngineRequestsAddUpInTheHistograms) {
  auto e = runtime::Engine::create(engine_config(64 << 20));
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  const auto tokenizer = byte_tokenizer();
  Metrics m;
  std::vector<ChoiceSpec> specs;
  int64_t prompt_total = 0, gen_total = 0;
  const int n = 6;
  for (int i = 0; i < n; ++i) {
    ChoiceSpec c;
    c.prompt = prompt_of(i);
    c.params.max_tokens = 3 + i;
    c.params.ignore_eos = true;
    prompt_total += int64_t(c.prompt.size());
    gen_total += c.params.max_tokens;
    specs.push_back(std::move(c));
  }
  run(**e, *tokenizer, m, std::move(specs));
  const runtime::EngineStats stats = (*e)->stats();
  EXPECT_EQ(stats.max_model_len, (*e)->max_model_len());
  const std::string page = m.render("m", stats);
  const auto s = samples(page);
  for (const char* h : kTimeHistograms) EXPECT_EQ(count(s, h), n) << h;
  for (const char* h : kTokenHistograms) EXPECT_EQ(count(s, h), n) << h;
  EXPECT_EQ(count(s, "tachyon:e2e_request_latency_seconds"), n);
  EXPECT_EQ(sum(s, "tachyon:request_prompt_tokens"), double(prompt_total));
  EXPECT_EQ(sum(s, "tachyon:request_generation_tokens"), double(gen_total));
  EXPECT_EQ(sum(s, "tachyon:request_params_max_tokens"), double(gen_total));
  // Prefill and decode make up the inference time (each sum rounds down to a microsecond per request);
  // the engine's stages sit inside the server's end-to-end time.
  const double queue = sum(s, "tachyon:request_queue_time_seconds");
  const double prefill = sum(s, "tachyon:request_prefill_time_seconds");
  const double decode = sum(s, "tachyon:request_decode_time_seconds");
  const double inference = sum(s, "tachyon:request_inference_time_seconds");
  EXPECT_NEAR(prefill + decode, inference, 3e-6 * n);
  EXPECT_GT(prefill, 0);
  EXPECT_GT(decode, 0);
  EXPECT_LE(queue + inference, sum(s, "tachyon:e2e_request_latency_seconds") + 1e-6 * n);
  EXPECT_GT(sum(s, "tachyon:request_time_per_output_token_seconds"), 0);
  // Token buckets end at the largest 1-2-5 bound within max_model_len.
  const std::vector<double> want = one_two_five_bounds(double(stats.max_model_len));
  const std::vector<std::string> les = bucket_bounds(page, "tachyon:request_prompt_tokens");
  ASSERT_EQ(les.size(), want.size());
  EXPECT_EQ(std::stod(les.back()), want.back());
}

// The engine's stage times are in order on every final event, also when a small cache preempts
// requests (running ones go back to the queue and are recomputed): first_scheduled stays at the first
// admission, so it never comes after the first token even for a request readmitted after it. Two
// long generations outgrow the cache together, so the later one is preempted in its decode (with the
// prefix cache off it then recomputes from position 0, like a new admission).
TEST(Metrics, EngineStageTimesStayInOrderUnderPreemption) {
  runtime::EngineConfig cfg = engine_config(1 << 20);  // under 800 tokens: less than both requests' 820
  cfg.kv_cache_dtype = "fp32";
  cfg.prefix_caching = false;  // a readmitted request recomputes from its first token
  auto e = runtime::Engine::create(cfg);
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  struct Seen {
    std::mutex mu;
    TimePoint first_event;  // when the sink saw the first token
    RequestTimes times;
    int tokens = 0;
    bool done = false;
  };
  const int n = 2, gen = 400;
  std::vector<std::shared_ptr<Seen>> seen;
  const TimePoint before = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto sn = std::make_shared<Seen>();
    seen.push_back(sn);
    runtime::GenerationParams gp;
    gp.max_tokens = gen;
    gp.ignore_eos = true;
    auto r = (*e)->submit(prompt_of(i), gp, [sn](const runtime::RequestEvent& ev) {
      std::lock_guard<std::mutex> g(sn->mu);
      if (ev.token && sn->tokens++ == 0) sn->first_event = std::chrono::steady_clock::now();
      if (ev.finished) {
        sn->times = ev.times;
        sn->done = true;
      }
      return true;
    });
    ASSERT_EQ(r.code, runtime::SubmitCode::kOk) << r.message;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (auto& sn : seen)
    while (true) {
      {
        std::lock_guard<std::mutex> g(sn->mu);
        if (sn->done) break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline);
      std::this_thread::sleep_for(milliseconds(5));
    }
  EXPECT_GT((*e)->stats().preemptions, 0);
  // Seconds since just before the first submission (readable failure messages).
  auto at_s = [&](TimePoint t) { return std::chrono::duration<double>(t - before).count(); };
  for (int i = 0; i < n; ++i) {
    const Seen& sn = *seen[size_t(i)];
    const RequestTimes& t = sn.times;
    EXPECT_EQ(sn.tokens, gen) << i;
    EXPECT_GE(at_s(t.submitted), 0) << i;
    EXPECT_LE(at_s(t.submitted), at_s(t.first_scheduled)) << i;
    EXPECT_LE(at_s(t.first_scheduled), at_s(t.first_token)) << i;
    EXPECT_LT(at_s(t.first_token), at_s(t.last_token)) << i;
    EXPECT_LE(at_s(t.first_token), at_s(sn.first_event)) << i;  // stamped before delivery
  }
}

}  // namespace
}  // namespace tachyon::server
