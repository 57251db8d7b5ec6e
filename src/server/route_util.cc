// Shared route helpers and the SSE driver (see route_util.h).
#include "server/route_util.h"

#include <httplib.h>

#include <random>

#include <fmt/format.h>

#include "core/log.h"
#include "tokenizer/utf8.h"

namespace tachyon::server {

using Clock = std::chrono::steady_clock;

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  send_json(res, e.status, e.to_json());
}

void check_ready(const ServerContext& ctx) {
  if (ctx.stopping.load()) throw ApiException{overloaded(503, "the server is shutting down", 5)};
  if (!ctx.ready.load()) throw ApiException{overloaded(503, "the model is still loading", 5)};
}

void check_model(const ServerContext& ctx, const Json& body) {
  const auto it = body.find("model");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_string()) throw ApiException{invalid_request("'model' must be a string", "model")};
  const std::string name = it->get<std::string>();
  if (name != ctx.cfg.served_model_name)
    throw ApiException{not_found(fmt::format("The model '{}' does not exist. This server serves '{}'.", name,
                                             ctx.cfg.served_model_name),
                                 "model_not_found")};
}

std::string make_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), uint32_t(rng()));
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> encode_prompt(const ServerContext& ctx, std::string_view text, const char* what) {
  const int64_t limit = ctx.engine->max_model_len();
  std::vector<int32_t> ids;
  // Longer than `limit` tokens can stand for: too long without looking further.
  const bool too_long = text.size() > uint64_t(limit) * ctx.tokenizer->max_token_bytes();
  if (!too_long) ctx.tokenizer->encode_append(text, &ids, size_t(limit));
  if (too_long || int64_t(ids.size()) > limit)
    throw ApiException{context_length_exceeded(
        fmt::format("This model's maximum context length is {} tokens. However, your {} resulted in more than {} "
                    "tokens. Please reduce the length of the {}.",
                    limit, what, limit, what))};
  return ids;
}

int64_t resolve_max_tokens(const ServerContext& ctx, const RequestParams& p, int64_t prompt_len, int64_t default_max,
                           const char* what) {
  const int64_t limit = ctx.engine->max_model_len();
  if (prompt_len >= limit)
    throw ApiException{context_length_exceeded(
        fmt::format("This model's maximum context length is {} tokens. However, your {} resulted in {} tokens. "
                    "Please reduce the length of the {}.",
                    limit, what, prompt_len, what))};
  if (p.max_tokens) {
    if (prompt_len + *p.max_tokens > limit)
      throw ApiException{context_length_exceeded(fmt::format(
          "This model's maximum context length is {} tokens. However, you requested {} tokens ({} in the {}, {} "
          "in the completion). Please reduce the length of the {} or the completion.",
          limit, prompt_len + *p.max_tokens, prompt_len, what, *p.max_tokens, what))};
    return *p.max_tokens;
  }
  const int64_t room = limit - prompt_len;
  return default_max > 0 ? std::min(default_max, room) : room;
}

ChoiceSpec make_choice(const ServerContext& ctx, const RequestParams& p, std::vector<int32_t> prompt,
                       int64_t max_tokens, size_t choice_index) {
  ChoiceSpec c;
  c.prompt = std::move(prompt);
  c.params = p.gen;
  c.params.max_tokens = max_tokens;
  c.params.sampling.seed += choice_index;  // choices of one request differ; a given seed reproduces them all
  if (!ctx.forced_tokens.empty()) c.params.forced_tokens = ctx.forced_tokens;
  return c;
}

ApiError chat_encoder_error(const std::string& message) {
  const size_t end = message.find_first_of(".[: ");
  std::string param = message.substr(0, end);
  if (param.empty() || end == std::string::npos || param == "request") param = "messages";
  return invalid_request(message, param);
}

void throw_submit_error(const runtime::SubmitResult& r) {
  switch (r.code) {
    case runtime::SubmitCode::kOk: return;
    case runtime::SubmitCode::kInvalid: throw ApiException{invalid_request(r.message)};
    case runtime::SubmitCode::kTooLong: throw ApiException{context_length_exceeded(r.message)};
    case runtime::SubmitCode::kQueueFull: throw ApiException{overloaded(429, r.message, 1)};
    case runtime::SubmitCode::kShuttingDown: throw ApiException{overloaded(503, r.message, 5)};
  }
}

const char* finish_reason_str(runtime::FinishReason r, bool has_tool_calls) {
  if (r == runtime::FinishReason::kLength) return "length";
  if (has_tool_calls) return "tool_calls";
  return "stop";
}

void count_outcome(ServerContext& ctx, runtime::FinishReason r, bool has_tool_calls) {
  RequestOutcome o = RequestOutcome::kStop;
  if (r == runtime::FinishReason::kCancelled) o = RequestOutcome::kAbort;
  else if (r == runtime::FinishReason::kError) o = RequestOutcome::kError;
  else if (r == runtime::FinishReason::kLength) o = RequestOutcome::kLength;
  else if (has_tool_calls) o = RequestOutcome::kToolCalls;
  ctx.metrics.count_request(o);
}

bool finish_failed(runtime::FinishReason r) {
  return r == runtime::FinishReason::kCancelled || r == runtime::FinishReason::kError;
}

ApiError finish_error(runtime::FinishReason r, const std::string& engine_message) {
  if (r == runtime::FinishReason::kError)
    return internal_error(engine_message.empty() ? "generation failed in the engine" : engine_message);
  return overloaded(503, "the request was cancelled (the server is shutting down)", 5);
}

