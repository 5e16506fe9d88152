#include "core/upstream/connect.hpp"
#include "core/asio_util.hpp"

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace tender::upstream {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;
using asio::ip::tcp;

asio::awaitable<boost::system::error_code> connect_upstream(
    tcp::socket& socket, const std::shared_ptr<Cluster>& cluster, const Endpoint& e,
    std::chrono::milliseconds timeout, UpstreamLease& lease, bool count_overflow) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(e.address.host, ec);
  if (ec) {
    co_return ec;
  }
  if (!cluster->try_connection(count_overflow)) {
    co_return asio::error::no_buffer_space;
  }
  e.stats->connections.fetch_add(1, std::memory_order_relaxed);
  UpstreamLease held(cluster, e.stats);
  asio::steady_timer timer(socket.get_executor(), timeout);
  auto r = co_await (socket.async_connect(tcp::endpoint(addr, e.address.port), kTuple) ||
                     timer.async_wait(kTuple));
  if (r.index() == 1) {
    socket.close(ec);
    co_return asio::error::timed_out;
  }
  auto [cec] = std::get<0>(r);
  if (cec) {
    co_return cec;
  }
  socket.set_option(tcp::no_delay(true), ec);
  lease = std::move(held);
  co_return boost::system::error_code{};
}

}  // namespace tender::upstream
