// The http listener: HTTP/1.1 with keep-alive on both sides, pooled upstream connections per
// worker and endpoint, routing by path prefix and Host, a request timeout and a per-try timeout,
// retries (idempotent requests; any request whose connect failed) within a retry budget and the
// cluster's retry breaker, X-Forwarded-For, and WebSocket upgrades as byte tunnels.
//
// Messages are not rebuilt: the head is parsed in place (http1.hpp), its fields copied to the
// next hop less the hop-by-hop ones, and bodies stream through as they arrive. A request body of
// up to 64 KiB is read whole first so that the request can be sent again on a retry; a larger or
// chunked one streams, and is not retried once any of it went upstream.
//
// This file holds the listener on one worker: its client connections, its pool of idle upstream
// connections, the requests waiting for a connection (max_connections) and the retry budget.
// One exchange, a request and its response, is in http_exchange.cpp.
#include <sys/socket.h>
#include <algorithm>
#include <cerrno>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "ambassador/http_listener.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"

namespace tender::ambassador {
namespace http_internal {
namespace {

constexpr std::size_t kPoolPerEndpoint = 64;  // idle upstream connections per worker

// How many retries may be in flight to `c` now, over all workers, by `l`'s retry budget.
std::uint32_t retry_budget(const ListenerConfig& l, const Cluster& c) {
  double share = l.retry_budget_percent / 100.0 *
                 static_cast<double>(c.active_requests() + c.pending_requests());
  return std::max(l.min_retry_concurrency, static_cast<std::uint32_t>(share));
}

}  // namespace

void HttpListener::listen_slots() {
  for (const auto& c : state_->clusters) {
    c->listen_slots(shared_from_this());
  }
}

void HttpListener::on_slot(const upstream::Cluster& cluster, bool wanted) {
  asio::post(worker_.ioc(), [self = shared_from_this(), c = &cluster, wanted] {
    if (!self->wake_one(c) && wanted) {
      self->close_idle(c);
    }
  });
}

void HttpListener::stop(bool close_all) {
  close_acceptor();
  draining_ = true;
  // Closing all: upstream connections in use too, which ends upgrade tunnels at once.
  for (Conn* c = deadlines_.head(); c != nullptr; c = c->next) {
    if (close_all || (c->client && c->idle)) {
      shut_down(c->socket);
    }
  }
  if (close_all) {
    pool_.clear();
    stopped_ = true;
    for (SlotWaiter* w : slot_waiters_) {
      w->woken = true;
      w->timer.cancel();
    }
  }
  deadlines_.stop();
}

asio::awaitable<void> HttpListener::serve(std::shared_ptr<HttpListener> self, tcp::socket socket) {
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto peer = socket.remote_endpoint(ec);
  std::string client_ip = ec ? "" : peer.address().to_string();
  Conn client(std::move(socket));
  client.client = true;
  self->deadlines_.add(client);
  self->count_->fetch_add(1);
  auto state = self->state_;
  state->connections->inc();
  Exchange x;
  for (;;) {
    state = self->state_;  // a reload applies from the next request on
    if (self->draining_ || !co_await self->exchange(*state, client, client_ip, x)) {
      break;
    }
  }
  client.socket.shutdown(tcp::socket::shutdown_send, ec);
  client.socket.close(ec);
  self->deadlines_.remove(client);
  self->count_->fetch_sub(1);
  state->connections->dec();
}

void HttpListener::update(std::shared_ptr<const ListenerState> state) {
  for (auto it = pool_.begin(); it != pool_.end();) {
    const auto& conns = it->second;
    bool routed = !conns.empty() && std::any_of(state->clusters.begin(), state->clusters.end(),
                                                [&](const std::shared_ptr<Cluster>& c) {
                                                  return c == conns.front()->lease.cluster;
                                                });
    it = routed ? std::next(it) : pool_.erase(it);
  }
  ListenerBase::update(std::move(state));
  listen_slots();
}

void HttpListener::prune(Cluster& cluster) {
  membership_.prune(
      cluster, pool_,
      [&](const auto& conns) {
        return conns.empty() || conns.front()->lease.cluster.get() == &cluster;
      },
      [](auto&) {});  // erasing closes them
}

std::unique_ptr<Upstream> HttpListener::take_pooled(const EndpointStats* id, bool can_retry) {
  auto it = pool_.find(id);
  while (it != pool_.end() && !it->second.empty()) {
    auto conn = std::move(it->second.back());
    it->second.pop_back();
    if (!conn->socket.is_open()) {
      continue;
    }
    if (!can_retry) {
      char c = 0;
      auto got = ::recv(conn->socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        continue;  // closed, or sent something unasked: not usable
      }
    }
    conn->timed_out = false;
    return conn;
  }
  return nullptr;
}

void HttpListener::put_pooled(const EndpointStats* id, std::unique_ptr<Upstream> conn) {
  if (stopped_) {
    return;  // closed
  }
  const upstream::Cluster* c = conn->lease.cluster.get();
  auto& idle = pool_[id];
  idle.push_back(std::move(conn));
  if (wake_one(c)) {
    return;  // a request waiting here takes it, or its slot
  }
  if (c->connections_wanted()) {
    idle.pop_back();  // closed: its slot goes to a request waiting on another worker
  } else if (idle.size() > kPoolPerEndpoint) {
    idle.erase(idle.begin());
  }
}

bool HttpListener::close_idle(const upstream::Cluster* cluster) {
  for (auto& [id, conns] : pool_) {
    if (!conns.empty() && conns.front()->lease.cluster.get() == cluster) {
      conns.pop_back();
      return true;
    }
  }
  return false;
}

asio::awaitable<HttpListener::Wait> HttpListener::wait_slot(const upstream::Cluster* cluster,
                                                            SteadyClock::time_point deadline) {
  if (stopped_) {
    co_return Wait::kStopped;
  }
  SlotWaiter w{cluster, asio::steady_timer(worker_.ioc(), deadline)};
  auto at = slot_waiters_.insert(slot_waiters_.end(), &w);
  co_await w.timer.async_wait(kTuple);
  slot_waiters_.erase(at);
  co_return stopped_ ? Wait::kStopped : w.woken ? Wait::kWoken : Wait::kTimedOut;
}

asio::awaitable<bool> HttpListener::wait_retry(const ListenerConfig& cfg, Cluster& cluster,
                                               SteadyClock::time_point deadline) {
  auto pause = milliseconds(1);
  while (!cluster.try_retry(retry_budget(cfg, cluster))) {
    auto now = SteadyClock::now();
    if (stopped_ || now + pause >= deadline) {
      co_return false;
    }
    asio::steady_timer t(worker_.ioc(), pause);
    co_await t.async_wait(kTuple);
    pause = std::min(pause * 2, milliseconds(50));
  }
  co_return true;
}

bool HttpListener::wake_one(const upstream::Cluster* cluster) {
  for (SlotWaiter* w : slot_waiters_) {
    if (w->cluster == cluster && !w->woken) {
      w->woken = true;
      w->timer.cancel();
      return true;
    }
  }
  return false;
}

}  // namespace http_internal

std::shared_ptr<WorkerListener> make_http_listener(Worker& worker, tcp::acceptor acceptor,
                                                   std::shared_ptr<const ListenerState> state) {
  auto l =
      std::make_shared<http_internal::HttpListener>(worker, std::move(acceptor), std::move(state));
  l->start();
  l->start_sweeper();
  l->listen_slots();
  return l;
}

}  // namespace tender::ambassador
