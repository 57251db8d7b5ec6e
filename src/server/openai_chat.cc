// POST /v1/chat/completions: OpenAI chat request -> DeepSeek-V4 prompt (chat encoder) -> engine ->
// generated text -> completion parser (reasoning_content / content / tool_calls) -> a chat.completion
// object, or chat.completion.chunk events over SSE.
//
// Streaming follows OpenAI's shapes: a role delta first, then reasoning_content / content deltas, tool
// calls as {index, id, type, function{name, arguments:""}} followed by an arguments fragment (the parser
// releases a call whole, once its DSML block closes), a final empty delta with finish_reason, an
// optional usage chunk with "choices": [], then [DONE].
#include <httplib.h>

#include "chat/completion_parser.h"
#include "chat/dsv4_encoder.h"
#include "server/route_util.h"

namespace tachyon::server {
namespace {

struct ChoiceState {
  explicit ChoiceState(chat::ThinkingMode mode, const Json& tools) : parser(mode, tools) {}
  chat::CompletionParser parser;
  Json logprobs = Json::array();  // entries not sent yet (stream) or all (non-stream)
  std::vector<std::string> call_ids;
  bool finished = false;
  runtime::FinishReason reason = runtime::FinishReason::kNone;
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0, reasoning_tokens = 0;
};

class ChatResponder final : public StreamFormatter {
 public:
  ChatResponder(ServerContext& ctx, const RequestParams& p, chat::ThinkingMode mode, const Json& tools)
      : ctx_(ctx), p_(p), id_(make_id("chatcmpl-")), created_(unix_now()) {
    choices_.reserve(size_t(p.n));
    for (int i = 0; i < p.n; ++i) choices_.emplace_back(mode, tools);
  }

  // Applies a batch of events; for streaming, appends the chunks they produce to `out`.
  void apply(std::vector<ChoiceEvent>& events, std::string* out) {
    for (ChoiceEvent& ev : events) {
      ChoiceState& c = choices_.at(ev.index);
      chat::ParseDelta d = c.parser.feed(ev.text);
      if (ev.finished) merge(d, c.parser.finish());
      if (p_.logprobs)
        for (const TokenInfo& t : ev.tokens) c.logprobs.push_back(chat_logprob_entry(*ctx_.tokenizer, t, p_.top_logprobs));
      if (!d.reasoning.empty() && d.content.empty()) c.reasoning_tokens += int64_t(ev.tokens.size());
      c.prompt_tokens = ev.prompt_tokens;
      c.completion_tokens = ev.completion_tokens;
      c.cached_tokens = ev.cached_tokens;
      for (const chat::ToolCallDelta& tc : d.tool_calls) {
        while (c.call_ids.size() <= tc.index) c.call_ids.push_back(make_id("call_"));
      }
      if (out) stream_delta(ev.index, c, d, out);
      if (ev.finished) {
        c.finished = true;
        c.reason = ev.reason;
        const bool calls = !c.parser.result().tool_calls.empty();
        count_outcome(ctx_, ev.reason, calls);
        if (out) stream_finish(ev.index, c, out);
      }
    }
  }

  void on_start(std::string* out) override {
    for (int i = 0; i < p_.n; ++i) {
      Json delta = Json::object();
      delta["role"] = "assistant";
      delta["content"] = "";
      append_sse(chunk(size_t(i), std::move(delta), nullptr, nullptr), out);
    }
  }
  void on_events(std::vector<ChoiceEvent>& events, std::string* out) override { apply(events, out); }
  void on_end(std::string* out) override {
    if (!p_.include_usage) return;
    Json j = base("chat.completion.chunk");
    j["choices"] = Json::array();
    j["usage"] = usage();
    append_sse(j, out);
  }

