#include "core/upstream/cluster.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>
#include <map>
#include <random>

#include "core/log.hpp"

namespace tender::upstream {

std::uint64_t Cluster::first_generation() {
  static std::atomic<std::uint64_t> clusters{1};
  return clusters.fetch_add(1, std::memory_order_relaxed) << 32;
}

namespace json = boost::json;

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kConnectFailure:
      return "connect";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kReset:
      return "reset";
    case Outcome::kProtocolError:
      return "protocol";
    case Outcome::kServerError:
      return "server";
  }
  return "unknown";
}

Cluster::Cluster(ClusterConfig config, Registry& metrics, std::string_view metrics_prefix,
                 const Clock& clock)
    : name_(config.name), clock_(clock), endpoints_(std::make_shared<std::vector<Endpoint>>()) {
  std::string p(metrics_prefix);
  m_overflow_ = &metrics.counter_family(
      p + "_cluster_overflow_total",
      "Requests or connections refused by a circuit breaker, by cluster and breaker.",
      {"cluster", "breaker"});
  m_retries_ =
      &metrics
           .counter_family(p + "_cluster_retries_total", "Retries sent, by cluster.", {"cluster"})
           .with({name_});
  m_ejections_ =
      &metrics
           .counter_family(p + "_cluster_ejections_total",
                           "Endpoints ejected by outlier detection, by cluster.", {"cluster"})
           .with({name_});
  m_endpoints_ = &metrics.gauge_family(p + "_cluster_endpoints",
                                       "Endpoints by cluster and state (total, healthy, ejected).",
                                       {"cluster", "state"});
  m_requests_ = &metrics.counter_family(p + "_upstream_requests_total",
                                        "Requests (or TCP connections) sent to an endpoint.",
                                        {"cluster", "endpoint"});
  m_errors_ = &metrics.counter_family(
      p + "_upstream_errors_total",
      "Failed requests to an endpoint, by kind: connect, timeout, reset, protocol, server.",
      {"cluster", "endpoint", "kind"});
  m_latency_ = &metrics.histogram_family(p + "_upstream_request_duration_seconds",
                                         "Time from sending a request to its answer.",
                                         {"cluster", "endpoint"});
  m_bytes_ = &metrics.counter_family(p + "_upstream_bytes_total",
                                     "Bytes exchanged with an endpoint, by direction.",
                                     {"cluster", "endpoint", "direction"});
  set_config(std::move(config));
}

ClusterConfig Cluster::config() const {
  std::lock_guard lock(mu_);
  return config_;
}

void Cluster::set_config(ClusterConfig config) {
  hash_ = config.hash;
  connect_timeout_ms_ = config.connect_timeout.count();
  max_requests_ = config.limits.max_requests;
  max_retries_ = config.limits.max_retries;
  max_connections_ = config.limits.max_connections;
  max_pending_ = config.limits.max_pending;
  {
    std::lock_guard lock(mu_);
    config_ = std::move(config);
  }
  bump();  // the policy may have changed
}

void Cluster::set_endpoints(const std::vector<std::pair<std::string, HostPort>>& named) {
  std::lock_guard lock(mu_);
  std::map<std::string, std::shared_ptr<EndpointStats>> old;
  for (const auto& e : *endpoints_) {
    old[e.name + "@" + e.address.str()] = e.stats;
  }
  auto next = std::make_shared<std::vector<Endpoint>>();
  for (const auto& [name, address] : named) {
    Endpoint e{name, address, nullptr};
    auto it = old.find(name + "@" + address.str());
    if (it != old.end()) {
      e.stats = it->second;
    } else {
      e.stats = std::make_shared<EndpointStats>();
      auto& s = *e.stats;
      s.m_requests = &m_requests_->with({name_, name});
      for (auto o : {Outcome::kConnectFailure, Outcome::kTimeout, Outcome::kReset,
                     Outcome::kProtocolError, Outcome::kServerError}) {
        s.m_errors[static_cast<std::size_t>(o)] = &m_errors_->with({name_, name, outcome_name(o)});
      }
      s.m_latency = &m_latency_->with({name_, name});
      s.m_bytes_in = &m_bytes_->with({name_, name, "received"});
      s.m_bytes_out = &m_bytes_->with({name_, name, "sent"});
    }
    next->push_back(std::move(e));
  }
  endpoints_ = std::move(next);
  m_endpoints_->with({name_, "total"}).set(static_cast<double>(endpoints_->size()));
  bump();
}

std::shared_ptr<const std::vector<Endpoint>> Cluster::endpoints() const {
  std::lock_guard lock(mu_);
  return endpoints_;
}

