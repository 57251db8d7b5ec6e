// Engine: owns the model, the cache, the scheduler and one engine thread that runs the step loop
//   schedule -> one batched forward -> sample -> deliver events.
// Requests arrive from any thread through submit() and leave through their event sink, which runs on
// the engine thread (it must be quick: hand data to the caller's queue). A sink that returns false
// stops its request (finish reason "stop"), which is how stop strings end generation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "grammar/vocabulary.h"
#include "model/deepseek_v4/model.h"
#include "runtime/cache_manager.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"

namespace tachyon::runtime {

struct EngineConfig {
  std::string model_dir;
  int threads = 0;
  std::string numerics = "official";
  // The CPU kernels' instruction set: "auto" (TACHYON_ISA if set, else the best this CPU runs) or a name
  // (cpu::isa_name); one the CPU lacks is refused.
  std::string isa = "auto";
  SchedulerConfig scheduler;
  int64_t cache_memory = 0;      // bytes; 0 = cache_fraction of available memory
  double cache_fraction = 0.25;
  bool prefix_caching = true;    // reuse cached prompt prefixes (see PrefixCache)
  // Attention cache entries: "auto" (fp8 under official numerics, else fp32), "fp32", "fp8" or
  // "fp8-bf16rope" (cache_codec.h).
  std::string kv_cache_dtype = "auto";
  // Speculative decoding with the MTP module: draft this many tokens per decode step (chained MTP for
  // more than one) and verify them in the step's forward pass. 0 = off.
  int speculative_tokens = 0;
  // Where drafts get their logits: "int8" (an int8 copy of the head screens every row, then only the
  // rows that can be the largest logit are computed exactly: dsv4::DraftHead; vocab x hidden bytes) or
  // "bf16" (the head itself). Greedy drafts are the same tokens either way.
  std::string spec_draft_head = "int8";
  // Where a plain greedy request (no logprobs, penalties or bias) gets its next token: "int8" takes the
  // argmax from the same int8 screen of the head (the token is the exact head's; vocab x hidden bytes
  // of memory), "bf16" computes every logit.
  std::string greedy_head = "int8";
  // Per-op-family timers over decode steps (every chunk feeds one token plus its drafts): see
  // Engine::profile(). Off by default; the timers read the clock around each op family.
  bool profile = false;
  // Read every stored weight value at load and refuse a checkpoint that holds NaN or infinity
  // (io/value_scan.h; one pass over the whole checkpoint).
  bool check_values = false;
};

// The error of a request whose forward pass produced a NaN or an infinity (in its cache entries, its
// compressor state or its logits): the request ends with FinishReason::kError and this message.
inline constexpr const char* kNonFiniteError =
    "the model produced non-finite values (NaN or infinity) for this request; the checkpoint's weights may be "
    "corrupt (`tachyon inspect --check-values` finds such weights)";

// Grammar-constrained decoding (engine_grammar.cc): from the constraint's start on, every generated token
// must follow `grammar`; before sampling, the tokens the grammar forbids get -inf logits (so logprobs
// are over the constrained distribution), and a stop id is allowed only once the document is complete.
struct GrammarConstraint {
  std::shared_ptr<const grammar::Grammar> grammar;  // null: unconstrained
  // The tokenizer's token bytes, special and stop ids (built once per tokenizer, shared by requests).
  std::shared_ptr<const grammar::Vocabulary> vocab;
  // The constraint starts after the first generated occurrence of this token (thinking mode: `</think>`);
  // until then generation is free except that stop ids are banned. -1: from the first generated token
  // (after prefix_tokens, which the grammar does not see).
  int32_t start_after = -1;
};

struct GenerationParams {
  SamplingParams sampling;
  int64_t max_tokens = 16;
  int64_t min_tokens = 0;
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  int top_logprobs = -1;  // -1: no logprobs; 0: the sampled token's; k: also the k most likely
  // Testing only: when non-empty, the i-th generated token is forced_tokens[i] (then EOS once they run
  // out) instead of a sampled one; logprobs still come from the model. Lets server tests produce exact
  // text (tool calls, stop strings) from random-weight models.
  std::vector<int32_t> forced_tokens;
  // The first prefix_tokens.size() generated tokens are these (the model still sees them and gives
  // their logprobs); sampling continues after them. The server forces a tool-call opening with it.
  std::vector<int32_t> prefix_tokens;
  GrammarConstraint grammar;
};

struct TokenOutput {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // (token, logprob), most likely first
};

struct RequestEvent {
  uint64_t id = 0;
  std::optional<TokenOutput> token;  // a newly generated token, if any
  bool finished = false;
  FinishReason reason = FinishReason::kNone;
  std::string error;  // on a final event with reason kError: what went wrong, for the client
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  RequestTimes times;  // on the final event: when the request reached each stage
};

using EventSink = std::function<bool(const RequestEvent&)>;

enum class SubmitCode : uint8_t { kOk, kInvalid, kTooLong, kQueueFull, kShuttingDown };
struct SubmitResult {
  SubmitCode code = SubmitCode::kOk;
  uint64_t id = 0;
  std::string message;
};

struct EngineStats {
  int64_t max_model_len = 0;  // fixed at start-up (the token histograms' largest bucket)
  int64_t running = 0, waiting = 0;
  int64_t cache_units_used = 0, cache_units_total = 0;
  int64_t prompt_tokens_total = 0, generation_tokens_total = 0;
  int64_t requests_finished = 0, preemptions = 0, steps = 0;
  int64_t prefix_queries = 0, prefix_hits = 0;  // tokens
  int64_t prefix_snapshots = 0, prefix_cache_units = 0;
  // Speculative decoding (vLLM's spec_decode counters): verification steps with drafts, draft tokens
  // verified, and of those, accepted.
  int64_t spec_drafts = 0, spec_draft_tokens = 0, spec_accepted_tokens = 0;
  // Logits rows that were sampled from and came from the int8 screen of the head (greedy_head).
  int64_t greedy_screened_rows = 0;
  // Requests failed because their forward pass produced NaN or infinity (kNonFiniteError).
  int64_t nonfinite_failures = 0;
};

// Where the decode steps' time went (EngineConfig::profile): the main forward pass and the MTP passes
// (first draft and chained drafts) by op family, and wall time per phase. Steps that prefill are left out.
struct EngineProfile {
  dsv4::Profile forward, mtp;
  int64_t steps = 0;
  double step_s = 0, forward_s = 0, mtp_s = 0;  // whole step; main forward; MTP passes
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(const EngineConfig& cfg);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  SubmitResult submit(std::vector<int32_t> prompt, const GenerationParams& params, EventSink sink);
  void cancel(uint64_t id);  // finishes with reason kCancelled; its sink sees the final event
  EngineStats stats() const;
  EngineProfile profile() const;  // zeros unless EngineConfig::profile
  const ModelConfig& model_config() const { return ck_->config; }
  int64_t max_model_len() const { return max_model_len_; }
  int64_t cache_bytes() const { return cache_bytes_; }
  // Memory of the weights repacked at load for the numerics that run (dsv4::repack_int8), 0 if none.
  int64_t repacked_bytes() const { return repacked_bytes_; }
  cpu::Isa isa() const { return ctx_.ops.isa(); }
  // The numeric mode that runs (auto resolved): "official", "fast" or "exact".
  std::string numerics_name() const { return std::string(ctx_.numerics.name()); }
  void shutdown();

