#pragma once
// The root's request path: each client request sent to every shard (or its part of a split), on
// the HTTP server's worker thread that read it, over that thread's pooled leaf connections;
// hedged after a shard's p95 within a budget, retried on another replica after a connection
// failure, gathered until every shard has answered or the deadline, merged, answered.
//
//   Root root(config, directory, registry);
//   router.add_async("*", "/*", [&](Request& req, Reply reply) { root.handle(req,
//   std::move(reply)); });
//   ...
//   server.stop();     // the loops go, and the root's idle leaf connections with them

#include <boost/json/object.hpp>
#include <memory>
#include <mutex>
#include <vector>

#include "core/http.hpp"
#include "core/metrics.hpp"
#include "scatter/scatter_config.hpp"
#include "scatter/shards.hpp"

namespace tender::scatter {

class Root {
 public:
  Root(const ScatterConfig& config, ShardDirectory& shards, Registry& metrics);
  ~Root();
  Root(const Root&) = delete;
  Root& operator=(const Root&) = delete;

  // The async handler for every client request (a server worker thread).
  void handle(Request& req, Reply reply);
  // Requests being gathered now, across workers.
  [[nodiscard]] std::size_t in_flight() const;
  [[nodiscard]] boost::json::object status() const;

  struct Worker;
  struct Metrics;
  struct Services;

 private:
  Worker& worker(Request& req);

  const ScatterConfig& config_;
  ShardDirectory& shards_;
  std::unique_ptr<Metrics> m_;
  std::shared_ptr<Services> services_;  // the merge and split containers
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Worker>> workers_;  // guarded by mu_
};

}  // namespace tender::scatter
