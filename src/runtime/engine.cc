#include "runtime/engine.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/log.h"

namespace tachyon::runtime {

int64_t available_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& cfg) {
  std::unique_ptr<Engine> e(new Engine());
  e->cfg_ = cfg;
  TACHYON_ASSIGN_OR_RETURN(e->ck_, dsv4::load_checkpoint(cfg.model_dir));
  if (!dsv4::Numerics::parse(cfg.numerics, &e->ctx_.numerics)) return error("unknown numerics '{}'", cfg.numerics);
  e->pool_ = std::make_unique<ThreadPool>(cfg.threads);
  e->ctx_.ops = ops::OpContext::make(*e->pool_);
  // Official numerics hold every cached value exactly in the compact format (cache_codec.h).
  const bool quantised = e->ctx_.numerics.kv_quant && e->ctx_.numerics.indexer_quant;
  dsv4::CacheFormat format = quantised ? dsv4::CacheFormat::kCompact : dsv4::CacheFormat::kF32;
  if (cfg.kv_cache_dtype != "auto" && !dsv4::parse_cache_format(cfg.kv_cache_dtype.c_str(), &format))
    return error("unknown kv cache dtype '{}' (auto, fp32, fp8, fp8-bf16rope)", cfg.kv_cache_dtype);
  if (format != dsv4::CacheFormat::kF32 && !quantised)
    return error("kv cache dtype '{}' needs official numerics (exact numerics keep fp32 entries)",
                 dsv4::cache_format_name(format));
  e->model_ = std::make_unique<dsv4::Model>(*e->ck_, format);
  int64_t budget = cfg.cache_memory;
  if (budget <= 0) budget = int64_t(double(available_memory_bytes()) * cfg.cache_fraction);
  if (budget <= 0) return Status::error("cannot size the cache: give --cache-memory");
  e->cache_bytes_ = budget;
  e->cache_ = std::make_unique<CacheManager>(e->ck_->config, e->model_->pools(), budget, cfg.prefix_caching);
  int64_t max_len = e->cache_->max_tokens();
  if (e->ck_->config.max_position_embeddings > 0) max_len = std::min(max_len, e->ck_->config.max_position_embeddings);
  if (cfg.scheduler.max_model_len > 0) max_len = std::min(max_len, cfg.scheduler.max_model_len);
  if (max_len < 2) return error("--cache-memory {} bytes holds only {} tokens", budget, e->cache_->max_tokens());
  e->max_model_len_ = max_len;
  SchedulerConfig sc = cfg.scheduler;
  sc.max_model_len = max_len;
  e->sched_ = std::make_unique<Scheduler>(sc, *e->cache_);
  e->stats_.cache_units_total = e->cache_->total_units();
  e->thread_ = std::thread([p = e.get()] { p->loop(); });
  return e;
}

Engine::~Engine() { shutdown(); }

void Engine::shutdown() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SubmitResult Engine::submit(std::vector<int32_t> prompt, const GenerationParams& params, EventSink sink) {
  SubmitResult res;
  const int vocab = ck_->config.vocab_size;
  if (prompt.empty()) return {SubmitCode::kInvalid, 0, "the prompt is empty"};
  for (int32_t t : prompt)
    if (t < 0 || t >= vocab) return {SubmitCode::kInvalid, 0, fmt::format("token id {} is outside the vocabulary", t)};
  for (int32_t t : params.prefix_tokens)
    if (t < 0 || t >= vocab) return {SubmitCode::kInvalid, 0, fmt::format("token id {} is outside the vocabulary", t)};
  if (params.max_tokens < 1) return {SubmitCode::kInvalid, 0, "max_tokens must be at least 1"};
  if (int64_t(prompt.size()) + params.max_tokens > max_model_len_)
    return {SubmitCode::kTooLong, 0,
            fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens ({} in "
                        "the messages, {} in the completion).",
                        max_model_len_, int64_t(prompt.size()) + params.max_tokens, prompt.size(), params.max_tokens)};
  auto l = std::make_unique<Live>();
  l->req.prompt = std::move(prompt);
  l->req.max_new_tokens = params.max_tokens;
  l->params = params;
  l->sink = std::move(sink);
  l->sampler = std::make_unique<Sampler>(params.sampling);
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stop_) return {SubmitCode::kShuttingDown, 0, "the server is shutting down"};
    if (int64_t(sched_->num_waiting() + inbox_.size()) >= cfg_.scheduler.max_waiting)
      return {SubmitCode::kQueueFull, 0, "too many requests are waiting; retry later"};
    l->req.id = next_id_++;
    res.id = l->req.id;
    inbox_.push_back(std::move(l));
  }
  cv_.notify_all();
  return res;
}

