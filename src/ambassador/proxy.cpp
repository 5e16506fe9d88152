#include "ambassador/proxy.hpp"

#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "ambassador/worker.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/process.hpp"

namespace tender::ambassador {

namespace json = boost::json;

struct Proxy::Impl {
  explicit Impl(ProxyOptions o) : opts(std::move(o)) {}

  ProxyOptions opts;  // the config in force; guarded by mu after start
  Runtime* rt = nullptr;
  mutable std::mutex mu;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<bool> io_uring{false};  // the workers' http and redis sockets go through io_uring
  std::map<std::string, std::shared_ptr<Cluster>> clusters;  // guarded by mu
  struct RunningListener {
    ListenerConfig config;
    HostPort bound;
    std::vector<std::shared_ptr<WorkerListener>> per_worker;  // touched on their worker only
  };
  std::map<std::string, RunningListener> listeners;  // guarded by mu
  // Connection counts of listeners retired by reloads, whose connections may still be open
  // (a drain waits for them too); guarded by mu.
  std::vector<std::shared_ptr<const std::atomic<std::size_t>>> retired;
  asio::io_context control{1};  // discovery and health checks
  // Each cluster's discovery and health checks, on `control`; guarded by mu. After `control`:
  // stopped before it goes (the loops and their checkers go with it).
  std::map<std::string, std::unique_ptr<upstream::Upkeep>> upkeep;
  // Never run: listening sockets are opened and bound on it, off the workers' reactors, and
  // handed to a worker only once every one of a reload's sockets is bound (a worker's reactor
  // is touched by its own thread alone).
  asio::io_context binding{1};
  std::thread control_thread;
  std::atomic<bool> draining{false};

  // Listener metrics.
  CounterFamily* l_requests = nullptr;
  CounterFamily* l_errors = nullptr;
  GaugeFamily* l_connections = nullptr;
  HistogramFamily* l_latency = nullptr;
  GaugeFamily* l_buffered = nullptr;

