#include "tools/spec_bench.h"

#include <chrono>
#include <future>
#include <memory>
#include <mutex>

#include "model/deepseek_v4/profile.h"

namespace tachyon::runtime {

namespace {

using Clock = std::chrono::steady_clock;

// One request's tokens and the times (wall and process CPU) of its first and last token events.
struct Timed {
  std::mutex mu;
  std::vector<int32_t> tokens;
  Clock::time_point first, last;
  double cpu_first = 0, cpu_last = 0;
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
        const double cpu = dsv4::process_cpu_seconds();
        if (t->tokens.empty()) t->first = now, t->cpu_first = cpu;
        t->last = now;
        t->cpu_last = cpu;
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

GenerationParams greedy_params(const SpecBenchOptions& opt) {
  GenerationParams gp;
  gp.max_tokens = opt.max_tokens;
  gp.ignore_eos = opt.ignore_eos;
  gp.sampling.temperature = 0;
  return gp;
}

// An engine drafting k tokens per step (0: none), warmed up: first touch of weights and scratch buffers.
Result<std::unique_ptr<Engine>> make_engine(const SpecBenchOptions& opt, int k) {
  EngineConfig cfg = opt.engine;
  cfg.speculative_tokens = k;
  cfg.prefix_caching = false;
  cfg.scheduler.max_num_seqs = 1;
  cfg.profile = true;
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<Engine> e, Engine::create(cfg));
  GenerationParams w = greedy_params(opt);
  w.max_tokens = 4;
  TACHYON_ASSIGN_OR_RETURN(auto t, run_one(*e, opt.prompts.front(), w));
  (void)t;
  return e;
}

// Decodes `prompt` on `e` and adds it to `run`; the first round keeps the output, later rounds must
// repeat it (greedy decoding is deterministic).
Status add_prompt(Engine& e, const SpecBenchOptions& opt, size_t i, int round, SpecRun& run) {
  TACHYON_ASSIGN_OR_RETURN(std::shared_ptr<Timed> t, run_one(e, opt.prompts[i], greedy_params(opt)));
  std::lock_guard<std::mutex> g(t->mu);
  if (t->tokens.size() > 1) {
    run.tokens += int64_t(t->tokens.size()) - 1;
    run.decode_s += std::chrono::duration<double>(t->last - t->first).count();
    run.decode_cpu_s += t->cpu_last - t->cpu_first;
  }
  if (round == 0) run.outputs.push_back(t->tokens);
  else if (run.outputs[i] != t->tokens) return Status::error("bench: greedy output changed between rounds");
  return Status::ok();
}

void finish(SpecRun& run, const EngineStats& before, const EngineStats& after, const EngineProfile& p0,
            const EngineProfile& p1) {
  run.steps = p1.steps - p0.steps;
  if (run.steps > 0) {
    const double n = double(run.steps);
    for (size_t f = 0; f < run.forward_op_s.size(); ++f) {
      run.forward_op_s[f] = (p1.forward.seconds[f] - p0.forward.seconds[f]) / n;
      run.mtp_op_s[f] = (p1.mtp.seconds[f] - p0.mtp.seconds[f]) / n;
    }
    run.step_s = (p1.step_s - p0.step_s) / n;
    run.forward_s = (p1.forward_s - p0.forward_s) / n;
    run.mtp_s = (p1.mtp_s - p0.mtp_s) / n;
  }
  run.drafts = after.spec_drafts - before.spec_drafts;
  run.draft_tokens = after.spec_draft_tokens - before.spec_draft_tokens;
  run.accepted_tokens = after.spec_accepted_tokens - before.spec_accepted_tokens;
  run.decode_tok_s = run.decode_s > 0 ? double(run.tokens) / run.decode_s : 0;
}

}  // namespace

Result<SpecBenchResult> run_spec_bench(const SpecBenchOptions& opt) {
  if (opt.k < 1) return Status::error("speculative bench: k must be at least 1");
  if (opt.prompts.empty()) return Status::error("speculative bench: no prompts");
  if (opt.rounds < 1) return Status::error("speculative bench: rounds must be at least 1");
  // Both engines decode every prompt in turn, so that a slow phase of the machine hits both alike.
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<Engine> plain, make_engine(opt, 0));
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<Engine> spec, make_engine(opt, opt.k));
  SpecBenchResult r;
  const EngineStats p0 = plain->stats(), s0 = spec->stats();
  const EngineProfile pp0 = plain->profile(), sp0 = spec->profile();
  for (int round = 0; round < opt.rounds; ++round)
    for (size_t i = 0; i < opt.prompts.size(); ++i) {
      TACHYON_RETURN_IF_ERROR(add_prompt(*plain, opt, i, round, r.plain));
      TACHYON_RETURN_IF_ERROR(add_prompt(*spec, opt, i, round, r.spec));
    }
  finish(r.plain, p0, plain->stats(), pp0, plain->profile());
  finish(r.spec, s0, spec->stats(), sp0, spec->profile());
  for (size_t i = 0; i < opt.prompts.size(); ++i) r.mismatched_prompts += r.plain.outputs[i] != r.spec.outputs[i];
  if (r.spec.draft_tokens > 0) r.acceptance_rate = double(r.spec.accepted_tokens) / double(r.spec.draft_tokens);
  if (r.spec.drafts > 0) r.mean_accepted_len = 1.0 + double(r.spec.accepted_tokens) / double(r.spec.drafts);
  if (r.plain.decode_tok_s > 0) r.speedup = r.spec.decode_tok_s / r.plain.decode_tok_s;
  if (r.spec.decode_cpu_s > 0) r.cpu_speedup = r.plain.decode_cpu_s / r.spec.decode_cpu_s;
  return r;
}

}  // namespace tachyon::runtime
