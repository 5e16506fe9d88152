#pragma once
// The insides of the root's request path, shared by fanout.cpp (one request's tries, hedges
// and answer) and root.cpp (the Root, its workers, the merge and split services). Private.

#include <array>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <optional>
#include <unordered_map>

#include "core/log.hpp"
#include "core/upstream/http1_pool.hpp"
#include "scatter/fanout.hpp"
#include "scatter/gather.hpp"
#include "scatter/hedge.hpp"
#include "scatter/merge.hpp"
#include "scatter/split.hpp"

namespace tender::scatter {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::duration_cast;
using upstream::Http1Answer;
using upstream::Outcome;

struct Root::Metrics {
  explicit Metrics(Registry& r) {
    auto& by = r.counter_family(
        "tender_scatter_requests_total",
        "Client requests by result: complete, partial (some shards missing), failed (too few "
        "answered: 502/504), rejected (a bad request: 4xx).",
        {"result"});
    complete = &by.with({"complete"});
    partial = &by.with({"partial"});
    failed = &by.with({"failed"});
    rejected = &by.with({"rejected"});
    duration = &r.histogram("tender_scatter_fanout_duration_seconds",
                            "Time from a client request to its merged answer.", kLatencyBuckets);
    merge_errors = &r.counter("tender_scatter_merge_container_errors_total",
                              "Merge or split container exchanges that failed.");
  }
  Counter* complete;
  Counter* partial;
  Counter* failed;
  Counter* rejected;
  Histogram* duration;
  Counter* merge_errors;
  std::atomic<std::int64_t> in_flight{0};
};

struct Root::Worker {
  Worker(asio::io_context& io, Deadlines& d, const HedgeConfig& h)
      : ioc(io), pool(io, d), budget(h.budget, h.burst) {}
  struct PerShard {
    std::unique_ptr<upstream::WorkerCluster> view;
    LatencyWindow window{1024};
  };
  PerShard& of(const std::shared_ptr<Shard>& s) {
    auto& p = per[s->id];
    if (!p.view) {
      p.view = std::make_unique<upstream::WorkerCluster>(s->cluster);
    }
    return p;
  }
  asio::io_context& ioc;
  upstream::Http1Pool pool;
  HedgeBudget budget;
  std::unordered_map<std::uint32_t, PerShard> per;  // by Shard::id; nodes stay put
  // The merge or split container, as a cluster of one endpoint.
  std::shared_ptr<Root::Services> services;
};

// A service the root POSTs JSON to (the merge or split container): one endpoint.
struct Service {
  std::shared_ptr<upstream::Cluster> cluster;
  std::string target;
};

struct Root::Services {
  std::optional<Service> merge;
  std::optional<Service> split;
};

inline constexpr auto kNever = SteadyClock::time_point::max();

struct Try {
  upstream::Picked picked;
  upstream::ExchangeCancel cancel;
  SteadyClock::time_point sent;
  bool live = false;
  bool hedge = false;
};

struct Call {
  std::shared_ptr<Shard> shard;
  Root::Worker::PerShard* ps = nullptr;
  std::string body;  // its part of a split
  bool own_body = false;
  std::array<Try, 2> tries;  // the first (retried in place), and a hedge
  int live = 0;
  bool done = false;
  bool answered = false;
  bool hedged = false;
  bool hedge_won = false;
  bool partial = false;  // a lower root's answer that was partial itself
  int status = 0;
  double ms = 0;
  int retries_left = 0;
  SteadyClock::time_point hedge_at = kNever;
  std::string error;
  std::string error_kind;
  std::string child_missing;  // a lower root's X-Tender-Missing
  json::value answer;         // a merge container's input
};

// One client request being gathered.
struct FanOut : std::enable_shared_from_this<FanOut> {
  FanOut(const ScatterConfig& c, Root::Metrics& m, Root::Worker* w, Reply r)
      : cfg(c), metrics(m), worker(w), reply(std::move(r)) {}
  ~FanOut() { metrics.in_flight.fetch_sub(1, std::memory_order_relaxed); }

  const ScatterConfig& cfg;
  Root::Metrics& metrics;
  Root::Worker* worker;  // lives as long as the Root, which outlives the server's loops
  Reply reply;
  std::string method, path, query;
  std::string head;  // leaf_head
  std::string body;  // the client's body (broadcast)
  bool send_length = false;
  bool replayable = true;
  std::uint64_t hash = 0;
  SteadyClock::time_point start;
  SteadyClock::time_point deadline;
  Timing timing = Timing::kOff;
  std::vector<Call> calls;
  std::size_t open = 0;
  std::optional<Merger> merger;
  std::unique_ptr<asio::steady_timer> timer;
  bool finished = false;

  // Sends the request to every shard of `set`.
  void broadcast(const ShardSet& set);
  // Splits the body across the shards of `set` (400 when it cannot) and sends each its part.
  void split_and_launch(const ShardSet& set);
  // Starts the first try of every call.
  void launch();
  void shard_done();
  void arm_hedges();
  void on_hedge_timer();
  void finish();
  // What the shards came to: answered, missing (a lower root's as "s1/s3"), and why not.
  struct Tally {
    std::size_t answered = 0;
    bool any_timeout = false;
    bool partial = false;
    std::vector<std::string> missing;
    std::string why;
  };
  [[nodiscard]] Tally tally() const;
  void answer(Response resp, Counter* result);
  [[nodiscard]] std::optional<SteadyClock::duration> hedge_delay(Root::Worker::PerShard& ps) const;
  // Merges `a` into the request's answer (true), or says in c.error why the shard's try failed.
  [[nodiscard]] bool accept(Call& c, Http1Answer& a);
  // Whether `e` has max_leaf_requests in flight already.
  [[nodiscard]] bool leaf_full(const upstream::Endpoint& e) const {
    return cfg.max_leaf_requests != 0 &&
           e.stats->active.load(std::memory_order_relaxed) >= cfg.max_leaf_requests;
  }
  // One try's tries: sent again elsewhere after a connection failure, until it answers, fails,
  // or another try (or the deadline) ends the shard.
  static asio::awaitable<void> run_try(std::shared_ptr<FanOut> f, std::size_t ci, int slot);
  // One exchange of `t` with its leaf, counted in the leaf's stats and health.
  asio::awaitable<Result<Http1Answer>> send(Call& c, Try& t, std::string& bytes);
  // The shard answered through `t` (merged): the other try is cancelled.
  void answered_by(Call& c, Try& t, int status);
  // The shard's last try failed (c.error says why).
  void given_up(Call& c);
  // After a connection failure: points `t` at another replica when a retry is left.
  [[nodiscard]] bool retry_elsewhere(Call& c, Try& t, const Error& e);
  static asio::awaitable<void> merge_remote(std::shared_ptr<FanOut> f,
                                            std::vector<std::string> missing, bool partial);
  static asio::awaitable<void> split_remote(std::shared_ptr<FanOut> f,
                                            std::shared_ptr<const ShardSet> set);
};

// Sends `body` to the service as a JSON POST, by the request's deadline (and at least 250 ms).
asio::awaitable<Result<Http1Answer>> post_json(FanOut& f, const Service& svc,
                                               const std::string& body);
// X-Tender-Missing (and X-Tender-Partial: 1 when `partial`) on `resp`.
void mark_missing(Response& resp, const std::vector<std::string>& missing, bool partial);
// What became of an exchange, for the endpoint's health and counters.
Outcome outcome_of(const Result<Http1Answer>& r);

}  // namespace tender::scatter
