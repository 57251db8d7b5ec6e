// The HTTP layer under the routes: cpp-httplib's request parsing and routing, with Tachyon's own
// connection handling so that slow or hostile clients cannot starve the server.
//
// - Every connection gets its own thread from an elastic pool (threads are started on demand and end
//   after a while idle), so a client that holds a connection holds only its own thread.
// - Admission: at most `max_connections` open connections, and `max_connections_per_client` from
//   one address. A connection over either limit is answered at once (503 or 429 with Retry-After and
//   `Connection: close`) without waiting for its request.
// - Deadlines: a request's line and headers must arrive within `header_timeout_s` of its first byte
//   (of the connection, for the first request), its body within `body_timeout_s` of the end of the
//   headers, and the headers may not exceed `max_header_bytes`. A request that misses its deadline is
//   answered 408 (431 for oversized headers) and its connection closed. Idle kept-alive connections
//   close after `keep_alive_timeout_s`. A write that makes no progress for `write_timeout_s` fails.
// - TCP keep-alive probes run on every connection, so a client that vanished without closing (a
//   crashed host, a dropped link) is noticed while its request is still being generated.
// - Draining (shutdown): new connections and new requests on open connections are refused with 503 and
//   `Connection: close`; idle connections close; requests already running go on.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include <httplib.h>

namespace tachyon::server {

struct HttpLimits {
  double header_timeout_s = 10;
  double body_timeout_s = 60;
  double keep_alive_timeout_s = 5;
  double write_timeout_s = 30;
  int64_t max_header_bytes = 64 << 10;
  int max_connections = 1024;
  int max_connections_per_client = 256;  // 0: no per-address limit
  int keep_alive_max_requests = 1000;
};

// What the connection layer refused or cut, for /metrics.
struct HttpCounters {
  uint64_t refused_total = 0;       // over max_connections
  uint64_t refused_per_client = 0;  // over max_connections_per_client
  uint64_t refused_draining = 0;    // arrived while shutting down
  uint64_t header_timeouts = 0;     // 408 (or closed) waiting for a request line and headers
  uint64_t body_timeouts = 0;       // 408 waiting for a body
  uint64_t header_too_large = 0;    // 431
};

class HttpServer final : public httplib::Server {
 public:
  explicit HttpServer(const HttpLimits& limits);
  ~HttpServer() override;

  // After bind: a listen queue of SOMAXCONN (httplib listens with a queue of 5, so a burst of
  // connections overflows it and waits for SYN retries, a second or more each).
  void widen_listen_queue();
  // Refuse new connections and requests from now on; running requests go on (see the header comment).
  void begin_drain();
  // Requests whose headers have been read and whose response has not been written yet.
  int active_requests() const { return active_.load(); }
  int open_connections() const;
  HttpCounters counters() const;

  // Whether the client of `req` (a request being handled on this server) still has its connection:
  // false once the client has closed or reset it, or TCP keep-alive found it gone. Reads no data.
  bool client_connected(const httplib::Request& req) const;

  const HttpLimits& limits() const { return limits_; }

 private:
  class Stream;
  enum class Refusal { kNone, kTotal, kPerClient, kDraining };
  bool process_and_close_socket(socket_t sock) override;
  Refusal admit(const std::string& addr, const std::string& key, socket_t sock);
  void release(const std::string& addr, const std::string& key);
  void count(uint64_t HttpCounters::*field);

  HttpLimits limits_;
  std::atomic<bool> draining_{false};
  std::atomic<int> active_{0};
  mutable std::mutex mu_;
  int open_ = 0;
  std::unordered_map<std::string, int> per_client_;  // address -> open connections
  std::unordered_map<std::string, socket_t> sockets_;  // "address port" -> socket
  HttpCounters counters_;
};

}  // namespace tachyon::server
