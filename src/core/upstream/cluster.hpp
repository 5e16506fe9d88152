#pragma once
// Clusters at run time: their endpoints, health, ejections, circuit breakers and counters,
// shared by every worker without locks on the request path, and each worker's own balancer.
// What the proxy and the scatter/gather root share; their metrics differ only in the prefix
// ("tender_proxy": tender_proxy_upstream_requests_total{cluster, endpoint}, ...).
//
//   auto cluster = std::make_shared<Cluster>(config, registry, "tender_proxy");  // start
//   cluster->set_endpoints({{"10.0.0.1:6379", {"10.0.0.1", 6379}}, ...});  // discovery
//   WorkerCluster view(cluster);                              // one per worker thread
//   const Endpoint* e = view.pick_now(hash_key(key));         // nullptr: none usable
//   e->stats->active++ ... cluster->record(*e, Outcome::kSuccess);
//
// Time (ejections and their end) is read through the cluster's Clock, so tests drive it with a
// FakeClock. No Asio: the socket work is in the roles; this is the bookkeeping they share.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/clock.hpp"
#include "core/metrics.hpp"
#include "core/probe_tracker.hpp"
#include "core/upstream/balancer.hpp"
#include "core/upstream/config.hpp"

namespace tender::upstream {

// What happened to one request (or connection) sent to an endpoint.
enum class Outcome { kSuccess, kConnectFailure, kTimeout, kReset, kProtocolError, kServerError };
[[nodiscard]] const char* outcome_name(Outcome o);

// Counters and state of one endpoint, shared by all workers (atomics only). What every request
// writes has a cache line of its own, apart from what every request only reads.
struct EndpointStats {
  alignas(64) std::atomic<std::uint32_t> active{0};       // requests in flight
  alignas(64) std::atomic<std::uint32_t> connections{0};  // open upstream connections
  std::atomic<bool> healthy{true};                        // the active health check's verdict
  std::atomic<std::int64_t> ejected_until_ms{0};          // Cluster::now_ms(); 0: not ejected
  std::atomic<std::uint32_t> consecutive_failures{0};
  std::atomic<std::uint32_t> ejections_in_a_row{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> ejections{0};
  // The active checks' run of results, with the cluster's thresholds (the checker's thread
  // only; made at the first check, and again when a reload changes the thresholds).
  std::optional<ProbeTracker> checks;
  std::string last_check;  // guarded by Cluster::mu_
  // Exported metrics, resolved once.
  Counter* m_requests = nullptr;
  std::array<Counter*, 6> m_errors{};  // by Outcome (kSuccess unused)
  Histogram* m_latency = nullptr;
  Counter* m_bytes_in = nullptr;   // from the endpoint
  Counter* m_bytes_out = nullptr;  // to the endpoint
};

struct Endpoint {
  std::string name;  // as configured or discovered: "redis-0:6379"
  HostPort address;  // where to connect (a resolved address for dns clusters)
  std::shared_ptr<EndpointStats> stats;
};

// One cluster of upstreams. Thread-safe: workers, the discovery and health loops and the admin
// endpoints use it at once. A role may derive from it to keep settings of its own beside it (it
// is then owned as the derived type: the destructor is not virtual).
class Cluster {
 public:
  // Registers the cluster's metrics in `metrics`, named `metrics_prefix` + "_cluster_..." and
  // "_upstream_..." ("tender_proxy" gives tender_proxy_cluster_overflow_total). `clock` (which
  // must outlive the cluster) decides when ejections end. Does not fail.
  Cluster(ClusterConfig config, Registry& metrics, std::string_view metrics_prefix,
          const Clock& clock = system_clock());
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  // The config in force (replaced by reload); copy it, it may change on another thread.
  [[nodiscard]] ClusterConfig config() const;
  void set_config(ClusterConfig config);
  // The key hash in force (no copy of the config: for the request path).
  [[nodiscard]] HashFunction hash() const { return hash_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::chrono::milliseconds connect_timeout() const {
    return std::chrono::milliseconds(connect_timeout_ms_.load(std::memory_order_relaxed));
  }

  // Replaces the endpoint list; endpoints that stay keep their state and counters.
  void set_endpoints(const std::vector<std::pair<std::string, HostPort>>& named);
  [[nodiscard]] std::shared_ptr<const std::vector<Endpoint>> endpoints() const;
  // Bumped whenever membership, health or ejection changes: workers then rebuild balancers.
  [[nodiscard]] std::uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }
  void bump() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  // Passive health: counts an outcome, ejects after consecutive failures (within the cap).
  void record(const Endpoint& e, Outcome outcome);
  // Active health: the checker's verdicts.
  void record_check(const Endpoint& e, bool ok, const std::string& message);
  // No active checks (none configured, or no longer after a reload): every endpoint is healthy,
  // and runs of results start over.
  void clear_checks();
  // Whether an endpoint may take traffic now: healthy and not ejected. Ends ejections whose
  // time is over.
  [[nodiscard]] bool usable(const Endpoint& e, std::int64_t now_ms);
  // The same without ending anything: whether `e` takes traffic at now_ms() (for readiness).
  [[nodiscard]] bool serving(const Endpoint& e) const;
  // The cluster's clock in milliseconds (what ejected_until_ms holds); never 0.
  [[nodiscard]] std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
  }

