#pragma once
// Keeping a cluster up to date: discovery (a static list resolved at start and on reload, a DNS
// name re-resolved every dns_refresh, an endpoint file re-read when it changes) and active
// health checks, on an io_context the role runs on a thread of its own (its control thread).
//
//   auto named = upstream::initial_endpoints(config);     // at start: serve from the first request
//   if (!named) { throw ConfigError(...named.error().message()...); }
//   if (*named) { cluster->set_endpoints(**named); }
//   upstream::Upkeep upkeep(control, cluster, upstream::probe_checker(control));
//   upkeep.start();   // the loops run on `control`
//   upkeep.stop();    // or destroy it: the loops end at their next turn
//
// The loop decides when to check and what the results do to an endpoint (Cluster::record_check,
// thresholds counted by a ProbeTracker); the check itself is the role's Checker, usually
// probe_checker (core/probe.hpp's tcp, http and redis probes).
// Endpoint files are watched (core/file_watch.hpp: inotify, and a stat every second whatever it
// says) and resolved on the control thread (blocking).

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/host_port.hpp"
#include "core/upstream/cluster.hpp"
#include "core/upstream/config.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::upstream {

// Endpoints as Cluster::set_endpoints takes them: a name ("redis-0:6379") and its address.
using NamedEndpoints = std::vector<std::pair<std::string, HostPort>>;

// The endpoints a file lists: one HOST:PORT per line, blank lines and '#' comments skipped,
// each resolved now (blocking) to its first address. Errors: "cannot read PATH", or
// "PATH:LINE: expected HOST:PORT, not ...", "PATH:LINE: cannot resolve HOST:PORT: ...".
[[nodiscard]] Result<NamedEndpoints> read_endpoint_file(const std::string& path);

// A cluster's endpoints to start with (at start and on reload), so that it serves from the
// first request: a static cluster's names resolved now (blocking), a file cluster's file as it
// is now (nullopt if it cannot be read yet: the upkeep warns and keeps looking), nullopt for a
// dns cluster (the upkeep resolves it). Errors: a static name that does not resolve ("cannot
// resolve HOST:PORT: ...", "no address for HOST:PORT").
[[nodiscard]] Result<std::optional<NamedEndpoints>> initial_endpoints(const ClusterConfig& config);

// `name` resolved to every address it has, each named "ADDRESS:PORT", sorted by name, without
// duplicates: a dns cluster's endpoints, or a scatter root's shards (shard_set: dns). Errors:
// the resolver's ("cannot resolve HOST:PORT: ...").
[[nodiscard]] boost::asio::awaitable<Result<NamedEndpoints>> resolve_all(const HostPort& name);

// Credentials a redis health check logs in with (an empty password: none).
struct RedisAuth {
  std::string user;
  std::string password;
};

// The health check core's probes make (core/probe.hpp): tcp connect, http GET of the check's
// path (200-399 passes), redis PING (+PONG passes; first AUTH with what `redis_auth` gives at
// each check, when it gives a password). Its messages are the probes' ("HTTP 503", "connect
// timed out", "PING answered -NOAUTH ..."). HTTP checks share one pooled client on `ioc`.
[[nodiscard]] std::function<boost::asio::awaitable<Result<>>(const HealthCheck&, const Endpoint&)>
probe_checker(boost::asio::io_context& ioc, std::function<RedisAuth()> redis_auth = {});

// The discovery and health-check loops of one cluster. Construct, start() and stop() it on any
// thread; the loops run on `ioc`, which must outlive them (its destruction ends them too).
class Upkeep {
 public:
  // One active check of `e` under `check` (the config in force): a value when it passed, else
  // why not (the message /v1/clusters shows as last_check). It must end within check.timeout.
  using Checker =
      std::function<boost::asio::awaitable<Result<>>(const HealthCheck& check, const Endpoint& e)>;

  // Does not fail. `checker` is called on `ioc`'s thread only, and is destroyed with the loops.
  Upkeep(boost::asio::io_context& ioc, std::shared_ptr<Cluster> cluster, Checker checker);
  ~Upkeep();  // stop()
  Upkeep(const Upkeep&) = delete;
  Upkeep& operator=(const Upkeep&) = delete;

  // Starts both loops (once). Each round reads the cluster's config in force, so a reload
  // (Cluster::set_config) takes effect at the next round:
  // - dns: resolves the name to every address every dns_refresh; a lookup that fails keeps the
  //   endpoints (and says so in the log);
  // - file: re-reads the file when it changes (written in place, or replaced by a rename): at
  //   once when inotify reports it, else at the next of the per-second rescans; a file that
  //   does not parse or resolve keeps the endpoints;
  // - static: nothing (a reload resolves again, with initial_endpoints);
  // - health checks: every interval, each endpoint in turn; with no check (type none) every
  //   endpoint is healthy.
  void start();
  // The loops end at their next turn (a check or lookup under way finishes first).
  void stop();

 private:
  struct State;
  static boost::asio::awaitable<void> discovery_loop(std::shared_ptr<State> s);
  static boost::asio::awaitable<void> health_loop(std::shared_ptr<State> s);
  // Re-reads the endpoint file at `path` when it changes, until stopped or the source changes.
  static boost::asio::awaitable<void> follow_file(std::shared_ptr<State> s, std::string path);

  boost::asio::io_context& ioc_;
  std::shared_ptr<State> state_;
  bool started_ = false;
};

}  // namespace tender::upstream
