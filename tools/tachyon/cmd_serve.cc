// tachyon serve: the OpenAI-compatible HTTP server (src/server) with vLLM-like flags.
// The port is bound before the weights load, so /health answers 503 during loading and 200 after. A
// start that fails (bad flag, missing files, port in use) prints one line and exits with status 1.
// SIGINT/SIGTERM during loading exit at once; while serving they drain (Server::shutdown: running
// requests may finish for --shutdown-timeout seconds, the rest end with an error); a second signal
// exits at once.
#include <pthread.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "cli_util.h"
#include "commands.h"
#include "server/server.h"

namespace tachyon::cli {
namespace {

// "8G", "512M", "1.5g", "1048576" -> bytes (binary units).
Result<int64_t> parse_bytes(const std::string& s) {
  if (s.empty()) return error("empty size");
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    return error("'{}' is not a size (examples: 8G, 512M, 1048576)", s);
  }
  std::string unit = s.substr(pos);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && (unit.back() == 'i')) unit.pop_back();
  double mul = 1;
  if (unit.size() > 1) return error("'{}': unknown size unit", s);
  if (!unit.empty()) {
    switch (std::toupper(static_cast<unsigned char>(unit[0]))) {
      case 'K': mul = 1024.0; break;
      case 'M': mul = 1024.0 * 1024; break;
      case 'G': mul = 1024.0 * 1024 * 1024; break;
      case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
      default: return error("'{}': unknown size unit (use K, M, G or T)", s);
    }
  }
  if (!(v > 0)) return error("'{}': the size must be positive", s);
  if (!(v * mul < 0x1p62)) return error("'{}': the size is too large", s);
  return int64_t(v * mul);
}

struct ServeOptions {
  std::string model, host = "127.0.0.1", api_key, served_model_name, tokenizer, cache_memory, numerics = "auto";
  std::string forced_output;
  std::string max_tokenize_bytes = "8M";
  int port = 8000, threads = 0;
  int64_t max_num_seqs = 16, max_num_batched_tokens = 512, max_model_len = 0, max_waiting = 256;
  double sse_ping_seconds = 5.0, shutdown_timeout = 30;
  server::HttpLimits http;
  bool prefix_caching = true;
  std::string kv_cache_dtype = "auto", isa = "auto";
  int speculative_tokens = 0;
  std::string spec_draft_head = "int8";
  std::string greedy_head = "int8";
  bool check_values = false;
};