Json response_head(const ServerContext& ctx, const std::string& id, const char* object, int64_t created) {
  Json j = Json::object();
  j["id"] = id;
  j["object"] = object;
  j["created"] = created;
  j["model"] = ctx.cfg.served_model_name;
  j["system_fingerprint"] = nullptr;
  return j;
}

Json usage_json(const std::vector<TokenCounts>& choices, size_t n, std::optional<int64_t> reasoning) {
  int64_t prompt = 0, completion = 0, cached = 0, group_cached = 0;
  n = std::max<size_t>(n, 1);
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i % n == 0) {
      prompt += choices[i].prompt;
      cached += group_cached;
      group_cached = 0;
    }
    group_cached = std::max(group_cached, choices[i].cached);
    completion += choices[i].completion;
  }
  cached += group_cached;
  Json u = Json::object();
  u["prompt_tokens"] = prompt;
  u["completion_tokens"] = completion;
  u["total_tokens"] = prompt + completion;
  u["prompt_tokens_details"] = Json::object({{"cached_tokens", cached}});
  if (reasoning) u["completion_tokens_details"] = Json::object({{"reasoning_tokens", *reasoning}});
  return u;
}

std::string token_text(const tok::Tokenizer& t, int32_t id) { return tok::to_valid_utf8(t.token_bytes(id)); }

Json chat_logprob_entry(const tok::Tokenizer& t, const TokenInfo& info, int top_n) {
  auto one = [&](int32_t id, float lp) {
    Json e = Json::object();
    const std::string_view raw = t.token_bytes(id);
    e["token"] = tok::to_valid_utf8(raw);
    e["logprob"] = lp;
    Json bytes = Json::array();
    for (char c : raw) bytes.push_back(int(uint8_t(c)));
    e["bytes"] = std::move(bytes);
    return e;
  };
  Json e = one(info.id, info.logprob);
  Json top = Json::array();
  for (size_t k = 0; k < info.top.size() && int(k) < top_n; ++k) top.push_back(one(info.top[k].first, info.top[k].second));
  e["top_logprobs"] = std::move(top);
  return e;
}

void append_sse(const Json& j, std::string* out) {
  *out += "data: ";
  *out += dump_json(j);
  *out += "\n\n";
}

namespace {

Clock::duration ping_interval(const ServerContext& ctx) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ctx.cfg.sse_ping_seconds));
}

}  // namespace

void respond_when_done(ServerContext& ctx, httplib::Response& res, std::unique_ptr<Generation> gen,
                       BuildResponse build) {
  std::vector<ChoiceEvent> events;
  while (gen->next(&events, Clock::now() + std::chrono::milliseconds(200))) {
    if (ctx.http && !ctx.http->client_connected()) {
      gen->cancel();  // nobody will read the answer: free the engine's blocks now
      ctx.metrics.count_request(RequestOutcome::kAbort);
      res.status = 499;  // nginx's "client closed request"; the write goes nowhere
      return;
    }
  }
  send_json(res, 200, build(events));
}

namespace {

struct SseState {
  ServerContext* ctx = nullptr;
  std::unique_ptr<Generation> gen;
  std::unique_ptr<StreamFormatter> fmt;
  Clock::duration ping{};
  Clock::time_point last_write;
  bool started = false;
  bool ended = false;
};

// One call of httplib's content provider: wait for events (or the ping deadline), write, return.
bool sse_step(SseState& st, httplib::DataSink& sink) {
  std::string out;
  if (!st.started) {
    st.started = true;
    st.fmt->on_start(&out);
  } else {
    std::vector<ChoiceEvent> evs;
    const Clock::time_point deadline = std::min(st.last_write + st.ping, Clock::now() + std::chrono::seconds(1));
    const bool more = st.gen->next(&evs, deadline);
    if (!evs.empty()) st.fmt->on_events(evs, &out);
    if (!more) {
      st.fmt->on_end(&out);
      out += "data: [DONE]\n\n";
      st.ended = true;
    } else if (out.empty() && Clock::now() >= st.last_write + st.ping) {
      out = ": ping\n\n";  // keep-alive during a long prefill; a closed client fails this write
    }
  }
  if (!out.empty()) {
    if (!sink.is_writable() || !sink.write(out.data(), out.size())) return false;
    st.last_write = Clock::now();
  }
  if (st.ended) sink.done();
  return true;
}

}  // namespace

void start_sse(ServerContext& ctx, httplib::Response& res, std::unique_ptr<Generation> gen,
               std::unique_ptr<StreamFormatter> formatter) {
  auto st = std::make_shared<SseState>();
  st->ctx = &ctx;
  st->gen = std::move(gen);
  st->fmt = std::move(formatter);
  st->ping = ping_interval(ctx);
  st->last_write = Clock::now();
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](size_t, httplib::DataSink& sink) {
        try {
          if (sse_step(*st, sink)) return true;
        } catch (const std::exception& e) {
          TLOG_ERROR("stream failed: {}", e.what());
        }
        st->gen->cancel();  // the client is gone (or the stream broke): free the engine's blocks
        st->ctx->metrics.count_request(RequestOutcome::kAbort);
        st->ended = true;
        return false;
      },
      [st](bool success) {
        if (!st->ended) st->ctx->metrics.count_request(RequestOutcome::kAbort);
        st->ended = true;
        st->gen->cancel();
        (void)success;
      });
}

}  // namespace tachyon::server
