// POST /v1/completions: the legacy text-completion API. `prompt` is a string, a list of strings, a list
// of token ids or a list of such lists; each prompt gets n choices (index = prompt * n + k). Text is
// raw generated text (no chat parsing); logprobs use the legacy {tokens, token_logprobs, top_logprobs,
// text_offset} shape. Streams send text_completion chunks, then an optional usage chunk, then [DONE].
#include <httplib.h>

#include "server/route_util.h"

namespace tachyon::server {
namespace {

struct Prompt {
  std::vector<int32_t> ids;
  std::string text;  // for echo
};

std::vector<Prompt> read_prompts(const ServerContext& ctx, const Json& body) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw ApiException{invalid_request("'prompt' is required", "prompt")};
  const Json& pr = *it;
  auto ids_of = [&](const Json& arr) {
    Prompt p;
    for (const Json& x : arr) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= ctx.vocab)
        throw ApiException{invalid_request(
            "'prompt' token ids must be integers between 0 and " + std::to_string(ctx.vocab - 1), "prompt")};
      p.ids.push_back(int32_t(x.get<int64_t>()));
    }
    p.text = ctx.tokenizer->decode(p.ids);
    return p;
  };
  auto text_of = [&](const std::string& s) {
    Prompt p;
    p.text = s;
    p.ids = encode_prompt(ctx, s, "prompt");
    return p;
  };
  std::vector<Prompt> out;
  if (pr.is_string()) {
    out.push_back(text_of(pr.get<std::string>()));
  } else if (pr.is_array() && !pr.empty() && pr[0].is_string()) {
    for (const Json& s : pr) {
      if (!s.is_string()) throw ApiException{invalid_request("'prompt' must not mix strings and other values", "prompt")};
      out.push_back(text_of(s.get<std::string>()));
    }
  } else if (pr.is_array() && !pr.empty() && pr[0].is_array()) {
    for (const Json& a : pr) {
      if (!a.is_array()) throw ApiException{invalid_request("'prompt' must not mix token lists and other values", "prompt")};
      out.push_back(ids_of(a));
    }
  } else if (pr.is_array()) {
    out.push_back(ids_of(pr));
  } else {
    throw ApiException{invalid_request(
        "'prompt' must be a string, an array of strings, an array of token ids or an array of such arrays", "prompt")};
  }
  if (out.empty()) throw ApiException{invalid_request("'prompt' must not be empty", "prompt")};
  for (const Prompt& p : out)
    if (p.ids.empty()) throw ApiException{invalid_request("'prompt' must not be empty", "prompt")};
  return out;
}

struct ChoiceState {
  std::string text;  // non-stream: all text
  std::string echo;  // prompt text still to prepend (echo)
  Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(), offsets = Json::array();
  int64_t text_offset = 0;
  runtime::FinishReason reason = runtime::FinishReason::kNone;
  std::string error;  // the engine's message when reason is kError
  TokenCounts counts;
};

class CompletionResponder final : public StreamFormatter {
 public:
  CompletionResponder(ServerContext& ctx, const RequestParams& p, const std::vector<Prompt>& prompts)
      : ctx_(ctx), p_(p), id_(make_id("cmpl-")), created_(unix_now()) {
    for (const Prompt& pr : prompts)
      for (int k = 0; k < p.n; ++k) {
        choices_.emplace_back();
        if (p.echo) choices_.back().echo = pr.text;
        choices_.back().text_offset = p.echo ? int64_t(pr.text.size()) : 0;
      }
  }

  void apply(std::vector<ChoiceEvent>& events, std::string* out) {
    for (ChoiceEvent& ev : events) {
      ChoiceState& c = choices_.at(ev.index);
      std::string text = std::move(c.echo) + ev.text;
      c.echo.clear();
      if (p_.logprobs) add_logprobs(c, ev.tokens);
      c.counts.update(ev);
      if (ev.finished) {
        c.reason = ev.reason;
        c.error = ev.error;
        count_outcome(ctx_, ev.reason, false);
      }
      if (!out) {
        c.text += text;
        continue;
      }
      if (ev.finished && finish_failed(ev.reason)) {
        append_sse(finish_error(ev.reason, ev.error).to_json(), out);
        continue;
      }
      if (text.empty() && !ev.finished && c.tokens.empty()) continue;
      Json j = base();
      j["choices"] = Json::array({choice(ev.index, c, std::move(text), ev.finished)});
      if (p_.include_usage) j["usage"] = nullptr;
      append_sse(j, out);
      clear_logprobs(c);
    }
  }

