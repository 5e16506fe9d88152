#include "adapter/health_check.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

#include "core/http.hpp"
#include "core/units.hpp"

namespace tender::adapter {
namespace {

namespace json = boost::json;

bool valid_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// HOST:PORT whose host is an address literal (probes do not look names up); "localhost" is
// 127.0.0.1.
HostPort address(const ConfigNode& check, std::string_view key) {
  std::string s = *check.string(key);
  auto hp = parse_host_port(s);
  if (!hp || hp->port == 0) {
    check.fail(key, "not HOST:PORT: \"" + s + "\"");
  }
  if (hp->host == "localhost") {
    hp->host = "127.0.0.1";
  }
  std::array<unsigned char, 16> buf{};
  if (inet_pton(AF_INET, hp->host.c_str(), buf.data()) != 1 &&
      inet_pton(AF_INET6, hp->host.c_str(), buf.data()) != 1) {
    check.fail(key, "the host is an IP address (no name lookup): \"" + s + "\"");
  }
  return *hp;
}

// `status`: 200, [200, 204], "2xx" or ["2xx", 404].
std::vector<std::pair<int, int>> statuses(const ConfigNode& http) {
  ConfigNode st = http.child("status");
  if (!st.defined()) {
    return {};
  }
  std::vector<ConfigNode> items = st.is_sequence() ? st.items() : std::vector<ConfigNode>{st};
  if (items.empty()) {
    http.fail("status", "an empty list of statuses");
  }
  std::vector<std::pair<int, int>> out;
  for (const auto& item : items) {
    if (!item.is_scalar()) {
      http.fail("status", "a status is 200, \"2xx\", or a list of them");
    }
    std::string s = item.as_string();
    if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && s.substr(1) == "xx") {
      int base = (s[0] - '0') * 100;
      out.emplace_back(base, base + 99);
      continue;
    }
    int n = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size() || n < 100 || n > 599) {
      item.fail("", "not an HTTP status (100-599) or class (\"2xx\"): \"" + s + "\"");
    }
    out.emplace_back(n, n);
  }
  return out;
}

HttpProbe http_probe(const ConfigNode& check, json::object& cfg) {
  ConfigNode http = check.child("http");
  std::string url;
  if (http.is_scalar()) {
    url = http.as_string();
  } else if (http.is_map()) {
    http.warn_unknown({"url", "status", "body", "headers"});
    auto u = http.string("url");
    if (!u) {
      http.fail("url", "an http check needs a url");
    }
    url = *u;
  } else {
    check.fail("http", "an http check is a URL or {url, status, body, headers}");
  }
  auto parsed = parse_http_url(url);
  if (!parsed) {
    (http.is_map() ? http : check).fail(http.is_map() ? "url" : "http", parsed.error().message());
  }
  HttpProbe p{parsed->host, parsed->port, parsed->target, {}};
  cfg["url"] = url;
  if (http.is_map()) {
    p.statuses = statuses(http);
    json::array st;
    for (const auto& [lo, hi] : p.statuses) {
      st.push_back(json::array{lo, hi});
    }
    cfg["status"] = std::move(st);
    if (auto body = http.string("body")) {
      auto re = compile_regex("not a regular expression", *body, /*need_groups=*/false);
      if (!re) {
        http.fail("body", re.error().message());
      }
      p.body = *re;
      p.body_pattern = *body;
      cfg["body"] = *body;
    }
    ConfigNode headers = http.child("headers");
    if (headers.defined() && !headers.is_map()) {
      http.fail("headers", "headers are a map of names to values");
    }
    json::object h;
    for (const auto& k : headers.keys()) {
      std::string v = headers.string(k).value_or("");
      p.headers.emplace_back(k, v);
      h[k] = v;
    }
    cfg["headers"] = std::move(h);
  }
  return p;
}