void Engine::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> g(mu_);
    cancels_.push_back(id);
  }
  cv_.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

void Engine::publish_stats(int64_t preempted) {
  std::lock_guard<std::mutex> g(mu_);
  stats_.running = int64_t(sched_->num_running());
  stats_.waiting = int64_t(sched_->num_waiting());
  stats_.cache_units_used = cache_->used_units();
  stats_.preemptions += preempted;
  stats_.prefix_queries = cache_->prefix_queries();
  stats_.prefix_hits = cache_->prefix_hits();
  stats_.prefix_cache_units = cache_->snapshot_units();
  if (PrefixCache* pc = cache_->prefix_cache()) stats_.prefix_snapshots = pc->snapshots();
}

void Engine::emit_final(Live& l, FinishReason why) {
  publish_stats(0);  // the caller sees its blocks returned once it sees the final event
  RequestEvent ev;
  ev.id = l.req.id;
  ev.finished = true;
  ev.reason = why;
  ev.prompt_tokens = int64_t(l.req.prompt.size());
  ev.completion_tokens = int64_t(l.req.output.size());
  ev.cached_tokens = l.req.num_cached_prefix;
  l.sink(ev);
}

void Engine::loop() {
  for (;;) {
    std::vector<std::unique_ptr<Live>> arrivals;
    std::vector<uint64_t> cancels;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !inbox_.empty() || !cancels_.empty() || !sched_->idle(); });
      if (stop_) break;
      arrivals.swap(inbox_);
      cancels.swap(cancels_);
    }
    for (auto& l : arrivals) {
      Request* r = &l->req;
      const uint64_t id = r->id;
      live_[id] = std::move(l);
      if (!sched_->add(r)) {  // the queue bound was checked at submit; keep the invariant anyway
        emit_final(*live_[id], FinishReason::kError);
        live_.erase(id);
      }
    }
    for (uint64_t id : cancels) {
      auto it = live_.find(id);
      if (it == live_.end()) continue;
      sched_->cancel(id);
      emit_final(*it->second, FinishReason::kCancelled);
      live_.erase(it);
    }
    StepPlan plan = sched_->schedule();
    for (Request* r : plan.preempted)
      if (r->finished()) {  // could never fit the cache
        auto it = live_.find(r->id);
        if (it != live_.end()) {
          emit_final(*it->second, FinishReason::kError);
          live_.erase(it);
        }
      }
    if (!plan.empty()) run_step(plan);
    publish_stats(int64_t(plan.preempted.size()));
  }
  // Shutdown: every live request ends as cancelled and returns its blocks.
  for (auto& [id, l] : live_) {
    sched_->cancel(id);
    emit_final(*l, FinishReason::kCancelled);
  }
  live_.clear();
}

std::vector<Engine::Capture> Engine::plan_captures(const StepPlan& plan) {
  std::vector<Capture> caps;
  PrefixCache* pc = cache_->prefix_cache();
  if (!pc) return caps;
  const int64_t g = pc->granularity();
  for (const ScheduledChunk& c : plan.chunks) {
    const int64_t at = (c.start + c.n) / g * g;  // the last snapshot position this chunk reaches
    if (at <= c.start) continue;
    std::vector<int32_t> tokens(c.req->prompt);
    tokens.insert(tokens.end(), c.req->output.begin(), c.req->output.end());
    if (pc->contains(tokens, at)) continue;
    if (!cache_->reserve_capture(model_->pools().capture_bytes(at, false))) continue;
    Capture cap{c.req, std::make_unique<dsv4::Snapshot>(model_->pools().new_snapshot(at))};
    cache_->state(*c.req).capture = cap.snap.get();
    caps.push_back(std::move(cap));
  }
  return caps;
}

