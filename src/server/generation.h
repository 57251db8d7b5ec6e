// Generation: one API request's engine requests (n choices, or one per prompt) and the queue that
// carries their output from the engine thread to the HTTP handler thread.
//
// The engine's event sink runs on the engine thread and must be quick. It does only per-token text
// work there: incremental detokenization (holding back incomplete UTF-8) and stop-string matching,
// so a stop string ends generation right away (the sink returns false) instead of one step late.
// Everything else (JSON, the chat completion parser, socket writes) happens on the handler thread,
// which drains the queue with a timeout (to send SSE pings and notice disconnects).
//
// Destroying a Generation cancels whatever is still running, so a handler that returns early (client
// gone, exception) always gives the engine its cache blocks back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "server/metrics.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::server {

struct TokenInfo {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // (token, logprob), most likely first
};

// What one choice produced since its previous event.
struct ChoiceEvent {
  size_t index = 0;
  std::string text;               // newly released text (valid UTF-8, stop strings removed)
  std::vector<TokenInfo> tokens;  // tokens generated since the previous event
  bool finished = false;
  runtime::FinishReason reason = runtime::FinishReason::kNone;
  std::string stop_string;  // the stop string that ended the choice, if any
  std::string error;        // reason kError: the engine's message (RequestEvent::error), if any
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

// How generated tokens become text for one choice.
struct TextOptions {
  std::vector<std::string> stop;
  bool include_stop_str = false;
  bool skip_special_tokens = true;
};

struct ChoiceSpec {
  std::vector<int32_t> prompt;
  runtime::GenerationParams params;
};

class Generation {
 public:
  Generation(runtime::Engine& engine, const tok::Tokenizer& tokenizer, Metrics& metrics, int32_t eos_id);
  ~Generation();
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  // Submits every choice. On failure, cancels those already submitted and returns the engine's result.
  runtime::SubmitResult start(std::vector<ChoiceSpec> choices, const TextOptions& text);

  // Moves queued events to `out`; waits until at least one is queued or `deadline` passes. Returns
  // false once every choice has finished and every event was taken.
  bool next(std::vector<ChoiceEvent>* out, std::chrono::steady_clock::time_point deadline);
  // Cancels every choice still running (idempotent).
  void cancel();
  size_t num_choices() const { return ids_.size(); }

 private:
  struct Choice;
  struct Shared;
  runtime::Engine& engine_;
  const tok::Tokenizer* tokenizer_;
  std::shared_ptr<Shared> shared_;
  std::vector<uint64_t> ids_;
};

}  // namespace tachyon::server
