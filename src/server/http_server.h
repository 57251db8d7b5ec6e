// The HTTP layer under the routes: cpp-httplib's request parsing and routing, with Tachyon's own
// connection handling so that slow or hostile clients cannot starve the server.
//
// - Every connection gets its own thread from an elastic pool (http_pool.h), so a client that holds a
//   connection holds only its own thread.
// - Admission: at most `max_connections` open connections, and `max_connections_per_client` from one
//   address. A connection over either limit is answered at once (503 or 429 with Retry-After and
//   `Connection: close`) without waiting for its request.
// - Deadlines and sizes (http_stream.h): a request's line and headers must arrive within
//   `header_timeout_s` of its first byte (of the connection, for the first request) and stay under
//   `max_header_bytes`; its body must arrive within `body_timeout_s` and stay under the route's limit
//   (set_body_limit). A request that misses one is answered 408, 431 or 413 and its connection closed.
//   Idle kept-alive connections close after `keep_alive_timeout_s`.
// - A malformed request (httplib answers 400 or 414) ends its connection, and so does a response sent
//   before its request's body was read, unless the rest of the body is small: then it is read and
//   dropped. A connection that ends with a body unread lingers, reading and dropping what the client
//   still sends, so the client sees the response rather than a reset.
// - TCP keep-alive probes run on every connection, so a client that vanished without closing (a crashed
//   host, a dropped link) is noticed while its request is still being generated.
// - Draining (shutdown): new connections are refused with 503; a request already sent on an open
//   connection is still read (its route answers 503 with `Connection: close`); idle connections close.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <httplib.h>

#include "server/http_limits.h"

namespace tachyon::server {

class HttpServer final : public httplib::Server {
 public:
  explicit HttpServer(const HttpLimits& limits);
  ~HttpServer() override;

  // After bind: a listen queue of SOMAXCONN (httplib listens with a queue of 5, so a burst of
  // connections overflows it and waits for SYN retries, a second or more each).
  void widen_listen_queue();
  // The largest body a request may send (default: HttpLimits::max_body_bytes), decided from its headers.
  void set_body_limit(std::function<uint64_t(const httplib::Request&)> limit);
  // Refuse new connections from now on; running requests go on (see the header comment).
  void begin_drain();
  // Shuts every open connection down (the end of a shutdown: whatever is still being written is cut).
  void close_all();
  // Requests whose headers have been read and whose response has not been written yet.
  int active_requests() const { return active_.load(); }
  int open_connections() const;
  HttpCounters counters() const;

  // Whether the client of the request being handled on the calling thread (a route handler runs on its
  // connection's thread) still has its connection: false once the client has closed or reset it, or TCP
  // keep-alive found it gone. Reads no data. True on a thread that serves no connection.
  bool client_connected() const;

  const HttpLimits& limits() const { return limits_; }

 private:
  enum class Refusal { kNone, kTotal, kPerClient, kDraining };
  bool process_and_close_socket(socket_t sock) override;
  void serve_connection(socket_t sock);
  Refusal admit(const std::string& addr, socket_t sock);
  void release(const std::string& addr);
  void count(uint64_t HttpCounters::*field);

  HttpLimits limits_;
  std::function<uint64_t(const httplib::Request&)> body_limit_;
  std::atomic<bool> draining_{false};
  std::atomic<int> active_{0};
  mutable std::mutex mu_;
  int open_ = 0;
  std::unordered_map<std::string, int> per_client_;          // address -> open connections
  std::unordered_map<std::thread::id, socket_t> sockets_;  // connection thread -> its socket
  HttpCounters counters_;
};

}  // namespace tachyon::server
