// Endpoint discovery (static names, DNS, a watched file) and active health checks, on the
// proxy's control thread.
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fstream>

#include "ambassador/resp.hpp"
#include "ambassador/worker.hpp"
#include "core/asio_util.hpp"
#include "core/http_client.hpp"
#include "core/log.hpp"

namespace tender::ambassador {
namespace {

using asio::experimental::awaitable_operators::operator||;

std::vector<std::pair<std::string, HostPort>> resolve_blocking(const std::string& name,
                                                               const HostPort& hp) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  if (ec) {
    throw std::runtime_error("cannot resolve " + hp.str() + ": " + ec.message());
  }
  // The first address: a static endpoint is one server.
  for (const auto& r : results) {
    return {{name, HostPort{r.endpoint().address().to_string(), hp.port}}};
  }
  throw std::runtime_error("no address for " + hp.str());
}

// A file of endpoints: one HOST:PORT per line; blank lines and '#' comments skipped.
std::optional<std::vector<std::pair<std::string, HostPort>>> read_endpoint_file(
    const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::vector<std::pair<std::string, HostPort>> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto hash = line.find('#');
    if (hash != std::string::npos) {
      line.erase(hash);
    }
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
      line.pop_back();
    }
    std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos) {
      continue;
    }
    line.erase(0, start);
    auto hp = parse_host_port(line);
    if (!hp || hp->host.empty()) {
      error = path + ":" + std::to_string(n) + ": expected HOST:PORT, not \"" + line + "\"";
      return std::nullopt;
    }
    try {
      auto r = resolve_blocking(line, *hp);
      out.insert(out.end(), r.begin(), r.end());
    } catch (const std::exception& e) {
      error = path + ":" + std::to_string(n) + ": " + e.what();
      return std::nullopt;
    }
  }
  return out;
}

// Sends PING (after `auth`, an AUTH command, unless empty) and reads the replies' first lines;
// empty on error.
asio::awaitable<std::string> ping(tcp::socket& s, const std::string& auth) {
  std::string out = auth;
  out += "*1\r\n$4\r\nPING\r\n";
  auto [wec, w] = co_await asio::async_write(s, asio::buffer(out), kTuple);
  if (wec) {
    co_return "";
  }
  std::size_t lines = auth.empty() ? 1 : 2;
  std::string got;
  std::array<char, 256> buf{};
  while (std::count(got.begin(), got.end(), '\n') < static_cast<std::ptrdiff_t>(lines) &&
         got.size() < 1024) {
    auto [rec, n] = co_await s.async_read_some(asio::buffer(buf), kTuple);
    if (rec) {
      break;
    }
    got.append(buf.data(), n);
  }
  co_return got;
}

// One check of one endpoint: "" when it passed, else why not. `auth`: the AUTH command a redis
// check sends first, if any.
asio::awaitable<std::string> check(const HealthCheck& hc, const std::string& auth,
                                   const Endpoint& e, HttpClient& http) {
  auto ex = co_await asio::this_coro::executor;
  if (hc.type == HealthCheck::Type::kHttp) {
    ClientRequest req;
    req.host = e.address.host;
    req.port = e.address.port;
    req.target = hc.path;
    req.timeout = hc.timeout;
    auto r = co_await http.request(req);
    if (!r) {
      co_return r.error().message();
    }
    co_return r->status >= 200 && r->status < 400 ? "" : "HTTP " + std::to_string(r->status);
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(e.address.host, ec);
  if (ec) {
    co_return "bad address " + e.address.host;
  }
  tcp::socket s(ex);
  asio::steady_timer timer(ex, hc.timeout);
  auto c = co_await (s.async_connect({addr, e.address.port}, kTuple) || timer.async_wait(kTuple));
  if (c.index() == 1) {
    co_return "connect timed out";
  }
  if (auto [cec] = std::get<0>(c); cec) {
    co_return cec.message();
  }
  if (hc.type != HealthCheck::Type::kRedis) {
    co_return "";
  }
  auto r = co_await (ping(s, auth) || timer.async_wait(kTuple));
  if (r.index() == 1) {
    co_return "PING timed out";
  }
  std::string_view got = std::get<0>(r);
  if (got.empty()) {
    co_return "PING: no answer";
  }
  if (!auth.empty()) {
    if (got.rfind("+OK\r\n", 0) != 0) {
      co_return "AUTH answered " + std::string(got.substr(0, got.find('\r')));
    }
    got.remove_prefix(5);
  }
  if (got.rfind("+PONG", 0) == 0) {
    co_return "";
  }
  co_return "PING answered " + std::string(got.substr(0, got.find('\r')));
}

}  // namespace

