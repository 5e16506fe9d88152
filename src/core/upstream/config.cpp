#include "core/upstream/config.hpp"

#include <algorithm>
#include <array>
#include <boost/json/array.hpp>

#include "core/log.hpp"
#include "core/units.hpp"

namespace tender::upstream {
namespace {

constexpr std::array<std::string_view, 13> kFields = {
    "name",         "endpoints", "dns",     "dns_refresh", "file",
    "policy",       "hash",      "hash_on", "auto_eject",  "connect_timeout",
    "health_check", "outlier",   "limits"};

// ConfigNode::warn_unknown, with the known fields in two lists.
void warn_unknown(const ConfigNode& n, std::initializer_list<std::string_view> extra) {
  if (!n.is_map()) {
    return;
  }
  const YAML::Node& map = n.yaml();
  for (auto it = map.begin(); it != map.end(); ++it) {
    auto k = it->first.as<std::string>();
    auto is_k = [&](std::string_view f) { return f == k; };
    if (std::any_of(kFields.begin(), kFields.end(), is_k) ||
        std::any_of(extra.begin(), extra.end(), is_k)) {
      continue;
    }
    log::warn("unknown configuration field ignored",
              {{"file", n.file()},
               {"line", it->first.Mark().line + 1},
               {"field", n.path().empty() ? k : n.path() + "." + k}});
  }
}

HostPort host_port(const ConfigNode& node, std::string_view key, const std::string& text) {
  auto hp = parse_host_port(text);
  if (!hp || hp->host.empty()) {
    node.fail(key, "expected HOST:PORT, not \"" + text + "\"");
  }
  return *hp;
}

HealthCheck parse_health(const ConfigNode& n) {
  HealthCheck h;
  if (!n.defined()) {
    return h;
  }
  n.warn_unknown(
      {"type", "interval", "timeout", "unhealthy_threshold", "healthy_threshold", "path"});
  std::string type = n.string("type").value_or("tcp");
  if (type == "tcp") {
    h.type = HealthCheck::Type::kTcp;
  } else if (type == "http") {
    h.type = HealthCheck::Type::kHttp;
  } else if (type == "redis") {
    h.type = HealthCheck::Type::kRedis;
  } else if (type == "none") {
    h.type = HealthCheck::Type::kNone;
  } else {
    n.fail("type", "not one of tcp, http, redis, none: \"" + type + "\"");
  }
  h.interval = n.duration("interval").value_or(h.interval);
  h.timeout = n.duration("timeout").value_or(h.timeout);
  if (h.interval.count() < 10) {
    n.fail("interval", "at least 10ms");
  }
  h.unhealthy_threshold =
      static_cast<int>(n.integer("unhealthy_threshold", 1, 100).value_or(h.unhealthy_threshold));
  h.healthy_threshold =
      static_cast<int>(n.integer("healthy_threshold", 1, 100).value_or(h.healthy_threshold));
  h.path = n.string("path").value_or(h.path);
  if (h.path.empty() || h.path[0] != '/') {
    n.fail("path", "must start with /");
  }
  return h;
}

OutlierDetection parse_outlier(const ConfigNode& n) {
  OutlierDetection o;
  if (!n.defined()) {
    return o;
  }
  n.warn_unknown({"consecutive_failures", "base_ejection", "max_ejection", "max_ejected_percent"});
  o.consecutive_failures =
      static_cast<int>(n.integer("consecutive_failures", 0, 1000).value_or(o.consecutive_failures));
  o.base_ejection = n.duration("base_ejection").value_or(o.base_ejection);
  o.max_ejection = n.duration("max_ejection").value_or(o.max_ejection);
  o.max_ejected_percent =
      static_cast<int>(n.integer("max_ejected_percent", 0, 100).value_or(o.max_ejected_percent));
  if (o.max_ejection < o.base_ejection) {
    n.fail("max_ejection", "shorter than base_ejection");
  }
  return o;
}

CircuitBreakers parse_limits(const ConfigNode& n) {
  CircuitBreakers c;
  if (!n.defined()) {
    return c;
  }
  n.warn_unknown({"max_connections", "max_pending", "max_requests", "max_retries"});
  auto get = [&](const char* key, std::uint32_t def) {
    return static_cast<std::uint32_t>(n.integer(key, 0, CircuitBreakers::kNoLimit).value_or(def));
  };
  c.max_connections = get("max_connections", c.max_connections);
  c.max_pending = get("max_pending", c.max_pending);
  c.max_requests = get("max_requests", c.max_requests);
  c.max_retries = get("max_retries", c.max_retries);
  return c;
}

}  // namespace

ClusterConfig parse_cluster(const ConfigNode& n, std::initializer_list<std::string_view> extra) {
  warn_unknown(n, extra);
  ClusterConfig c;
  c.line = n.line();
  c.name = n.string("name").value_or("");
  if (c.name.empty()) {
    n.fail("name", "every cluster needs a name");
  }
  int sources = (n.has("endpoints") ? 1 : 0) + (n.has("dns") ? 1 : 0) + (n.has("file") ? 1 : 0);
  if (sources != 1) {
    n.fail("", "cluster " + c.name + " needs exactly one of endpoints, dns, file");
  }
  if (n.has("endpoints")) {
    for (const auto& e : n.child("endpoints").items()) {
      std::string text = e.as_string();
      auto hp = parse_host_port(text);
      if (!hp || hp->host.empty()) {
        e.fail("", "expected HOST:PORT, not \"" + text + "\"");
      }
      c.endpoints.push_back(*hp);
    }
    if (c.endpoints.empty()) {
      n.fail("endpoints", "empty");
    }
  } else if (n.has("dns")) {
    c.source = ClusterConfig::Source::kDns;
    c.dns = host_port(n, "dns", *n.string("dns"));
    c.dns_refresh = n.duration("dns_refresh").value_or(c.dns_refresh);
    if (c.dns_refresh.count() < 100) {
      n.fail("dns_refresh", "at least 100ms");
    }
  } else {
    c.source = ClusterConfig::Source::kFile;
    c.file = *n.string("file");
  }
  if (auto p = n.string("policy")) {
    auto policy = parse_policy(*p);
    if (!policy) {
      n.fail(
          "policy",
          "not one of round_robin, random, least_request, ring_hash, maglev, jump: \"" + *p + "\"");
    }
    c.policy = *policy;
    c.policy_set = true;
  }
  if (auto h = n.string("hash")) {
    auto f = parse_hash_function(*h);
    if (!f) {
      n.fail("hash", "not one of fnv1a_64, murmur3: \"" + *h + "\"");
    }
    c.hash = *f;
  }
  if (auto h = n.string("hash_on")) {
    auto on = HashOn::parse(*h);
    if (!on) {
      n.fail("hash_on", "not one of client_address, path, header:NAME, query:NAME: \"" + *h + "\"");
    }
    c.hash_on = *on;
  }
  if (n.has("hash_on") && !is_hash_policy(c.policy)) {
    n.fail("hash_on", "cluster " + c.name + " has policy " + std::string(policy_name(c.policy)) +
                          ", which hashes nothing: hash_on needs ring_hash, maglev or jump");
  }
  if (auto a = n.boolean("auto_eject")) {
    c.auto_eject = *a;
    c.auto_eject_set = true;
  }
  c.connect_timeout = n.duration("connect_timeout").value_or(c.connect_timeout);
  c.health = parse_health(n.child("health_check"));
  c.outlier = parse_outlier(n.child("outlier"));
  c.limits = parse_limits(n.child("limits"));
  return c;
}

std::optional<HashOn> HashOn::parse(std::string_view text) {
  HashOn on;
  if (text == "client_address") {
    return on;
  }
  if (text == "path") {
    on.kind = Kind::kPath;
    return on;
  }
  for (auto [prefix, kind] : {std::pair{std::string_view("header:"), Kind::kHeader},
                              std::pair{std::string_view("query:"), Kind::kQuery}}) {
    if (text.starts_with(prefix) && text.size() > prefix.size()) {
      on.kind = kind;
      on.name = std::string(text.substr(prefix.size()));
      return on;
    }
  }
  return std::nullopt;
}

std::string HashOn::str() const {
  switch (kind) {
    case Kind::kClientAddress:
      return "client_address";
    case Kind::kPath:
      return "path";
    case Kind::kHeader:
      return "header:" + name;
    case Kind::kQuery:
      return "query:" + name;
  }
  return "";
}

boost::json::object source_json(const ClusterConfig& c) {
  boost::json::object o;
  switch (c.source) {
    case ClusterConfig::Source::kStatic: {
      boost::json::array endpoints;
      for (const auto& e : c.endpoints) {
        endpoints.emplace_back(e.str());
      }
      o["endpoints"] = std::move(endpoints);
      break;
    }
    case ClusterConfig::Source::kDns:
      o["dns"] = c.dns.str();
      o["dns_refresh"] = format_duration(c.dns_refresh);
      break;
    case ClusterConfig::Source::kFile:
      o["file"] = c.file;
      break;
  }
  return o;
}

boost::json::object settings_json(const ClusterConfig& c) {
  const char* check = "none";
  switch (c.health.type) {
    case HealthCheck::Type::kNone:
      break;
    case HealthCheck::Type::kTcp:
      check = "tcp";
      break;
    case HealthCheck::Type::kHttp:
      check = "http";
      break;
    case HealthCheck::Type::kRedis:
      check = "redis";
      break;
  }
  boost::json::object health{{"type", check}};
  if (c.health.type != HealthCheck::Type::kNone) {
    health["interval"] = format_duration(c.health.interval);
    health["timeout"] = format_duration(c.health.timeout);
    health["unhealthy_threshold"] = c.health.unhealthy_threshold;
    health["healthy_threshold"] = c.health.healthy_threshold;
    if (c.health.type == HealthCheck::Type::kHttp) {
      health["path"] = c.health.path;
    }
  }
  boost::json::object o{{"policy", policy_name(c.policy)},
                        {"connect_timeout", format_duration(c.connect_timeout)},
                        {"health_check", std::move(health)},
                        {"outlier",
                         {{"consecutive_failures", c.outlier.consecutive_failures},
                          {"base_ejection", format_duration(c.outlier.base_ejection)},
                          {"max_ejection", format_duration(c.outlier.max_ejection)},
                          {"max_ejected_percent", c.outlier.max_ejected_percent}}},
                        {"limits",
                         {{"max_connections", c.limits.max_connections},
                          {"max_pending", c.limits.max_pending},
                          {"max_requests", c.limits.max_requests},
                          {"max_retries", c.limits.max_retries}}}};
  if (is_hash_policy(c.policy)) {
    o["hash"] = hash_function_name(c.hash);
    o["hash_on"] = c.hash_on.str();
    o["auto_eject"] = c.auto_eject;
  }
  return o;
}

}  // namespace tender::upstream
