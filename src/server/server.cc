// Server lifecycle and the small routes: /health, /v1/models, /metrics, /tokenize, /detokenize, the
// API-key check and the one place where exceptions become OpenAI error responses (see server.h).
#include "server/server.h"

#include <httplib.h>

#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <optional>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "chat/dsv4_encoder.h"
#include "core/log.h"
#include "server/route_util.h"

namespace tachyon::server {
namespace {

using Handler = void (*)(ServerContext&, const httplib::Request&, httplib::Response&);

// Every route runs inside this: client errors become their 4xx, anything else a 500; nothing escapes.
httplib::Server::Handler wrap(ServerContext* ctx, Handler fn) {
  return [ctx, fn](const httplib::Request& req, httplib::Response& res) {
    try {
      fn(*ctx, req, res);
      return;
    } catch (const ApiException& e) {
      ctx->metrics.count_http_error();
      send_error(res, e.error);
      return;
    } catch (const std::exception& e) {
      TLOG_ERROR("{} {}: {}", req.method, req.path, e.what());
      send_error(res, internal_error(fmt::format("internal error: {}", e.what())));
    } catch (...) {
      send_error(res, internal_error("internal error"));
    }
    ctx->metrics.count_http_error();
  };
}

Json model_card(const ServerContext& ctx) {
  Json m = Json::object();
  m["id"] = ctx.cfg.served_model_name;
  m["object"] = "model";
  m["created"] = ctx.created;
  m["owned_by"] = "tachyon";
  m["root"] = ctx.cfg.served_model_name;
  m["parent"] = nullptr;
  m["max_model_len"] = ctx.engine ? Json(ctx.engine->max_model_len()) : Json(nullptr);
  return m;
}

void handle_models(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (req.matches.size() > 1) {
    const std::string id = req.matches[1];
    if (id != ctx.cfg.served_model_name)
      throw ApiException{not_found(fmt::format("The model '{}' does not exist.", id), "model_not_found")};
    send_json(res, 200, model_card(ctx));
    return;
  }
  Json j = Json::object();
  j["object"] = "list";
  j["data"] = Json::array({model_card(ctx)});
  send_json(res, 200, j);
}

// The connection layer's gauges and counters (http_server.h).
void render_http_metrics(const HttpServer& http, std::string* out) {
  const HttpCounters c = http.counters();
  *out += "# HELP tachyon:http_connections Open HTTP connections.\n# TYPE tachyon:http_connections gauge\n";
  *out += fmt::format("tachyon:http_connections {}\n", http.open_connections());
  *out += "# HELP tachyon:http_connections_refused_total Connections refused at admission, by reason.\n"
          "# TYPE tachyon:http_connections_refused_total counter\n";
  *out += fmt::format("tachyon:http_connections_refused_total{{reason=\"max_connections\"}} {}\n", c.refused_total);
  *out += fmt::format("tachyon:http_connections_refused_total{{reason=\"max_connections_per_client\"}} {}\n",
                      c.refused_per_client);
  *out += fmt::format("tachyon:http_connections_refused_total{{reason=\"shutting_down\"}} {}\n", c.refused_draining);
  *out += "# HELP tachyon:http_requests_cut_total Requests answered 408 or 431 while being read, by reason.\n"
          "# TYPE tachyon:http_requests_cut_total counter\n";
  *out += fmt::format("tachyon:http_requests_cut_total{{reason=\"header_timeout\"}} {}\n", c.header_timeouts);
  *out += fmt::format("tachyon:http_requests_cut_total{{reason=\"body_timeout\"}} {}\n", c.body_timeouts);
  *out += fmt::format("tachyon:http_requests_cut_total{{reason=\"header_too_large\"}} {}\n", c.header_too_large);
  *out += fmt::format("tachyon:http_requests_cut_total{{reason=\"body_too_large\"}} {}\n", c.body_too_large);
}

void handle_health(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
  check_ready(ctx);
  res.status = 200;
}

void handle_metrics(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
  const runtime::EngineStats stats = ctx.engine && ctx.ready ? ctx.engine->stats() : runtime::EngineStats{};
  std::string page = ctx.metrics.render(ctx.cfg.served_model_name, stats);
  if (ctx.http) render_http_metrics(*ctx.http, &page);
  if (ctx.engine && ctx.ready) {
    page += "# HELP tachyon:backend_info The CPU kernels' instruction set (label isa).\n"
            "# TYPE tachyon:backend_info gauge\n";
    page += fmt::format("tachyon:backend_info{{isa=\"{}\"}} 1\n", cpu::isa_name(ctx.engine->isa()));
  }
  res.set_content(page, "text/plain; version=0.0.4; charset=utf-8");
}

// The declared body size (0 when absent or not a number; a chunked body is checked once read).
uint64_t content_length(const httplib::Request& req) {
  const std::string v = req.get_header_value("Content-Length");
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  return end != v.c_str() ? uint64_t(n) : 0;
}

ApiError body_too_large(const std::string& path, int64_t limit) {
  ApiError e = invalid_request(fmt::format("the body of {} may hold at most {} bytes (--max-tokenize-bytes)", path,
                                           limit));
  e.status = 413;
  e.code = "request_too_large";
  return e;
}

bool bearer_ok(const httplib::Request& req, const std::string& key) {
  const std::string h = req.get_header_value("Authorization");
  const std::string want = "Bearer " + key;
  if (h.size() != want.size()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < h.size(); ++i) diff |= unsigned(uint8_t(h[i]) ^ uint8_t(want[i]));
  return diff == 0;
}

bool is_tokenize_route(const httplib::Request& req) { return req.path == "/tokenize" || req.path == "/detokenize"; }

// What a request is refused for from its headers alone, before its body is read: a missing key on the
// /v1 routes, a compressed body (its inflated size cannot be bounded before inflating it; the SDKs never
// compress requests), a /tokenize body declared over --max-tokenize-bytes.
std::optional<ApiError> refusal_before_body(const ServerContext& ctx, const httplib::Request& req) {
  if (!ctx.cfg.api_key.empty() && req.path.rfind("/v1/", 0) == 0 && !bearer_ok(req, ctx.cfg.api_key))
    return unauthorized();
  const std::string encoding = req.get_header_value("Content-Encoding");
  if (!encoding.empty() && encoding != "identity") {
    ApiError e = invalid_request(fmt::format("compressed request bodies are not accepted (Content-Encoding: {})",
                                             encoding.substr(0, 64)));
    e.status = 415;
    e.code = "unsupported_media_type";
    return e;
  }
  if (is_tokenize_route(req) && content_length(req) > uint64_t(ctx.cfg.max_tokenize_bytes))
    return body_too_large(req.path, ctx.cfg.max_tokenize_bytes);
  return std::nullopt;
}

}  // namespace

void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  check_ready(ctx);
  if (int64_t(req.body.size()) > ctx.cfg.max_tokenize_bytes)  // a chunked body has no Content-Length to check first
    throw ApiException{body_too_large(req.path, ctx.cfg.max_tokenize_bytes)};
  const Json body = parse_body(req.body);
  check_model(ctx, body);
  std::vector<int32_t> ids;
  if (body.contains("messages")) {  // vLLM's chat form: the prompt the chat route would build
    auto encoded = chat::encode_chat_request(body);
    if (!encoded.is_ok()) throw ApiException{chat_encoder_error(encoded.status().message())};
    ids = encode_prompt(ctx, encoded->prompt, "messages");
  } else {
    const char* key = body.contains("content") && !body.contains("prompt") ? "content" : "prompt";  // llama.cpp: content
    const auto text = get_string(body, key);
    if (!text) throw ApiException{invalid_request("'prompt' (a string) or 'messages' is required", "prompt")};
    // add_special_tokens / add_special are accepted: DeepSeek's tokenizer.json adds no special tokens
    // to a plain encode (no BOS post-processor), so both settings give the same ids, as in HF.
    (void)get_bool(body, "add_special_tokens");
    (void)get_bool(body, "add_special");
    ids = encode_prompt(ctx, *text, "prompt");
  }
  Json j = Json::object();
  j["count"] = ids.size();
  j["max_model_len"] = ctx.engine->max_model_len();
  j["tokens"] = ids;
  if (get_bool(body, "return_token_strs").value_or(false) || get_bool(body, "with_pieces").value_or(false)) {
    Json strs = Json::array();
    for (int32_t id : ids) strs.push_back(std::string(ctx.tokenizer->id_to_token(id)));
    j["token_strs"] = std::move(strs);
  }
  send_json(res, 200, j);
}