  Json response() const {
    Json j = base("chat.completion");
    Json choices = Json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const ChoiceState& c = choices_[i];
      const chat::ParsedCompletion& r = c.parser.result();
      Json msg = Json::object();
      msg["role"] = "assistant";
      msg["content"] = r.content.empty() && !r.tool_calls.empty() ? Json(nullptr) : Json(r.content);
      msg["refusal"] = nullptr;
      if (!r.reasoning_content.empty()) msg["reasoning_content"] = r.reasoning_content;
      if (!r.tool_calls.empty()) {
        Json calls = Json::array();
        for (size_t k = 0; k < r.tool_calls.size(); ++k) {
          Json fn = Json::object();
          fn["name"] = r.tool_calls[k].name;
          fn["arguments"] = r.tool_calls[k].arguments;
          Json call = Json::object();
          call["id"] = k < c.call_ids.size() ? c.call_ids[k] : make_id("call_");
          call["type"] = "function";
          call["function"] = std::move(fn);
          calls.push_back(std::move(call));
        }
        msg["tool_calls"] = std::move(calls);
      }
      Json ch = Json::object();
      ch["index"] = i;
      ch["message"] = std::move(msg);
      ch["logprobs"] = logprobs_json(c.logprobs);
      ch["finish_reason"] = finish_reason_str(c.reason, !r.tool_calls.empty());
      choices.push_back(std::move(ch));
    }
    j["choices"] = std::move(choices);
    j["usage"] = usage();
    return j;
  }

  // The first choice that did not finish normally, if any.
  const ChoiceState* failed() const {
    for (const ChoiceState& c : choices_)
      if (c.reason == runtime::FinishReason::kCancelled || c.reason == runtime::FinishReason::kError) return &c;
    return nullptr;
  }

 private:
  static void merge(chat::ParseDelta& d, chat::ParseDelta&& more) {
    d.reasoning += more.reasoning;
    d.content += more.content;
    for (auto& t : more.tool_calls) d.tool_calls.push_back(std::move(t));
  }

  Json base(const char* object) const {
    Json j = Json::object();
    j["id"] = id_;
    j["object"] = object;
    j["created"] = created_;
    j["model"] = ctx_.cfg.served_model_name;
    j["system_fingerprint"] = nullptr;
    return j;
  }

  Json logprobs_json(const Json& entries) const {
    if (!p_.logprobs) return nullptr;
    Json lp = Json::object();
    lp["content"] = entries;
    lp["refusal"] = nullptr;
    return lp;
  }

  Json chunk(size_t index, Json delta, Json logprobs, Json finish) const {
    Json ch = Json::object();
    ch["index"] = index;
    ch["delta"] = std::move(delta);
    ch["logprobs"] = std::move(logprobs);
    ch["finish_reason"] = std::move(finish);
    Json j = base("chat.completion.chunk");
    j["choices"] = Json::array({std::move(ch)});
    if (p_.include_usage) j["usage"] = nullptr;
    return j;
  }

  Json take_logprobs(ChoiceState& c) const {
    if (!p_.logprobs) return nullptr;
    Json lp = logprobs_json(c.logprobs);
    c.logprobs = Json::array();
    return lp;
  }

  void stream_delta(size_t index, ChoiceState& c, const chat::ParseDelta& d, std::string* out) {
    if (!d.reasoning.empty() || !d.content.empty()) {
      Json delta = Json::object();
      if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
      if (!d.content.empty()) delta["content"] = d.content;
      append_sse(chunk(index, std::move(delta), take_logprobs(c), nullptr), out);
    }
    for (const chat::ToolCallDelta& tc : d.tool_calls) {
      Json fn = Json::object();
      fn["name"] = tc.call.name;
      fn["arguments"] = "";
      Json call = Json::object();
      call["index"] = tc.index;
      call["id"] = c.call_ids[tc.index];
      call["type"] = "function";
      call["function"] = std::move(fn);
      Json delta = Json::object();
      delta["tool_calls"] = Json::array({std::move(call)});
      append_sse(chunk(index, std::move(delta), take_logprobs(c), nullptr), out);
      Json args = Json::object();
      args["index"] = tc.index;
      args["function"] = Json::object({{"arguments", tc.call.arguments}});
      Json delta2 = Json::object();
      delta2["tool_calls"] = Json::array({std::move(args)});
      append_sse(chunk(index, std::move(delta2), nullptr, nullptr), out);
    }
  }