CheckSpec parse_check(const ConfigNode& check, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds cache) {
  if (!check.is_map()) {
    check.fail("", "a check is a map: {name, tcp | exec | redis | http, ...}");
  }
  check.warn_unknown(
      {"name", "tcp", "exec", "redis", "http", "password", "user", "timeout", "cache"});
  CheckSpec spec;
  auto name = check.string("name");
  if (!name) {
    check.fail("name", "every check needs a name");
  }
  if (!valid_name(*name) || *name == "all") {
    check.fail("name", "a check's name is [A-Za-z0-9_.-]+ and not \"all\": \"" + *name + "\"");
  }
  spec.name = *name;
  std::vector<std::string> kinds;
  for (std::string_view k : {"tcp", "exec", "redis", "http"}) {
    if (check.has(k)) {
      kinds.emplace_back(k);
    }
  }
  if (kinds.size() != 1) {
    check.fail(kinds.empty() ? "" : kinds[1], "a check has exactly one of tcp, exec, redis, http");
  }
  const std::string& kind = kinds[0];
  if (kind != "redis" && (check.has("password") || check.has("user"))) {
    check.fail(check.has("password") ? "password" : "user", "only a redis check has one");
  }
  json::object cfg;
  cfg["name"] = spec.name;
  cfg["kind"] = kind;
  if (kind == "tcp") {
    HostPort a = address(check, "tcp");
    spec.action = TcpProbe{a.host, a.port};
    cfg["tcp"] = a.str();
  } else if (kind == "redis") {
    HostPort a = address(check, "redis");
    RedisProbe r{a.host, a.port, check.string("password").value_or(""),
                 check.string("user").value_or("")};
    if (!r.user.empty() && r.password.empty()) {
      check.fail("user", "an ACL user needs a password");
    }
    cfg["redis"] = a.str();
    cfg["password"] = r.password;
    cfg["user"] = r.user;
    spec.action = std::move(r);
  } else if (kind == "exec") {
    auto argv = check.strings("exec");
    if (!argv || argv->empty() || (*argv)[0].empty()) {
      check.fail("exec", "an exec check is a non-empty list: [program, args...]");
    }
    ExecProbe e;
    e.spawn.argv = *argv;
    json::array a;
    for (const auto& s : *argv) {
      a.emplace_back(s);
    }
    cfg["exec"] = std::move(a);
    spec.action = std::move(e);
  } else {
    json::object h;
    spec.action = http_probe(check, h);
    cfg["http"] = std::move(h);
  }
  spec.timeout = check.duration("timeout").value_or(timeout);
  if (spec.timeout <= std::chrono::milliseconds::zero()) {
    check.fail("timeout", "must be more than 0");
  }
  spec.cache = check.duration("cache").value_or(cache);
  cfg["timeout"] = format_duration(spec.timeout);
  cfg["cache"] = format_duration(spec.cache);
  spec.config = std::move(cfg);
  return spec;
}

}  // namespace

std::vector<CheckSpec> parse_checks(const ConfigNode& health) {
  if (!health.defined()) {
    return {};
  }
  if (!health.is_map()) {
    health.fail("", "health is a map: {timeout, cache, checks: [...]}");
  }
  health.warn_unknown({"timeout", "cache", "checks"});
  auto timeout = health.duration("timeout").value_or(std::chrono::seconds(1));
  if (timeout <= std::chrono::milliseconds::zero()) {
    health.fail("timeout", "must be more than 0");
  }
  auto cache = health.duration("cache").value_or(std::chrono::seconds(1));
  ConfigNode checks = health.child("checks");
  if (checks.defined() && !checks.is_sequence()) {
    health.fail("checks", "checks is a list");
  }
  std::vector<CheckSpec> out;
  std::set<std::string, std::less<>> names;
  for (const auto& c : checks.items()) {
    CheckSpec spec = parse_check(c, timeout, cache);
    if (!names.insert(spec.name).second) {
      c.fail("name", "two checks are named " + spec.name);
    }
    out.push_back(std::move(spec));
  }
  return out;
}

bool VerdictCache::request(Waiter w) {
  if (!running_ && last_ && clock_.now() - last_at_ < ttl_) {
    w(*last_);
    return false;
  }
  waiting_.push_back(std::move(w));
  if (running_) {
    return false;
  }
  running_ = true;
  return true;
}

void VerdictCache::finish(Verdict v) {
  running_ = false;
  last_ = std::move(v);
  last_at_ = clock_.now();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) {
    w(*last_);
  }
}

void VerdictCache::abandon(const Verdict& v) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) {
    w(v);
  }
}

}  // namespace tender::adapter
