// One HTTP connection's byte stream for httplib's request parser, with Tachyon's deadlines and limits
// (http_server.h): buffered reads; a request's line and headers must arrive by a deadline and stay under
// a size; its body must arrive within the body timeout and stay under the route's limit; a request that
// misses one is answered (408, 431, 413) on the spot and the connection is done. Writes fail when the
// client makes no progress for the write timeout. Internal to src/server.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <httplib.h>

#include "server/http_limits.h"
#include "server/http_socket.h"

namespace tachyon::server {

class ConnectionStream final : public httplib::Stream {
 public:
  // What cut a request short (answered by the stream itself).
  enum class Cut : uint8_t { kNone, kHeaderTimeout, kBodyTimeout, kHeaderTooLarge, kBodyTooLarge };

  // `stopping` says whether the server is draining or stopping: idle waits end early then.
  ConnectionStream(int fd, const HttpLimits& limits, std::function<bool()> stopping);

  // Waits until the next request's first byte is here (or buffered). False when `deadline` passes, the
  // connection closes or errs, or the server is stopping with nothing sent yet.
  bool wait_request(net::Clock::time_point deadline);
  // A request starts: its line and headers must arrive by `deadline`.
  void begin_headers(net::Clock::time_point deadline);
  // Its headers are parsed (httplib's setup callback): the body may take `limit` bytes at most.
  void begin_body(const httplib::Request& req, uint64_t limit);
  // After the response: whether the connection may carry another request. A body the server did not
  // read (answered before it, like a 401) is read and dropped when small; otherwise the connection ends,
  // and body_unread() says its close must let the client finish sending.
  bool finish_request();
  bool body_unread() const { return body_unread_; }
  Cut cut() const { return cut_; }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  enum class Phase : uint8_t { kIdle, kHeaders, kBody, kSkip };
  int read_wait_ms() const;
  void timed_out();
  // Answers the request with `e` and ends the connection (later writes go nowhere); silent while
  // skipping a body after its response.
  void fail(ApiError e, Cut why);

  int fd_;
  const HttpLimits& limits_;
  std::function<bool()> stopping_;
  std::vector<char> buf_;
  size_t off_ = 0, len_ = 0;
  Phase phase_ = Phase::kIdle;
  net::Clock::time_point deadline_{};
  int64_t header_bytes_ = 0;
  uint64_t body_length_ = 0, body_read_ = 0, body_limit_ = 0;
  bool parsed_ = false, chunked_ = false, expect_continue_ = false, body_unread_ = false, failed_ = false;
  Cut cut_ = Cut::kNone;
};

}  // namespace tachyon::server
