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

#include "ambassador/balancer.hpp"
#include "core/config.hpp"

namespace tender::ambassador {

using std::chrono::milliseconds;

enum class Protocol { kTcp, kHttp, kRedis };
[[nodiscard]] const char* protocol_name(Protocol p);

struct HealthCheck {
  enum class Type { kNone, kTcp, kHttp, kRedis };
  Type type = Type::kNone;
  milliseconds interval{5'000};
  milliseconds timeout{1'000};
  int unhealthy_threshold = 3;    // consecutive failures that mark an endpoint unhealthy
  int healthy_threshold = 2;      // consecutive successes that bring it back
  std::string path = "/healthz";  // kHttp: GET this; 2xx and 3xx pass
};

// Passive health: endpoints that keep failing are ejected for a while.
struct OutlierDetection {
  int consecutive_failures = 5;        // 0 turns ejection off
  milliseconds base_ejection{30'000};  // the n-th ejection in a row lasts n x base, up to max
  milliseconds max_ejection{300'000};
  int max_ejected_percent = 50;  // never eject more than this share of a cluster
};

struct CircuitBreakers {
  std::uint32_t max_connections = 1024;  // upstream connections of the cluster
  std::uint32_t max_pending = 1024;      // requests waiting for a connection
  std::uint32_t max_requests = 1024;     // requests in flight
  // Retries in flight, besides the listeners' retry budgets; the default leaves it to them
  // (as Envoy ignores max_retries where a retry budget is set).
  static constexpr std::uint32_t kNoLimit = 10'000'000;
  std::uint32_t max_retries = kNoLimit;
};

// What an http request's hash is made of, for a cluster with a hash policy (tcp hashes the
// client's address; redis the key).
struct HashOn {
  enum class Kind { kClientAddress, kPath, kHeader, kQuery };
  Kind kind = Kind::kClientAddress;
  std::string name;  // kHeader, kQuery: which one; a request without it hashes its address
  // "client_address", "path", "header:NAME", "query:NAME"; nullopt for anything else.
  [[nodiscard]] static std::optional<HashOn> parse(std::string_view text);
  [[nodiscard]] std::string str() const;
  // Whether requests are hashed by what they ask for (a key), not by who asks.
  [[nodiscard]] bool keyed() const { return kind != Kind::kClientAddress; }
};

struct ClusterConfig {
  std::string name;
  int line = 0;
  enum class Source { kStatic, kDns, kFile };
  Source source = Source::kStatic;
  std::vector<HostPort> endpoints;  // kStatic
  HostPort dns;                     // kDns: a name resolved to every address, with this port
  milliseconds dns_refresh{5'000};
  std::string file;  // kFile: one HOST:PORT per line, '#' comments; reloaded when it changes
  Policy policy = Policy::kRoundRobin;
  bool policy_set = false;  // a redis listener defaults its cluster to ring_hash
  HashFunction hash = HashFunction::kFnv1a64;
  HashOn hash_on;  // http, with a hash policy
  // With a hash policy: whether a key (or client) whose endpoint is down, unhealthy or ejected
  // moves to another endpoint. False (the default where requests are hashed by key: redis, and
  // http with a keyed hash_on) makes a sharded cluster's keys stay where their data is: their
  // requests fail until it is back. True is for caches, at the price of consistency.
  bool auto_eject = true;
  bool auto_eject_set = false;
  milliseconds connect_timeout{1'000};
  HealthCheck health;
  OutlierDetection outlier;
  CircuitBreakers limits;
  std::string auth;       // redis: the password the proxy sends servers (AUTH), and health checks
  std::string auth_user;  // redis: the ACL user it logs in as with it; empty: "default"
};

// HTTP: a request goes to the cluster of the first route whose prefix and host match.
struct Route {
  std::string prefix = "/";
  std::string host;  // empty: any; else the Host header without port, case-insensitive
  std::string cluster;
};

struct ListenerConfig {
  std::string name;
  int line = 0;
  HostPort listen;
  Protocol protocol = Protocol::kTcp;
  std::string cluster;           // tcp and redis; http: shorthand for one route "/"
  std::vector<Route> routes;     // http
  milliseconds idle_timeout{0};  // 0: the protocol's default (tcp 1h, http 60s, redis 10m)
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
// endpoint source per cluster, values in range. Throws ConfigError naming file, line and field.
[[nodiscard]] ProxyConfig parse_proxy_config(const ConfigNode& root);
[[nodiscard]] ProxyConfig load_proxy_config(const std::string& path);

// The one-liner: `--listen 127.0.0.1:6379 --redis --to a:6379,b:6379 [--policy P]`. Throws
// ConfigError (file "command line") for a bad address or policy.
[[nodiscard]] ProxyConfig one_liner_config(const std::string& listen, Protocol protocol,
                                           const std::string& to, const std::string& policy);

}  // namespace tender::ambassador