int run(const ServeOptions& o) {
  std::error_code ec;
  if (!std::filesystem::exists(o.model, ec)) return fail(error("--model {}: no such file or directory", o.model));
  if (!o.tokenizer.empty() && !std::filesystem::exists(o.tokenizer, ec))
    return fail(error("--tokenizer {}: no such file or directory", o.tokenizer));
  server::ServerConfig cfg;
  cfg.host = o.host;
  cfg.port = o.port;
  cfg.api_key = o.api_key;
  std::filesystem::path dir = std::filesystem::path(o.model);
  if (!dir.has_filename()) dir = dir.parent_path();  // "models/x/" -> "x"
  cfg.served_model_name = o.served_model_name.empty() ? dir.filename().string() : o.served_model_name;
  cfg.tokenizer_path = o.tokenizer.empty() ? o.model : o.tokenizer;
  cfg.engine.model_dir = o.model;
  cfg.engine.threads = o.threads;
  cfg.engine.numerics = o.numerics;
  cfg.engine.scheduler.max_num_seqs = o.max_num_seqs;
  cfg.engine.scheduler.max_num_batched_tokens = o.max_num_batched_tokens;
  cfg.engine.scheduler.max_waiting = o.max_waiting;
  cfg.engine.scheduler.max_model_len = o.max_model_len;
  if (!o.cache_memory.empty()) {
    auto bytes = parse_bytes(o.cache_memory);
    if (!bytes.is_ok()) return fail(bytes.status().with_context("--cache-memory"));
    cfg.engine.cache_memory = *bytes;
  }
  auto tokenize_bytes = parse_bytes(o.max_tokenize_bytes);
  if (!tokenize_bytes.is_ok()) return fail(tokenize_bytes.status().with_context("--max-tokenize-bytes"));
  cfg.max_tokenize_bytes = *tokenize_bytes;
  cfg.http = o.http;
  cfg.sse_ping_seconds = o.sse_ping_seconds;
  cfg.shutdown_timeout_s = o.shutdown_timeout;
  cfg.engine.prefix_caching = o.prefix_caching;
  cfg.engine.kv_cache_dtype = o.kv_cache_dtype;
  cfg.engine.isa = o.isa;
  cfg.engine.speculative_tokens = o.speculative_tokens;
  cfg.engine.spec_draft_head = o.spec_draft_head;
  cfg.engine.greedy_head = o.greedy_head;
  cfg.engine.check_values = o.check_values;
  cfg.forced_output = o.forced_output;

  // Signals go to one waiting thread; every thread started from here on inherits the mask. The thread
  // is detached and may outlive this function (a signal while the process exits), so what it shares
  // lives in a shared_ptr, not on this stack.
  struct SignalState {
    sigset_t sigs;
    std::mutex mu;
    std::condition_variable cv;
    std::atomic<bool> stop{false}, serving{false};
  };
  auto sig_state = std::make_shared<SignalState>();
  sigemptyset(&sig_state->sigs);
  sigaddset(&sig_state->sigs, SIGINT);
  sigaddset(&sig_state->sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sig_state->sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that goes away must not kill the server
  std::thread([st = sig_state, drain = o.shutdown_timeout] {
    int sig = 0;
    sigwait(&st->sigs, &sig);
    if (!st->serving.load()) {  // nothing to drain while starting: leave now
      std::fprintf(stderr, "tachyon serve: signal %d during start-up, exiting\n", sig);
      std::_Exit(128 + sig);
    }
    std::fprintf(stderr, "tachyon serve: signal %d, draining (running requests may finish for up to %g s; again to "
                 "exit at once)\n", sig, drain);
    {
      std::lock_guard<std::mutex> g(st->mu);
      st->stop = true;
    }
    st->cv.notify_all();
    sigwait(&st->sigs, &sig);
    std::_Exit(130);
  }).detach();

  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto progress = [&](std::string_view line) {
    std::fprintf(stderr, "[%7.2fs] %.*s\n", std::chrono::duration<double>(clock::now() - t0).count(), int(line.size()),
                 line.data());
    std::fflush(stderr);
  };
  server::Server srv(cfg);
  if (Status st = srv.start(); !st.is_ok()) return fail(st);
  progress(fmt::format("listening on http://{}:{} (/health answers 503 until the model is loaded)", cfg.host, srv.port()));
  if (Status st = srv.load(progress); !st.is_ok()) {
    srv.shutdown();
    return fail(st);
  }
  sig_state->serving = true;
  const std::string url = fmt::format("http://{}:{}", cfg.host, srv.port());
  progress(fmt::format("serving '{}' at {}/v1", cfg.served_model_name, url));
  // The key itself is never printed: the example reads it from the environment (double quotes, so the
  // shell expands it).
  std::fprintf(stderr,
               "\nTry it:\n%s  curl %s/v1/chat/completions -H 'Content-Type: application/json'%s \\\n"
               "    -d '{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", \"content\": \"What does json.dumps "
               "do?\"}], \"temperature\": 0}'\n\n",
               cfg.api_key.empty() ? "" : "  export TACHYON_API_KEY=...   # the key this server was given\n",
               url.c_str(), cfg.api_key.empty() ? "" : " -H \"Authorization: Bearer $TACHYON_API_KEY\"",
               cfg.served_model_name.c_str());
  std::fflush(stderr);
  {
    std::unique_lock<std::mutex> lk(sig_state->mu);
    sig_state->cv.wait(lk, [&] { return sig_state->stop.load(); });
  }
  srv.shutdown();
  progress("stopped");
  return srv.listener_failed() ? 1 : 0;
}

}  // namespace