void Engine::finish_captures(std::vector<Capture>& caps) {
  dsv4::CachePools& pools = model_->pools();
  for (Capture& cap : caps) {
    cache_->state(*cap.req).capture = nullptr;
    if (!pools.snapshot_complete(*cap.snap, false)) {
      pools.release(*cap.snap);
      continue;
    }
    std::vector<int32_t> tokens(cap.req->prompt);
    tokens.insert(tokens.end(), cap.req->output.begin(), cap.req->output.end());
    cache_->prefix_cache()->insert(tokens, std::move(*cap.snap));
  }
  cache_->settle();
}

void Engine::run_step(StepPlan& plan) {
  const int64_t V = ck_->config.vocab_size;
  std::vector<std::vector<int32_t>> feeds(plan.chunks.size());
  std::vector<dsv4::SeqInput> inputs;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    for (int64_t t = c.start; t < c.start + c.n; ++t) feeds[i].push_back(c.req->token_at(t));
    inputs.push_back({&cache_->state(*c.req), feeds[i], false});
  }
  std::vector<Capture> caps = plan_captures(plan);
  dsv4::ForwardOutput out;
  model_->forward(ctx_, inputs, out);
  finish_captures(caps);
  const dsv4::CachePools& pools = model_->pools();
  TACHYON_CHECK(pools.bytes_in_use() - pools.snapshot_only_bytes() <= cache_->used_units() * CacheManager::kUnitBytes,
                "cache pools hold more than the accounting reserved");
  sched_->complete(plan);
  int64_t prompt_tokens = 0, gen_tokens = 0, finished = 0;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    Request* r = c.req;
    prompt_tokens += std::max<int64_t>(0, std::min<int64_t>(c.start + c.n, int64_t(r->prompt.size())) - c.start);
    if (!c.samples()) continue;
    Live& l = *live_.at(r->id);
    const float* logits = out.logits.data() + int64_t(i) * V;  // one row per chunk: its last token
    const GenerationParams& p = l.params;
    const int eos = ck_->config.eos_token_id;
    const bool block_eos = int64_t(r->output.size()) < p.min_tokens && !p.ignore_eos;
    TokenOutput tok;
    const size_t k = r->output.size();
    if (!p.forced_tokens.empty()) {
      tok.token = k < p.forced_tokens.size() ? p.forced_tokens[k] : eos;
    } else if (k < p.prefix_tokens.size()) {
      tok.token = p.prefix_tokens[k];
    } else {
      tok.token = l.sampler->sample(logits, V, r->prompt, r->output, block_eos ? eos : -1);
    }
    if (p.top_logprobs >= 0) l.sampler->logprobs(logits, V, tok.token, p.top_logprobs, &tok.logprob, &tok.top);
    r->output.push_back(tok.token);
    ++gen_tokens;
    RequestEvent ev;
    ev.id = r->id;
    ev.token = tok;
    ev.prompt_tokens = int64_t(r->prompt.size());
    ev.completion_tokens = int64_t(r->output.size());
    ev.cached_tokens = r->num_cached_prefix;
    bool keep = l.sink(ev);
    FinishReason why = FinishReason::kNone;
    const bool min_done = int64_t(r->output.size()) >= p.min_tokens;
    if (!keep) why = FinishReason::kStop;
    else if (min_done && !p.ignore_eos && tok.token == eos) why = FinishReason::kStop;
    else if (min_done && std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), tok.token) != p.stop_token_ids.end())
      why = FinishReason::kStop;
    else if (int64_t(r->output.size()) >= r->max_new_tokens) why = FinishReason::kLength;
    if (why != FinishReason::kNone) {
      sched_->finish(r, why);
      emit_final(l, why);
      live_.erase(r->id);
      ++finished;
    }
  }
  std::lock_guard<std::mutex> g(mu_);
  stats_.prompt_tokens_total += prompt_tokens;
  stats_.generation_tokens_total += gen_tokens;
  stats_.requests_finished += finished;
  stats_.steps++;
}

}  // namespace tachyon::runtime
