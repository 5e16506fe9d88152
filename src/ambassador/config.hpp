#pragma once
// The proxy's configuration: listeners in front, clusters of endpoints behind. Read from one
// YAML file (docs/proxy.md has a complete example) or built from the one-liner flags.
//
//   ProxyConfig c = load_proxy_config("proxy.yaml");   // throws ConfigError: file:line: field
//   for (const auto& l : c.listeners) { ... l.cluster ... }
//
// No I/O besides reading the file; tested without sockets.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/upstream/balancer.hpp"
#include "core/upstream/config.hpp"

namespace tender::ambassador {

using std::chrono::milliseconds;

// Balancers and cluster settings are core's (core/upstream), shared with the other roles that
// send to upstreams.
using upstream::Balancer;
using upstream::BalancerOptions;
using upstream::CircuitBreakers;
using upstream::hash_key;
using upstream::HashFunction;
using upstream::HashOn;
using upstream::HealthCheck;
using upstream::Host;
using upstream::is_hash_policy;
using upstream::OutlierDetection;
using upstream::parse_hash_function;
using upstream::parse_policy;
using upstream::Policy;
using upstream::policy_name;

enum class Protocol { kTcp, kHttp, kRedis };
[[nodiscard]] const char* protocol_name(Protocol p);

// A cluster: core's (core/upstream/config.hpp: endpoints, policy, health checks, outlier
// detection, limits), and what only a redis cluster has.
struct ClusterConfig : upstream::ClusterConfig {
  std::string auth;       // redis: the password the proxy sends servers (AUTH), and health checks
  std::string auth_user;  // redis: the ACL user it logs in as with it; empty: "default"
};

// HTTP: a request goes to the cluster of the first route whose prefix and host match.
struct Route {
  std::string prefix = "/";
  std::string host;  // empty: any; else the Host header without port, case-insensitive
  std::string cluster;
  ConfigLocation cluster_at;  // where the file names the cluster, for errors
};

struct ListenerConfig {
  std::string name;
  int line = 0;
  HostPort listen;
  Protocol protocol = Protocol::kTcp;
  std::string cluster;           // tcp and redis; http: shorthand for one route "/"
  ConfigLocation cluster_at;     // where the file names it, for errors
  std::vector<Route> routes;     // http
  milliseconds idle_timeout{0};  // 0: the protocol's default (effective_idle_timeout)
  std::string auth;       // redis: the password clients must give (AUTH) before other commands
  std::string auth_user;  // redis: the user they must name with it; empty: "default"
  // http
  milliseconds timeout{15'000};     // whole request, retries included
  milliseconds per_try_timeout{0};  // 0: no limit but `timeout`
  int retries = 2;
  // Retries in flight to a cluster, over all workers: at most this share of its requests in
  // flight and waiting, and at least min_retry_concurrency (Envoy's retry budget).
  double retry_budget_percent = 20;
  std::uint32_t min_retry_concurrency = 3;
  std::uint64_t max_request_bytes = std::uint64_t{8} << 20;
  // redis
  std::uint64_t max_bulk_bytes = std::uint64_t{512} << 20;
  // Bytes of partial commands held for all the listener's clients together; a client whose
  // command would take the total past it is refused and disconnected.
  std::uint64_t max_input_bytes = std::uint64_t{1} << 30;

  // idle_timeout, or the protocol's default: tcp 1h, http 60s, redis 10m.
  [[nodiscard]] milliseconds effective_idle_timeout() const;
};

// The most busy_poll may be.
inline constexpr std::chrono::microseconds kMaxBusyPoll{1000};

struct ProxyConfig {
  int workers = 0;  // 0: one per core
  // How long a worker that ran out of work spins looking for more before it sleeps
  // (core/poll_loop.hpp). 0 (the default): it sleeps at once.
  std::chrono::microseconds busy_poll{0};
  bool io_uring = true;  // http and redis sockets through io_uring if the kernel allows ("auto")
  std::vector<ListenerConfig> listeners;
  std::vector<ClusterConfig> clusters;

  [[nodiscard]] const ClusterConfig* cluster(std::string_view name) const;
};

// Reads and validates a config: names unique, every cluster a listener names exists, an
// endpoint source per cluster, values in range. Throws ConfigError naming file, line and field
// (a missing cluster: the field that names it, like listeners[0].routes[1].cluster).
[[nodiscard]] ProxyConfig parse_proxy_config(const ConfigNode& root);
[[nodiscard]] ProxyConfig load_proxy_config(const std::string& path);

// The one-liner: `--listen 127.0.0.1:6379 --redis --to a:6379,b:6379 [--policy P]`. Throws
// ConfigError (file "command line") for a bad address or policy.
[[nodiscard]] ProxyConfig one_liner_config(const std::string& listen, Protocol protocol,
                                           const std::string& to, const std::string& policy);

}  // namespace tender::ambassador