  int worker_count() const {
    int n = opts.config.workers > 0 ? opts.config.workers
                                    : static_cast<int>(std::thread::hardware_concurrency());
    return std::max(1, n);
  }
  using Named = upstream::NamedEndpoints;
  // A listener's sockets, bound and listening, one per worker, not yet accepting (on `binding`).
  struct Bound {
    std::vector<tcp::acceptor> acceptors;
    std::uint16_t port = 0;
  };
  // `resolved`: the endpoints to start with (initial_endpoints), or null.
  std::shared_ptr<Cluster> make_cluster(const ClusterConfig& c, const Named* resolved);
  // Starts a new cluster's discovery and health checks (mu held).
  void spawn_loops(const std::shared_ptr<Cluster>& c);
  std::shared_ptr<const ListenerState> listener_state(const ListenerConfig& l);
  Bound bind_listener(const ListenerConfig& l);  // throws; nothing stays open then
  RunningListener start_listener(const ListenerConfig& l, Bound b);
  // Stops a listener on every worker; its open connections carry on unless close_all.
  void close_listener(RunningListener& r, bool close_all);
  // The same for a listener that goes away: the workers hold its last references, so it is
  // destroyed on its own worker's thread once its connections are done.
  void retire_listener(RunningListener r);
  std::size_t connections() const;
  // A reload's steps (mu held), once what could fail is done: the clusters (existing ones keep
  // their endpoints' state), then the listeners (one on the same socket keeps it).
  [[nodiscard]] bool same_socket(const ListenerConfig& l) const;
  void reload_clusters(const std::vector<ClusterConfig>& next,
                       const std::map<std::string, Named>& resolved);
  void reload_listeners(const std::vector<ListenerConfig>& next,
                        std::map<std::string, Bound>& bound);
};

std::shared_ptr<Cluster> Proxy::Impl::make_cluster(const ClusterConfig& c, const Named* resolved) {
  auto cluster = std::make_shared<Cluster>(c, rt->metrics());
  if (resolved != nullptr) {
    cluster->set_endpoints(*resolved);
  }
  return cluster;
}

void Proxy::Impl::spawn_loops(const std::shared_ptr<Cluster>& c) {
  // Health checks are core's probes; a redis check logs in as the proxy does.
  auto checker = upstream::probe_checker(control, [cluster = std::weak_ptr<const Cluster>(c)] {
    upstream::RedisAuth auth;
    if (auto live = cluster.lock()) {
      Cluster::Auth a = live->auth();
      auth.user = std::move(a.user);
      auth.password = std::move(a.password);
    }
    return auth;
  });
  auto u = std::make_unique<upstream::Upkeep>(control, c, std::move(checker));
  u->start();
  upkeep[c->name()] = std::move(u);  // one of that name before (removed by a reload) stops
}

namespace {

// A cluster's endpoints to start with into `out`, and a pointer to them (null: none yet). A
// static cluster's names that do not resolve throw: the start or reload fails.
upstream::NamedEndpoints* initial(const ClusterConfig& c,
                                  std::optional<upstream::NamedEndpoints>& out) {
  auto r = upstream::initial_endpoints(c);
  if (!r) {
    throw std::runtime_error(r.error().message());
  }
  out = std::move(*r);
  return out ? &*out : nullptr;
}

// A listener as in force, for /configz: what its protocol uses, defaults filled in.
json::object listener_json(const ListenerConfig& l) {
  json::object j{{"name", l.name},
                 {"listen", l.listen.str()},
                 {"protocol", protocol_name(l.protocol)},
                 {"idle_timeout", format_duration(l.effective_idle_timeout())}};
  if (!l.cluster.empty()) {
    j["cluster"] = l.cluster;
  }
  switch (l.protocol) {
    case Protocol::kTcp:
      break;
    case Protocol::kHttp: {
      json::array routes;
      for (const auto& r : l.routes) {
        json::object route{{"prefix", r.prefix}, {"cluster", r.cluster}};
        if (!r.host.empty()) {
          route["host"] = r.host;
        }
        routes.push_back(std::move(route));
      }
      j["routes"] = std::move(routes);
      j["timeout"] = format_duration(l.timeout);
      j["per_try_timeout"] =
          l.per_try_timeout.count() > 0 ? format_duration(l.per_try_timeout) : std::string("none");
      j["retries"] = l.retries;
      j["retry_budget_percent"] = l.retry_budget_percent;
      j["min_retry_concurrency"] = l.min_retry_concurrency;
      j["max_request_bytes"] = format_bytes(l.max_request_bytes);
      break;
    }
    case Protocol::kRedis:
      j["timeout"] = format_duration(l.timeout);
      j["max_bulk_bytes"] = format_bytes(l.max_bulk_bytes);
      j["max_input_bytes"] = format_bytes(l.max_input_bytes);
      if (!l.auth.empty()) {
        j["auth"] = l.auth;  // redacted by /configz
      }
      break;
  }
  return j;
}

}  // namespace

std::shared_ptr<const ListenerState> Proxy::Impl::listener_state(const ListenerConfig& l) {
  auto s = std::make_shared<ListenerState>();
  s->config = l;
  if (l.protocol == Protocol::kHttp) {
    for (const auto& r : l.routes) {
      s->clusters.push_back(clusters.at(r.cluster));
    }
  } else {
    s->clusters.push_back(clusters.at(l.cluster));
  }
  s->requests = &l_requests->with({l.name});
  s->errors = l_errors;
  s->connections = &l_connections->with({l.name});
  s->latency = &l_latency->with({l.name});
  s->buffered = &l_buffered->with({l.name});
  return s;
}

// One SO_REUSEPORT acceptor per worker on the same address (the first decides a port 0).
Proxy::Impl::Bound Proxy::Impl::bind_listener(const ListenerConfig& l) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(l.listen.host, ec);
  if (ec) {
    throw ConfigError(opts.config_file, l.line, "listen", "not an IP address: " + l.listen.host);
  }
  Bound b;
  b.port = l.listen.port;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    tcp::acceptor a(binding);
    tcp::endpoint at(addr, b.port);
    a.open(at.protocol(), ec);
    if (!ec) {
      a.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
      int one = 1;
      if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        ec = boost::system::error_code(errno, boost::system::system_category());
      }
    }
    if (!ec) {
      a.bind(at, ec);
    }
    if (!ec) {
      a.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      throw std::system_error(ec, "listener " + l.name + " on " + l.listen.str());
    }
    b.port = a.local_endpoint().port();
    b.acceptors.push_back(std::move(a));
  }
  return b;
}