 private:
  dsv4::MtpLogits draft_logits_ = dsv4::MtpLogits::kDraft;
  bool greedy_screen_ = false;  // EngineConfig::greedy_head == "int8"
  struct Live {
    Request req;
    GenerationParams params;
    EventSink sink;
    std::unique_ptr<Sampler> sampler;
    std::vector<std::vector<float>> draft_probs;  // per draft token, the distribution it was drawn from
    // Grammar-constrained decoding: the matcher follows the output (and, tentatively, the drafts).
    std::unique_ptr<grammar::Matcher> matcher;
    int64_t grammar_from = -1;  // output index where the constraint starts; -1: its start token not seen
    size_t matcher_drafts = 0;  // draft tokens fed to the matcher (undone before verification)
    std::vector<uint32_t> mask;
  };
  // One token event of a step, delivered once the step's work (the MTP pass too) is done.
  struct Pending {
    size_t chunk;
    RequestEvent ev;
  };
  // What a step computed and decided, per chunk of its plan, between the forward pass and delivery.
  struct StepOutcome {
    dsv4::ForwardOutput out;
    std::vector<int64_t> logit_row, stream_row;  // each chunk's first logits row and first token row
    std::vector<FinishReason> why;               // kNone: the request goes on
    std::vector<int64_t> committed;              // positions of the chunk that the state keeps
    std::vector<char> sampled;                   // the chunk reached the end of its request
    std::vector<char> nonfinite;                 // the chunk's request failed with kNonFiniteError
    std::vector<Pending> pending;
    int64_t prompt_tokens = 0, gen_tokens = 0, drafts = 0, draft_tokens = 0, accepted_tokens = 0;
    int64_t screened_rows = 0;
  };
  // A request drafting more than one token: the MTP layer chained on its own output.
  struct DraftChain {
    Live* l;
    size_t chunk;                // in the step's plan
    int64_t room;                // drafts this request may take in all
    std::vector<float> streams;  // [hc, D] MTP output of its last position
    std::unique_ptr<dsv4::SpecLog> log;
    int64_t base;                // MTP position to roll back to when the chain is done
  };
  Engine() = default;
  void loop();
  // schedule -> forward -> sample_step -> (mtp_step) -> deliver_step
  void run_step(StepPlan& plan);
  void sample_step(const StepPlan& plan, StepOutcome& o);
  void deliver_step(const StepPlan& plan, StepOutcome& o);
  // Speculative decoding (engine_spec.cc): the MTP pass over the committed positions and the first draft
  // of each request; returns the requests that draft more (chained, by draft_chains).
  std::vector<DraftChain> mtp_step(const StepPlan& plan, StepOutcome& o);
  void draft_chains(std::vector<DraftChain> chains, StepOutcome& o);
  // Non-finite values (engine_nonfinite.cc). Whether rows [row, row + n) of `logits` are all finite.
  bool rows_finite(const std::vector<float>& logits, int64_t row, int64_t n) const;
  // Ends request r (chunk i of the step) with kNonFiniteError at delivery, after its tokens of this step;
  // drops its drafts and detaches its speculative log (its state is released with the request).
  void fail_nonfinite(Request& r, size_t i, StepOutcome& o);
  // Whether the chunk's logits rows are only needed for their argmax (SeqInput::argmax_only).
  bool argmax_only(const Live& l, const ScheduledChunk& c) const;
  // Whether output index k is a forced or prefix token, chosen without looking at logits.
  bool chosen_without_logits(const Live& l, size_t k) const;
  // Whether output index k is chosen without random numbers (forced, prefix or greedy).
  bool deterministic(const Live& l, size_t k) const;
  // The token sampling must not pick at output index k: EOS before min_tokens, else -1.
  int32_t banned_token(const Live& l, size_t k) const;
  // Speculative verification of draft x (drawn from q) against these logits: true if kept, else tok
  // holds the replacement drawn from the residual distribution.
  bool resolve_draft(Live& l, const float* logits, int32_t x, const std::vector<float>& q, TokenOutput& tok);
  // The token for output index output.size() from a row of logits (forced, prefix or sampled).
  TokenOutput choose(Live& l, const float* logits);
  // Appends a token to the request and fills its event (delivered at the end of the step); returns why
  // the request must stop (kNone: it goes on).
  FinishReason emit(Live& l, const TokenOutput& tok, const float* logits, RequestEvent& ev);
  // Speculative decoding: draws the next draft token from MTP logits (into r.draft / draft_probs):
  // kNone when the grammar allows no further token (no draft), kFailed when no token can be drawn (logits
  // that are not numbers).
  enum class DraftResult : uint8_t { kAdded, kNone, kFailed };
  DraftResult add_draft(Live& l, float* mtp_logits);
  // Grammar-constrained decoding (engine_grammar.cc). Whether output index k is under the grammar.
  static bool constrained_at(const Live& l, size_t k);
  // Masks a logits row for output index k: -inf for what the grammar forbids there (before the
  // constraint starts: the stop ids). False when the grammar allows no token at all.
  bool apply_grammar(Live& l, size_t k, float* logits);
  // Feeds the token at output index k (an output or a draft token) to the matcher; false if refused.
  static bool advance_grammar(Live& l, int32_t token, size_t k, bool is_draft);
  // Undoes the draft tokens fed to the matcher (before verification, or when drafts are dropped).
  static void undo_grammar_drafts(Live& l);
  // Checks a constraint at submit; an error message, or empty.
  std::string check_grammar(const GenerationParams& p) const;
  void emit_final(Live& l, FinishReason why, const std::string& error = {});
  // Stamps RequestTimes::first_scheduled on the plan's requests that run for the first time.
  static void note_scheduled(const StepPlan& plan);
  void publish_stats(int64_t preempted);
  // Prefix-cache captures of one step: which sequences snapshot at which position.
  struct Capture {
    Request* req;
    std::unique_ptr<dsv4::Snapshot> snap;
  };
  std::vector<Capture> plan_captures(const StepPlan& plan);
  void finish_captures(std::vector<Capture>& caps);

