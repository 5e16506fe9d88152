#pragma once
// HTTP/1.1 exchanges with the endpoints of clusters over keep-alive connections pooled per
// endpoint, on one loop: its Deadlines time every wait (no timer per request) and its io_uring
// ring carries the bytes where there is one. The scatter/gather root sends to its leaves with it
// from the HTTP server's own worker threads (Scheduler::loop / loop_deadlines).
//
//   Http1Pool pool(ioc, deadlines);                        // one per loop thread
//   ExchangeCancel cancel;                                  // fire() from the same thread
//   auto answer = co_await pool.exchange(cluster, endpoint, request_bytes,
//                                        {.deadline = now + 1s, .cancel = &cancel});
//   if (answer) { answer->status, answer->headers, answer->body }
//
// `request_bytes` is a whole HTTP/1.1 request (head and body), written by the caller: the pool
// neither builds nor rewrites requests. Not thread-safe: the loop's thread only.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/conn.hpp"
#include "core/error.hpp"
#include "core/http.hpp"
#include "core/upstream/cluster.hpp"
#include "core/upstream/connect.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::upstream {

// A response as it came back: status, fields, and the whole body (decoded from chunked).
struct Http1Answer {
  int status = 0;
  Headers headers;
  std::string body;
};

// Lets the owner of an exchange end it from outside (the loser of a hedge, a request whose
// deadline passed): fire() shuts its connection down, the exchange ends with
// operation_aborted and its connection is not pooled. One exchange at a time; the same thread.
class ExchangeCancel {
 public:
  void fire();
  [[nodiscard]] bool fired() const { return fired_; }

 private:
  friend class Http1Pool;
  Conn* conn_ = nullptr;  // the exchange's connection while it has one
  bool fired_ = false;
};

struct ExchangeOptions {
  SteadyClock::time_point deadline;                  // the whole exchange, connecting included
  std::chrono::milliseconds connect_timeout{1'000};  // also bounded by the deadline
  std::size_t max_body = std::size_t{16} << 20;      // a larger answer fails (message_size)
  bool head = false;       // the request is HEAD: no body whatever the answer's fields say
  bool replayable = true;  // may be sent again on a fresh connection after a stale pooled one
  ExchangeCancel* cancel = nullptr;
};

class Http1Pool {
 public:
  // `max_idle` connections are kept per endpoint; more are closed when their exchange ends.
  // The pool may outlive `ioc` (its idle connections are closed when the loop goes), but not
  // `deadlines`'s loop running; destroy it on the loop's thread or once the loop has stopped.
  Http1Pool(boost::asio::io_context& ioc, Deadlines& deadlines, std::size_t max_idle = 64);
  ~Http1Pool();
  Http1Pool(const Http1Pool&) = delete;
  Http1Pool& operator=(const Http1Pool&) = delete;

  // Sends `request` to `e` of `cluster` on an idle pooled connection, or a new one (within the
  // cluster's connection breaker, core/upstream/connect.hpp), and reads the whole answer by
  // options.deadline; interim 1xx answers are skipped. A pooled connection the endpoint closed
  // while idle, or sent anything on unasked, is closed and not used. One that turns out closed
  // once the request went, before any of the answer came, is replaced by a fresh one and the
  // request sent again when it is replayable. The connection goes back to the pool
  // when the answer was read whole and both sides keep it alive.
  // Errors: connection_refused and other connect errors, no_buffer_space (breaker open),
  // timed_out (the deadline passed), operation_aborted (cancelled), message_size (a head over
  // 16 KiB or a body over max_body), bad_message (a malformed answer), eof / connection_reset
  // (the endpoint closed before the answer was whole). `request` must stay valid until the
  // exchange ends.
  [[nodiscard]] boost::asio::awaitable<Result<Http1Answer>> exchange(
      const std::shared_ptr<Cluster>& cluster, const Endpoint& e, std::string_view request,
      ExchangeOptions options);

  // Idle pooled connections, across endpoints.
  [[nodiscard]] std::size_t idle() const;
  // Closes every idle connection (at drain, or to give endpoints that left their sockets back).
  void close_idle();
  // Closes the idle connections to endpoints `keep` says are gone.
  template <typename Keep>
  void prune(Keep&& keep) {
    std::erase_if(idle_, [&](const auto& kv) { return !keep(kv.first); });
  }

 private:
  struct Pooled {
    Pooled(boost::asio::ip::tcp::socket s, UpstreamLease l)
        : conn(std::move(s)), lease(std::move(l)) {}
    Conn conn;
    UpstreamLease lease;
  };
  // An idle connection to the endpoint with stats `id` that is still open with nothing unread,
  // closing those that are not; null when there is none.
  std::unique_ptr<Pooled> take_idle(const EndpointStats* id);
  // One try on `p`; `fresh`: a new connection. Sets `stale` when a pooled connection turned
  // out closed before any of the answer came.
  boost::asio::awaitable<Result<Http1Answer>> send_and_read(Pooled& p, std::string_view request,
                                                            const ExchangeOptions& o, bool& stale,
                                                            bool& reusable);
  boost::asio::awaitable<Result<std::unique_ptr<Pooled>>> connect(
      const std::shared_ptr<Cluster>& cluster, const Endpoint& e, const ExchangeOptions& o);

  boost::asio::io_context& ioc_;
  Deadlines& deadlines_;
  std::size_t max_idle_;
  std::unordered_map<const EndpointStats*, std::vector<std::unique_ptr<Pooled>>> idle_;
  class LoopWatch;
  LoopWatch* watch_ = nullptr;  // null once the loop has gone
};

}  // namespace tender::upstream
