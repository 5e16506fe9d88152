#pragma once
// How a role reaches one cluster of upstreams: where its endpoints come from (a static list, a
// DNS name re-resolved, a watched file), how requests are spread over them (policy, hash), and
// how they are watched (active health checks, outlier ejection) and limited (circuit breakers,
// connect timeout). The proxy and the scatter/gather root read the same block:
//
//   clusters:
//     - name: shards
//       dns: "shards.internal:8080"     # or endpoints: ["10.0.0.1:8080", ...], or file: PATH
//       policy: maglev
//       health_check: {type: http, path: /healthz, interval: 2s}
//       outlier: {consecutive_failures: 5, base_ejection: 30s}
//
//   upstream::ClusterConfig c = upstream::parse_cluster(node, {"my_own_field"});  // ConfigError
//
// No I/O; tested without sockets.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/config.hpp"
#include "core/upstream/balancer.hpp"

namespace tender::upstream {

using std::chrono::milliseconds;

// Active health checks: every interval, each endpoint is checked (the role supplies the check,
// core/upstream/discovery.hpp); consecutive results move it between healthy and unhealthy.
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
  // Retries in flight, besides the callers' retry budgets; the default leaves it to them
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
  bool policy_set = false;  // whether the block named one (a role may pick its own default)
  HashFunction hash = HashFunction::kFnv1a64;
  HashOn hash_on;  // http, with a hash policy
  // With a hash policy: whether a key (or client) whose endpoint is down, unhealthy or ejected
  // moves to another endpoint. False makes a sharded cluster's keys stay where their data is:
  // their requests fail until it is back. True is for caches, at the price of consistency.
  bool auto_eject = true;
  bool auto_eject_set = false;
  milliseconds connect_timeout{1'000};
  HealthCheck health;
  OutlierDetection outlier;
  CircuitBreakers limits;
};

// Reads one cluster block (a map), logging a warning for each field that is neither its own
// nor one of `extra_fields` (the caller's own, which it reads itself). Throws ConfigError
// naming file, line and field: no name, not exactly one of endpoints / dns / file, a bad
// HOST:PORT, policy, hash or hash_on (or hash_on without a hash policy), values out of range
// (health_check.interval under 10ms, dns_refresh under 100ms, max_ejection under base_ejection,
// thresholds, percentages, limits).
[[nodiscard]] ClusterConfig parse_cluster(
    const ConfigNode& node, std::initializer_list<std::string_view> extra_fields = {});

// A cluster as configured, for /configz: where its endpoints come from (`endpoints` as a list,
// `dns` with `dns_refresh`, or `file`) ...
[[nodiscard]] boost::json::object source_json(const ClusterConfig& c);
// ... and how it is run (policy, hash, connect_timeout, health_check, outlier, limits), in the
// units the configuration is written in.
[[nodiscard]] boost::json::object settings_json(const ClusterConfig& c);

}  // namespace tender::upstream