  void on_start(std::string*) override {}
  void on_events(std::vector<ChoiceEvent>& events, std::string* out) override { apply(events, out); }
  void on_end(std::string* out) override {
    if (!p_.include_usage) return;
    Json j = base();
    j["choices"] = Json::array();
    j["usage"] = usage();
    append_sse(j, out);
  }

  Json response() {
    Json j = base();
    Json choices = Json::array();
    for (size_t i = 0; i < choices_.size(); ++i) choices.push_back(choice(i, choices_[i], choices_[i].text, true));
    j["choices"] = std::move(choices);
    j["usage"] = usage();
    return j;
  }

  // The first choice that did not finish normally, if any.
  const ChoiceState* failed() const {
    for (const ChoiceState& c : choices_)
      if (finish_failed(c.reason)) return &c;
    return nullptr;
  }

 private:
  Json base() const { return response_head(ctx_, id_, "text_completion", created_); }

  void add_logprobs(ChoiceState& c, const std::vector<TokenInfo>& tokens) {
    for (const TokenInfo& t : tokens) {
      const std::string s = token_text(*ctx_.tokenizer, t.id);
      c.tokens.push_back(s);
      c.token_logprobs.push_back(t.logprob);
      Json top = Json::object();
      for (size_t k = 0; k < t.top.size() && int(k) < p_.top_logprobs; ++k)
        top[token_text(*ctx_.tokenizer, t.top[k].first)] = t.top[k].second;
      c.top_logprobs.push_back(std::move(top));
      c.offsets.push_back(c.text_offset);
      c.text_offset += int64_t(ctx_.tokenizer->token_bytes(t.id).size());
    }
  }
  static void clear_logprobs(ChoiceState& c) {
    c.tokens = Json::array();
    c.token_logprobs = Json::array();
    c.top_logprobs = Json::array();
    c.offsets = Json::array();
  }

  Json choice(size_t index, const ChoiceState& c, std::string text, bool finished) const {
    Json ch = Json::object();
    ch["index"] = index;
    ch["text"] = std::move(text);
    if (p_.logprobs) {
      Json lp = Json::object();
      lp["tokens"] = c.tokens;
      lp["token_logprobs"] = c.token_logprobs;
      lp["top_logprobs"] = c.top_logprobs;
      lp["text_offset"] = c.offsets;
      ch["logprobs"] = std::move(lp);
    } else {
      ch["logprobs"] = nullptr;
    }
    ch["finish_reason"] = finished ? Json(finish_reason_str(c.reason, false)) : Json(nullptr);
    return ch;
  }

  Json usage() const {
    std::vector<TokenCounts> counts;
    for (const ChoiceState& c : choices_) counts.push_back(c.counts);
    return usage_json(counts, size_t(p_.n));
  }

  ServerContext& ctx_;
  RequestParams p_;
  std::string id_;
  int64_t created_;
  std::vector<ChoiceState> choices_;
};

}  // namespace

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  check_ready(ctx);
  const Json body = parse_body(req.body);
  check_model(ctx, body);
  RequestParams p = parse_request_params(body, ApiKind::kCompletions, ctx.vocab);
  const std::vector<Prompt> prompts = read_prompts(ctx, body);
  apply_response_format(ctx, p.response_format, false, p.gen);
  if (prompts.size() * size_t(p.n) > 256)
    throw ApiException{invalid_request("too many choices: prompts times n must be at most 256", "n")};

  std::vector<ChoiceSpec> specs;
  for (const Prompt& pr : prompts) {
    const int64_t max_tokens = resolve_max_tokens(ctx, p, int64_t(pr.ids.size()), 16, "prompt");
    for (int k = 0; k < p.n; ++k) specs.push_back(make_choice(ctx, p, pr.ids, max_tokens, specs.size()));
  }
  auto gen = std::make_unique<Generation>(*ctx.engine, *ctx.tokenizer, ctx.metrics, ctx.eos_id);
  throw_submit_error(gen->start(std::move(specs), p.text));
  auto responder = std::make_unique<CompletionResponder>(ctx, p, prompts);
  if (p.stream) {
    start_sse(ctx, res, std::move(gen), std::move(responder));
    return;
  }
  std::shared_ptr<CompletionResponder> r = std::move(responder);
  respond_when_done(ctx, res, std::move(gen), [r](std::vector<ChoiceEvent>& events) {
    r->apply(events, nullptr);
    if (const ChoiceState* f = r->failed()) throw ApiException{finish_error(f->reason, f->error)};
    return r->response();
  });
}

}  // namespace tachyon::server