void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  check_ready(ctx);
  if (int64_t(req.body.size()) > ctx.cfg.max_tokenize_bytes)  // a chunked body has no Content-Length to check first
    throw ApiException{body_too_large(req.path, ctx.cfg.max_tokenize_bytes)};
  const Json body = parse_body(req.body);
  check_model(ctx, body);
  const auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) throw ApiException{invalid_request("'tokens' (an array of token ids) is required", "tokens")};
  std::vector<int32_t> ids;
  for (const Json& x : *it) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= ctx.tokenizer->vocab_size())
      throw ApiException{invalid_request(
          fmt::format("'tokens' must hold token ids between 0 and {}", ctx.tokenizer->vocab_size() - 1), "tokens")};
    ids.push_back(int32_t(x.get<int64_t>()));
  }
  const std::string text = ctx.tokenizer->decode(ids);
  Json j = Json::object();
  j["prompt"] = text;
  j["content"] = text;  // llama.cpp's name
  send_json(res, 200, j);
}

Server::Server(ServerConfig cfg) : ctx_(std::make_unique<ServerContext>()) {
  ctx_->cfg = std::move(cfg);
  ctx_->created = unix_now();
  http_ = std::make_unique<HttpServer>(ctx_->cfg.http);
  ctx_->http = http_.get();
  register_routes();
}

