#pragma once
// The one HTTP/1.1 client: connection pooling, connect and request timeouts, cancellation.
// Probes, the proxy, scatter/gather and webhooks all use it.
//
//   HttpClient client(co_await asio::this_coro::executor);
//   ClientRequest req{.method = "GET", .host = "127.0.0.1", .port = 8080, .target = "/healthz"};
//   auto res = co_await client.request(req);        // boost::system::result<Response>
//   if (!res) { log::warn("probe failed", {{"error", res.error().message()}}); }
//
// Cancel an exchange through the awaiting coroutine's cancellation slot, e.g. racing it
// against a timer with asio's awaitable operators; its connection is then closed, not pooled.
//
// A long answer (a watch, a log, server-sent events) is read as it arrives with stream():
//
//   auto head = co_await client.stream(req, [&](std::string_view bytes) -> Result<> {
//     lines.feed(bytes);                              // the client keeps none of it
//     return {};                                      // an Error here ends the exchange
//   });
//   if (head && head->status != 200) { ... }           // the body went to the callback too
//
// For command-line tools there is a blocking one-shot `fetch(url)`.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/http.hpp"

namespace tender {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds request_timeout{30'000};  // the whole exchange, after connecting
  std::size_t max_idle_per_host = 32;                 // pooled connections kept per host:port
  std::chrono::milliseconds idle_timeout{30'000};     // pooled connections idle longer are closed
  std::size_t max_response_header_bytes = std::size_t{64} << 10;
  std::size_t max_response_body_bytes = std::size_t{64} << 20;
};

struct ClientRequest {
  std::string method = "GET";
  std::string host;  // name or address literal; also sent as the Host header unless set
  std::uint16_t port = 80;
  std::string target = "/";
  Headers headers;
  std::string body;
  std::optional<std::chrono::milliseconds> timeout;  // overrides request_timeout
};

class HttpClient {
 public:
  explicit HttpClient(const boost::asio::any_io_executor& executor, ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `req` over a pooled keep-alive connection to host:port, or a new one. When a reused
  // connection turns out to have been closed by the server while idle, the request is sent once
  // more on a fresh connection: always if the write failed, and after a complete write only for
  // idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE). Interim 1xx answers are skipped.
  // Errors: boost::beast::error::timeout,
  // connection_refused, host_not_found, operation_aborted (cancelled), http parse errors.
  // Not thread-safe: call from the executor's thread only.
  [[nodiscard]] boost::asio::awaitable<boost::system::result<Response>> request(ClientRequest req);

  // Sends `req` on a new connection and hands the answer's body to `on_body` as its bytes
  // arrive (decoded from chunked framing, or Content-Length bytes, or until the server closes),
  // keeping none of it. The request timeout (req.timeout or request_timeout) applies until the
  // head has arrived; after that the body may flow, or pause, for as long as it likes. Returns
  // the head (status and headers; `body` empty) once the body has ended, whatever the status.
  // Fails with: what request() fails with, before the head; the transport's error, or
  // http::error::partial_message, when the connection breaks during the body (a server that
  // closes an until-close body ends it normally); the Error `on_body` returned, which ends the
  // exchange and closes the connection; operation_aborted when the awaiting coroutine is
  // cancelled (the connection is closed, not pooled). A body that ended cleanly leaves its
  // connection pooled for request(). Not thread-safe: call from the executor's thread only.
  [[nodiscard]] boost::asio::awaitable<Result<Response>> stream(
      ClientRequest req, std::function<Result<>(std::string_view)> on_body);

  // Connections currently pooled, across hosts.
  [[nodiscard]] std::size_t idle_connections() const;
  void close_idle();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with requests in flight, which may outlive the client
};

// A blocking one-shot request (no pooling) for command-line tools. `url` is http://HOST:PORT/...
[[nodiscard]] boost::system::result<Response> fetch(
    const std::string& url, const std::string& method = "GET", const std::string& body = "",
    std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000));

}  // namespace tender