  // Circuit breakers: each try_* takes a slot or returns false (counted as an overflow unless
  // `count` is false: a waiting request looking again).
  bool try_request();
  void end_request();
  // A retry takes a slot within `budget` retries in flight (the caller's retry budget, over
  // all workers) and the max_retries breaker (counted as an overflow when that refuses).
  bool try_retry(std::uint32_t budget);
  void end_retry();
  bool try_connection(bool count = true);
  void end_connection();
  bool try_pending();
  void end_pending();
  [[nodiscard]] std::uint32_t active_requests() const { return requests_.load(); }
  [[nodiscard]] std::uint32_t pending_requests() const {
    return pending_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint32_t max_connections() const { return max_connections_.load(); }
  // Whether requests wait for a connection with every allowed one open: then a connection that
  // would go idle should close instead, so that its slot goes to them.
  [[nodiscard]] bool connections_wanted() const {
    return pending_.load(std::memory_order_relaxed) > 0 &&
           connections_.load(std::memory_order_relaxed) >= max_connections_.load();
  }

  // Requests that found max_connections reached wait (max_pending of them) on their worker.
  // Those waiting, and idle pooled connections elsewhere, are told of slots here: a closed
  // connection while requests wait (wanted false), or a request that began waiting and asks
  // for an idle connection somewhere to be given up (wanted true).
  class SlotListener {
   public:
    virtual ~SlotListener() = default;
    // Any thread: implementations post to their own worker.
    virtual void on_slot(const Cluster& cluster, bool wanted) = 0;
  };
  void listen_slots(const std::shared_ptr<SlotListener>& listener);
  void want_slot() { notify_slots(true); }
  // The role is stopping (its workers' loops are ending): nobody is told of slots any more.
  void close_slots();

  [[nodiscard]] Counter& retries() { return *m_retries_; }
  // GET /v1/clusters: the cluster with every endpoint's health, ejection, counters.
  [[nodiscard]] boost::json::object to_json() const;

 private:
  bool take(std::atomic<std::uint32_t>& used, std::uint32_t limit, const char* breaker,
            bool count = true);
  void notify_slots(bool wanted);

  const std::string name_;
  const Clock& clock_;
  mutable std::mutex mu_;
  ClusterConfig config_;                                    // guarded by mu_
  std::shared_ptr<const std::vector<Endpoint>> endpoints_;  // guarded by mu_
  // Starts where no other cluster's does (first_generation()): a worker that remembers the
  // generation it saw of a cluster by its address cannot mistake a new cluster at the address
  // of one that went for it.
  std::atomic<std::uint64_t> generation_{first_generation()};
  static std::uint64_t first_generation();
  // Limits copied out of the config for the request path.
  std::atomic<HashFunction> hash_{HashFunction::kFnv1a64};
  std::atomic<std::int64_t> connect_timeout_ms_{1'000};
  std::atomic<std::uint32_t> max_requests_;
  std::atomic<std::uint32_t> max_retries_;
  std::atomic<std::uint32_t> max_connections_;
  std::atomic<std::uint32_t> max_pending_;
  std::atomic<std::uint32_t> requests_{0};
  std::atomic<std::uint32_t> retries_in_flight_{0};
  std::atomic<std::uint32_t> connections_{0};
  std::atomic<std::uint32_t> pending_{0};
  std::mutex slots_mu_;
  std::vector<std::weak_ptr<SlotListener>> slot_listeners_;  // guarded by slots_mu_
  bool slots_closed_ = false;                                // guarded by slots_mu_
  // Metrics, resolved once.
  CounterFamily* m_overflow_ = nullptr;  // by breaker
  CounterFamily* m_requests_ = nullptr;  // by endpoint, and the same for those below
  CounterFamily* m_errors_ = nullptr;
  HistogramFamily* m_latency_ = nullptr;
  CounterFamily* m_bytes_ = nullptr;
  Counter* m_retries_ = nullptr;
  Counter* m_ejections_ = nullptr;
  GaugeFamily* m_endpoints_ = nullptr;  // healthy / ejected / total
};

// An endpoint chosen for a request, with the endpoint list it came from kept alive: a rebuild
// may replace the worker's list while the request waits on a socket.
class Picked {
 public:
  Picked() = default;
  Picked(std::shared_ptr<const std::vector<Endpoint>> list, const Endpoint* e)
      : list_(std::move(list)), e_(e) {}
  explicit operator bool() const { return e_ != nullptr; }
  const Endpoint* operator->() const { return e_; }
  const Endpoint& operator*() const { return *e_; }
  // Identity across lists: an endpoint keeps its stats while it stays in the cluster.
  [[nodiscard]] const EndpointStats* id() const { return e_ ? e_->stats.get() : nullptr; }

 private:
  std::shared_ptr<const std::vector<Endpoint>> list_;
  const Endpoint* e_ = nullptr;
};

// One worker's view of a cluster: its own balancer over the endpoints usable now, rebuilt when
// the cluster's generation moves. Not thread-safe: one per worker thread.
class WorkerCluster {
 public:
  explicit WorkerCluster(std::shared_ptr<Cluster> cluster) : cluster_(std::move(cluster)) {}
  [[nodiscard]] Cluster& cluster() { return *cluster_; }
  [[nodiscard]] const std::shared_ptr<Cluster>& shared() const { return cluster_; }
  // The endpoint for a request with this key hash (used by hash policies), skipping `avoid`
  // (a failed try) when another is usable. Empty when none is usable.
  Picked pick(std::uint64_t hash, const EndpointStats* avoid = nullptr);
  // The same without holding the endpoint list: the endpoint is valid until this worker next
  // picks from this cluster (for use before any co_await). Null when none is usable.
  const Endpoint* pick_now(std::uint64_t hash, const EndpointStats* avoid = nullptr);
  // A usable endpoint other than `avoid`, whatever the policy, or empty when there is none: for
  // endpoints that hold the same data (the replicas of a scatter shard), where a hedge, a retry
  // or a full endpoint's request may go to any other, even under a hash policy.
  Picked pick_other(const EndpointStats* avoid);
  // The cluster's hash_on when its policy hashes (brought up to date as pick() is), else null.
  const HashOn* hash_on();
  // After a pick that found nothing: the endpoint the hash belongs to, when it is down
  // (unhealthy or ejected) in a cluster that keeps keys with their endpoint (a hash policy
  // without auto_eject); null otherwise. Valid until this worker next picks from the cluster.
  [[nodiscard]] const Endpoint* owner_down() const { return owner_down_; }

 private:
  void rebuild(std::int64_t now_ms);
  // Rebuilds the balancer when the cluster changed or an ejection is due to end.
  void refresh();

  std::shared_ptr<Cluster> cluster_;
  std::uint64_t seen_ = 0;
  std::int64_t next_check_ms_ = 0;  // the earliest end of an ejection: look again then
  std::shared_ptr<const std::vector<Endpoint>> snapshot_;
  // What the balancer picks from: the endpoints usable now, or, where keys stay with their
  // endpoint, every endpoint, with down_ marking those that may not take traffic now.
  std::vector<const Endpoint*> usable_;
  std::vector<char> down_;
  const Endpoint* owner_down_ = nullptr;
  std::vector<std::uint32_t> active_;
  HashOn hash_on_;
  std::unique_ptr<Balancer> balancer_;
  std::uint64_t seed_ = 0;
};

}  // namespace tender::upstream
