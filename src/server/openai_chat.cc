// POST /v1/chat/completions: OpenAI chat request -> tool_choice -> DeepSeek-V4 prompt (chat encoder)
// -> engine -> generated text -> completion parser (reasoning_content / content / tool_calls) -> a
// chat.completion object, or chat.completion.chunk events over SSE (openai_chat.h).
#include "server/openai_chat.h"

#include <httplib.h>

#include "chat/dsv4_encoder.h"
#include "server/tool_choice.h"

namespace tachyon::server {

ChatResponder::ChatResponder(ServerContext& ctx, const RequestParams& p, chat::ThinkingMode mode, const Json& tools,
                             bool parse_tools)
    : ctx_(ctx), p_(p), id_(make_id("chatcmpl-")), created_(unix_now()) {
  choices_.reserve(size_t(p.n));
  for (int i = 0; i < p.n; ++i) choices_.emplace_back(mode, tools, parse_tools);
}

void ChatResponder::apply(std::vector<ChoiceEvent>& events, std::string* out) {
  for (ChoiceEvent& ev : events) {
    Choice& c = choices_.at(ev.index);
    chat::ParseDelta d = c.parser.feed(ev.text);
    if (ev.finished) {
      chat::ParseDelta more = c.parser.finish();
      d.reasoning += more.reasoning;
      d.content += more.content;
      for (auto& t : more.tool_calls) d.tool_calls.push_back(std::move(t));
      for (auto& t : more.tool_call_chunks) d.tool_call_chunks.push_back(std::move(t));
    }
    if (p_.logprobs)
      for (const TokenInfo& t : ev.tokens) c.logprobs.push_back(chat_logprob_entry(*ctx_.tokenizer, t, p_.top_logprobs));
    if (!d.reasoning.empty() && d.content.empty()) c.reasoning_tokens += int64_t(ev.tokens.size());
    c.counts.update(ev);
    if (out) stream_delta(ev.index, c, d, out);
    if (ev.finished) {
      c.reason = ev.reason;
      c.error = ev.error;
      count_outcome(ctx_, ev.reason, !c.parser.result().tool_calls.empty());
      if (out) stream_finish(ev.index, c, out);
    }
  }
}

void ChatResponder::on_start(std::string* out) {
  for (int i = 0; i < p_.n; ++i) {
    Json delta = Json::object();
    delta["role"] = "assistant";
    delta["content"] = "";
    append_sse(chunk(size_t(i), std::move(delta), nullptr, nullptr), out);
  }
}

void ChatResponder::on_end(std::string* out) {
  if (!p_.include_usage) return;
  Json j = response_head(ctx_, id_, "chat.completion.chunk", created_);
  j["choices"] = Json::array();
  j["usage"] = usage();
  append_sse(j, out);
}

Json ChatResponder::response() const {
  Json j = response_head(ctx_, id_, "chat.completion", created_);
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    const chat::ParsedCompletion& r = c.parser.result();
    Json msg = Json::object();
    msg["role"] = "assistant";
    msg["content"] = r.content.empty() && !r.tool_calls.empty() ? Json(nullptr) : Json(r.content);
    msg["refusal"] = nullptr;
    if (!r.reasoning_content.empty()) msg["reasoning_content"] = r.reasoning_content;
    if (!r.tool_calls.empty()) {
      Json calls = Json::array();
      for (const chat::ParsedToolCall& tc : r.tool_calls) {
        Json call = Json::object();
        call["id"] = make_id("call_");
        call["type"] = "function";
        call["function"] = Json::object({{"name", tc.name}, {"arguments", tc.arguments}});
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

std::optional<ApiError> ChatResponder::failure() const {
  for (const Choice& c : choices_)
    if (finish_failed(c.reason)) return finish_error(c.reason, c.error);
  return std::nullopt;
}

Json ChatResponder::logprobs_json(const Json& entries) const {
  if (!p_.logprobs) return nullptr;
  Json lp = Json::object();
  lp["content"] = entries;
  lp["refusal"] = nullptr;
  return lp;
}

Json ChatResponder::chunk(size_t index, Json delta, Json logprobs, Json finish) const {
  Json ch = Json::object();
  ch["index"] = index;
  ch["delta"] = std::move(delta);
  ch["logprobs"] = std::move(logprobs);
  ch["finish_reason"] = std::move(finish);
  Json j = response_head(ctx_, id_, "chat.completion.chunk", created_);
  j["choices"] = Json::array({std::move(ch)});
  if (p_.include_usage) j["usage"] = nullptr;
  return j;
}

Json ChatResponder::take_logprobs(Choice& c) const {
  if (!p_.logprobs) return nullptr;
  Json lp = logprobs_json(c.logprobs);
  c.logprobs = Json::array();
  return lp;
}

void ChatResponder::stream_delta(size_t index, Choice& c, const chat::ParseDelta& d, std::string* out) {
  if (!d.reasoning.empty() || !d.content.empty()) {
    Json delta = Json::object();
    if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
    if (!d.content.empty()) delta["content"] = d.content;
    append_sse(chunk(index, std::move(delta), take_logprobs(c), nullptr), out);
  }
  for (const chat::ToolCallChunk& tc : d.tool_call_chunks) {
    Json call = Json::object();
    call["index"] = tc.index;
    if (!tc.name.empty()) {  // the call's first chunk
      while (c.stream_ids.size() <= tc.index) c.stream_ids.push_back(make_id("call_"));
      call["id"] = c.stream_ids[tc.index];
      call["type"] = "function";
      call["function"] = Json::object({{"name", tc.name}, {"arguments", ""}});
    } else {
      call["function"] = Json::object({{"arguments", tc.arguments}});
    }
    Json delta = Json::object();
    delta["tool_calls"] = Json::array({std::move(call)});
    append_sse(chunk(index, std::move(delta), take_logprobs(c), nullptr), out);
  }
}

void ChatResponder::stream_finish(size_t index, Choice& c, std::string* out) {
  if (finish_failed(c.reason)) {
    append_sse(finish_error(c.reason, c.error).to_json(), out);
    return;
  }
  const bool calls = !c.parser.result().tool_calls.empty();
  append_sse(chunk(index, Json::object(), take_logprobs(c), finish_reason_str(c.reason, calls)), out);
}

Json ChatResponder::usage() const {
  std::vector<TokenCounts> counts;
  int64_t reasoning = 0;
  for (const Choice& c : choices_) {
    counts.push_back(c.counts);
    reasoning += c.reasoning_tokens;
  }
  return usage_json(counts, choices_.size(), reasoning);
}

void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  check_ready(ctx);
  Json body = parse_body(req.body);
  check_model(ctx, body);
  RequestParams p = parse_request_params(body, ApiKind::kChat, ctx.vocab);  // every field (request_fields.h)
  const ToolChoice tool_choice = parse_tool_choice(body);
  const bool use_tools = tool_choice.mode != ToolChoiceMode::kNone;
  if (!use_tools) body.erase("tools");  // "none": the model is not told about the tools
  auto encoded = chat::encode_chat_request(body);
  if (!encoded.is_ok()) throw ApiException{chat_encoder_error(encoded.status().message())};
  std::vector<int32_t> prompt = encode_prompt(ctx, encoded->prompt, "messages");
  const int64_t max_tokens = resolve_max_tokens(ctx, p, int64_t(prompt.size()), 0, "messages");
  p.gen.prefix_tokens = tool_choice_prefix_tokens(*ctx.tokenizer, tool_choice, encoded->thinking_mode);
  // In thinking mode the reasoning is free; the format constrains the content after </think>.
  apply_response_format(ctx, p.response_format, encoded->thinking_mode == chat::ThinkingMode::kThinking, p.gen);

  std::vector<ChoiceSpec> specs;
  for (int i = 0; i < p.n; ++i) specs.push_back(make_choice(ctx, p, prompt, max_tokens, size_t(i)));
  auto gen = std::make_unique<Generation>(*ctx.engine, *ctx.tokenizer, ctx.metrics, ctx.eos_id);
  throw_submit_error(gen->start(std::move(specs), p.text));

  const auto tools_it = body.find("tools");
  const Json tools = tools_it != body.end() ? *tools_it : Json(nullptr);
  auto responder = std::make_unique<ChatResponder>(ctx, p, encoded->thinking_mode, tools, use_tools);
  if (p.stream) {
    start_sse(ctx, res, std::move(gen), std::move(responder));
    return;
  }
  std::shared_ptr<ChatResponder> r = std::move(responder);
  respond_when_done(ctx, res, std::move(gen), [r](std::vector<ChoiceEvent>& events) {
    r->apply(events, nullptr);
    if (const std::optional<ApiError> e = r->failure()) throw ApiException{*e};
    return r->response();
  });
}

}  // namespace tachyon::server