Proxy::Impl::RunningListener Proxy::Impl::start_listener(const ListenerConfig& l, Bound b) {
  RunningListener r;
  r.config = l;
  auto state = listener_state(l);
  auto make = l.protocol == Protocol::kRedis  ? make_redis_listener
              : l.protocol == Protocol::kHttp ? make_http_listener
                                              : make_tcp_listener;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    auto protocol = b.acceptors[i].local_endpoint().protocol();
    tcp::acceptor mine(workers[i]->ioc(), protocol, b.acceptors[i].release());
    r.per_worker.push_back(make(*workers[i], std::move(mine), state));
  }
  r.bound = HostPort{l.listen.host, b.port};
  return r;
}

void Proxy::Impl::close_listener(RunningListener& r, bool close_all) {
  for (std::size_t i = 0; i < r.per_worker.size(); ++i) {
    asio::post(workers[i]->ioc(), [l = r.per_worker[i], close_all] { l->stop(close_all); });
  }
}

void Proxy::Impl::retire_listener(RunningListener r) {
  for (std::size_t i = 0; i < r.per_worker.size(); ++i) {
    retired.push_back(r.per_worker[i]->connection_count());
    asio::post(workers[i]->ioc(), [l = std::move(r.per_worker[i])] { l->stop(false); });
  }
}

std::size_t Proxy::Impl::connections() const {
  std::size_t n = 0;
  std::lock_guard lock(mu);
  for (const auto& [name, r] : listeners) {
    for (const auto& l : r.per_worker) {
      n += l->connections();
    }
  }
  for (const auto& count : retired) {
    n += count->load();
  }
  return n;
}

Proxy::Proxy(ProxyOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Proxy::~Proxy() { stop(); }

void Proxy::start(Runtime& rt) {
  Impl& s = *impl_;
  s.rt = &rt;
  Registry& m = rt.metrics();
  s.l_requests = &m.counter_family("tender_proxy_downstream_requests_total",
                                   "Requests taken by a listener (redis commands, http requests, "
                                   "tcp connections).",
                                   {"listener"});
  s.l_errors = &m.counter_family(
      "tender_proxy_downstream_errors_total",
      "Requests a listener could not serve, by kind (protocol, unsupported, no_endpoint, "
      "upstream_connect, overflow, timeout, input_limit, shard_down).",
      {"listener", "kind"});
  s.l_connections = &m.gauge_family("tender_proxy_downstream_connections",
                                    "Open client connections, by listener.", {"listener"});
  s.l_latency = &m.histogram_family("tender_proxy_downstream_request_duration_seconds",
                                    "Time from a request's arrival to its answer, by listener.",
                                    {"listener"});
  s.l_buffered = &m.gauge_family(
      "tender_proxy_downstream_buffered_bytes",
      "Bytes of commands that came in part, held for clients of a redis listener.", {"listener"});
  auto& wakeups = m.counter_family(
      "tender_proxy_worker_wakeups_total",
      "Times a worker that ran out of work found more, by how: poll (while looking, within "
      "busy_poll) or sleep (woken from a sleep).",
      {"worker", "by"});
  for (int i = 0; i < s.worker_count(); ++i) {
    auto w = std::to_string(i);
    PollCounters counters{&wakeups.with({w, "poll"}), &wakeups.with({w, "sleep"})};
    s.workers.push_back(
        std::make_unique<Worker>(i, s.opts.config.io_uring, s.opts.config.busy_poll, counters));
  }
  // io_uring on every worker or on none, so that /statusz can say which.
  std::string refused;
  for (const auto& w : s.workers) {
    if (!w->ring_refused().empty()) {
      refused = w->ring_refused();
      break;
    }
  }
  if (!refused.empty()) {
    for (auto& w : s.workers) {
      w->drop_ring(refused);
    }
    if (refused.rfind("turned off", 0) == 0) {
      log::info("io_uring not used: sockets go through epoll", {{"reason", refused}});
    } else {
      log::warn("io_uring not used: sockets go through epoll", {{"reason", refused}});
    }
  }
  s.io_uring = refused.empty();
  std::lock_guard lock(s.mu);
  for (const auto& c : s.opts.config.clusters) {
    std::optional<upstream::NamedEndpoints> named;
    s.clusters[c.name] = s.make_cluster(c, initial(c, named));
  }
  for (const auto& l : s.opts.config.listeners) {
    auto r = s.start_listener(l, s.bind_listener(l));
    rt.announce(l.name, r.bound);
    s.listeners[l.name] = std::move(r);
  }
  for (const auto& [name, c] : s.clusters) {
    s.spawn_loops(c);
  }
  for (auto& w : s.workers) {
    w->run();
  }
  s.control_thread = std::thread([&s] {
    name_this_thread("proxy-control");
    auto guard = asio::make_work_guard(s.control);
    s.control.run();
  });
  log::info("proxy started", {{"workers", static_cast<std::int64_t>(s.workers.size())},
                              {"listeners", static_cast<std::int64_t>(s.listeners.size())},
                              {"clusters", static_cast<std::int64_t>(s.clusters.size())}});
}

void Proxy::drain() {
  Impl& s = *impl_;
  s.draining = true;
  std::lock_guard lock(s.mu);
  for (auto& [name, r] : s.listeners) {
    s.close_listener(r, false);
  }
}

bool Proxy::drained() const { return impl_->draining && impl_->connections() == 0; }

void Proxy::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    for (auto& [name, r] : s.listeners) {
      s.close_listener(r, true);
    }
  }
  s.control.stop();
  if (s.control_thread.joinable()) {
    s.control_thread.join();
  }
  for (auto& w : s.workers) {
    w->join();
  }
  std::lock_guard lock(s.mu);
  for (auto& [name, c] : s.clusters) {
    c->close_slots();  // connections closed while the workers go must not post to them
  }
  s.listeners.clear();
  s.workers.clear();
}