Server::~Server() { shutdown(); }

void Server::register_routes() {
  ServerContext* ctx = ctx_.get();
  httplib::Server& s = *http_;
  s.set_tcp_nodelay(true);
  http_->set_body_limit([ctx](const httplib::Request& req) {
    return is_tokenize_route(req) ? uint64_t(ctx->cfg.max_tokenize_bytes) : ctx->cfg.http.max_body_bytes;
  });

  // Both run after the headers, before the body is read; the first answers `Expect: 100-continue`, so
  // a refused client is told before it sends its body.
  s.set_expect_100_continue_handler([ctx](const httplib::Request& req, httplib::Response& res) {
    const std::optional<ApiError> e = refusal_before_body(*ctx, req);
    if (!e) return 100;
    ctx->metrics.count_http_error();
    send_error(res, *e);
    return e->status;
  });
  s.set_pre_routing_handler([ctx](const httplib::Request& req, httplib::Response& res) {
    const std::optional<ApiError> e = refusal_before_body(*ctx, req);
    if (!e) return httplib::Server::HandlerResponse::Unhandled;
    ctx->metrics.count_http_error();
    send_error(res, *e);
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // already an API error
    ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.message = fmt::format("no route for {} {}", req.method, req.path);
      e.code = "not_found";
    } else if (res.status == 413) {
      e.message = "the request body is too large";
    } else {
      e.message = fmt::format("HTTP {}", res.status);
    }
    send_error(res, e);
    return httplib::Server::HandlerResponse::Handled;
  }));

  s.Post("/v1/chat/completions", wrap(ctx, handle_chat_completions));
  s.Post("/v1/completions", wrap(ctx, handle_completions));
  s.Get("/v1/models", wrap(ctx, handle_models));
  s.Get(R"(/v1/models/(.+))", wrap(ctx, handle_models));
  s.Get("/health", wrap(ctx, handle_health));
  s.Get("/metrics", wrap(ctx, handle_metrics));
  s.Post("/tokenize", wrap(ctx, handle_tokenize));
  s.Post("/detokenize", wrap(ctx, handle_detokenize));
}

Status Server::start() {
  const ServerConfig& c = ctx_->cfg;
  if (c.port == 0) {
    port_ = http_->bind_to_any_port(c.host);
    if (port_ <= 0) return error("cannot bind {} on any port", c.host);
  } else {
    if (!http_->bind_to_port(c.host, c.port)) return error("cannot bind {}:{} (in use, or not a local address?)", c.host, c.port);
    port_ = c.port;
  }
  http_->widen_listen_queue();
  listener_ = std::thread([this] {
    http_->listen_after_bind();
    listener_done_ = true;
    if (!ctx_->stopping.load()) {  // the listening socket failed (httplib gives up on some accept errors)
      TLOG_ERROR("the HTTP listener stopped unexpectedly; shutting down");
      listener_failed_ = true;
      ::kill(::getpid(), SIGTERM);  // the same drain as an operator's SIGTERM
    }
  });
  return Status::ok();
}

