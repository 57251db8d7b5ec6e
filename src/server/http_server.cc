// Connection handling under httplib's request parser (see http_server.h).
#include "server/http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "server/api_error.h"
#include "server/http_pool.h"

namespace tachyon::server {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
}

int ms_until(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return int(std::clamp<int64_t>(ms, 0, INT_MAX));
}

int to_ms(double s) { return int(std::clamp(s * 1000.0, 0.0, double(INT_MAX))); }

// poll() for `events` up to `timeout_ms`, retried on EINTR: > 0 ready, 0 timed out, < 0 error.
int wait_fd(int fd, short events, int timeout_ms) {
  const Clock::time_point end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    if (r >= 0 || errno != EINTR) return r;
    timeout_ms = ms_until(end);
  }
}

// Whether the peer still holds the connection: no FIN, reset or keep-alive timeout. Reads no data.
bool peer_alive(int fd) {
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, 0);
  if (r < 0) return errno == EINTR;
  if (r == 0) return true;
  if (p.revents & (POLLERR | POLLNVAL)) return false;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return true;  // data waiting (a pipelined request): still there
  if (n == 0) return false;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

void address_of(const sockaddr_storage& ss, socklen_t len, std::string& ip, int& port) {
  char host[NI_MAXHOST];
  ip = getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) == 0
           ? host
           : "";
  port = -1;
  if (ss.ss_family == AF_INET) port = ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) port = ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
}

// The address of either end of a socket: getpeername or getsockname.
void socket_address(int (*get)(int, sockaddr*, socklen_t*), int fd, std::string& ip, int& port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (get(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ip.clear();
    port = -1;
    return;
  }
  address_of(ss, len, ip, port);
}

// Probes after 30 s of silence, every 10 s, three times: a vanished peer is noticed within a minute.
void enable_keepalive(int fd) {
  const int on = 1, idle = 30, interval = 10, probes = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

bool send_all(int fd, const char* p, size_t n, int timeout_ms) {
  while (n > 0) {
    if (wait_fd(fd, POLLOUT, timeout_ms) <= 0) return false;
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return false;
    }
    p += k;
    n -= size_t(k);
  }
  return true;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// A whole error response with `Connection: close`, written straight to the socket (best effort).
void send_error_response(int fd, const ApiError& e, int timeout_ms) {
  const std::string body = dump_json(e.to_json());
  std::string msg = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                                "Connection: close\r\n",
                                e.status, reason_phrase(e.status), body.size());
  if (e.retry_after_s > 0) msg += fmt::format("Retry-After: {}\r\n", e.retry_after_s);
  msg += "\r\n";
  msg += body;
  send_all(fd, msg.data(), msg.size(), timeout_ms);
}

// Ends a connection after an early response: stops sending, then reads (and drops) what the client
// still sends, for up to `time` and `bytes`, so that closing with unread data does not reset the
// connection before the client has read the response (a client still uploading a refused body).
void lingering_close(int fd, std::chrono::milliseconds time = std::chrono::milliseconds(200),
                     size_t bytes = size_t(1) << 20) {
  ::shutdown(fd, SHUT_WR);
  const Clock::time_point end = Clock::now() + time;
  char buf[16384];
  size_t total = 0;
  while (total < bytes && wait_fd(fd, POLLIN, ms_until(end)) > 0) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    total += size_t(n);
  }
  ::close(fd);
}

}  // namespace

// One connection's byte stream for httplib's parser, with the request's deadlines (see the header).
class HttpServer::Stream final : public httplib::Stream {
 public:
  enum class Phase : uint8_t { kIdle, kHeaders, kBody };

  Stream(socket_t fd, HttpServer& srv) : fd_(fd), srv_(srv), buf_(16 << 10) {}

