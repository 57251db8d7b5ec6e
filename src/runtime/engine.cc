#include "runtime/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/check.h"
#include "core/log.h"
#include "model/deepseek_v4/repack.h"

namespace tachyon::runtime {

namespace {

int64_t meminfo_bytes(const char* field) {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == field) return kb * 1024;
  return 0;
}

std::string gib(int64_t bytes) {
  if (bytes < (int64_t(1) << 30)) return fmt::format("{:.1f} MiB", double(bytes) / double(1 << 20));
  return fmt::format("{:.1f} GiB", double(bytes) / double(int64_t(1) << 30));
}

}  // namespace

int64_t available_memory_bytes() { return meminfo_bytes("MemAvailable:"); }
int64_t total_memory_bytes() { return meminfo_bytes("MemTotal:"); }

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& cfg) {
  std::unique_ptr<Engine> e(new Engine());
  e->cfg_ = cfg;
  TACHYON_ASSIGN_OR_RETURN(e->ck_, dsv4::load_checkpoint(cfg.model_dir));
  e->pool_ = std::make_unique<ThreadPool>(cfg.threads);
  TACHYON_ASSIGN_OR_RETURN(const cpu::Isa isa, cpu::choose_isa(cfg.isa, cpu::detect_cpu_features()));
  e->ctx_.ops = ops::OpContext::make(*e->pool_, isa);
  if (!dsv4::Numerics::parse(cfg.numerics, e->ctx_.ops.k->native_i8, &e->ctx_.numerics))
    return error("unknown numerics '{}' (auto, official, fast or exact)", cfg.numerics);
  if (cfg.check_values) TACHYON_RETURN_IF_ERROR(check_weight_values(*e->ck_, *e->pool_));
  // Official numerics hold every cached value exactly in the compact format (cache_codec.h).
  TACHYON_ASSIGN_OR_RETURN(const dsv4::CacheFormat format,
                           dsv4::choose_cache_format(cfg.kv_cache_dtype, e->ctx_.numerics));
  e->model_ = std::make_unique<dsv4::Model>(*e->ck_, format);
  // The fast numerics' int8 rows (every FP8 linear and the head), before the cache is sized.
  if (dsv4::wants_int8_rows(e->ctx_)) e->repacked_bytes_ = dsv4::repack_int8(*e->ck_, e->ctx_.ops);
  if (cfg.speculative_tokens < 0) return Status::error("speculative_tokens must be at least 0");
  if (cfg.speculative_tokens > 0 && e->ck_->weights.mtp.empty())
    return Status::error("speculative decoding needs an MTP module, and this checkpoint has none");
  if (cfg.spec_draft_head != "int8" && cfg.spec_draft_head != "bf16")
    return error("unknown draft head '{}' (int8, bf16)", cfg.spec_draft_head);
  if (cfg.greedy_head != "int8" && cfg.greedy_head != "bf16")
    return error("unknown greedy head '{}' (int8, bf16)", cfg.greedy_head);
  e->draft_logits_ = cfg.spec_draft_head == "int8" ? dsv4::MtpLogits::kDraft : dsv4::MtpLogits::kExact;
  e->greedy_screen_ = cfg.greedy_head == "int8";
  // The int8 head is built before the cache is sized from the memory left. The int8-row head of the fast
  // numerics gives every row's logits at that cost already (Model::head), so it needs none.
  const bool head_rows = e->ck_->weights.head_i8 != nullptr && dsv4::wants_int8_rows(e->ctx_);
  if (!head_rows && ((cfg.speculative_tokens > 0 && e->draft_logits_ == dsv4::MtpLogits::kDraft) || e->greedy_screen_))
    e->model_->enable_draft_head(e->ctx_);
  int64_t budget = cfg.cache_memory;
  if (const int64_t total = total_memory_bytes(); budget > 0 && total > 0 && budget > total)
    return error("--cache-memory {} is more than this machine's memory ({})", gib(budget), gib(total));
  if (budget <= 0) budget = int64_t(double(available_memory_bytes()) * cfg.cache_fraction);
  if (budget <= 0) return Status::error("cannot size the cache: give --cache-memory");
  e->cache_bytes_ = budget;
  e->cache_ = std::make_unique<CacheManager>(e->ck_->config, e->model_->pools(), budget, cfg.prefix_caching,
                                             cfg.speculative_tokens);
  int64_t max_len = e->cache_->max_tokens();
  const int64_t max_pos = e->ck_->config.max_position_embeddings;
  if (max_len < 2) return error("--cache-memory {} bytes holds only {} tokens", budget, e->cache_->max_tokens());
  // A context longer than the model was built for, or than the cache holds, is refused, not clamped.
  if (const int64_t want = cfg.scheduler.max_model_len; want > 0) {
    if (max_pos > 0 && want > max_pos)
      return error("--max-model-len {} is longer than the model's context (max_position_embeddings {})", want,
                   max_pos);
    if (want > max_len)
      return error("--max-model-len {} does not fit in the cache: {} of cache memory holds {} tokens of one "
                   "sequence (raise --cache-memory or lower --max-model-len)",
                   want, gib(budget), max_len);
    max_len = want;
  }
  if (max_pos > 0) max_len = std::min(max_len, max_pos);
  e->max_model_len_ = max_len;
  SchedulerConfig sc = cfg.scheduler;
  sc.max_model_len = max_len;
  e->sched_ = std::make_unique<Scheduler>(sc, *e->cache_);
  e->stats_.cache_units_total = e->cache_->total_units();
  e->stats_.max_model_len = max_len;
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
  if (std::string why = check_grammar(params); !why.empty()) return {SubmitCode::kInvalid, 0, why};
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
  if (params.grammar.grammar) {
    // Rollback reaches back over one step's drafts at most.
    l->matcher = std::make_unique<grammar::Matcher>(params.grammar.grammar, size_t(cfg_.speculative_tokens) + 4);
    l->grammar_from = params.grammar.start_after < 0 ? 0 : -1;
  }
  l->req.times.submitted = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> g(mu_);
    if (stop_) return {SubmitCode::kShuttingDown, 0, "the server is shutting down"};
    // stats_.waiting, not the scheduler's queue: that belongs to the engine thread (see loop()).
    if (stats_.waiting + int64_t(inbox_.size()) >= cfg_.scheduler.max_waiting)
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

EngineProfile Engine::profile() const {
  std::lock_guard<std::mutex> g(mu_);
  return prof_shared_;
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

void Engine::emit_final(Live& l, FinishReason why, const std::string& error) {
  publish_stats(0);  // the caller sees its blocks returned once it sees the final event
  RequestEvent ev;
  ev.id = l.req.id;
  ev.finished = true;
  ev.reason = why;
  ev.error = error;
  ev.prompt_tokens = int64_t(l.req.prompt.size());
  ev.completion_tokens = int64_t(l.req.output.size());
  ev.cached_tokens = l.req.num_cached_prefix;
  ev.times = l.req.times;
  l.sink(ev);
}

void Engine::note_scheduled(const StepPlan& plan) {
  if (plan.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  // Only the first admission counts (RequestTimes): a preempted request keeps its first stamp.
  for (const ScheduledChunk& c : plan.chunks)
    if (c.req->times.first_scheduled == RequestTimes::TimePoint{}) c.req->times.first_scheduled = now;
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
      stats_.waiting += int64_t(arrivals.size());  // they join the queue now; publish_stats() recounts it
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
    note_scheduled(plan);
    for (Request* r : plan.preempted) {
      r->draft.clear();  // its state is gone; drafts are made again after the recompute
      if (auto it = live_.find(r->id); it != live_.end()) {
        it->second->draft_probs.clear();
        undo_grammar_drafts(*it->second);
      }
      if (r->finished()) {  // could never fit the cache
        auto it = live_.find(r->id);
        if (it != live_.end()) {
          emit_final(*it->second, FinishReason::kError);
          live_.erase(it);
        }
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
  const bool with_mtp = cfg_.speculative_tokens > 0;  // then the MTP layer's state is captured too
  for (const ScheduledChunk& c : plan.chunks) {
    if (c.draft > 0) continue;  // speculative positions may be rolled back: no captures there
    const int64_t at = (c.start + c.n) / g * g;  // the last snapshot position this chunk reaches
    if (at <= c.start) continue;
    std::vector<int32_t> tokens(c.req->prompt);
    tokens.insert(tokens.end(), c.req->output.begin(), c.req->output.end());
    if (pc->contains(tokens, at)) continue;
    if (!cache_->reserve_capture(model_->pools().capture_bytes(at, with_mtp))) continue;
    Capture cap{c.req, std::make_unique<dsv4::Snapshot>(model_->pools().new_snapshot(at))};
    cache_->state(*c.req).capture = cap.snap.get();
    caps.push_back(std::move(cap));
  }
  return caps;
}

void Engine::finish_captures(std::vector<Capture>& caps) {
  dsv4::CachePools& pools = model_->pools();
  for (Capture& cap : caps) {
    dsv4::SequenceState& st = cache_->state(*cap.req);
    st.capture = nullptr;
    // A sequence that stored a NaN or infinity is failed; its state is never shared.
    if (st.nonfinite || !pools.snapshot_complete(*cap.snap, cfg_.speculative_tokens > 0)) {
      pools.release(*cap.snap);
      continue;
    }
    std::vector<int32_t> tokens(cap.req->prompt);
    tokens.insert(tokens.end(), cap.req->output.begin(), cap.req->output.end());
    cache_->prefix_cache()->insert(tokens, std::move(*cap.snap));
  }
  cache_->settle();
}

bool Engine::argmax_only(const Live& l, const ScheduledChunk& c) const {
  if (!greedy_screen_ || !c.samples()) return false;  // a chunk that does not sample has no logits rows
  if (l.params.top_logprobs >= 0) return false;
  if (l.matcher) return false;  // the screened rows hold no logits to mask
  for (int64_t d = 0; d <= c.draft; ++d) {
    const size_t k = l.req.output.size() + size_t(d);
    if (chosen_without_logits(l, k)) continue;
    if (!l.sampler->plain_greedy() || banned_token(l, k) >= 0) return false;
  }
  return true;
}

bool Engine::chosen_without_logits(const Live& l, size_t k) const {
  return !l.params.forced_tokens.empty() || k < l.params.prefix_tokens.size();
}

bool Engine::deterministic(const Live& l, size_t k) const { return chosen_without_logits(l, k) || l.sampler->greedy(); }

int32_t Engine::banned_token(const Live& l, size_t k) const {
  const GenerationParams& p = l.params;
  return int64_t(k) < p.min_tokens && !p.ignore_eos ? int32_t(ck_->config.eos_token_id) : -1;
}

TokenOutput Engine::choose(Live& l, const float* logits) {
  const int64_t V = ck_->config.vocab_size;
  const GenerationParams& p = l.params;
  const Request& r = l.req;
  TokenOutput tok;
  const size_t k = r.output.size();
  if (!p.forced_tokens.empty()) {
    tok.token = k < p.forced_tokens.size() ? p.forced_tokens[k] : ck_->config.eos_token_id;
  } else if (k < p.prefix_tokens.size()) {
    tok.token = p.prefix_tokens[k];
  } else {
    tok.token = l.sampler->sample(logits, V, r.prompt, r.output, banned_token(l, k));
  }
  return tok;
}

FinishReason Engine::emit(Live& l, const TokenOutput& chosen, const float* logits, RequestEvent& ev) {
  const int64_t V = ck_->config.vocab_size;
  const GenerationParams& p = l.params;
  Request* r = &l.req;
  const int eos = ck_->config.eos_token_id;
  TokenOutput tok = chosen;
  if (p.top_logprobs >= 0) {
    l.sampler->logprobs(logits, V, tok.token, p.top_logprobs, &tok.logprob, &tok.top);
    // Under a grammar the distribution is the masked one: forbidden tokens are not among the likely.
    if (l.matcher)
      std::erase_if(tok.top, [](const std::pair<int32_t, float>& e) { return std::isinf(e.second); });
  }
  r->output.push_back(tok.token);
  ev = RequestEvent{};
  ev.id = r->id;
  ev.token = tok;
  ev.prompt_tokens = int64_t(r->prompt.size());
  ev.completion_tokens = int64_t(r->output.size());
  ev.cached_tokens = r->num_cached_prefix;
  FinishReason why = FinishReason::kNone;
  const bool min_done = int64_t(r->output.size()) >= p.min_tokens;
  if (min_done && !p.ignore_eos && tok.token == eos) why = FinishReason::kStop;
  else if (min_done && std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), tok.token) != p.stop_token_ids.end())
    why = FinishReason::kStop;
  else if (int64_t(r->output.size()) >= r->max_new_tokens) why = FinishReason::kLength;
  return why;
}

void Engine::run_step(StepPlan& plan) {
  const size_t nc = plan.chunks.size();
  std::vector<std::vector<int32_t>> feeds(nc);
  std::vector<dsv4::SeqInput> inputs;
  std::vector<dsv4::SpecLog> logs(nc);
  StepOutcome o;
  o.logit_row.resize(nc);
  o.stream_row.resize(nc);
  int64_t rows = 0, T = 0;
  for (size_t i = 0; i < nc; ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    for (int64_t t = c.start; t < c.start + c.n - c.draft; ++t) feeds[i].push_back(c.req->token_at(t));
    for (int64_t d = 0; d < c.draft; ++d) feeds[i].push_back(c.req->draft[size_t(d)]);
    dsv4::SequenceState& st = cache_->state(*c.req);
    if (c.draft > 0) st.spec = &logs[i];
    const bool screened = argmax_only(*live_.at(c.req->id), c);
    // Logits rows: none before the prompt's end, every position when verifying drafts, else the last.
    inputs.push_back({&st, feeds[i], c.draft > 0, screened, !c.samples()});
    const int64_t chunk_rows = dsv4::n_logit_rows(inputs.back(), c.n);
    o.logit_row[i] = rows;
    o.stream_row[i] = T;
    rows += chunk_rows;
    if (screened) o.screened_rows += chunk_rows;
    T += c.n;
  }
  std::vector<Capture> caps = plan_captures(plan);
  // Decode steps only go into the profile: every chunk feeds its next token and its drafts.
  const bool timed = cfg_.profile && std::all_of(plan.chunks.begin(), plan.chunks.end(), [](const ScheduledChunk& c) {
    return c.n - c.draft == 1 && c.samples();
  });
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  ctx_.profile = timed ? &prof_.forward : nullptr;
  model_->forward(ctx_, inputs, o.out);
  const Clock::time_point t1 = Clock::now();
  const bool spec = cfg_.speculative_tokens > 0;
  if (!spec) finish_captures(caps);
  sched_->complete(plan);
  sample_step(plan, o);
  double mtp_s = 0;
  if (spec) {
    ctx_.profile = timed ? &prof_.mtp : nullptr;
    const Clock::time_point m0 = Clock::now();
    std::vector<DraftChain> chains = mtp_step(plan, o);
    finish_captures(caps);  // after the MTP pass: the captures hold the MTP layer's state too
    draft_chains(std::move(chains), o);
    mtp_s = std::chrono::duration<double>(Clock::now() - m0).count();
  }
  ctx_.profile = nullptr;
  if (timed) {
    prof_.steps++;
    prof_.forward_s += std::chrono::duration<double>(t1 - t0).count();
    prof_.mtp_s += mtp_s;
    prof_.step_s += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  deliver_step(plan, o);
}

// Samples (and, for chunks with drafts, verifies) every chunk that reached the end of its request; the
// token events wait in o.pending, finishing is applied by deliver_step.
void Engine::sample_step(const StepPlan& plan, StepOutcome& o) {
  const int64_t V = ck_->config.vocab_size;
  const size_t nc = plan.chunks.size();
  o.why.assign(nc, FinishReason::kNone);
  o.committed.assign(nc, 0);
  o.sampled.assign(nc, 0);
  o.nonfinite.assign(nc, 0);
  const int64_t total_rows = int64_t(o.out.logits.size()) / V;
  for (size_t i = 0; i < nc; ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    Request* r = c.req;
    o.prompt_tokens += std::max<int64_t>(0, std::min<int64_t>(c.start + c.n, int64_t(r->prompt.size())) - c.start);
    o.committed[i] = c.n - c.draft;
    // A NaN or infinity in what the chunk stored or in its logits rows fails its request alone.
    const int64_t row_end = i + 1 < nc ? o.logit_row[i + 1] : total_rows;
    if (cache_->state(*r).nonfinite || !rows_finite(o.out.logits, o.logit_row[i], row_end - o.logit_row[i])) {
      fail_nonfinite(*r, i, o);
      continue;
    }
    if (!c.samples()) continue;
    o.sampled[i] = 1;
    Live& l = *live_.at(r->id);
    std::vector<int32_t> draft(r->draft.begin(), r->draft.begin() + c.draft);
    std::vector<std::vector<float>> qs;
    for (int64_t d = 0; d < c.draft; ++d) qs.push_back(std::move(l.draft_probs[size_t(d)]));
    r->draft.clear();
    l.draft_probs.clear();
    undo_grammar_drafts(l);  // verification feeds the matcher the tokens it keeps
    int64_t accepted = 0;
    for (int64_t d = 0; d <= c.draft; ++d) {
      float* logits = o.out.logits.data() + (o.logit_row[i] + d) * V;
      TokenOutput tok;
      bool took_draft = false;
      const size_t k = r->output.size();
      if (!apply_grammar(l, k, logits)) {
        // Nothing more is allowed: the document ended (a stop token accepted under ignore_eos).
        o.why[i] = l.matcher->is_complete() || l.matcher->is_terminated() ? FinishReason::kStop : FinishReason::kError;
        break;
      }
      if (d < c.draft && !deterministic(l, r->output.size()) && !qs[size_t(d)].empty()) {
        took_draft = resolve_draft(l, logits, draft[size_t(d)], qs[size_t(d)], tok);  // q drafted the same way
      } else {
        tok = choose(l, logits);
        took_draft = d < c.draft && tok.token == draft[size_t(d)];
      }
      if (tok.token < 0 && constrained_at(l, k) && l.matcher->is_complete()) {
        o.why[i] = FinishReason::kStop;  // only a stop id was allowed, and min_tokens bans it: end here
        break;
      }
      if (tok.token < 0) {  // nothing could be drawn: only logits that are not numbers get here
        fail_nonfinite(*r, i, o);
        break;
      }
      ++o.gen_tokens;
      if (took_draft) ++accepted;
      o.pending.push_back({i, {}});
      const bool followed = advance_grammar(l, tok.token, k, false);
      o.why[i] = emit(l, tok, logits, o.pending.back().ev);
      if (!followed) o.why[i] = FinishReason::kError;  // a token chosen without logits that the grammar refuses
      if (o.why[i] != FinishReason::kNone || !took_draft) break;
    }
    if (o.nonfinite[i]) continue;
    if (c.draft > 0) {
      ++o.drafts;
      o.draft_tokens += c.draft;
      o.accepted_tokens += accepted;
      r->num_computed += accepted;
      o.committed[i] = 1 + accepted;
      dsv4::SequenceState& st = cache_->state(*r);
      model_->pools().rollback(st, c.start + o.committed[i]);
      st.spec = nullptr;
    }
  }
}

// Delivers the step's tokens, finishes the requests that stop and publishes the step's counts. A sink
// that declines (its client is gone) stops its request; the request's later tokens of this step are
// dropped.
void Engine::deliver_step(const StepPlan& plan, StepOutcome& o) {
  const size_t nc = plan.chunks.size();
  std::vector<char> declined(nc, 0);
  const auto now = std::chrono::steady_clock::now();
  for (Pending& pe : o.pending) {
    if (declined[pe.chunk]) continue;
    Live& l = *live_.at(plan.chunks[pe.chunk].req->id);
    RequestTimes& t = l.req.times;
    if (t.first_token == RequestTimes::TimePoint{}) t.first_token = now;
    t.last_token = now;
    if (!l.sink(pe.ev)) {
      declined[pe.chunk] = 1;
      if (o.why[pe.chunk] == FinishReason::kNone) o.why[pe.chunk] = FinishReason::kStop;
    }
  }

  const dsv4::CachePools& pools = model_->pools();
  TACHYON_CHECK(pools.bytes_in_use() - pools.snapshot_only_bytes() <= cache_->used_units() * CacheManager::kUnitBytes,
                "cache pools hold more than the accounting reserved");
  // The counters take this step before any request's final event goes out, so whoever waits for that
  // event and then reads stats() sees the whole step.
  {
    std::lock_guard<std::mutex> g(mu_);
    stats_.prompt_tokens_total += o.prompt_tokens;
    stats_.generation_tokens_total += o.gen_tokens;
    stats_.requests_finished += std::count_if(o.why.begin(), o.why.end(), [](FinishReason w) { return w != FinishReason::kNone; });
    stats_.steps++;
    stats_.spec_drafts += o.drafts;
    stats_.spec_draft_tokens += o.draft_tokens;
    stats_.spec_accepted_tokens += o.accepted_tokens;
    stats_.greedy_screened_rows += o.screened_rows;
    stats_.nonfinite_failures += std::count(o.nonfinite.begin(), o.nonfinite.end(), char(1));
    if (cfg_.profile) prof_shared_ = prof_;
  }
  for (size_t i = 0; i < nc; ++i) {
    if (o.why[i] == FinishReason::kNone) continue;
    Request* r = plan.chunks[i].req;
    Live& l = *live_.at(r->id);
    sched_->finish(r, o.why[i]);
    emit_final(l, o.why[i], o.nonfinite[i] ? kNonFiniteError : "");
    live_.erase(r->id);
  }
}

}  // namespace tachyon::runtime
