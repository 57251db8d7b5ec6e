// The limits and deadlines of the HTTP connection layer (http_server.h), and what it counts.
#pragma once

#include <cstdint>

namespace tachyon::server {

struct HttpLimits {
  double header_timeout_s = 10;
  double body_timeout_s = 60;
  double keep_alive_timeout_s = 5;  // below 1 s: no keep-alive (every response closes its connection)
  double write_timeout_s = 30;
  int64_t max_header_bytes = 64 << 10;
  uint64_t max_body_bytes = uint64_t(64) << 20;  // a route may set less (HttpServer::set_body_limit)
  int max_connections = 1024;
  int max_connections_per_client = 256;  // 0: no per-address limit
  int keep_alive_max_requests = 1000;
};

// What the connection layer refused or cut, for /metrics.
struct HttpCounters {
  uint64_t refused_total = 0;       // over max_connections
  uint64_t refused_per_client = 0;  // over max_connections_per_client
  uint64_t refused_draining = 0;    // arrived while shutting down
  uint64_t header_timeouts = 0;     // 408 waiting for a request line and headers
  uint64_t body_timeouts = 0;       // 408 waiting for a body
  uint64_t header_too_large = 0;    // 431
  uint64_t body_too_large = 0;      // 413 for a body (chunked or compressed) past its limit
};

}  // namespace tachyon::server