  // Waits until the next request's first byte is here (or buffered). False when `deadline` passes, the
  // connection closes or errs, or the server drains or stops.
  bool wait_request(Clock::time_point deadline) {
    if (off_ < len_) return true;
    for (;;) {
      if (srv_.draining_.load() || srv_.svr_sock_ == INVALID_SOCKET) return false;
      const int r = wait_fd(fd_, POLLIN, std::min(ms_until(deadline), 200));
      if (r > 0) return true;  // data, or EOF that the parser then reads
      if (r < 0 || Clock::now() >= deadline) return false;
    }
  }
  void begin_headers(Clock::time_point deadline) {
    phase_ = Phase::kHeaders;
    deadline_ = deadline;
    header_bytes_ = 0;
  }
  void begin_body(const httplib::Request& req) {
    phase_ = Phase::kBody;
    deadline_ = Clock::now() + seconds(srv_.limits_.body_timeout_s);
    body_read_ = 0;
    body_chunked_ = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
    const std::string len = req.get_header_value("Content-Length");
    char* end = nullptr;
    body_length_ = len.empty() ? 0 : std::strtoull(len.c_str(), &end, 10);
  }
  // After a response that did not read its request's body (answered before it, like a 401): reads and
  // drops the rest of a small body so the connection can serve the next request. False when the
  // connection must close instead (a large or chunked body, or one that does not arrive).
  bool skip_unread_body() {
    if (body_chunked_) return body_read_ > 0;
    if (body_read_ >= body_length_) return true;
    if (body_length_ - body_read_ > (uint64_t(1) << 20)) return false;
    char buf[4096];
    while (body_read_ < body_length_) {
      const ssize_t n = read(buf, size_t(std::min<uint64_t>(sizeof buf, body_length_ - body_read_)));
      if (n <= 0) return false;
    }
    return true;
  }
  void end_request() { phase_ = Phase::kIdle; }
  bool failed() const { return failed_; }