Health Proxy::ready() const {
  std::lock_guard lock(impl_->mu);
  for (const auto& [name, c] : impl_->clusters) {
    bool any = false;
    for (const auto& e : *c->endpoints()) {
      any = any || c->serving(e);
    }
    if (!any) {
      return Health::failing("cluster " + name + " has no healthy endpoint");
    }
  }
  return {};
}

json::object Proxy::status() const {
  const Impl& s = *impl_;
  json::object o;
  o["workers"] = s.worker_count();  // not workers.size(): start() may be filling it
  o["io_uring"] = s.io_uring.load();
  o["connections"] = s.connections();
  std::lock_guard lock(s.mu);
  json::array ls;
  for (const auto& [name, r] : s.listeners) {
    json::object l;
    l["name"] = name;
    l["protocol"] = protocol_name(r.config.protocol);
    l["listen"] = r.bound.str();
    std::size_t open = 0;
    for (const auto& w : r.per_worker) {
      open += w->connections();
    }
    l["connections"] = open;
    ls.push_back(std::move(l));
  }
  o["listeners"] = std::move(ls);
  return o;
}

json::object Proxy::config() const {
  const Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  json::object o;
  o["config_file"] = s.opts.config_file;
  o["workers"] = s.workers.size();
  o["busy_poll"] = std::to_string(s.opts.config.busy_poll.count()) + "us";
  o["io_uring"] = s.opts.config.io_uring ? "auto" : "off";
  json::array ls;
  for (const auto& l : s.opts.config.listeners) {
    ls.push_back(listener_json(l));
  }
  o["listeners"] = std::move(ls);
  json::array cs;
  for (const auto& c : s.opts.config.clusters) {
    json::object j{{"name", c.name}};
    for (auto& kv : upstream::source_json(c)) {
      j[kv.key()] = std::move(kv.value());
    }
    for (auto& kv : upstream::settings_json(c)) {
      j[kv.key()] = std::move(kv.value());
    }
    if (!c.auth.empty()) {
      j["auth"] = c.auth;  // redacted by /configz
    }
    cs.push_back(std::move(j));
  }
  o["clusters"] = std::move(cs);
  return o;
}

bool Proxy::Impl::same_socket(const ListenerConfig& l) const {
  auto it = listeners.find(l.name);
  return it != listeners.end() && it->second.config.listen.str() == l.listen.str() &&
         it->second.config.protocol == l.protocol;
}

