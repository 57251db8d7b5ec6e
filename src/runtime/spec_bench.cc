#include "runtime/spec_bench.h"

#include <chrono>
#include <future>
#include <memory>
#include <mutex>

namespace tachyon::runtime {

namespace {

using Clock = std::chrono::steady_clock;

// One request's tokens and the times of its first and last token events.
struct Timed {
  std::mutex mu;
  std::vector<int32_t> tokens;
  Clock::time_point first, last;
  FinishReason reason = FinishReason::kNone;
  std::promise<void> done;
};

// Runs `prompt` to completion on `e`; the sink shares ownership of its record.
Result<std::shared_ptr<Timed>> run_one(Engine& e, const std::vector<int32_t>& prompt, const GenerationParams& gp) {
  auto t = std::make_shared<Timed>();
  std::future<void> done = t->done.get_future();
  SubmitResult r = e.submit(prompt, gp, [t](const RequestEvent& ev) {
    bool finished = false;
    {
      std::lock_guard<std::mutex> g(t->mu);
      if (ev.token) {
        const Clock::time_point now = Clock::now();
        if (t->tokens.empty()) t->first = now;
        t->last = now;
        t->tokens.push_back(ev.token->token);
      }
      if (ev.finished) {
        t->reason = ev.reason;
        finished = true;
      }
    }
    if (finished) t->done.set_value();
    return true;
  });
  if (r.code != SubmitCode::kOk) return Status::error("bench request rejected: " + r.message);
  done.wait();
  std::lock_guard<std::mutex> g(t->mu);
  if (t->reason == FinishReason::kError || t->reason == FinishReason::kCancelled)
    return Status::error("bench request did not complete");
  return t;
}

Result<SpecRun> run_engine(const SpecBenchOptions& opt, int k) {
  EngineConfig cfg = opt.engine;
  cfg.speculative_tokens = k;
  cfg.prefix_caching = false;
  cfg.scheduler.max_num_seqs = 1;
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e, Engine::create(cfg));
  GenerationParams gp;
  gp.max_tokens = opt.max_tokens;
  gp.ignore_eos = opt.ignore_eos;
  gp.sampling.temperature = 0;
  {  // warm-up: first-touch of weights and scratch buffers
    GenerationParams w = gp;
    w.max_tokens = 4;
    TACHYON_ASSIGN_OR_RETURN(auto t, run_one(*e, opt.prompts.front(), w));
    (void)t;
  }
  const EngineStats before = e->stats();
  SpecRun run;
  for (const auto& p : opt.prompts) {
    TACHYON_ASSIGN_OR_RETURN(std::shared_ptr<Timed> t, run_one(*e, p, gp));
    std::lock_guard<std::mutex> g(t->mu);
    if (t->tokens.size() > 1) {
      run.tokens += int64_t(t->tokens.size()) - 1;
      run.decode_s += std::chrono::duration<double>(t->last - t->first).count();
    }
    run.outputs.push_back(t->tokens);
  }
  const EngineStats after = e->stats();
  run.drafts = after.spec_drafts - before.spec_drafts;
  run.draft_tokens = after.spec_draft_tokens - before.spec_draft_tokens;
  run.accepted_tokens = after.spec_accepted_tokens - before.spec_accepted_tokens;
  run.decode_tok_s = run.decode_s > 0 ? double(run.tokens) / run.decode_s : 0;
  return run;
}

}  // namespace

Result<SpecBenchResult> run_spec_bench(const SpecBenchOptions& opt) {
  if (opt.k < 1) return Status::error("speculative bench: k must be at least 1");
  if (opt.prompts.empty()) return Status::error("speculative bench: no prompts");
  SpecBenchResult r;
  TACHYON_ASSIGN_OR_RETURN(r.plain, run_engine(opt, 0));
  TACHYON_ASSIGN_OR_RETURN(r.spec, run_engine(opt, opt.k));
  for (size_t i = 0; i < opt.prompts.size(); ++i) r.mismatched_prompts += r.plain.outputs[i] != r.spec.outputs[i];
  if (r.spec.draft_tokens > 0) r.acceptance_rate = double(r.spec.accepted_tokens) / double(r.spec.draft_tokens);
  if (r.spec.drafts > 0) r.mean_accepted_len = 1.0 + double(r.spec.accepted_tokens) / double(r.spec.drafts);
  if (r.plain.decode_tok_s > 0) r.speedup = r.spec.decode_tok_s / r.plain.decode_tok_s;
  return r;
}

}  // namespace tachyon::runtime
