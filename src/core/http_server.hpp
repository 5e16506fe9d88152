#pragma once
// The one HTTP/1.1 server every role uses: keep-alive, limits, timeouts, N worker threads.
//
//   Router router;
//   router.get("/hello", [](Request&) { return Response::text(200, "hi\n"); });
//   HttpServer server(std::move(router), {.listen = {"127.0.0.1", 0}, .threads = 2});
//   HostPort bound = server.bind();      // throws std::system_error (e.g. address in use)
//   server.start();                      // worker threads start serving
//   ...
//   server.drain();                      // stop accepting; finish what is in flight
//   while (server.in_flight() > 0) { ... }
//   server.stop();                       // closes everything and joins the threads
//
// Each worker thread owns an io_context and its own SO_REUSEPORT listener on the same port; a
// connection stays on the thread that accepted it and nothing on the request path takes a lock.
// Asio and Beast stay inside http_server.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/host_port.hpp"
#include "core/router.hpp"

namespace tender {

class Registry;

struct ServerLimits {
  std::size_t max_header_bytes = std::size_t{16} << 10;  // request line + headers; over it: 431
  std::size_t max_body_bytes = std::size_t{8} << 20;     // over it: 413
  // From the first byte of a request to its last header byte; a slowloris client is cut off.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{60'000};  // to read the body once headers are in
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{60'000};
};

struct ServerOptions {
  HostPort listen{"127.0.0.1", 0};
  int threads = 1;
  ServerLimits limits;
  // When set, request counts and latencies are recorded as
  // `<metrics_prefix>_http_requests_total{code,method}` and
  // `<metrics_prefix>_http_request_duration_seconds`, plus connection gauges.
  Registry* metrics = nullptr;
  std::string metrics_prefix;
};

class HttpServer {
 public:
  HttpServer(Router router, ServerOptions options);
  ~HttpServer();  // stops and joins if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Opens one listener per thread. Returns the bound address (the real port when 0 was asked).
  // Throws std::system_error if the address cannot be bound.
  HostPort bind();
  // Starts the worker threads. bind() must have succeeded.
  void start();
  // Stops accepting, closes idle keep-alive connections, and answers the requests in flight with
  // `Connection: close`. Thread-safe; idempotent.
  void drain();
  // Requests read but not yet fully answered, across all threads. Thread-safe.
  [[nodiscard]] std::size_t in_flight() const;
  // Open client connections across all threads. Thread-safe.
  [[nodiscard]] std::size_t connections() const;
  // Total requests answered since start. Thread-safe.
  [[nodiscard]] std::uint64_t requests_served() const;
  // Stops every worker at once (in-flight requests are abandoned) and joins the threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender
