// The OpenAI-compatible HTTP server: cpp-httplib routes over one Engine.
//
// Lifecycle: start() takes the port first, so /health can answer 503 while load() reads the tokenizer
// and the weights; then /health is 200 and the /v1 routes serve. shutdown() drains: new connections
// and requests get 503, running requests may finish for up to shutdown_timeout_s, then the engine
// cancels the rest (streams end with an error event and [DONE], non-streamed requests get a 503), and
// the listener stops once every response is written.
// Each connection runs on its own thread (http_server.h); generation runs on the engine thread, and a
// request's handler only drains its Generation's queue (generation.h).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "grammar/json_schema.h"
#include "grammar/vocabulary.h"
#include "runtime/engine.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string api_key;            // empty: no authentication
  std::string served_model_name;  // the `model` clients must name
  std::string tokenizer_path;     // tokenizer.json or a folder holding it
  runtime::EngineConfig engine;
  HttpLimits http;                // connection limits and deadlines
  double sse_ping_seconds = 5.0;  // `: ping` after this long without output
  double shutdown_timeout_s = 30;  // how long running requests may finish after a shutdown begins
  int64_t max_tokenize_bytes = 8 << 20;  // request bodies of /tokenize and /detokenize
  std::string forced_output;      // testing only: every request generates this text, then EOS
};

// State the route handlers share (server.cc owns it; the route files read it).
struct ServerContext {
  ServerConfig cfg;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::unique_ptr<runtime::Engine> engine;
  const HttpServer* http = nullptr;  // whether a request's client is still connected
  Metrics metrics;
  int32_t eos_id = -1;
  int32_t vocab = 0;  // the model's vocabulary size
  std::vector<int32_t> forced_tokens;
  // response_format: compiled schemas (cached) and the tokenizer's vocabulary for token masks.
  grammar::SchemaCompiler schemas;
  std::shared_ptr<const grammar::Vocabulary> grammar_vocab;
  int32_t end_think_id = -1;  // </think>: where the constraint starts in thinking mode
  int64_t created = 0;  // unix seconds, for /v1/models
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
};

// Route handlers (openai_chat.cc, openai_completions.cc, server.cc). They throw ApiException for
// client errors; the wrapper in server.cc turns exceptions into OpenAI error responses.
void handle_chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

class Server {
 public:
  explicit Server(ServerConfig cfg);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0 picks a free one) and starts answering on a background thread.
  Status start();
  int port() const { return port_; }
  // Loads the tokenizer and the engine; `progress` receives one line per stage.
  Status load(const std::function<void(std::string_view)>& progress);
  // Drains and stops (see the top of this file). Idempotent.
  void shutdown();
  const ServerContext& context() const { return *ctx_; }
  // The listener stopped on its own (a failed listening socket) and raised SIGTERM to drain.
  bool listener_failed() const { return listener_failed_.load(); }

 private:
  void register_routes();
  std::unique_ptr<ServerContext> ctx_;
  void stop_listener();
  std::unique_ptr<HttpServer> http_;
  std::thread listener_;
  std::atomic<bool> listener_done_{false}, listener_failed_{false};
  int port_ = 0;
};

}  // namespace tachyon::server
