#pragma once
// Opening a connection to one endpoint of a cluster, within the cluster's connection breaker and
// a connect timeout: what the proxy's listeners and the scatter/gather root share.
//
//   UpstreamLease lease;
//   auto ec = co_await connect_upstream(socket, cluster, endpoint, 1s, lease);
//   if (ec) { ...refused, timed out, or the breaker is open (no_buffer_space)... }
//   ...use socket; the lease holds the cluster's connection slot and the endpoint's count
//   until it is released or destroyed (with the socket, usually)...

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>

#include "core/upstream/cluster.hpp"

namespace tender::upstream {

// A connection's place in its cluster's max_connections and its endpoint's connection count,
// given back when released or destroyed.
struct UpstreamLease {
  std::shared_ptr<Cluster> cluster;
  std::shared_ptr<EndpointStats> stats;
  UpstreamLease() = default;
  UpstreamLease(std::shared_ptr<Cluster> c, std::shared_ptr<EndpointStats> s)
      : cluster(std::move(c)), stats(std::move(s)) {}
  UpstreamLease(UpstreamLease&& o) noexcept = default;
  UpstreamLease& operator=(UpstreamLease&& o) noexcept {
    release();
    cluster = std::move(o.cluster);
    stats = std::move(o.stats);
    return *this;
  }
  UpstreamLease(const UpstreamLease&) = delete;
  UpstreamLease& operator=(const UpstreamLease&) = delete;
  ~UpstreamLease() { release(); }
  void release() {
    if (cluster) {
      cluster->end_connection();
      stats->connections.fetch_sub(1, std::memory_order_relaxed);
      cluster.reset();
      stats.reset();
    }
  }
};

// Connects `socket` to `e` (an address literal) within `timeout`, with the cluster's connection
// breaker and the endpoint's connection count held by `lease` once connected (TCP_NODELAY set).
// Errors: connection refused, timed_out, no_buffer_space (the breaker is open; counted as an
// overflow unless count_overflow is false), an address that is not a literal, or what connect
// returned.
boost::asio::awaitable<boost::system::error_code> connect_upstream(
    boost::asio::ip::tcp::socket& socket, const std::shared_ptr<Cluster>& cluster,
    const Endpoint& e, std::chrono::milliseconds timeout, UpstreamLease& lease,
    bool count_overflow = true);

}  // namespace tender::upstream
