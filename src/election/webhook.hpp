#pragma once
// The webhook: an HTTP POST of a JSON event to the app on every gain and loss of leadership.
//
//   auto url = parse_http_url("http://127.0.0.1:8080/leader");   // at start: exit 2 if bad
//   Webhook hook(ioc, *url, [](bool delivered) { ... count ... });
//   hook.send(R"({"event":"gained","token":7,...})");
//
// Events go out one at a time, in order, each tried up to 3 times (2 s timeout each, 200 ms
// then 400 ms apart); any 2xx answer is delivery. At most 64 wait: beyond that the oldest is
// dropped (and counted as not delivered), since the app can always ask GET /v1/leader.
// Calls on the io_context's thread.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/http.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::election {

class Webhook {
 public:
  Webhook(boost::asio::io_context& ioc, HttpUrl url, std::function<void(bool)> on_result);
  ~Webhook();
  Webhook(const Webhook&) = delete;
  Webhook& operator=(const Webhook&) = delete;

  void send(std::string body);
  // Events waiting or in flight.
  [[nodiscard]] std::size_t pending() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tender::election
