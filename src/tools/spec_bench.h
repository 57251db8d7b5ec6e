// `tachyon bench --speculative-tokens k`: per-user decode speed with and without MTP speculative
// decoding, measured through the Engine one request at a time (batch 1, greedy), on given prompts.
//
//   plain     an engine without speculation decodes every prompt
//   spec      an engine drafting k tokens per step with the MTP module decodes the same prompts; the two
//             take turns, prompt by prompt, for `rounds` rounds, so that drift in the machine's speed
//             affects both alike
//   decode    tok/s counts the tokens after each request's first one, over the time from its first
//             token event to its last (prefill excluded); the process CPU time over the same spans is
//             kept too (with one thread it ignores time the OS gave to other processes)
//   ratios    acceptance_rate = accepted / draft tokens; mean_accepted_len = tokens per verification
//             step = 1 + accepted / drafts (the ideal speed-up); speedup = spec / plain decode tok/s;
//             cpu_speedup = plain / spec decode CPU time
//   profile   both engines time their decode steps by op family (EngineConfig::profile): where a
//             verification step and its MTP pass spend their time, against a plain step
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "runtime/engine.h"

namespace tachyon::runtime {

struct SpecBenchOptions {
  EngineConfig engine;  // speculative_tokens is set per run; prefix caching is turned off
  int k = 1;
  std::vector<std::vector<int32_t>> prompts;
  int64_t max_tokens = 64;
  bool ignore_eos = false;
  int rounds = 1;
};

struct SpecRun {
  int64_t tokens = 0;   // decoded tokens after each request's first
  double decode_s = 0;  // summed over requests: first token event to last
  double decode_cpu_s = 0;  // process CPU time over the same spans
  double decode_tok_s = 0;
  int64_t drafts = 0, draft_tokens = 0, accepted_tokens = 0;
  std::vector<std::vector<int32_t>> outputs;  // per prompt
  // Per decode step, averaged over the run's decode steps (Engine::profile): seconds of the main forward
  // by op family, of the MTP passes by op family, and wall time of the step, the forward and the MTP.
  int64_t steps = 0;
  std::array<double, size_t(dsv4::OpFamily::kCount)> forward_op_s{}, mtp_op_s{};
  double step_s = 0, forward_s = 0, mtp_s = 0;
};

struct SpecBenchResult {
  SpecRun plain, spec;
  double acceptance_rate = 0, mean_accepted_len = 0, speedup = 0, cpu_speedup = 0;
  int64_t mismatched_prompts = 0;  // prompts whose greedy tokens differ between the runs (must be 0)
};

Result<SpecBenchResult> run_spec_bench(const SpecBenchOptions& opt);

}  // namespace tachyon::runtime