  void stream_finish(size_t index, ChoiceState& c, std::string* out) {
    if (c.reason == runtime::FinishReason::kCancelled || c.reason == runtime::FinishReason::kError) {
      const ApiError e = c.reason == runtime::FinishReason::kError
                             ? internal_error("generation failed in the engine")
                             : overloaded(503, "the request was cancelled (the server is shutting down)", 5);
      append_sse(e.to_json(), out);
      return;
    }
    const bool calls = !c.parser.result().tool_calls.empty();
    append_sse(chunk(index, Json::object(), take_logprobs(c), finish_reason_str(c.reason, calls)), out);
  }

  Json usage() const {
    int64_t prompt = 0, completion = 0, cached = 0, reasoning = 0;
    for (const ChoiceState& c : choices_) {
      prompt = c.prompt_tokens;  // the same prompt for every choice: counted once, as OpenAI does
      cached = std::max(cached, c.cached_tokens);
      completion += c.completion_tokens;
      reasoning += c.reasoning_tokens;
    }
    Json u = Json::object();
    u["prompt_tokens"] = prompt;
    u["completion_tokens"] = completion;
    u["total_tokens"] = prompt + completion;
    u["prompt_tokens_details"] = Json::object({{"cached_tokens", cached}});
    u["completion_tokens_details"] = Json::object({{"reasoning_tokens", reasoning}});
    return u;
  }

  ServerContext& ctx_;
  RequestParams p_;
  std::string id_;
  int64_t created_;
  std::vector<ChoiceState> choices_;
};

}  // namespace

void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  check_ready(ctx);
  const Json body = parse_body(req.body);
  check_model(ctx, body);
  if (const auto rf = body.find("response_format"); rf != body.end() && !rf->is_null()) {
    if (!rf->is_object()) throw ApiException{invalid_request("'response_format' must be an object", "response_format")};
    const auto type = rf->find("type");
    if (type == rf->end() || !type->is_string())
      throw ApiException{invalid_request("'response_format.type' must be a string", "response_format")};
    if (type->get<std::string>() != "text")
      throw ApiException{invalid_request(
          "response_format '" + type->get<std::string>() + "' needs constrained decoding, which this server does not "
          "support yet; only 'text' is accepted",
          "response_format")};
  }
  RequestParams p = parse_request_params(body, ApiKind::kChat, ctx.vocab);
  auto encoded = chat::encode_chat_request(body);
  if (!encoded.is_ok()) throw ApiException{chat_encoder_error(encoded.status().message())};
  std::vector<int32_t> prompt = ctx.tokenizer->encode(encoded->prompt);
  const int64_t max_tokens = resolve_max_tokens(ctx, p, int64_t(prompt.size()), 0, "messages");

  std::vector<ChoiceSpec> specs;
  for (int i = 0; i < p.n; ++i) specs.push_back(make_choice(ctx, p, prompt, max_tokens, size_t(i)));
  auto gen = std::make_unique<Generation>(*ctx.engine, *ctx.tokenizer, ctx.metrics, ctx.eos_id);
  throw_submit_error(gen->start(std::move(specs), p.text));

  const auto tools_it = body.find("tools");
  const Json tools = tools_it != body.end() ? *tools_it : Json(nullptr);
  auto responder = std::make_unique<ChatResponder>(ctx, p, encoded->thinking_mode, tools);
  if (p.stream) {
    start_sse(ctx, res, std::move(gen), std::move(responder));
    return;
  }
  std::shared_ptr<ChatResponder> r = std::move(responder);
  respond_when_done(ctx, res, std::move(gen), [r](std::vector<ChoiceEvent>& events) {
    r->apply(events, nullptr);
    if (const ChoiceState* f = r->failed()) {
      if (f->reason == runtime::FinishReason::kError) throw ApiException{internal_error("generation failed in the engine")};
      throw ApiException{overloaded(503, "the request was cancelled (the server is shutting down)", 5)};
    }
    return r->response();
  });
}

}  // namespace tachyon::server
