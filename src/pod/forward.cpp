#include "pod/forward.hpp"

#include <array>
#include <boost/asio.hpp>
#include <list>

#include "core/asio_util.hpp"
#include "core/log.hpp"
#include "core/netns.hpp"

namespace tender::pod {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class Forward final : public TcpForward, public std::enable_shared_from_this<Forward> {
 public:
  Forward(const asio::any_io_executor& ex, tcp::endpoint target, int target_ns)
      : ex_(ex), acceptor_(ex), target_(target), target_ns_(target_ns) {}

  boost::system::error_code listen(const tcp::endpoint& at, int listen_ns) {
    boost::system::error_code ec;
    std::optional<NetnsScope> in;
    if (listen_ns >= 0) {
      in.emplace(listen_ns);
      if (in->error()) {
        return in->error();
      }
    }
    acceptor_.open(at.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor_.bind(at, ec);
    }
    if (!ec) {
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    return ec;
  }

  void run() { asio::co_spawn(ex_, accept_loop(shared_from_this()), asio::detached); }

  void stop() override {
    stopped_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& pair : pairs_) {
      pair.first.close(ignored);
      pair.second.close(ignored);
    }
  }

  tcp::endpoint local_endpoint() const override {
    boost::system::error_code ec;
    return acceptor_.local_endpoint(ec);
  }

 private:
  using Pair = std::pair<tcp::socket, tcp::socket>;

  static asio::awaitable<void> accept_loop(std::shared_ptr<Forward> self) {
    while (!self->stopped_) {
      auto [ec, client] = co_await self->acceptor_.async_accept(kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || self->stopped_) {
          break;
        }
        // e.g. EMFILE: keep serving the connections we have, and try again a little later.
        asio::steady_timer t(self->ex_, std::chrono::milliseconds(100));
        co_await t.async_wait(kTuple);
        continue;
      }
      asio::co_spawn(self->ex_, serve(self, std::move(client)), asio::detached);
    }
  }

  static asio::awaitable<void> serve(std::shared_ptr<Forward> self, tcp::socket client) {
    tcp::socket upstream(self->ex_);
    boost::system::error_code ec;
    {
      std::optional<NetnsScope> in;
      if (self->target_ns_ >= 0) {
        in.emplace(self->target_ns_);
      }
      if (in && in->error()) {
        ec = in->error();
      } else {
        upstream.open(self->target_.protocol(), ec);
      }
    }
    if (ec) {
      log::warn("forward: cannot open a socket", {{"error", ec.message()}});
      co_return;
    }
    auto [cec] = co_await upstream.async_connect(self->target_, kTuple);
    if (cec || self->stopped_) {
      co_return;  // closing the client tells it the target is not there
    }
    self->pairs_.emplace_back(std::move(client), std::move(upstream));
    auto it = std::prev(self->pairs_.end());
    auto open = std::make_shared<int>(2);
    auto done = [self, it, open](const std::exception_ptr&) {
      if (--*open == 0) {
        self->pairs_.erase(it);
      }
    };
    asio::co_spawn(self->ex_, copy(it->first, it->second), done);
    asio::co_spawn(self->ex_, copy(it->second, it->first), done);
  }

  static asio::awaitable<void> copy(tcp::socket& from, tcp::socket& to) {
    co_await relay(from, to, [](std::size_t) {});
  }

  asio::any_io_executor ex_;
  tcp::acceptor acceptor_;
  tcp::endpoint target_;
  int target_ns_;
  bool stopped_ = false;
  std::list<Pair> pairs_;
};

}  // namespace

boost::system::result<std::shared_ptr<TcpForward>> TcpForward::start(
    const asio::any_io_executor& ex, const tcp::endpoint& listen, int listen_ns,
    const tcp::endpoint& target, int target_ns) {
  auto f = std::make_shared<Forward>(ex, target, target_ns);
  if (auto ec = f->listen(listen, listen_ns)) {
    return ec;
  }
  f->run();
  return std::shared_ptr<TcpForward>(f);
}

}  // namespace tender::pod