  EngineConfig cfg_;
  std::unique_ptr<dsv4::Checkpoint> ck_;
  std::unique_ptr<ThreadPool> pool_;
  dsv4::ModelContext ctx_;
  std::unique_ptr<dsv4::Model> model_;
  std::unique_ptr<CacheManager> cache_;
  std::unique_ptr<Scheduler> sched_;
  int64_t max_model_len_ = 0, cache_bytes_ = 0, repacked_bytes_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Live>> inbox_;  // submitted, not yet in the scheduler
  std::vector<uint64_t> cancels_;
  std::unordered_map<uint64_t, std::unique_ptr<Live>> live_;  // engine thread only
  EngineStats stats_;  // guarded by mu_
  EngineProfile prof_;          // engine thread only
  EngineProfile prof_shared_;   // guarded by mu_: prof_ as of the last step
  uint64_t next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

// EngineConfig::check_values: an error naming the tensors of `ck` that hold NaN or infinity.
Status check_weight_values(const dsv4::Checkpoint& ck, const ThreadPool& pool);

// Bytes of memory available to this process (MemAvailable), or 0 if unknown.
int64_t available_memory_bytes();
// Bytes of physical memory (MemTotal), or 0 if unknown.
int64_t total_memory_bytes();

}  // namespace tachyon::runtime
