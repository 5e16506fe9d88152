// The tcp listener: L4 forwarding with connect timeout and retry on another endpoint, idle
// timeout, and half-close passed on in both directions.
#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <list>

#include "ambassador/worker.hpp"
#include "core/asio_util.hpp"
#include "core/log.hpp"

namespace tender::ambassador {

using asio::experimental::awaitable_operators::operator||;

namespace {

class TcpListener final : public ListenerBase<TcpListener> {
 public:
  using ListenerBase::ListenerBase;

  void stop(bool close_all) override {
    boost::system::error_code ec;
    close_acceptor();
    if (close_all) {
      for (auto* s : sessions_) {
        s->first.close(ec);
        s->second.close(ec);
      }
    }
  }

  using Pair = std::pair<tcp::socket, tcp::socket>;

  static asio::awaitable<void> serve(std::shared_ptr<TcpListener> self, tcp::socket client) {
    auto state = self->state_;
    const auto& cfg = state->config;
    auto& cluster = state->clusters.front();
    state->requests->inc();
    state->connections->inc();
    self->count_->fetch_add(1);
    struct Done {
      TcpListener* l;
      Gauge* g;
      ~Done() {
        g->dec();
        l->count_->fetch_sub(1);
      }
    } done{self.get(), state->connections};

    boost::system::error_code ec;
    auto peer = client.remote_endpoint(ec);
    std::uint64_t hash = ec ? 0 : hash_key(peer.address().to_string());
    auto connect_timeout = cluster->connect_timeout();
    tcp::socket upstream(self->worker_.ioc());
    UpstreamLease lease;
    const EndpointStats* tried = nullptr;
    Picked e;
    // A refused or timed-out connect is tried once more on another endpoint.
    for (int attempt = 0; attempt < 2; ++attempt) {
      e = self->worker_.view(cluster).pick(hash, tried);
      if (!e) {
        break;
      }
      auto cec = co_await connect_upstream(upstream, cluster, *e, connect_timeout, lease);
      if (!cec) {
        break;
      }
      cluster->record(*e,
                      cec == asio::error::timed_out ? Outcome::kTimeout : Outcome::kConnectFailure);
      state->errors->with({cfg.name, "upstream_connect"}).inc();
      tried = e.id();
      e = Picked();
      upstream = tcp::socket(self->worker_.ioc());
    }
    if (!e) {
      if (self->worker_.view(cluster).owner_down() != nullptr) {
        state->errors->with({cfg.name, "shard_down"}).inc();
      } else if (tried == nullptr) {
        state->errors->with({cfg.name, "no_endpoint"}).inc();
      }
      co_return;  // closing the client says there is nobody to talk to
    }
    // In flight for as long as the connection lasts (least_request weighs it).
    e->stats->active.fetch_add(1, std::memory_order_relaxed);
    struct EndActive {
      std::shared_ptr<EndpointStats> s;
      ~EndActive() { s->active.fetch_sub(1, std::memory_order_relaxed); }
    } end_active{e->stats};
    e->stats->m_requests->inc();
    cluster->record(*e, Outcome::kSuccess);
    client.set_option(tcp::no_delay(true), ec);

    auto idle = cfg.effective_idle_timeout();
    Pair pair(std::move(client), std::move(upstream));
    self->sessions_.push_back(&pair);
    auto it = std::prev(self->sessions_.end());
    // When a byte last went either way; the idle watch reads it (all of it lives in this frame).
    auto last = std::chrono::steady_clock::now();
    auto* stats = e->stats.get();
    co_await (both_ways(pair, last, stats) ||
              shut_down_when_idle(pair.first, pair.second, last, idle));
    self->sessions_.erase(it);
  }

 private:
  static asio::awaitable<void> both_ways(Pair& p, std::chrono::steady_clock::time_point& last,
                                         EndpointStats* stats) {
    using asio::experimental::awaitable_operators::operator&&;
    co_await (copy(p.first, p.second, last, stats->m_bytes_out) &&
              copy(p.second, p.first, last, stats->m_bytes_in));
  }

  static asio::awaitable<void> copy(tcp::socket& from, tcp::socket& to,
                                    std::chrono::steady_clock::time_point& last, Counter* bytes) {
    co_await relay(from, to, [&](std::size_t n) {
      last = std::chrono::steady_clock::now();
      bytes->inc(n);
    });
  }

  std::list<Pair*> sessions_;
};

}  // namespace

std::shared_ptr<WorkerListener> make_tcp_listener(Worker& worker, tcp::acceptor acceptor,
                                                  std::shared_ptr<const ListenerState> state) {
  auto l = std::make_shared<TcpListener>(worker, std::move(acceptor), std::move(state));
  l->start();
  return l;
}

}  // namespace tender::ambassador