void Proxy::Impl::reload_clusters(const std::vector<ClusterConfig>& next,
                                  const std::map<std::string, Named>& resolved) {
  // Clusters first: listeners refer to them. Existing ones keep their endpoints' state.
  std::map<std::string, std::shared_ptr<Cluster>> kept;
  std::vector<std::shared_ptr<Cluster>> fresh;
  for (const auto& c : next) {
    auto r = resolved.find(c.name);
    const Named* named = r == resolved.end() ? nullptr : &r->second;
    auto it = clusters.find(c.name);
    if (it != clusters.end()) {
      it->second->set_config(c);
      if (named != nullptr) {
        it->second->set_endpoints(*named);
      }
      kept[c.name] = it->second;
    } else {
      kept[c.name] = make_cluster(c, named);
      fresh.push_back(kept[c.name]);
    }
  }
  clusters = std::move(kept);
  std::erase_if(upkeep, [&](const auto& u) { return !clusters.contains(u.first); });
  for (const auto& c : fresh) {
    spawn_loops(c);
  }
}

void Proxy::Impl::reload_listeners(const std::vector<ListenerConfig>& next,
                                   std::map<std::string, Bound>& bound) {
  // Listeners retired by earlier reloads have stopped accepting by now: those left with no
  // connection are done for good.
  std::erase_if(retired, [](const auto& count) { return count->load() == 0; });
  std::set<std::string> keep;
  for (const auto& l : next) {
    keep.insert(l.name);
    auto it = listeners.find(l.name);
    if (same_socket(l)) {
      // Same socket: new connections (and requests) take the new state; nothing is dropped.
      auto state = listener_state(l);
      for (std::size_t i = 0; i < it->second.per_worker.size(); ++i) {
        asio::post(workers[i]->ioc(), [w = it->second.per_worker[i], state] { w->update(state); });
      }
      it->second.config = l;
      continue;
    }
    if (it != listeners.end()) {
      retire_listener(std::move(it->second));
      listeners.erase(it);
    }
    listeners[l.name] = start_listener(l, std::move(bound[l.name]));
  }
  for (auto it = listeners.begin(); it != listeners.end();) {
    if (keep.count(it->first) == 0) {
      retire_listener(std::move(it->second));
      it = listeners.erase(it);
    } else {
      ++it;
    }
  }
}

Result<> Proxy::reload() {
  Impl& s = *impl_;
  if (s.opts.config_file.empty()) {
    return Error(std::errc::operation_not_supported,
                 "nothing to reload: the proxy was configured by flags, not --config");
  }
  if (s.draining) {
    return Error(std::errc::operation_in_progress,
                 "draining: a reload now would open listeners that are closing");
  }
  ProxyConfig next;
  try {
    next = load_proxy_config(s.opts.config_file);
  } catch (const ConfigError& e) {
    return Error(std::errc::invalid_argument, e.what());
  }
  std::lock_guard lock(s.mu);
  // All or nothing: what can fail (resolving names, binding new addresses) is done before any
  // change is made.
  std::map<std::string, Impl::Named> resolved;  // static and file clusters
  std::map<std::string, Impl::Bound> bound;     // listeners on a new socket
  try {
    for (const auto& c : next.clusters) {
      std::optional<upstream::NamedEndpoints> named;
      if (initial(c, named) != nullptr) {
        resolved[c.name] = std::move(*named);
      }
    }
    for (const auto& l : next.listeners) {
      if (!s.same_socket(l)) {
        bound[l.name] = s.bind_listener(l);
      }
    }
  } catch (const std::exception& e) {
    return Error(std::errc::invalid_argument,
                 std::string("reload refused, nothing changed: ") + e.what());
  }
  s.reload_clusters(next.clusters, resolved);
  s.reload_listeners(next.listeners, bound);
  if (s.opts.busy_poll_flag) {
    next.busy_poll = *s.opts.busy_poll_flag;
  }
  for (auto& w : s.workers) {
    w->set_busy_poll(next.busy_poll);
  }
  s.opts.config = std::move(next);
  log::info("proxy reloaded", {{"file", s.opts.config_file}});
  return {};
}

std::span<const UiAsset> Proxy::ui_assets() const { return ambassador::ui_assets(); }

void Proxy::add_admin_routes(Router& router) {
  Impl* s = impl_.get();
  router.get("/v1/clusters", [s](Request&) {
    json::array list;
    std::lock_guard lock(s->mu);
    for (const auto& [name, c] : s->clusters) {
      list.push_back(c->to_json());
    }
    json::object o;
    o["clusters"] = std::move(list);
    return Response::json(200, o);
  });
}

}  // namespace tender::ambassador