std::optional<std::vector<std::pair<std::string, HostPort>>> initial_endpoints(
    const ClusterConfig& c) {
  if (c.source == ClusterConfig::Source::kFile) {
    std::string error;
    return read_endpoint_file(c.file, error);
  }
  if (c.source != ClusterConfig::Source::kStatic) {
    return std::nullopt;
  }
  std::vector<std::pair<std::string, HostPort>> out;
  for (const auto& hp : c.endpoints) {
    auto r = resolve_blocking(hp.str(), hp);
    out.insert(out.end(), r.begin(), r.end());
  }
  return out;
}

asio::awaitable<void> discovery_loop(std::shared_ptr<Cluster> cluster,
                                     std::function<bool()> alive) {
  auto ex = co_await asio::this_coro::executor;
  struct stat last {};
  bool first = true;
  while (alive()) {
    upstream::ClusterConfig c = cluster->config();
    if (c.source == ClusterConfig::Source::kDns) {
      tcp::resolver resolver(ex);
      auto [ec, results] =
          co_await resolver.async_resolve(c.dns.host, std::to_string(c.dns.port), kTuple);
      if (ec) {
        log::warn("dns lookup failed; keeping the endpoints",
                  {{"cluster", cluster->name()}, {"name", c.dns.host}, {"error", ec.message()}});
      } else {
        std::vector<std::pair<std::string, HostPort>> eps;
        for (const auto& r : results) {
          HostPort hp{r.endpoint().address().to_string(), c.dns.port};
          eps.emplace_back(hp.str(), hp);
        }
        std::sort(eps.begin(), eps.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        eps.erase(std::unique(eps.begin(), eps.end(),
                              [](const auto& a, const auto& b) { return a.first == b.first; }),
                  eps.end());
        auto now = cluster->endpoints();
        bool same = now->size() == eps.size();
        for (std::size_t i = 0; same && i < eps.size(); ++i) {
          same = (*now)[i].name == eps[i].first;
        }
        if (!same) {
          log::info(
              "dns endpoints changed",
              {{"cluster", cluster->name()}, {"endpoints", static_cast<std::int64_t>(eps.size())}});
          cluster->set_endpoints(eps);
        }
      }
      co_await sleep_for(c.dns_refresh);
    } else if (c.source == ClusterConfig::Source::kFile) {
      struct stat st {};
      bool exists = ::stat(c.file.c_str(), &st) == 0;
      bool changed = first || !exists || st.st_mtim.tv_sec != last.st_mtim.tv_sec ||
                     st.st_mtim.tv_nsec != last.st_mtim.tv_nsec || st.st_size != last.st_size ||
                     st.st_ino != last.st_ino;
      if (exists && changed) {
        std::string error;
        if (auto eps = read_endpoint_file(c.file, error)) {
          cluster->set_endpoints(*eps);
          log::info("endpoint file loaded",
                    {{"cluster", cluster->name()},
                     {"file", c.file},
                     {"endpoints", static_cast<std::int64_t>(eps->size())}});
        } else {
          log::warn("endpoint file not loaded; keeping the endpoints",
                    {{"cluster", cluster->name()}, {"error", error}});
        }
        last = st;
      } else if (!exists && first) {
        log::warn("endpoint file missing", {{"cluster", cluster->name()}, {"file", c.file}});
      }
      first = false;
      co_await sleep_for(std::chrono::milliseconds(500));
    } else {
      co_await sleep_for(std::chrono::milliseconds(1'000));  // static: reload re-resolves
    }
  }
}

asio::awaitable<void> health_loop(std::shared_ptr<Cluster> cluster, std::function<bool()> alive) {
  auto ex = co_await asio::this_coro::executor;
  HttpClient http(ex);
  while (alive()) {
    auto config = cluster->config();
    const HealthCheck& hc = config.health;
    if (hc.type == HealthCheck::Type::kNone) {
      // No checks (or no longer, after a reload): nothing may stay marked unhealthy.
      for (const auto& e : *cluster->endpoints()) {
        if (!e.stats->healthy.exchange(true)) {
          cluster->bump();
        }
      }
      co_await sleep_for(std::chrono::milliseconds(1'000));
      continue;
    }
    auto eps = cluster->endpoints();
    std::string auth;
    auto a = cluster->auth();
    resp::append_auth(auth, a.user, a.password);
    // Endpoints are checked one after another; each check is bounded by the timeout.
    for (const auto& e : *eps) {
      std::string why = co_await check(hc, auth, e, http);
      cluster->record_check(e, why.empty(), why.empty() ? "ok" : why);
    }
    co_await sleep_for(hc.interval);
  }
}

}  // namespace tender::ambassador
