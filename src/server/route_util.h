// Helpers shared by the OpenAI route handlers: JSON responses and errors, the model-name check, ids,
// context-length checks, engine submit codes -> HTTP errors, finish reasons and logprob entries.
// Plus the SSE driver: a streamed response is a StreamFormatter fed by a Generation's events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/generation.h"
#include "server/request_params.h"
#include "server/server.h"

namespace tachyon::server {

void send_json(httplib::Response& res, int status, const Json& body);
void send_error(httplib::Response& res, const ApiError& e);

// 404 model_not_found unless `model` is absent or the served model name.
void check_model(const ServerContext& ctx, const Json& body);
// 503 while loading or shutting down.
void check_ready(const ServerContext& ctx);

// "chatcmpl-<24 hex>", "cmpl-...", "call_...".
std::string make_id(const char* prefix);
int64_t unix_now();

// The ids of a prompt's text. Encoding stops once the text has used up the context (max_model_len), so a
// prompt far beyond it costs no more than one that fills it: 400 context_length_exceeded.
std::vector<int32_t> encode_prompt(const ServerContext& ctx, std::string_view text, const char* what);

// The completion budget for a prompt of `prompt_len` tokens: the request's max_tokens, else
// `default_max` (capped to what is left of the context), else all that is left. 400
// context_length_exceeded when the prompt leaves no room.
int64_t resolve_max_tokens(const ServerContext& ctx, const RequestParams& p, int64_t prompt_len, int64_t default_max,
                           const char* what);
// The n (or one per prompt) engine requests of a call: seeds differ per choice so n > 1 differs;
// under --debug-forced-output each one generates the forced tokens.
ChoiceSpec make_choice(const ServerContext& ctx, const RequestParams& p, std::vector<int32_t> prompt,
                       int64_t max_tokens, size_t choice_index);
// A 400 for a chat-encoder error; its message starts with the field path ("tools[0].function: ..."),
// whose top-level name becomes `param`.
ApiError chat_encoder_error(const std::string& message);
// Throws the ApiException for a failed submit (429 + Retry-After when the queue is full).
void throw_submit_error(const runtime::SubmitResult& r);

// "stop" | "length" | "tool_calls"; other reasons (cancelled, error) are not client-visible finishes.
const char* finish_reason_str(runtime::FinishReason r, bool has_tool_calls);
void count_outcome(ServerContext& ctx, runtime::FinishReason r, bool has_tool_calls);
// Cancelled (shutdown) or failed in the engine: not a normal finish.
bool finish_failed(runtime::FinishReason r);
// The error a client gets for such a choice: 500 for an engine error (with the engine's message when it
// gave one, ChoiceEvent::error), 503 for a cancellation.
ApiError finish_error(runtime::FinishReason r, const std::string& engine_message = {});

// The fields every response object and chunk starts with: id, object, created, model, system_fingerprint.
Json response_head(const ServerContext& ctx, const std::string& id, const char* object, int64_t created);

// One choice's token counts, as its latest event reports them.
struct TokenCounts {
  int64_t prompt = 0, completion = 0, cached = 0;
  void update(const ChoiceEvent& ev) {
    prompt = ev.prompt_tokens;
    completion = ev.completion_tokens;
    cached = ev.cached_tokens;
  }
};
// The usage object of a response whose choices come in groups of `n` per prompt: each prompt's tokens
// (and cached tokens) count once, as OpenAI counts them; completion tokens add up over every choice.
// `reasoning` adds completion_tokens_details.reasoning_tokens.
Json usage_json(const std::vector<TokenCounts>& choices, size_t n, std::optional<int64_t> reasoning = std::nullopt);

// A token's text for logprob fields (lossy for bytes that are not valid UTF-8 alone).
std::string token_text(const tok::Tokenizer& t, int32_t id);
// Chat logprob entry {"token","logprob","bytes","top_logprobs"}.
Json chat_logprob_entry(const tok::Tokenizer& t, const TokenInfo& info, int top_n);

// One streamed response. on_start writes the first chunks (the role delta), on_events what a batch of
// events adds, on_end the closing chunks (usage) once every choice has finished. Each appends
// complete SSE events ("data: ...\n\n") to `out`.
class StreamFormatter {
 public:
  virtual ~StreamFormatter() = default;
  virtual void on_start(std::string* out) = 0;
  virtual void on_events(std::vector<ChoiceEvent>& events, std::string* out) = 0;
  virtual void on_end(std::string* out) = 0;
};

// Appends "data: <json>\n\n".
void append_sse(const Json& j, std::string* out);

// Turns `res` into an SSE stream driven by `gen`: writes formatter output as events arrive, `: ping`
// comments after sse_ping_seconds of silence, then "data: [DONE]". A failed write (client gone)
// cancels the generation, which returns its cache blocks to the engine.
void start_sse(ServerContext& ctx, httplib::Response& res, std::unique_ptr<Generation> gen,
               std::unique_ptr<StreamFormatter> formatter);

// Non-streamed responses: the handler waits until every choice has finished, then answers with the
// status the outcome deserves (`build` may throw ApiException: a cancellation at shutdown is a 503, an
// engine failure a 500). Nothing is sent before that, so an error can never follow a 200. While it
// waits, it checks every 200 ms whether the client is still connected (ServerContext::http; TCP
// keep-alive notices a vanished host), and cancels the engine requests of a client that went away.
using BuildResponse = std::function<Json(std::vector<ChoiceEvent>& events)>;
void respond_when_done(ServerContext& ctx, httplib::Response& res, std::unique_ptr<Generation> gen,
                       BuildResponse build);

}  // namespace tachyon::server