  bool is_readable() const override {
    return !failed_ && (off_ < len_ || wait_fd(fd_, POLLIN, read_wait_ms()) > 0);
  }
  bool is_writable() const override {
    return !failed_ && wait_fd(fd_, POLLOUT, to_ms(srv_.limits_.write_timeout_s)) > 0 && peer_alive(fd_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (failed_) return -1;
    if (off_ == len_) {
      const int r = wait_fd(fd_, POLLIN, read_wait_ms());
      if (r <= 0) {
        if (r == 0) timed_out();
        return -1;
      }
      ssize_t n;
      do n = ::recv(fd_, buf_.data(), buf_.size(), 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      off_ = 0;
      len_ = size_t(n);
    }
    const size_t k = std::min(size, len_ - off_);
    if (phase_ == Phase::kHeaders) {
      header_bytes_ += int64_t(k);
      if (header_bytes_ > srv_.limits_.max_header_bytes) {
        fail(invalid_request(fmt::format("the request headers exceed {} bytes", srv_.limits_.max_header_bytes)), 431,
             &HttpCounters::header_too_large);
        return -1;
      }
    }
    if (phase_ == Phase::kBody) body_read_ += k;
    std::memcpy(ptr, buf_.data() + off_, k);
    off_ += k;
    return ssize_t(k);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (failed_) return -1;
    if (wait_fd(fd_, POLLOUT, to_ms(srv_.limits_.write_timeout_s)) <= 0) return -1;
    ssize_t n;
    do n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    socket_address(getpeername, fd_, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    socket_address(getsockname, fd_, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  int read_wait_ms() const {
    if (phase_ == Phase::kIdle) return to_ms(srv_.limits_.body_timeout_s);
    return ms_until(deadline_);
  }
  void timed_out() {
    if (phase_ == Phase::kHeaders)
      fail(invalid_request(fmt::format("the request headers did not arrive within {} s",
                                       srv_.limits_.header_timeout_s)),
           408, &HttpCounters::header_timeouts);
    else if (phase_ == Phase::kBody)
      fail(invalid_request(fmt::format("the request body did not arrive within {} s", srv_.limits_.body_timeout_s)),
           408, &HttpCounters::body_timeouts);
    else
      failed_ = true;
  }
  // Answers the request with `e` (as HTTP `status`) and ends the connection: later writes (httplib's own
  // 400 for the broken request) go nowhere.
  void fail(ApiError e, int status, uint64_t HttpCounters::*what) {
    e.status = status;
    e.code = status == 408 ? "request_timeout" : "request_header_too_large";
    send_error_response(fd_, e, 1000);
    srv_.count(what);
    failed_ = true;
  }

  socket_t fd_;
  HttpServer& srv_;
  std::vector<char> buf_;
  size_t off_ = 0, len_ = 0;
  Phase phase_ = Phase::kIdle;
  Clock::time_point deadline_{};
  int64_t header_bytes_ = 0;
  uint64_t body_length_ = 0, body_read_ = 0;
  bool body_chunked_ = false;
  bool failed_ = false;
};

HttpServer::HttpServer(const HttpLimits& limits) : limits_(limits) {
  const size_t max_threads = size_t(std::max(1, limits_.max_connections)) + 64;  // the rest only refuse
  new_task_queue = [max_threads] { return new ElasticPool(max_threads, 8, std::chrono::seconds(30)); };
  set_keep_alive_max_count(size_t(std::max(1, limits_.keep_alive_max_requests)));
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server bind a port in
  // use and silently share its connections.
  set_socket_options([](socket_t s) {
    const int yes = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Socket-level timeouts behind the deadlines above (a blocking send that cannot progress).
  set_write_timeout(std::chrono::milliseconds(to_ms(limits_.write_timeout_s)));
  set_read_timeout(std::chrono::milliseconds(to_ms(limits_.body_timeout_s)));
}

HttpServer::~HttpServer() = default;

void HttpServer::widen_listen_queue() {
  const socket_t s = svr_sock_;
  if (s != INVALID_SOCKET) ::listen(s, SOMAXCONN);  // on a listening socket, this only resizes its queue
}

void HttpServer::begin_drain() { draining_ = true; }

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

bool HttpServer::client_connected(const httplib::Request& req) const {
  socket_t fd = INVALID_SOCKET;
  {
    std::lock_guard<std::mutex> g(mu_);
    const auto it = sockets_.find(fmt::format("{} {}", req.remote_addr, req.remote_port));
    if (it == sockets_.end()) return true;  // not a connection of this server: nothing to tell
    fd = it->second;
  }
  // The socket stays open while its request runs: the caller is that request's handler.
  return peer_alive(fd);
}

HttpServer::Refusal HttpServer::admit(const std::string& addr, const std::string& key, socket_t sock) {
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
  sockets_[key] = sock;
  return Refusal::kNone;
}

void HttpServer::release(const std::string& addr, const std::string& key) {
  std::lock_guard<std::mutex> g(mu_);
  --open_;
  sockets_.erase(key);
  const auto it = per_client_.find(addr);
  if (it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
}

bool HttpServer::process_and_close_socket(socket_t sock) {
  const Clock::time_point accepted = Clock::now();
  std::string addr;
  int port = -1;
  socket_address(getpeername, sock, addr, port);
  const std::string key = fmt::format("{} {}", addr, port);
  enable_keepalive(sock);
  if (const Refusal why = admit(addr, key, sock); why != Refusal::kNone) {
    ApiError e;
    switch (why) {
      case Refusal::kPerClient:
        e = overloaded(429, fmt::format("too many connections from {} (at most {})", addr,
                                        limits_.max_connections_per_client), 1);
        break;
      case Refusal::kTotal:
        e = overloaded(503, fmt::format("too many connections (at most {})", limits_.max_connections), 1);
        break;
      default: e = overloaded(503, "the server is shutting down", 5); break;
    }
    e.code = why == Refusal::kDraining ? "shutting_down" : "too_many_connections";
    send_error_response(sock, e, 1000);
    lingering_close(sock);
    return false;
  }

  Stream strm(sock, *this);
  bool ok = false, unread_body = false;
  for (int n = 0; n < limits_.keep_alive_max_requests; ++n) {
    // The first request's deadline runs from the connection; later ones wait idle, then from their first byte.
    const Clock::time_point idle_end =
        n == 0 ? accepted + seconds(limits_.header_timeout_s) : Clock::now() + seconds(limits_.keep_alive_timeout_s);
    if (!strm.wait_request(idle_end)) break;
    strm.begin_headers(n == 0 ? idle_end : Clock::now() + seconds(limits_.header_timeout_s));
    const bool last = n + 1 == limits_.keep_alive_max_requests || draining_.load();
    bool closed = false, counted = false;
    try {
      ok = process_request(strm, last, closed, [&](httplib::Request& req) {
        strm.begin_body(req);
        active_.fetch_add(1);
        counted = true;
      });
    } catch (...) {
      ok = false;
    }
    if (counted) active_.fetch_sub(1);
    if (!ok || closed || last || strm.failed()) break;
    if (!strm.skip_unread_body()) {
      unread_body = true;
      break;
    }
    strm.end_request();
  }
  if (unread_body) {  // answered before its body (413, 401): let the client finish sending it
    lingering_close(sock, std::chrono::seconds(10), size_t(256) << 20);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  // Only this connection's own handlers look its socket up, and they are done: the number may be reused.
  release(addr, key);
  return ok;
}

}  // namespace tachyon::server