void add_serve(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* c = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  c->add_option("--model", o->model, "Checkpoint folder")->required();
  c->add_option("--host", o->host, "Address to bind")->capture_default_str();
  c->add_option("--port", o->port, "Port (0 = any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  c->add_option("--api-key", o->api_key,
                "Require 'Authorization: Bearer KEY' on /v1 routes (or set TACHYON_API_KEY, which keeps the key out "
                "of the process list)")
      ->envname("TACHYON_API_KEY");
  c->add_option("--served-model-name", o->served_model_name, "Model name in the API (default: the model folder name)");
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json or its folder (default: the model folder)");
  c->add_option("--max-num-seqs", o->max_num_seqs, "Running sequences at most")
      ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(4096)));
  c->add_option("--max-num-batched-tokens", o->max_num_batched_tokens, "Tokens per engine step at most")
      ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  c->add_option("--max-model-len", o->max_model_len,
                "Prompt plus output tokens at most (0 = what the cache holds, up to the model's context); a value "
                "the cache or the model cannot hold is refused")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 24));
  c->add_option("--max-waiting-requests", o->max_waiting, "Queued requests at most; beyond it requests get 429")
      ->capture_default_str()->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  c->add_option("--cache-memory", o->cache_memory,
                "Cache budget, e.g. 8G or 512M (default: a quarter of free memory; at most the machine's memory)");
  c->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", o->prefix_caching,
              "Reuse the cached state of shared prompt prefixes (on by default)");
  add_kv_cache_dtype_option(c, &o->kv_cache_dtype);
  add_isa_option(c, &o->isa);
  c->add_option("--speculative-tokens", o->speculative_tokens,
                "Speculative decoding: draft this many tokens per step with the model's MTP module (0 = off)")
      ->check(CLI::Range(0, 16));
  c->add_option("--spec-draft-head", o->spec_draft_head,
                "Draft logits: int8 (an int8 copy of the head screens the vocabulary, the rows that can win are "
                "computed exactly; vocab x hidden bytes) or bf16 (the head itself)")
      ->capture_default_str()
      ->check(CLI::IsMember({"int8", "bf16"}));
  c->add_option("--greedy-head", o->greedy_head,
                "Greedy requests without logprobs, penalties or bias: int8 (the int8 screen of the head finds the "
                "exact argmax; vocab x hidden bytes) or bf16 (every logit computed)")
      ->capture_default_str()
      ->check(CLI::IsMember({"int8", "bf16"}));
  c->add_option("--threads", o->threads, "Compute threads (0 = all cores)")->check(CLI::Range(0, 1024));
  c->add_flag("--check-values", o->check_values, "Read every weight at load; refuse a checkpoint with NaN or infinity");
  add_numerics_option(c, &o->numerics);
  c->add_option("--sse-ping-seconds", o->sse_ping_seconds, "Send ': ping' on a silent stream after this long")
      ->capture_default_str()->check(CLI::Range(0.01, 3600.0));
  // HTTP connections (http_server.h).
  server::HttpLimits& h = o->http;
  c->add_option("--max-connections", h.max_connections,
                "Open HTTP connections at most; beyond it new connections get 503 at once")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  c->add_option("--max-connections-per-client", h.max_connections_per_client,
                "Open connections from one client address at most (0 = no limit); beyond it 429")
      ->capture_default_str()->check(CLI::Range(0, 65536));
  c->add_option("--header-timeout", h.header_timeout_s,
                "Seconds a request line and headers may take to arrive (the first request's from the connection)")
      ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  c->add_option("--body-timeout", h.body_timeout_s, "Seconds a request body may take to arrive after its headers")
      ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  c->add_option("--keep-alive-timeout", h.keep_alive_timeout_s,
                "Seconds an idle kept-alive connection stays open between requests")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  c->add_option("--write-timeout", h.write_timeout_s,
                "Seconds a response write may make no progress (a client that stopped reading) before it fails")
      ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
  c->add_option("--max-tokenize-bytes", o->max_tokenize_bytes,
                "Largest request body of /tokenize and /detokenize (open without a key), e.g. 8M")
      ->capture_default_str();
  c->add_option("--shutdown-timeout", o->shutdown_timeout,
                "On SIGTERM/SIGINT, seconds running requests may finish before they are ended with an error")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  c->add_option("--debug-forced-output", o->forced_output,
                "TESTING ONLY: every request generates this text (or the contents of this file), then EOS");
  action_on(c, action, [o] { return run(*o); });
}

}  // namespace tachyon::cli
