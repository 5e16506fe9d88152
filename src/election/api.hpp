#pragma once
// The elector's HTTP API on localhost (default 127.0.0.1:4040), what the app asks:
//
//   GET  /                      {"name": LEADER}: the Kubernetes leader-elector's answer
//   GET  /v1/leader             {"name","token","term_started","valid_for_ms","self",...}
//   GET  /v1/leader?wait_ms=N&after=TOKEN   the same once the term is not TOKEN (or after N ms)
//   GET  /v1/watch              server-sent events: the leader now, then one per change
//   GET  /v1/am-leader          200 while this replica leads, 409 otherwise (a readiness probe)
//   POST /v1/resign             gives leadership up at once
//
//   LeaderApi api(elector, "db", [&](Reply reply) { post to the elector thread ... });
//   Router router;
//   api.add_routes(router);
//   ... after every change, on the elector's thread:  api.publish();
//
// No Asio: handlers run on the HTTP server's threads and read the elector (thread-safe);
// publish() answers long polls and writes events from the elector's thread.

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/http.hpp"
#include "core/router.hpp"
#include "election/elector.hpp"

namespace tender::election {

// /v1/leader's answer for `view`.
[[nodiscard]] boost::json::object leader_json(const View& view, std::string_view election);

struct ApiLimits {
  std::size_t max_waiters = 10'000;             // long polls at once; more: 503
  std::size_t max_watchers = 1'000;             // event streams at once; more: 503
  std::chrono::milliseconds max_wait{300'000};  // wait_ms above it: 400
};

// Adds POST /v1/resign, carried out by `resign` (which answers the reply: 200, or 409 when not
// leading): LeaderApi::add_routes on --listen, and the role on its admin listener.
void add_resign_route(Router& router, std::function<void(Reply)> resign);

class LeaderApi {
 public:
  // `resign` carries out POST /v1/resign (on the elector's thread) and answers `reply`.
  LeaderApi(const Elector& elector, std::string election, std::function<void(Reply)> resign,
            ApiLimits limits = {});
  LeaderApi(const LeaderApi&) = delete;
  LeaderApi& operator=(const LeaderApi&) = delete;

  void add_routes(Router& router);

  // Answers the long polls whose term has changed and sends an event to every watcher when
  // the view's version moved since the last call. Thread-safe.
  void publish();
  // A comment line to every watcher, so that idle proxies keep the streams open.
  void keepalive();
  // Answers every long poll with the view now and ends every stream (draining). Thread-safe.
  void close();

  // Long polls and streams open now.
  [[nodiscard]] std::size_t waiters() const;
  [[nodiscard]] std::size_t watchers() const;

 private:
  struct Waiter {
    std::uint64_t after = 0;
    Reply reply;
    std::uint64_t id = 0;
  };

  void leader(Request& req, Reply reply);
  void watch(Request& req, Reply reply);
  [[nodiscard]] Response answer(const View& view) const;
  // The event streams still open; forgets the others. mu_ held.
  std::vector<std::shared_ptr<ResponseStream>> live_streams();
  // Removes the long poll `id` and returns its reply, unless it was answered already.
  std::optional<Reply> take(std::uint64_t id);

  const Elector& elector_;
  const std::string election_;
  const std::function<void(Reply)> resign_;
  const ApiLimits limits_;
  mutable std::mutex mu_;
  std::vector<Waiter> waiters_;
  std::vector<std::weak_ptr<ResponseStream>> watchers_;
  std::uint64_t next_id_ = 0;
  std::uint64_t published_ = 0;  // the view version last published
  bool closed_ = false;
};

}  // namespace tender::election
