// Socket helpers for the connection layer (http_server.h): polling with deadlines, a liveness check that
// reads nothing, addresses, TCP keep-alive, raw error responses and lingering closes. Internal to
// src/server.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "server/api_error.h"

namespace tachyon::server::net {

using Clock = std::chrono::steady_clock;

Clock::duration seconds(double s);
// Milliseconds until `t` (0 if past), and `s` seconds in milliseconds; both clamped to int.
int ms_until(Clock::time_point t);
int to_ms(double s);

// poll() for `events` up to `timeout_ms`, retried on EINTR: > 0 ready, 0 timed out, < 0 error.
int wait_fd(int fd, short events, int timeout_ms);
// Whether the peer still holds the connection: no FIN, reset or keep-alive timeout. Reads no data.
bool peer_alive(int fd);
// The address of either end of a socket (`get` is getpeername or getsockname): numeric host and port,
// or "" and -1.
void socket_address(int (*get)(int, sockaddr*, socklen_t*), int fd, std::string& ip, int& port);
// Probes after 30 s of silence, every 10 s, three times: a vanished peer is noticed within a minute.
void enable_keepalive(int fd);
// A whole error response with `Connection: close`, written straight to the socket (best effort).
void send_error_response(int fd, const ApiError& e, int timeout_ms);
// Ends a connection after an early response: stops sending, then reads (and drops) what the client still
// sends, for up to `time` and `bytes`, so that closing with unread data does not reset the connection
// before the client has read the response (a client still uploading a refused body).
void lingering_close(int fd, std::chrono::milliseconds time, size_t bytes);

}  // namespace tachyon::server::net
