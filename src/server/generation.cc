// Engine requests of one API call and the engine-thread -> handler-thread event queue (see
// generation.h).
#include "server/generation.h"

#include <algorithm>

#include "server/stop_matcher.h"

namespace tachyon::server {

using Clock = std::chrono::steady_clock;

struct Generation::Choice {
  Choice(size_t i, const tok::Tokenizer& t, const TextOptions& o, const runtime::GenerationParams& p)
      : index(i), detok(t, o.skip_special_tokens), stop(o.stop, o.include_stop_str),
        stop_token_ids(p.stop_token_ids), min_tokens(p.min_tokens), max_tokens(p.max_tokens),
        ignore_eos(p.ignore_eos) {}
  size_t index;
  tok::IncrementalDetokenizer detok;
  StopMatcher stop;
  std::vector<int32_t> stop_token_ids;
  int64_t min_tokens, max_tokens;
  bool ignore_eos;
  bool got_token = false;
  Clock::time_point last_token;
};

struct Generation::Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<ChoiceEvent> queue;
  size_t unfinished = 0;
  std::vector<std::unique_ptr<Choice>> choices;  // each touched only by the engine thread once submitted
  Metrics* metrics = nullptr;
  int32_t eos = -1;
  Clock::time_point created;

  void push(ChoiceEvent&& ev) {
    std::lock_guard<std::mutex> g(mu);
    if (ev.finished) --unfinished;
    // Merge with a queued, not yet taken event of the same choice: fewer, larger chunks under load.
    if (!queue.empty() && !ev.finished && queue.back().index == ev.index && !queue.back().finished) {
      ChoiceEvent& b = queue.back();
      b.text += ev.text;
      for (auto& t : ev.tokens) b.tokens.push_back(std::move(t));
      b.prompt_tokens = ev.prompt_tokens;
      b.completion_tokens = ev.completion_tokens;
      b.cached_tokens = ev.cached_tokens;
    } else {
      queue.push_back(std::move(ev));
    }
    cv.notify_all();
  }

  // Runs on the engine thread: keep it short.
  bool on_event(Choice& c, const runtime::RequestEvent& e) {
    ChoiceEvent ev;
    ev.index = c.index;
    ev.prompt_tokens = e.prompt_tokens;
    ev.completion_tokens = e.completion_tokens;
    ev.cached_tokens = e.cached_tokens;
    bool keep = true;
    if (e.token) {
      const int32_t id = e.token->token;
      const Clock::time_point now = Clock::now();
      if (!c.got_token) metrics->observe_ttft(std::chrono::duration<double>(now - created).count());
      else metrics->observe_itl(std::chrono::duration<double>(now - c.last_token).count());
      c.got_token = true;
      c.last_token = now;
      ev.tokens.push_back({id, e.token->logprob, e.token->top});
      // The token that ends the request (EOS, a stop token id) is not part of the text.
      const bool terminal =
          e.completion_tokens >= c.min_tokens &&
          ((!c.ignore_eos && id == eos) ||
           std::find(c.stop_token_ids.begin(), c.stop_token_ids.end(), id) != c.stop_token_ids.end());
      if (!terminal && !c.stop.matched()) {
        const std::string piece = c.detok.push(id);
        if (c.stop.push(piece, &ev.text)) keep = false;
      }
    }
    if (e.finished) {
      if (!c.stop.matched()) {
        const std::string tail = c.detok.finish();
        c.stop.push(tail, &ev.text);
        c.stop.flush(&ev.text);
      }
      ev.finished = true;
      ev.reason = e.reason;
      ev.error = e.error;
      if (c.stop.matched()) ev.stop_string = c.stop.matched_string();
      metrics->observe_e2e(std::chrono::duration<double>(Clock::now() - created).count());
      // vLLM's per-request histograms take the requests that finished (a stop or the length limit,
      // which always follow a token); cancelled and failed ones show in the abort and error counters.
      if (e.reason == runtime::FinishReason::kStop || e.reason == runtime::FinishReason::kLength)
        metrics->observe_finished({e.times, e.prompt_tokens, e.completion_tokens, c.max_tokens});
    }
    push(std::move(ev));
    return keep;
  }
};

Generation::Generation(runtime::Engine& engine, const tok::Tokenizer& tokenizer, Metrics& metrics, int32_t eos_id)
    : engine_(engine), tokenizer_(&tokenizer), shared_(std::make_shared<Shared>()) {
  shared_->metrics = &metrics;
  shared_->eos = eos_id;
  shared_->created = Clock::now();
}

Generation::~Generation() { cancel(); }

runtime::SubmitResult Generation::start(std::vector<ChoiceSpec> choices, const TextOptions& text) {
  for (size_t i = 0; i < choices.size(); ++i)
    shared_->choices.push_back(std::make_unique<Choice>(i, *tokenizer_, text, choices[i].params));
  {
    std::lock_guard<std::mutex> g(shared_->mu);
    shared_->unfinished = choices.size();
  }
  for (size_t i = 0; i < choices.size(); ++i) {
    Choice* c = shared_->choices[i].get();
    std::shared_ptr<Shared> sh = shared_;
    runtime::SubmitResult r = engine_.submit(std::move(choices[i].prompt), choices[i].params,
                                             [sh, c](const runtime::RequestEvent& e) { return sh->on_event(*c, e); });
    if (r.code != runtime::SubmitCode::kOk) {
      {
        std::lock_guard<std::mutex> g(shared_->mu);
        shared_->unfinished -= choices.size() - i;
      }
      cancel();
      return r;
    }
    ids_.push_back(r.id);
  }
  return {};
}

bool Generation::next(std::vector<ChoiceEvent>* out, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lk(shared_->mu);
  shared_->cv.wait_until(lk, deadline, [&] { return !shared_->queue.empty() || shared_->unfinished == 0; });
  const bool took = !shared_->queue.empty();
  while (!shared_->queue.empty()) {
    out->push_back(std::move(shared_->queue.front()));
    shared_->queue.pop_front();
  }
  return took || shared_->unfinished > 0;
}

void Generation::cancel() {
  {
    std::lock_guard<std::mutex> g(shared_->mu);
    if (shared_->unfinished == 0) return;
  }
  for (uint64_t id : ids_) engine_.cancel(id);  // finished ids are ignored by the engine
}

}  // namespace tachyon::server
