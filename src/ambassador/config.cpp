#include "ambassador/config.hpp"

#include <algorithm>
#include <set>
#include <thread>

namespace tender::ambassador {
namespace {

Protocol parse_protocol(const ConfigNode& node) {
  std::string p = node.string("protocol").value_or("tcp");
  if (p == "tcp") {
    return Protocol::kTcp;
  }
  if (p == "http") {
    return Protocol::kHttp;
  }
  if (p == "redis") {
    return Protocol::kRedis;
  }
  node.fail("protocol", "not one of tcp, http, redis: \"" + p + "\"");
}

HostPort host_port(const ConfigNode& node, std::string_view key, const std::string& text) {
  auto hp = parse_host_port(text);
  if (!hp || hp->host.empty()) {
    node.fail(key, "expected HOST:PORT, not \"" + text + "\"");
  }
  return *hp;
}

// core's cluster block, and the password a redis cluster's servers are sent.
ClusterConfig parse_cluster(const ConfigNode& n) {
  ClusterConfig c;
  static_cast<upstream::ClusterConfig&>(c) = upstream::parse_cluster(n, {"auth", "auth_user"});
  c.auth = n.string("auth").value_or("");
  c.auth_user = n.string("auth_user").value_or("");
  if (!c.auth_user.empty() && c.auth.empty()) {
    n.fail("auth_user", "needs auth, the user's password");
  }
  return c;
}

ListenerConfig parse_listener(const ConfigNode& n) {
  n.warn_unknown({"name", "listen", "protocol", "cluster", "routes", "idle_timeout", "timeout",
                  "per_try_timeout", "retries", "retry_budget_percent", "min_retry_concurrency",
                  "max_request_bytes", "max_bulk_bytes", "max_input_bytes", "auth", "auth_user"});
  ListenerConfig l;
  l.line = n.line();
  l.protocol = parse_protocol(n);
  auto listen = n.string("listen");
  if (!listen) {
    n.fail("listen", "every listener needs listen: HOST:PORT");
  }
  l.listen = host_port(n, "listen", *listen);
  l.name = n.string("name").value_or(l.listen.str());
  l.cluster = n.string("cluster").value_or("");
  l.cluster_at = n.location("cluster");
  for (const auto& r : n.child("routes").items()) {
    r.warn_unknown({"prefix", "host", "cluster"});
    Route route;
    route.prefix = r.string("prefix").value_or("/");
    route.host = r.string("host").value_or("");
    route.cluster = r.string("cluster").value_or("");
    route.cluster_at = r.location("cluster");
    if (route.prefix.empty() || route.prefix[0] != '/') {
      r.fail("prefix", "must start with /");
    }
    if (route.cluster.empty()) {
      r.fail("cluster", "every route needs a cluster");
    }
    l.routes.push_back(route);
  }
  if (l.protocol != Protocol::kHttp && !l.routes.empty()) {
    n.fail("routes", "only http listeners have routes");
  }
  if (l.protocol == Protocol::kHttp && !l.cluster.empty()) {
    l.routes.push_back(Route{"/", "", l.cluster, l.cluster_at});
  }
  if (l.cluster.empty() && l.routes.empty()) {
    n.fail("cluster", "listener " + l.name + " needs a cluster" +
                          (l.protocol == Protocol::kHttp ? " or routes" : ""));
  }
  l.auth = n.string("auth").value_or("");
  if (!l.auth.empty() && l.protocol != Protocol::kRedis) {
    n.fail("auth", "only redis listeners take a password");
  }
  l.auth_user = n.string("auth_user").value_or("");
  if (!l.auth_user.empty() && l.auth.empty()) {
    n.fail("auth_user", "needs auth, the user's password");
  }
  l.idle_timeout = n.duration("idle_timeout").value_or(l.idle_timeout);
  l.timeout = n.duration("timeout").value_or(l.timeout);
  l.per_try_timeout = n.duration("per_try_timeout").value_or(l.per_try_timeout);
  l.retries = static_cast<int>(n.integer("retries", 0, 10).value_or(l.retries));
  if (auto b = n.number("retry_budget_percent")) {
    if (*b < 0 || *b > 100) {
      n.fail("retry_budget_percent", "a percentage from 0 to 100");
    }
    l.retry_budget_percent = *b;
  }
  l.min_retry_concurrency = static_cast<std::uint32_t>(
      n.integer("min_retry_concurrency", 0, 100'000).value_or(l.min_retry_concurrency));
  l.max_request_bytes = n.bytes("max_request_bytes").value_or(l.max_request_bytes);
  l.max_bulk_bytes = n.bytes("max_bulk_bytes").value_or(l.max_bulk_bytes);
  l.max_input_bytes = n.bytes("max_input_bytes").value_or(l.max_input_bytes);
  if (l.max_input_bytes < 64 * 1024) {
    n.fail("max_input_bytes", "at least 64KiB");
  }
  return l;
}

// "clusters: a, b" or "no clusters are defined": what a missing name could have been.
std::string defined_clusters(const ProxyConfig& c) {
  if (c.clusters.empty()) {
    return "no clusters are defined";
  }
  std::string out = "clusters: ";
  for (std::size_t i = 0; i < c.clusters.size(); ++i) {
    out += (i == 0 ? "" : ", ") + c.clusters[i].name;
  }
  return out;
}

// Cross-checks: unique names and addresses, clusters exist, redis clusters hash by key.
void validate(ProxyConfig& c, const ConfigNode& root) {
  std::set<std::string> names;
  for (const auto& cl : c.clusters) {
    if (!names.insert(cl.name).second) {
      throw ConfigError(root.file(), cl.line, "clusters", "two clusters named " + cl.name);
    }
  }
  std::set<std::string> listeners;
  std::set<std::string> addresses;
  for (const auto& l : c.listeners) {
    if (!listeners.insert(l.name).second) {
      throw ConfigError(root.file(), l.line, "listeners", "two listeners named " + l.name);
    }
    if (l.listen.port != 0 && !addresses.insert(l.listen.str()).second) {
      throw ConfigError(root.file(), l.line, "listeners", "two listeners on " + l.listen.str());
    }
    // Each reference is checked where the file makes it (the http shorthand `cluster:` is
    // also the last route).
    auto check = [&](const std::string& name, const ConfigLocation& at) {
      if (c.cluster(name) == nullptr) {
        throw ConfigError(root.file(), at.line, at.field,
                          "listener " + l.name + " uses cluster " + name +
                              ", which is not defined (" + defined_clusters(c) + ")");
      }
    };
    if (l.protocol != Protocol::kHttp && !l.cluster.empty()) {
      check(l.cluster, l.cluster_at);
    }
    for (const auto& r : l.routes) {
      check(r.cluster, r.cluster_at);
    }
    if (l.protocol == Protocol::kRedis) {
      for (auto& cl : c.clusters) {
        if (cl.name != l.cluster) {
          continue;
        }
        if (!cl.policy_set) {
          cl.policy = Policy::kRingHash;  // sharding: the same key always on the same server
        } else if (!is_hash_policy(cl.policy)) {
          throw ConfigError(root.file(), cl.line, "policy",
                            "cluster " + cl.name + " serves redis listener " + l.name +
                                ", which shards by key: use ring_hash, maglev or jump");
        }
        if (!cl.auto_eject_set) {
          cl.auto_eject = false;  // a shard's keys stay with their data
        }
      }
    }
  }
  for (auto& cl : c.clusters) {
    if (cl.hash_on.keyed() && !cl.auto_eject_set) {
      cl.auto_eject = false;  // a key-hashed http cluster shards too
    }
  }
  if (c.listeners.empty()) {
    throw ConfigError(root.file(), 0, "listeners", "no listeners");
  }
  // A password that nothing would send is a mistake to point out, not to ignore.
  for (const auto& cl : c.clusters) {
    bool redis = cl.health.type == HealthCheck::Type::kRedis ||
                 std::any_of(c.listeners.begin(), c.listeners.end(), [&](const ListenerConfig& l) {
                   return l.protocol == Protocol::kRedis && l.cluster == cl.name;
                 });
    if (!cl.auth.empty() && !redis) {
      throw ConfigError(root.file(), cl.line, "auth",
                        "cluster " + cl.name +
                            " serves no redis listener and has no redis health check: nothing "
                            "would send its password");
    }
  }
}

}  // namespace

const char* protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kHttp:
      return "http";
    case Protocol::kRedis:
      return "redis";
  }
  return "tcp";
}

milliseconds ListenerConfig::effective_idle_timeout() const {
  if (idle_timeout.count() > 0) {
    return idle_timeout;
  }
  switch (protocol) {
    case Protocol::kTcp:
      return std::chrono::hours(1);
    case Protocol::kHttp:
      return std::chrono::seconds(60);
    case Protocol::kRedis:
      return std::chrono::minutes(10);
  }
  return std::chrono::hours(1);
}

const ClusterConfig* ProxyConfig::cluster(std::string_view name) const {
  for (const auto& c : clusters) {
    if (c.name == name) {
      return &c;
    }
  }
  return nullptr;
}

ProxyConfig parse_proxy_config(const ConfigNode& root) {
  root.warn_unknown({"workers", "busy_poll", "io_uring", "listeners", "clusters", "admin",
                     "log_level", "log_format", "grace"});
  ProxyConfig c;
  c.workers = static_cast<int>(root.integer("workers", 0, 256).value_or(0));
  if (auto p = root.duration_us("busy_poll")) {
    if (*p > kMaxBusyPoll) {
      root.fail("busy_poll", "more than " + std::to_string(kMaxBusyPoll.count()) +
                                 "us: past that a sleep costs less than the looking");
    }
    c.busy_poll = *p;
  }
  if (auto u = root.string("io_uring")) {
    if (*u != "auto" && *u != "off") {
      root.fail("io_uring", "not one of auto, off: \"" + *u + "\"");
    }
    c.io_uring = *u == "auto";
  }
  for (const auto& n : root.child("clusters").items()) {
    c.clusters.push_back(parse_cluster(n));
  }
  for (const auto& n : root.child("listeners").items()) {
    c.listeners.push_back(parse_listener(n));
  }
  validate(c, root);
  return c;
}

ProxyConfig load_proxy_config(const std::string& path) {
  return parse_proxy_config(load_config_file(path));
}

ProxyConfig one_liner_config(const std::string& listen, Protocol protocol, const std::string& to,
                             const std::string& policy) {
  std::string yaml = "listeners:\n  - name: main\n    listen: \"" + listen +
                     "\"\n    protocol: " + protocol_name(protocol) +
                     "\n    cluster: main\nclusters:\n  - name: main\n    endpoints: [";
  std::size_t start = 0;
  bool first = true;
  for (;;) {
    std::size_t comma = to.find(',', start);
    std::string part = to.substr(start, comma - start);
    if (!part.empty()) {
      yaml += std::string(first ? "" : ", ") + "\"" + part + "\"";
      first = false;
    }
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  yaml += "]\n";
  if (!policy.empty()) {
    yaml += "    policy: \"" + policy + "\"\n";
  }
  return parse_proxy_config(parse_config(yaml, "command line"));
}

}  // namespace tender::ambassador