Status Server::load(const std::function<void(std::string_view)>& progress) {
  ServerContext& ctx = *ctx_;
  const ServerConfig& c = ctx.cfg;
  progress(fmt::format("loading tokenizer from {}", c.tokenizer_path));
  auto tk = tok::Tokenizer::load(c.tokenizer_path);
  if (!tk.is_ok())
    return tk.status().with_context("the server needs a tokenizer.json (pass --tokenizer PATH)");
  ctx.tokenizer = std::move(tk).value();
  progress(fmt::format("loading weights from {} ({} compute threads, {} numerics)", c.engine.model_dir,
                       c.engine.threads > 0 ? std::to_string(c.engine.threads) : std::string("all"), c.engine.numerics));
  auto eng = runtime::Engine::create(c.engine);
  if (!eng.is_ok()) return eng.status();
  ctx.engine = std::move(eng).value();
  const ModelConfig& mc = ctx.engine->model_config();
  ctx.vocab = int32_t(mc.vocab_size);
  ctx.eos_id = int32_t(mc.eos_token_id);
  if (auto gv = grammar_vocabulary(*ctx.tokenizer, ctx.eos_id); gv.is_ok()) ctx.grammar_vocab = std::move(gv).value();
  else return gv.status().with_context("indexing the tokenizer's vocabulary for response_format");
  if (auto id = ctx.tokenizer->token_to_id("</think>")) ctx.end_think_id = *id;
  if (ctx.tokenizer->vocab_size() > ctx.vocab)
    TLOG_WARN("the tokenizer has {} ids but the model only {}: prompts using the extra ids are refused",
              ctx.tokenizer->vocab_size(), ctx.vocab);
  if (!c.forced_output.empty()) {
    std::string text = c.forced_output;
    std::error_code ec;
    if (std::filesystem::is_regular_file(text, ec)) {
      std::ifstream f(text, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      text = ss.str();
    }
    ctx.forced_tokens = ctx.tokenizer->encode(text);
    if (ctx.forced_tokens.empty()) ctx.forced_tokens.push_back(ctx.eos_id);
    progress(fmt::format("TESTING ONLY: every request generates the {} forced tokens of --debug-forced-output",
                         ctx.forced_tokens.size()));
  }
  progress(fmt::format("engine ready: max_model_len {} tokens, cache {:.1f} MiB, max {} running sequences, {} "
                       "tokens per step",
                       ctx.engine->max_model_len(), double(ctx.engine->cache_bytes()) / (1 << 20),
                       c.engine.scheduler.max_num_seqs, c.engine.scheduler.max_num_batched_tokens));
  progress(c.engine.prefix_caching ? "prefix caching: on (shared prompt prefixes reuse cached state)"
                                    : "prefix caching: off");
  const cpu::KernelTable& k = cpu::kernel_table(ctx.engine->isa());
  progress(fmt::format("CPU kernels: {} (own kernels: {}); numerics: {}", cpu::isa_name(k.isa), k.native,
                       ctx.engine->numerics_name()));
  if (const int64_t rb = ctx.engine->repacked_bytes(); rb > 0)
    progress(fmt::format("weights repacked into int8 rows for the {} numerics: {:.1f} MiB more memory",
                         ctx.engine->numerics_name(), double(rb) / (1 << 20)));
  ctx.ready = true;
  return Status::ok();
}

void Server::shutdown() {
  if (ctx_->stopping.exchange(true)) return;  // from here on, new requests get 503
  using Clock = std::chrono::steady_clock;
  auto wait_idle = [this](Clock::time_point until) {
    while (http_->active_requests() > 0 && Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  http_->begin_drain();
  // Running requests may finish; then the engine cancels the rest, and their handlers write the
  // end of each response (a stream's error event and [DONE], a 503) before the listener stops.
  wait_idle(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(std::max(0.0, ctx_->cfg.shutdown_timeout_s))));
  if (ctx_->engine) ctx_->engine->shutdown();
  wait_idle(Clock::now() + std::chrono::seconds(10));
  http_->close_all();  // a client that does not read its stream's end is cut off here
  stop_listener();
}

void Server::stop_listener() {
  if (!listener_.joinable()) return;
  // httplib's stop() does nothing until the listener runs: wait for it to start (or to have ended).
  while (!http_->is_running() && !listener_done_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!listener_done_.load()) http_->stop();
  listener_.join();
}

}  // namespace tachyon::server
