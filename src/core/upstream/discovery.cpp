// Discovery and health-check loops of a cluster: the one Asio translation unit of core/upstream.
#include "core/upstream/discovery.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cctype>
#include <fstream>

#include "core/asio_util.hpp"
#include "core/file_watch.hpp"
#include "core/log.hpp"
#include "core/probe.hpp"

namespace tender::upstream {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
// How often a loop looks again at the cluster's config (a stop, a reload).
constexpr std::chrono::milliseconds kLookAgain{1'000};
// How often an endpoint file is stat()ed whatever inotify said (FileWatch's safety net).
constexpr std::chrono::milliseconds kFileRescan{1'000};

// `hp` resolved now (blocking) to its first address, under `name`: a static endpoint is one
// server.
Result<NamedEndpoints> resolve_blocking(const std::string& name, const HostPort& hp) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  if (ec) {
    return Error(ec, "cannot resolve " + hp.str() + ": " + ec.message());
  }
  for (const auto& r : results) {
    return NamedEndpoints{{name, HostPort{r.endpoint().address().to_string(), hp.port}}};
  }
  return Error(std::errc::address_not_available, "no address for " + hp.str());
}

// The dns cluster's name resolved to every address; the endpoints change when they differ.
asio::awaitable<void> refresh_dns(Cluster& cluster, const ClusterConfig& c) {
  auto resolved = co_await resolve_all(c.dns);
  if (!resolved) {
    log::warn(
        "dns lookup failed; keeping the endpoints",
        {{"cluster", cluster.name()}, {"name", c.dns.host}, {"error", resolved.error().message()}});
    co_return;
  }
  NamedEndpoints eps = std::move(*resolved);
  auto now = cluster.endpoints();
  bool same = now->size() == eps.size();
  for (std::size_t i = 0; same && i < eps.size(); ++i) {
    same = (*now)[i].name == eps[i].first;
  }
  if (!same) {
    log::info("dns endpoints changed",
              {{"cluster", cluster.name()}, {"endpoints", static_cast<std::int64_t>(eps.size())}});
    cluster.set_endpoints(eps);
  }
}

// What an endpoint file looked like when last read.
struct FileSeen {
  struct stat st {};
  bool first = true;
};

// Re-reads the file cluster's file when it changed since `seen`.
void reload_file(Cluster& cluster, const ClusterConfig& c, FileSeen& seen) {
  struct stat st {};
  bool exists = ::stat(c.file.c_str(), &st) == 0;
  const struct stat& last = seen.st;
  bool changed = seen.first || st.st_mtim.tv_sec != last.st_mtim.tv_sec ||
                 st.st_mtim.tv_nsec != last.st_mtim.tv_nsec || st.st_size != last.st_size ||
                 st.st_ino != last.st_ino;
  if (exists && changed) {
    if (auto eps = read_endpoint_file(c.file)) {
      cluster.set_endpoints(*eps);
      log::info("endpoint file loaded", {{"cluster", cluster.name()},
                                         {"file", c.file},
                                         {"endpoints", static_cast<std::int64_t>(eps->size())}});
    } else {
      log::warn("endpoint file not loaded; keeping the endpoints",
                {{"cluster", cluster.name()}, {"error", eps.error().message()}});
    }
    seen.st = st;
  } else if (!exists && seen.first) {
    log::warn("endpoint file missing", {{"cluster", cluster.name()}, {"file", c.file}});
  }
  seen.first = false;
}

}  // namespace

asio::awaitable<Result<NamedEndpoints>> resolve_all(const HostPort& name) {
  tcp::resolver resolver(co_await asio::this_coro::executor);
  auto [ec, results] =
      co_await resolver.async_resolve(name.host, std::to_string(name.port), kTuple);
  if (ec) {
    co_return Error(ec, "cannot resolve " + name.str() + ": " + ec.message());
  }
  NamedEndpoints eps;
  for (const auto& r : results) {
    HostPort hp{r.endpoint().address().to_string(), name.port};
    eps.emplace_back(hp.str(), hp);
  }
  std::sort(eps.begin(), eps.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  eps.erase(std::unique(eps.begin(), eps.end(),
                        [](const auto& a, const auto& b) { return a.first == b.first; }),
            eps.end());
  co_return eps;
}

std::function<asio::awaitable<Result<>>(const HealthCheck&, const Endpoint&)> probe_checker(
    asio::io_context& ioc, std::function<RedisAuth()> redis_auth) {
  auto client = std::make_shared<HttpClient>(ioc.get_executor());
  return [client, redis_auth = std::move(redis_auth)](
             const HealthCheck& hc, const Endpoint& e) -> asio::awaitable<Result<>> {
    ProbeAction action;
    switch (hc.type) {
      case HealthCheck::Type::kHttp: {
        HttpProbe http;
        http.host = e.address.host;
        http.port = e.address.port;
        http.path = hc.path;
        action = std::move(http);
        break;
      }
      case HealthCheck::Type::kRedis: {
        RedisProbe redis;
        redis.host = e.address.host;
        redis.port = e.address.port;
        if (redis_auth) {
          RedisAuth auth = redis_auth();
          redis.password = std::move(auth.password);
          redis.user = std::move(auth.user);
        }
        action = std::move(redis);
        break;
      }
      case HealthCheck::Type::kTcp:
      case HealthCheck::Type::kNone:
        action = TcpProbe{e.address.host, e.address.port};
        break;
    }
    ProbeVerdict v = co_await check(action, hc.timeout, *client);
    if (!v.passed) {
      co_return Error(std::move(v.message));
    }
    co_return Result<>();
  };
}

struct Upkeep::State {
  std::shared_ptr<Cluster> cluster;
  Checker checker;  // after cluster: it may refer to it
  std::atomic<bool> stopped{false};
};

asio::awaitable<void> Upkeep::discovery_loop(std::shared_ptr<State> s) {
  while (!s->stopped.load()) {
    ClusterConfig c = s->cluster->config();
    if (c.source == ClusterConfig::Source::kDns) {
      co_await refresh_dns(*s->cluster, c);
      co_await sleep_for(c.dns_refresh);
    } else if (c.source == ClusterConfig::Source::kFile) {
      co_await follow_file(s, c.file);  // until stopped, or a reload changes the source
    } else {
      co_await sleep_for(kLookAgain);  // static: reload re-resolves
    }
  }
}

asio::awaitable<void> Upkeep::follow_file(std::shared_ptr<State> s, std::string path) {
  using asio::experimental::awaitable_operators::operator||;
  Cluster& cluster = *s->cluster;
  auto following = [&](ClusterConfig& c) {
    c = cluster.config();
    return !s->stopped.load() && c.source == ClusterConfig::Source::kFile && c.file == path;
  };
  ClusterConfig c;
  FileSeen seen;
  auto watch = FileWatch::create({.rescan_interval = kFileRescan});
  Result<> added = watch ? watch->add_file(path) : Result<>(watch.error());
  if (!added) {
    // No inotify (out of instances, or the directory cannot be watched): the file is looked
    // at every rescan interval instead.
    log::warn("endpoint file not watched; looking at it every second",
              {{"cluster", cluster.name()}, {"file", path}, {"error", added.error().message()}});
    while (following(c)) {
      reload_file(cluster, c, seen);
      co_await sleep_for(kFileRescan);
    }
    co_return;
  }
  auto executor = co_await asio::this_coro::executor;
  asio::posix::stream_descriptor inotify(executor, watch->fd());
  struct Release {  // the descriptor is the FileWatch's to close
    asio::posix::stream_descriptor& sd;
    explicit Release(asio::posix::stream_descriptor& d) : sd(d) {}
    Release(const Release&) = delete;
    Release& operator=(const Release&) = delete;
    ~Release() { (void)sd.release(); }
  } release(inotify);
  asio::steady_timer timer(executor);
  bool look = true;  // the file as it is now, first
  while (following(c)) {
    if (look) {
      reload_file(cluster, c, seen);  // reads it only if it changed since last read
    }
    // Woken by inotify, or at the next rescan, and at least every kLookAgain to notice a stop
    // or a reload.
    timer.expires_after(std::min<std::chrono::milliseconds>(watch->until_rescan(), kLookAgain));
    co_await (inotify.async_wait(asio::posix::stream_descriptor::wait_read, kTuple) ||
              timer.async_wait(kTuple));
    auto events = watch->read_events();
    look = events && !events->empty();
    if (watch->until_rescan().count() == 0) {
      look = !watch->rescan().empty() || look;
    }
  }
}

asio::awaitable<void> Upkeep::health_loop(std::shared_ptr<State> s) {
  Cluster& cluster = *s->cluster;
  while (!s->stopped.load()) {
    HealthCheck hc = cluster.config().health;
    if (hc.type == HealthCheck::Type::kNone) {
      cluster.clear_checks();  // no checks, or no longer after a reload
      co_await sleep_for(std::chrono::milliseconds(1'000));
      continue;
    }
    auto eps = cluster.endpoints();
    // Endpoints are checked one after another; each check is bounded by the timeout.
    for (const auto& e : *eps) {
      Result<> r = co_await s->checker(hc, e);
      cluster.record_check(e, r.has_value(), r ? std::string("ok") : r.error().message());
    }
    co_await sleep_for(hc.interval);
  }
}

Result<NamedEndpoints> read_endpoint_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Error(std::errc::no_such_file_or_directory, "cannot read " + path);
  }
  NamedEndpoints out;
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
    std::string at = path + ":" + std::to_string(n);
    auto hp = parse_host_port(line);
    if (!hp || hp->host.empty()) {
      return Error(std::errc::invalid_argument, at + ": expected HOST:PORT, not \"" + line + "\"");
    }
    auto r = resolve_blocking(line, *hp);
    if (!r) {
      return r.error().with_context(at);
    }
    out.insert(out.end(), r->begin(), r->end());
  }
  return out;
}

Result<std::optional<NamedEndpoints>> initial_endpoints(const ClusterConfig& c) {
  if (c.source == ClusterConfig::Source::kFile) {
    auto eps = read_endpoint_file(c.file);
    return eps ? std::optional<NamedEndpoints>(std::move(*eps)) : std::nullopt;
  }
  if (c.source != ClusterConfig::Source::kStatic) {
    return std::optional<NamedEndpoints>();
  }
  NamedEndpoints out;
  for (const auto& hp : c.endpoints) {
    auto r = resolve_blocking(hp.str(), hp);
    if (!r) {
      return r.error();
    }
    out.insert(out.end(), r->begin(), r->end());
  }
  return std::optional<NamedEndpoints>(std::move(out));
}

Upkeep::Upkeep(asio::io_context& ioc, std::shared_ptr<Cluster> cluster, Checker checker)
    : ioc_(ioc), state_(std::make_shared<State>()) {
  state_->cluster = std::move(cluster);
  state_->checker = std::move(checker);
}

Upkeep::~Upkeep() { stop(); }

void Upkeep::start() {
  if (started_) {
    return;
  }
  started_ = true;
  asio::co_spawn(ioc_, discovery_loop(state_), asio::detached);
  asio::co_spawn(ioc_, health_loop(state_), asio::detached);
}

void Upkeep::stop() { state_->stopped.store(true); }

}  // namespace tender::upstream