void Cluster::record(const Endpoint& e, Outcome outcome) {
  auto& s = *e.stats;
  if (outcome == Outcome::kSuccess) {
    // Read first: a store on every success would bounce the cache line between workers.
    if (s.consecutive_failures.load(std::memory_order_relaxed) != 0) {
      s.consecutive_failures.store(0, std::memory_order_relaxed);
    }
    // Served after its last ejection: the next one starts from base_ejection again.
    if (s.ejections_in_a_row.load(std::memory_order_relaxed) != 0 &&
        s.ejected_until_ms.load(std::memory_order_relaxed) == 0) {
      s.ejections_in_a_row.store(0, std::memory_order_relaxed);
    }
    return;
  }
  s.failures.fetch_add(1, std::memory_order_relaxed);
  if (auto* c = s.m_errors[static_cast<std::size_t>(outcome)]) {
    c->inc();
  }
  std::uint32_t n = s.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  OutlierDetection od;
  {
    std::lock_guard lock(mu_);
    od = config_.outlier;
  }
  if (od.consecutive_failures == 0 || n < static_cast<std::uint32_t>(od.consecutive_failures) ||
      s.ejected_until_ms.load() != 0) {
    return;
  }
  // The cap: never eject more than max_ejected_percent of the cluster (at least one may go
  // when the cap allows any).
  auto eps = endpoints();
  std::size_t ejected = 0;
  for (const auto& other : *eps) {
    ejected += other.stats->ejected_until_ms.load() != 0 ? 1 : 0;
  }
  if (static_cast<double>(ejected + 1) * 100.0 >
      static_cast<double>(od.max_ejected_percent) * static_cast<double>(eps->size())) {
    return;
  }
  std::uint32_t times = s.ejections_in_a_row.fetch_add(1) + 1;
  auto duration = std::min(od.base_ejection * times, od.max_ejection);
  std::int64_t expected = 0;
  if (s.ejected_until_ms.compare_exchange_strong(expected, now_ms() + duration.count())) {
    s.ejections.fetch_add(1);
    m_ejections_->inc();
    s.consecutive_failures.store(0);
    log::warn("endpoint ejected", {{"cluster", name_},
                                   {"endpoint", e.name},
                                   {"for", format_duration(duration)},
                                   {"cause", outcome_name(outcome)}});
    bump();
  }
}

void Cluster::record_check(const Endpoint& e, bool ok, const std::string& message) {
  auto& s = *e.stats;
  HealthCheck hc;
  {
    std::lock_guard lock(mu_);
    hc = config_.health;
    s.last_check = message;
  }
  if (!s.checks || s.checks->success_threshold() != hc.healthy_threshold ||
      s.checks->failure_threshold() != hc.unhealthy_threshold) {
    s.checks.emplace(s.healthy.load() ? ProbeTracker::kStartPassing : ProbeTracker::kStartFailing,
                     hc.healthy_threshold, hc.unhealthy_threshold, clock_);
  }
  ProbeTracker& checks = *s.checks;
  checks.record(ok, message);
  if (ok && checks.consecutive_successes() >= hc.healthy_threshold) {
    // Healthy again; an ejection for passive failures ends too: the check has seen it serve.
    std::int64_t until = s.ejected_until_ms.load();
    bool readmit = until != 0 && s.ejected_until_ms.compare_exchange_strong(until, 0);
    if (!s.healthy.exchange(true) || readmit) {
      s.consecutive_failures.store(0);
      log::info("endpoint healthy", {{"cluster", name_}, {"endpoint", e.name}});
      bump();
    }
  } else if (!ok && !checks.passing() && s.healthy.exchange(false)) {
    log::warn("endpoint unhealthy", {{"cluster", name_}, {"endpoint", e.name}, {"check", message}});
    bump();
  }
}

void Cluster::clear_checks() {
  for (const auto& e : *endpoints()) {
    e.stats->checks.reset();
    if (!e.stats->healthy.exchange(true)) {
      bump();
    }
  }
}

bool Cluster::usable(const Endpoint& e, std::int64_t now_ms) {
  auto& s = *e.stats;
  std::int64_t until = s.ejected_until_ms.load(std::memory_order_relaxed);
  if (until != 0) {
    if (now_ms < until) {
      return false;
    }
    // Back in; a failure right away ejects it for longer (ejections_in_a_row), a success
    // streak (consecutive_failures reset) keeps it.
    if (s.ejected_until_ms.compare_exchange_strong(until, 0)) {
      log::info("endpoint readmitted", {{"cluster", name_}, {"endpoint", e.name}});
      bump();
    }
  }
  return s.healthy.load(std::memory_order_relaxed);
}

