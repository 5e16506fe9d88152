#pragma once
// The root's shards at run time: one cluster of replicas per shard (core/upstream: balancing,
// health checks, ejection, the per-leaf concurrency limit), the set they form, and what each
// shard has shown of itself (latency, errors, hedges). Workers read the set without locks: it
// is replaced as a whole when discovery changes it.
//
//   ShardDirectory dir(config, registry, control_ioc);
//   dir.start();                                   // discovery and health checks on control
//   std::shared_ptr<const ShardSet> set = dir.current();   // any thread

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "core/upstream/cluster.hpp"
#include "core/upstream/discovery.hpp"
#include "scatter/scatter_config.hpp"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace tender::scatter {

// One shard's metrics and shared state (atomics: every worker writes them).
struct Shard {
  std::string name;
  std::shared_ptr<upstream::Cluster> cluster;
  std::uint32_t id = 0;          // unique for the directory's life: index of per-worker state
  Histogram* latency = nullptr;  // until the shard's answer, hedged or not
  Counter* requests = nullptr;   // client requests sent to the shard (first tries)
  Counter* answered = nullptr;
  Counter* hedges_sent = nullptr;
  Counter* hedges_won = nullptr;
  Counter* hedges_refused = nullptr;  // over the budget
  Counter* retries = nullptr;
  CounterFamily* errors = nullptr;       // {shard, kind}
  Gauge* slow = nullptr;                 // 1 while reported slow
  std::atomic<std::int64_t> p95_us{-1};  // the latest p95 a worker saw; -1: too few samples
  std::atomic<bool> is_slow{false};
  std::mutex mu;
  std::string last_error;  // guarded by mu
};

struct ShardSet {
  std::vector<std::shared_ptr<Shard>> shards;
  std::uint64_t version = 0;
};

class ShardDirectory {
 public:
  // Makes the configured shards' clusters (resolving static names: throws ConfigError when one
  // does not resolve). The loops start with start().
  ShardDirectory(const ScatterConfig& config, Registry& metrics, boost::asio::io_context& control);
  ~ShardDirectory();
  ShardDirectory(const ShardDirectory&) = delete;
  ShardDirectory& operator=(const ShardDirectory&) = delete;

  // Starts each shard's discovery and health checks, and the shard set's own discovery
  // (shard_set dns or file), on the control loop.
  void start();
  void stop();

  // The shard set now (any thread).
  [[nodiscard]] std::shared_ptr<const ShardSet> current() const;
  // For /statusz: each shard with its replicas, health, p95, slowness and last error.
  [[nodiscard]] boost::json::array to_json() const;
  // How many shards have at least one replica taking traffic.
  [[nodiscard]] std::size_t serving() const;
  // Recomputes which shards are slow from their latest p95s (the control loop, each second).
  void update_slow();

  // Replaces the shard set by `shards` (name and replicas each): shards that stay keep their
  // cluster and counters (the control loop; shard_set discovery).
  void set_shards(const std::vector<std::pair<std::string, upstream::NamedEndpoints>>& shards);

 private:
  std::shared_ptr<Shard> make_shard(const upstream::ClusterConfig& cluster);
  // shard_set dns: resolves the name every dns_refresh until stopped (the control loop).
  boost::asio::awaitable<void> follow_dns(std::shared_ptr<std::atomic<bool>> stopped);
  // shard_set file: reads it now, then again whenever it changes (inotify, with core's
  // FileWatch rescans as the safety net), on the control loop.
  void follow_file();
  void reload_shard_file();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::scatter
