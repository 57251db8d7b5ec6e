// Connection handling under httplib's request parser (see http_server.h).
#include "server/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/log.h"
#include "server/api_error.h"
#include "server/http_pool.h"
#include "server/http_socket.h"
#include "server/http_stream.h"

namespace tachyon::server {

using net::Clock;

HttpServer::HttpServer(const HttpLimits& limits) : limits_(limits) {
  const size_t max_threads = size_t(std::max(1, limits_.max_connections)) + 64;  // the rest only refuse
  new_task_queue = [max_threads] { return new ElasticPool(max_threads, 8, std::chrono::seconds(30)); };
  set_keep_alive_max_count(size_t(std::max(1, limits_.keep_alive_max_requests)));
  // What the Keep-Alive response header tells clients (whole seconds; below 1 s nothing is kept alive).
  set_keep_alive_timeout(time_t(std::max(1.0, std::floor(limits_.keep_alive_timeout_s))));
  set_payload_max_length(size_t(limits_.max_body_bytes));
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server bind a port in
  // use and silently share its connections.
  set_socket_options([](socket_t s) {
    const int yes = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Socket-level timeouts behind the deadlines (a blocking send that cannot progress).
  set_write_timeout(std::chrono::milliseconds(net::to_ms(limits_.write_timeout_s)));
  set_read_timeout(std::chrono::milliseconds(net::to_ms(limits_.body_timeout_s)));
}

HttpServer::~HttpServer() = default;

void HttpServer::widen_listen_queue() {
  const socket_t s = svr_sock_;
  if (s != INVALID_SOCKET) ::listen(s, SOMAXCONN);  // on a listening socket, this only resizes its queue
}

void HttpServer::set_body_limit(std::function<uint64_t(const httplib::Request&)> limit) {
  body_limit_ = std::move(limit);
}

void HttpServer::begin_drain() { draining_ = true; }

void HttpServer::close_all() {
  std::lock_guard<std::mutex> g(mu_);
  // Shut down, not closed: each socket's own thread closes it (and releases it under this lock first).
  for (const auto& [thread, fd] : sockets_) ::shutdown(fd, SHUT_RDWR);
}

int HttpServer::open_connections() const {
  std::lock_guard<std::mutex> g(mu_);
  return open_;
}

HttpCounters HttpServer::counters() const {
  std::lock_guard<std::mutex> g(mu_);
  return counters_;
}

void HttpServer::count(uint64_t HttpCounters::*field) {
  std::lock_guard<std::mutex> g(mu_);
  ++(counters_.*field);
}

bool HttpServer::client_connected() const {
  socket_t fd = INVALID_SOCKET;
  {
    std::lock_guard<std::mutex> g(mu_);
    const auto it = sockets_.find(std::this_thread::get_id());
    if (it == sockets_.end()) return true;
    fd = it->second;
  }
  // The socket stays open while its request runs: the caller is that request's handler, on its thread.
  return net::peer_alive(fd);
}

HttpServer::Refusal HttpServer::admit(const std::string& addr, socket_t sock) {
  std::lock_guard<std::mutex> g(mu_);
  if (draining_.load()) {
    ++counters_.refused_draining;
    return Refusal::kDraining;
  }
  if (open_ >= limits_.max_connections) {
    ++counters_.refused_total;
    return Refusal::kTotal;
  }
  int& n = per_client_[addr];
  if (limits_.max_connections_per_client > 0 && n >= limits_.max_connections_per_client) {
    ++counters_.refused_per_client;
    return Refusal::kPerClient;
  }
  ++n;
  ++open_;
  sockets_[std::this_thread::get_id()] = sock;
  return Refusal::kNone;
}

void HttpServer::release(const std::string& addr) {
  std::lock_guard<std::mutex> g(mu_);
  --open_;
  sockets_.erase(std::this_thread::get_id());
  const auto it = per_client_.find(addr);
  if (it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  try {
    serve_connection(sock);
  } catch (const std::exception& e) {  // out of memory in bookkeeping: drop this connection, not the server
    TLOG_ERROR("HTTP connection: {}", e.what());
    std::lock_guard<std::mutex> g(mu_);
    if (sockets_.erase(std::this_thread::get_id()) > 0) --open_;  // per-client counts may stay one high
    ::close(sock);
  }
  return true;
}

void HttpServer::serve_connection(socket_t sock) {
  const Clock::time_point accepted = Clock::now();
  std::string addr;
  int port = -1;
  net::socket_address(getpeername, sock, addr, port);
  net::enable_keepalive(sock);
  if (const Refusal why = admit(addr, sock); why != Refusal::kNone) {
    ApiError e;
    switch (why) {
      case Refusal::kPerClient:
        e = overloaded(429,
                       fmt::format("too many connections from {} (at most {})", addr,
                                   limits_.max_connections_per_client),
                       1);
        break;
      case Refusal::kTotal:
        e = overloaded(503, fmt::format("too many connections (at most {})", limits_.max_connections), 1);
        break;
      default: e = overloaded(503, "the server is shutting down", 5); break;
    }
    e.code = why == Refusal::kDraining ? "shutting_down" : "too_many_connections";
    net::send_error_response(sock, e, 1000);
    net::lingering_close(sock, std::chrono::milliseconds(200), size_t(1) << 20);
    return;
  }

  ConnectionStream strm(sock, limits_, [this] { return draining_.load() || svr_sock_ == INVALID_SOCKET; });
  const bool keep_alive = limits_.keep_alive_timeout_s >= 1;
  for (int n = 0; n < limits_.keep_alive_max_requests; ++n) {
    // The first request's deadline runs from the connection; later ones wait idle, then from their first byte.
    const Clock::time_point idle_end = n == 0 ? accepted + net::seconds(limits_.header_timeout_s)
                                              : Clock::now() + net::seconds(limits_.keep_alive_timeout_s);
    if (!strm.wait_request(idle_end)) break;
    strm.begin_headers(n == 0 ? idle_end : Clock::now() + net::seconds(limits_.header_timeout_s));
    const bool last = !keep_alive || n + 1 == limits_.keep_alive_max_requests || draining_.load();
    bool closed = false, counted = false, ok = false;
    try {
      ok = process_request(strm, last, closed, [&](httplib::Request& req) {
        strm.begin_body(req, body_limit_ ? body_limit_(req) : limits_.max_body_bytes);
        active_.fetch_add(1);
        counted = true;
      });
    } catch (...) {
      ok = false;
    }
    if (counted) active_.fetch_sub(1);
    switch (strm.cut()) {
      case ConnectionStream::Cut::kHeaderTimeout: count(&HttpCounters::header_timeouts); break;
      case ConnectionStream::Cut::kBodyTimeout: count(&HttpCounters::body_timeouts); break;
      case ConnectionStream::Cut::kHeaderTooLarge: count(&HttpCounters::header_too_large); break;
      case ConnectionStream::Cut::kBodyTooLarge: count(&HttpCounters::body_too_large); break;
      case ConnectionStream::Cut::kNone: break;
    }
    // finish_request() first: it decides whether a body is left unread, whatever ends the connection.
    if (!strm.finish_request() || !ok || closed || last || draining_.load()) break;
  }
  if (strm.body_unread() || strm.cut() == ConnectionStream::Cut::kHeaderTooLarge) {
    // Answered before the client finished sending: let it finish, so it reads the answer, not a reset.
    net::lingering_close(sock, std::chrono::seconds(10), size_t(256) << 20);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  // Counted until here, lingering included. (Between the close and this, close_all() could shut down the
  // number if another socket took it: harmless, close_all() shuts every connection down anyway.)
  release(addr);
}

}  // namespace tachyon::server
