// A connection's byte stream with deadlines and limits (see http_stream.h).
#include "server/http_stream.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <strings.h>

#include <fmt/format.h>

namespace tachyon::server {

using net::Clock;

ConnectionStream::ConnectionStream(int fd, const HttpLimits& limits, std::function<bool()> stopping)
    : fd_(fd), limits_(limits), stopping_(std::move(stopping)), buf_(16 << 10) {}

bool ConnectionStream::wait_request(Clock::time_point deadline) {
  if (off_ < len_) return true;
  for (;;) {
    // Stopping: serve a request that is already here (it gets its 503), wait for no other.
    if (stopping_()) return net::wait_fd(fd_, POLLIN, 0) > 0;
    const int r = net::wait_fd(fd_, POLLIN, std::min(net::ms_until(deadline), 200));
    if (r > 0) return true;  // data, or EOF that the parser then reads
    if (r < 0 || Clock::now() >= deadline) return false;
  }
}

void ConnectionStream::begin_headers(Clock::time_point deadline) {
  phase_ = Phase::kHeaders;
  deadline_ = deadline;
  header_bytes_ = 0;
  body_length_ = body_read_ = body_limit_ = 0;
  parsed_ = chunked_ = expect_continue_ = body_unread_ = false;
}

void ConnectionStream::begin_body(const httplib::Request& req, uint64_t limit) {
  parsed_ = true;
  phase_ = Phase::kBody;
  deadline_ = Clock::now() + net::seconds(limits_.body_timeout_s);
  body_limit_ = limit;
  // As httplib reads it: a Transfer-Encoding of "chunked" (any case) is chunked, else Content-Length.
  chunked_ = strcasecmp(req.get_header_value("Transfer-Encoding").c_str(), "chunked") == 0;
  const std::string len = req.get_header_value("Content-Length");
  body_length_ = len.empty() ? 0 : std::strtoull(len.c_str(), nullptr, 10);
  expect_continue_ = strcasecmp(req.get_header_value("Expect").c_str(), "100-continue") == 0;
}

bool ConnectionStream::finish_request() {
  const Phase was = phase_;
  phase_ = Phase::kIdle;
  if (!parsed_ || failed_) return false;  // httplib answered a malformed request, or a limit cut it
  if (chunked_) {
    // Where a chunked body ends is known only by parsing it: one never read (answered before it) must
    // linger; one the route read was read to its end. Either way the connection ends here.
    body_unread_ = body_read_ == 0;
    return false;
  }
  if (body_read_ >= body_length_) return true;
  // A client that asked `Expect: 100-continue` and got a final answer may never send its body: do not
  // wait for it.
  if (body_length_ - body_read_ > (uint64_t(1) << 20) || was != Phase::kBody || (expect_continue_ && body_read_ == 0)) {
    body_unread_ = true;
    return false;
  }
  phase_ = Phase::kSkip;  // a small body answered before it was read: drop it, keep the connection
  char buf[4096];
  while (body_read_ < body_length_) {
    if (read(buf, size_t(std::min<uint64_t>(sizeof buf, body_length_ - body_read_))) <= 0) {
      body_unread_ = true;
      phase_ = Phase::kIdle;
      return false;
    }
  }
  phase_ = Phase::kIdle;
  return true;
}

bool ConnectionStream::is_readable() const {
  return !failed_ && (off_ < len_ || net::wait_fd(fd_, POLLIN, read_wait_ms()) > 0);
}

bool ConnectionStream::is_writable() const {
  return !failed_ && net::wait_fd(fd_, POLLOUT, net::to_ms(limits_.write_timeout_s)) > 0 && net::peer_alive(fd_);
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (failed_) return -1;
  if (off_ == len_) {
    const int r = net::wait_fd(fd_, POLLIN, read_wait_ms());
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
    if (header_bytes_ > limits_.max_header_bytes) {
      fail(invalid_request(fmt::format("the request headers exceed {} bytes", limits_.max_header_bytes)),
           Cut::kHeaderTooLarge);
      return -1;
    }
  } else if (phase_ == Phase::kBody || phase_ == Phase::kSkip) {
    body_read_ += k;
    // httplib checks a Content-Length against its payload limit; a chunked body is checked here.
    if (phase_ == Phase::kBody && body_read_ > body_limit_) {
      fail(invalid_request(fmt::format("the request body exceeds {} bytes", body_limit_)), Cut::kBodyTooLarge);
      body_unread_ = true;
      return -1;
    }
  }
  std::memcpy(ptr, buf_.data() + off_, k);
  off_ += k;
  return ssize_t(k);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  if (failed_) return -1;
  if (net::wait_fd(fd_, POLLOUT, net::to_ms(limits_.write_timeout_s)) <= 0) return -1;
  ssize_t n;
  do n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -1 : n;
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  net::socket_address(getpeername, fd_, ip, port);
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  net::socket_address(getsockname, fd_, ip, port);
}

int ConnectionStream::read_wait_ms() const {
  if (phase_ == Phase::kIdle) return net::to_ms(limits_.body_timeout_s);
  return net::ms_until(deadline_);
}

void ConnectionStream::timed_out() {
  switch (phase_) {
    case Phase::kHeaders:
      fail(invalid_request(fmt::format("the request headers did not arrive within {} s", limits_.header_timeout_s)),
           Cut::kHeaderTimeout);
      break;
    case Phase::kBody:
      fail(invalid_request(fmt::format("the request body did not arrive within {} s", limits_.body_timeout_s)),
           Cut::kBodyTimeout);
      break;
    default: failed_ = true; break;
  }
}

void ConnectionStream::fail(ApiError e, Cut why) {
  failed_ = true;
  if (phase_ == Phase::kSkip) return;  // its response is already out
  cut_ = why;
  switch (why) {
    case Cut::kHeaderTooLarge:
      e.status = 431;
      e.code = "request_header_too_large";
      break;
    case Cut::kBodyTooLarge:
      e.status = 413;
      e.code = "request_too_large";
      break;
    default:
      e.status = 408;
      e.code = "request_timeout";
      break;
  }
  net::send_error_response(fd_, e, 1000);
}

}  // namespace tachyon::server
