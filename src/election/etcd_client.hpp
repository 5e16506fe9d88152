#pragma once
// The etcd backend's line to the members: unary calls with failover between endpoints, and
// watch streams on the member in use. (Private to src/election.)
//
//   EtcdClient client(executor, endpoints, {.timeout = 600ms});
//   client.set_sink(&sink);                                  // contact(ok, why) goes there
//   auto answer = co_await client.send(etcd::range(r));      // tries each member once
//   if (answer) { auto got = etcd::parse_range(answer->status, answer->body); ... }
//   auto ended = co_await client.watch(etcd::watch(key, "", rev + 1),
//                                      [&](const etcd::WatchMessage& m) -> Result<> { ... });
//
// One member is used until a request to it fails; then the next one in order. Everything runs
// on the executor's thread.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/host_port.hpp"
#include "core/http_client.hpp"
#include "election/backend.hpp"
#include "election/etcd_api.hpp"

namespace tender::election {

// Logs an event with one or two fields, from a coroutine (g++ 12 cannot hold a braced list of
// log fields in a coroutine frame). An empty `key2` is left out.
void etcd_log(int level, std::string_view msg, std::string_view key1, std::string_view value1,
              std::string_view key2 = {}, std::string_view value2 = {});

class EtcdClient {
 public:
  struct Options {
    // Of one unary request to one member (connecting included): short, so that a renewal can
    // still land in time through another member.
    std::chrono::milliseconds timeout{1'000};
  };
  // An answer a member gave: 200 with a JSON object, or an error it refused the request with
  // (etcd::refused() on what the parser makes of it).
  struct Answer {
    int status = 0;
    std::string body;
  };

  EtcdClient(const boost::asio::any_io_executor& executor, std::vector<HostPort> endpoints,
             Options options);

  // Where contact(ok, why) is reported: false when a call failed on every member, true on the
  // first success after that (or the first one of all). May be null.
  void set_sink(BackendSink* sink) { sink_ = sink; }

  // Sends `call` to the member in use; when that fails (cannot connect, times out, answers 5xx,
  // a gateway error that another member may not have, or not JSON), to each next member in turn,
  // once each, and uses the first that answers from then on. Fails with the last member's error
  // (its message names the member) once all have failed, or operation_aborted when cancelled.
  [[nodiscard]] boost::asio::awaitable<Result<Answer>> send(const etcd::Call& call);

  // Watches through the member in use, calling `on_message` with each message, until the
  // stream fails: the member closes it or cannot be reached; a message cannot be parsed; etcd
  // cancels the watch (errc::operation_canceled; compact_revision > 0 in the message's text
  // when the start revision was compacted: range again); send() moved to another member
  // (errc::operation_canceled too: watch again there); or `on_message` returns an error, which
  // is returned as it is. Never returns success.
  [[nodiscard]] boost::asio::awaitable<Result<>> watch(
      const etcd::Call& call, std::function<Result<>(const etcd::WatchMessage&)> on_message);

  [[nodiscard]] const std::vector<HostPort>& endpoints() const { return endpoints_; }
  [[nodiscard]] const HostPort& current() const { return endpoints_[current_]; }

 private:
  [[nodiscard]] ClientRequest request(const HostPort& to, const etcd::Call& call,
                                      std::optional<std::chrono::milliseconds> timeout) const;
  void report(bool ok, std::string_view why);
  // Returns once send() has moved away from member `at`.
  [[nodiscard]] boost::asio::awaitable<void> moved_from(std::size_t at);

  std::vector<HostPort> endpoints_;
  Options options_;
  std::size_t current_ = 0;
  HttpClient unary_;
  HttpClient streams_;
  BackendSink* sink_ = nullptr;
  std::optional<bool> contact_;
  boost::asio::steady_timer moved_;  // never expires; cancelled when current_ moves
};

}  // namespace tender::election
