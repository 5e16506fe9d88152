#pragma once
// A webhook: HTTP POSTs of JSON events to an app, one at a time and in order, each retried with
// core's Backoff. `tender elect` tells the app of gains and losses of leadership; `tender sync`
// tells it of each new revision published.
//
//   auto url = parse_http_url("http://127.0.0.1:8080/leader");   // at start: exit 2 if bad
//   WebhookOptions options;                                      // 3 attempts, 2 s each, ...
//   Webhook hook(ioc, *url, options, [](bool delivered) { ... count ... });
//   hook.send(R"({"event":"gained","token":7,...})");
//
// Each event is tried up to `attempts` times (each with `timeout`), waiting between attempts
// as `backoff` says (by default 200 ms, then 400 ms); any 2xx answer is delivery, anything
// else (a refused connection, a timeout, another status) a failed attempt, logged. At most
// `max_pending` events wait: beyond that the oldest waiting one is dropped and reported as not
// delivered. `on_result` is called once per event, with whether it was delivered.
// Not thread-safe: construct, send and destroy on the io_context's thread. Destroying it
// abandons what waits (without calling on_result).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/backoff.hpp"
#include "core/http.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender {

struct WebhookOptions {
  int attempts = 3;                          // tries per event; >= 1
  std::chrono::milliseconds timeout{2'000};  // per attempt
  BackoffPolicy backoff{.initial = std::chrono::milliseconds(200),
                        .max = std::chrono::seconds(30),
                        .multiplier = 2.0,
                        .jitter = 0.0,
                        .reset_after = std::nullopt};  // the waits between attempts
  std::size_t max_pending = 64;                        // events waiting, the one in flight included
  const Clock* clock = nullptr;                        // for the Backoff; nullptr: system_clock()
};

class Webhook {
 public:
  // Throws std::invalid_argument if options.attempts < 1, max_pending < 1, or the backoff
  // policy does not validate.
  Webhook(boost::asio::io_context& ioc, HttpUrl url, WebhookOptions options,
          std::function<void(bool)> on_result);
  ~Webhook();
  Webhook(const Webhook&) = delete;
  Webhook& operator=(const Webhook&) = delete;

  // Queues `body` (sent with Content-Type: application/json).
  void send(std::string body);
  // Events waiting or in flight.
  [[nodiscard]] std::size_t pending() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tender
