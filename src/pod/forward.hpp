#pragma once
// A TCP forwarder between network namespaces: it listens with a socket of one namespace and
// connects, for every accepted connection, with a socket of another, then copies bytes both
// ways (half-closes passed on). The pod runner uses it for hostPort (host loopback -> pod) and
// to let pods reach the runner's API (run namespace -> host loopback).
//
//   auto fwd = TcpForward::start(ioc.get_executor(), {addr, 8080}, host_ns_fd,
//                                {pod_ip, 8080}, -1);   // -1: the calling thread's namespace
//   ...
//   (*fwd)->stop();   // closes the listener and every forwarded connection
//
// Single-threaded: runs on the executor's one thread, and start()/stop() are called there.

#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/result.hpp>

namespace tender::pod {

class TcpForward {
 public:
  // Binds and listens on `listen` in namespace `listen_ns` (an fd; -1: the calling thread's).
  // Each connection is forwarded to `target` from a socket of `target_ns` (-1: the namespace of
  // the thread that runs the executor). Errors: from bind (EADDRINUSE, ...), or setns.
  [[nodiscard]] static boost::system::result<std::shared_ptr<TcpForward>> start(
      const boost::asio::any_io_executor& ex, const boost::asio::ip::tcp::endpoint& listen,
      int listen_ns, const boost::asio::ip::tcp::endpoint& target, int target_ns);

  // Stops accepting and closes every open connection.
  virtual void stop() = 0;
  [[nodiscard]] virtual boost::asio::ip::tcp::endpoint local_endpoint() const = 0;
  virtual ~TcpForward() = default;
};

}  // namespace tender::pod