bool Cluster::serving(const Endpoint& e) const {
  std::int64_t until = e.stats->ejected_until_ms.load();
  return e.stats->healthy.load() && (until == 0 || now_ms() >= until);
}

bool Cluster::take(std::atomic<std::uint32_t>& used, std::uint32_t limit, const char* breaker,
                   bool count) {
  if (used.fetch_add(1) >= limit) {  // seq_cst: see end_connection()
    used.fetch_sub(1, std::memory_order_relaxed);
    if (count) {
      m_overflow_->with({name_, breaker}).inc();
    }
    return false;
  }
  return true;
}

bool Cluster::try_request() { return take(requests_, max_requests_.load(), "requests"); }
void Cluster::end_request() { requests_.fetch_sub(1, std::memory_order_relaxed); }
bool Cluster::try_retry(std::uint32_t budget) {
  if (retries_in_flight_.fetch_add(1) >= budget) {
    retries_in_flight_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  retries_in_flight_.fetch_sub(1, std::memory_order_relaxed);
  return take(retries_in_flight_, max_retries_.load(), "retries");
}
void Cluster::end_retry() { retries_in_flight_.fetch_sub(1, std::memory_order_relaxed); }
bool Cluster::try_connection(bool count) {
  return take(connections_, max_connections_.load(), "connections", count);
}
// Sequentially consistent, with try_pending(): a request that starts waiting raises pending_
// and then looks at connections_ again, a closing connection lowers connections_ and then
// looks at pending_; one of the two sees the other, so no slot is left free with a request
// waiting for it.
void Cluster::end_connection() {
  connections_.fetch_sub(1, std::memory_order_seq_cst);
  if (pending_.load(std::memory_order_seq_cst) > 0) {
    notify_slots(false);
  }
}

void Cluster::close_slots() {
  std::lock_guard lock(slots_mu_);
  slots_closed_ = true;
  slot_listeners_.clear();
}

void Cluster::listen_slots(const std::shared_ptr<SlotListener>& listener) {
  std::lock_guard lock(slots_mu_);
  if (slots_closed_) {
    return;
  }
  std::erase_if(slot_listeners_, [&](const std::weak_ptr<SlotListener>& w) {
    auto l = w.lock();
    return !l || l == listener;  // gone, or already listening
  });
  slot_listeners_.push_back(listener);
}

void Cluster::notify_slots(bool wanted) {
  std::vector<std::shared_ptr<SlotListener>> live;
  {
    std::lock_guard lock(slots_mu_);
    for (const auto& w : slot_listeners_) {
      if (auto l = w.lock()) {
        live.push_back(std::move(l));
      }
    }
  }
  for (const auto& l : live) {
    l->on_slot(*this, wanted);
  }
}
bool Cluster::try_pending() { return take(pending_, max_pending_.load(), "pending"); }
void Cluster::end_pending() { pending_.fetch_sub(1, std::memory_order_relaxed); }

json::object Cluster::to_json() const {
  ClusterConfig c = config();
  auto eps = endpoints();
  std::int64_t now = now_ms();
  json::array list;
  std::size_t healthy = 0;
  std::size_t ejected = 0;
  for (const auto& e : *eps) {
    const auto& s = *e.stats;
    json::object o;
    o["name"] = e.name;
    o["address"] = e.address.str();
    bool h = s.healthy.load();
    std::int64_t until = s.ejected_until_ms.load();
    bool out = until != 0 && now < until;
    healthy += h ? 1 : 0;
    ejected += out ? 1 : 0;
    o["health"] = h ? "healthy" : "unhealthy";
    o["ejected"] = out;
    if (out) {
      o["ejected_for_ms"] = until - now;
    }
    o["ejections"] = s.ejections.load();
    o["active_requests"] = s.active.load();
    o["connections"] = s.connections.load();
    o["requests"] = s.m_requests != nullptr ? static_cast<std::uint64_t>(s.m_requests->value()) : 0;
    o["failures"] = s.failures.load();
    {
      std::lock_guard lock(mu_);
      if (!s.last_check.empty()) {
        o["last_check"] = s.last_check;
      }
    }
    list.push_back(std::move(o));
  }
  m_endpoints_->with({name_, "healthy"}).set(static_cast<double>(healthy));
  m_endpoints_->with({name_, "ejected"}).set(static_cast<double>(ejected));
  json::object o;
  o["name"] = name_;
  o["policy"] = std::string(policy_name(c.policy));
  if (is_hash_policy(c.policy)) {
    o["auto_eject"] = c.auto_eject;
  }
  o["active_requests"] = requests_.load();
  o["pending_requests"] = pending_.load();
  // Circuit breakers: what each limit allows and how much of it is taken; open when full.
  json::object breakers;
  auto breaker = [&](const char* name, std::uint32_t in_use, std::uint32_t limit) {
    json::object b;
    b["in_use"] = in_use;
    if (limit != CircuitBreakers::kNoLimit) {
      b["max"] = limit;
    }
    b["open"] = in_use >= limit;
    breakers[name] = std::move(b);
  };
  breaker("connections", connections_.load(std::memory_order_relaxed), max_connections_.load());
  breaker("pending", pending_.load(std::memory_order_relaxed), max_pending_.load());
  breaker("requests", requests_.load(std::memory_order_relaxed), max_requests_.load());
  breaker("retries", retries_in_flight_.load(std::memory_order_relaxed), max_retries_.load());
  o["breakers"] = std::move(breakers);
  o["endpoints"] = std::move(list);
  return o;
}

// --- the worker's view ----------------------------------------------------------------------

void WorkerCluster::rebuild(std::int64_t now_ms) {
  seen_ = cluster_->generation();
  snapshot_ = cluster_->endpoints();
  ClusterConfig c = cluster_->config();
  usable_.clear();
  down_.clear();
  std::vector<Host> hosts;
  // A sharded cluster keeps the ring of all its endpoints: a key whose endpoint is down is
  // refused, not sent to another that does not have its data.
  bool pinned = is_hash_policy(c.policy) && !c.auto_eject;
  hash_on_ = c.hash_on;
  // Rebuilt when the generation moves, or when an ejection ends (by time, unseen otherwise);
  // not more often, so round robin and the random policies keep their state.
  next_check_ms_ = std::numeric_limits<std::int64_t>::max();
  for (const auto& e : *snapshot_) {
    bool ok = cluster_->usable(e, now_ms);
    if (ok || pinned) {
      usable_.push_back(&e);
      down_.push_back(ok ? 0 : 1);
      hosts.push_back(Host{e.name, 1});
    }
    if (std::int64_t until = e.stats->ejected_until_ms.load(); !ok && until > now_ms) {
      next_check_ms_ = std::min(next_check_ms_, until);
    }
  }
  if (seed_ == 0) {
    seed_ = std::random_device{}();
  }
  BalancerOptions o;
  o.seed = seed_;
  balancer_ = Balancer::make(c.policy, std::move(hosts), o);
  active_.assign(usable_.size(), 0);
  seen_ = cluster_->generation();  // usable() may have bumped it
}

const HashOn* WorkerCluster::hash_on() {
  if (seen_ != cluster_->generation() || !balancer_) {
    rebuild(cluster_->now_ms());
  }
  return is_hash_policy(balancer_->policy()) ? &hash_on_ : nullptr;
}

Picked WorkerCluster::pick(std::uint64_t hash, const EndpointStats* avoid) {
  const Endpoint* e = pick_now(hash, avoid);
  return e != nullptr ? Picked(snapshot_, e) : Picked();
}

void WorkerCluster::refresh() {
  // The clock is read only while an ejection is due to end.
  if (seen_ != cluster_->generation() || !balancer_ ||
      (next_check_ms_ != std::numeric_limits<std::int64_t>::max() &&
       cluster_->now_ms() >= next_check_ms_)) {
    rebuild(cluster_->now_ms());
  }
}

Picked WorkerCluster::pick_other(const EndpointStats* avoid) {
  refresh();
  std::size_t n = usable_.size();
  std::size_t from = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (usable_[i]->stats.get() == avoid) {
      from = i + 1;
    }
  }
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (from + k) % n;
    if (down_[i] == 0 && usable_[i]->stats.get() != avoid) {
      return Picked(snapshot_, usable_[i]);
    }
  }
  return {};
}

const Endpoint* WorkerCluster::pick_now(std::uint64_t hash, const EndpointStats* avoid) {
  refresh();
  owner_down_ = nullptr;
  if (usable_.empty()) {
    return nullptr;
  }
  if (balancer_->policy() == Policy::kLeastRequest) {
    for (std::size_t i = 0; i < usable_.size(); ++i) {
      active_[i] = usable_[i]->stats->active.load(std::memory_order_relaxed);
    }
  }
  auto i = balancer_->pick(hash, active_);
  if (!i) {
    return nullptr;
  }
  const Endpoint* e = usable_[*i];
  if (down_[*i] != 0) {
    owner_down_ = e;
    return nullptr;
  }
  if (e->stats.get() == avoid && usable_.size() > 1 && !is_hash_policy(balancer_->policy())) {
    e = usable_[(*i + 1) % usable_.size()];
  }
  return e;
}

}  // namespace tender::upstream
