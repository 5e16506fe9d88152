#pragma once
// The seam between the elector (elector.hpp: what this replica may claim, and until when) and
// the engine that arbitrates between candidates (etcd, or a lock file on a shared volume).
//
// A backend campaigns, holds and renews terms, and watches who leads; it reports what it learns
// to a `BackendSink`. It never decides on its own that this replica may act as leader: the
// elector does, from the send times of acknowledged renewals, so that a slow or paused backend
// can only shorten a term, never stretch it.
//
//   auto backend = make_backend(url, {.election = "db", .id = "pod-a", .ttl = 2s}, ioc);
//   if (!backend) { throw ConfigError(backend.error().message()); }      // a bad --backend
//   co_spawn(ioc, (*backend)->run(sink), bind_cancellation_slot(stop_signal.slot(), ...));
//   ...                                  // later, on the io_context's thread:
//   (*backend)->resign(Resign::kRejoin); // POST /v1/resign: give the term up, stand again
//   (*backend)->resign(Resign::kLeave);  // SIGTERM: give it up and stop; run() then returns
//
// Threading: run(), resign() and status() are called on the io_context's thread only (one
// thread, the elector's), and every BackendSink call is made there too.

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/host_port.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::election {

using SteadyTime = std::chrono::steady_clock::time_point;

// The leader as a backend sees it.
struct Observed {
  std::string name;         // the leader's --id; empty: there is none
  std::uint64_t token = 0;  // its term's fencing token; 0 when there is no leader
  // When its claim lapses unless it renews, on this machine's steady clock, if the backend can
  // tell (the file backend reads it from the record; etcd's successor from the heartbeats).
  std::optional<SteadyTime> expires{};

  friend bool operator==(const Observed&, const Observed&) = default;
};

// What a backend reports. Every call is made on the io_context's thread.
class BackendSink {
 public:
  virtual ~BackendSink() = default;
  // This candidate holds the term `token`: the backend acknowledged a request that was sent
  // at `sent_at` (read from the clock before the request left). Called when a term begins and
  // after every acknowledged renewal; `sent_at` never decreases within a term.
  virtual void held(std::uint64_t token, SteadyTime sent_at) = 0;
  // The term `token` is over for this candidate: taken over, its key deleted, resigned, or the
  // backend refused a renewal. After this the backend campaigns again for a new token (unless
  // it was told kLeave).
  virtual void lost(std::uint64_t token, std::string_view why) = 0;
  // Who leads now, as far as the backend can see (this candidate included). Called whenever it
  // changes, and may be called again with the same value.
  virtual void observed(const Observed& leader) = 0;
  // Whether the backend answers: false with the reason once a request has failed on every
  // endpoint (or the file cannot be read), true again once one succeeds. Drives readiness and
  // tender_elect_backend_errors_total (one count per false call).
  virtual void contact(bool ok, std::string_view why) = 0;
  // The round trip of one acknowledged renewal, for the latency histogram.
  virtual void renewed_in(std::chrono::steady_clock::duration round_trip) = 0;
};

enum class Resign {
  kRejoin,  // give the term up now; stand again once another leader is seen or ttl has passed
  kLeave,   // give the term up now and stop campaigning; run() returns once it is done
};

struct BackendOptions {
  std::string
      election;    // the election's name: the etcd key prefix's last part, checked in the file
  std::string id;  // this candidate's name, what GET / answers while it leads
  // A term lapses this long after the send time of its last acknowledged renewal.
  std::chrono::milliseconds ttl{2'000};
  // How often the holder renews (and a follower re-reads, as a safety net): ttl / 3 by default.
  std::chrono::milliseconds renew_every{0};
  const Clock* clock = &system_clock();
};

// A backend URL, parsed: `file:/path/to/leader.lock` or `etcd://HOST:PORT[,HOST:PORT...]`
// (an `etcd://` URL may end in a key prefix path: etcd://127.0.0.1:2379/my/prefix; the default
// prefix is /tender/elect).
struct BackendUrl {
  enum class Kind { kFile, kEtcd };
  Kind kind = Kind::kFile;
  std::string path;                 // kFile: the lock file
  std::vector<HostPort> endpoints;  // kEtcd: in the order given
  std::string prefix;               // kEtcd: key prefix, no trailing slash
};

// Fails with invalid_argument and a message naming what is wrong.
[[nodiscard]] Result<BackendUrl> parse_backend_url(std::string_view url);

class Backend {
 public:
  virtual ~Backend() = default;
  // Campaigns, holds and renews terms, and observes the leader, reporting to `sink`, until the
  // awaiting coroutine is cancelled (then it returns at once, resigning nothing) or, after
  // resign(kLeave), once the term is given up. Errors never end it: they are reported through
  // sink.contact() and retried with backoff. `sink` must outlive the coroutine.
  [[nodiscard]] virtual boost::asio::awaitable<void> run(BackendSink& sink) = 0;
  // Asks run() to give up the term it holds (if any) as soon as it can (the lock record
  // cleared, the etcd key deleted), reporting lost(token, "resigned"). Without a term it
  // withdraws the candidacy. Does not wait.
  virtual void resign(Resign how) = 0;
  // For /statusz: the backend's kind and its own state (endpoint in use, lease, key, ...).
  [[nodiscard]] virtual boost::json::object status() const = 0;
};

// Makes the backend `url` names. Fails with invalid_argument for a URL parse_backend_url
// rejects. Nothing is contacted yet: a backend that is down at start is retried by run().
[[nodiscard]] Result<std::unique_ptr<Backend>> make_backend(const BackendUrl& url,
                                                            const BackendOptions& options,
                                                            boost::asio::io_context& ioc);

}  // namespace tender::election
