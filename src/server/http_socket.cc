// Socket helpers for the connection layer (see http_socket.h).
#include "server/http_socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include <fmt/format.h>

namespace tachyon::server::net {
namespace {

void address_of(const sockaddr_storage& ss, socklen_t len, std::string& ip, int& port) {
  char host[NI_MAXHOST];
  ip = getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) == 0
           ? host
           : "";
  port = -1;
  if (ss.ss_family == AF_INET) port = ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) port = ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
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
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

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

void lingering_close(int fd, std::chrono::milliseconds time, size_t bytes) {
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

}  // namespace tachyon::server::net
