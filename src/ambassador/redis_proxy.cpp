// The redis listener: a RESP2 proxy that shards by key over a cluster, as twemproxy does.
// Each worker keeps one pipelined connection per server, shared by its clients; replies go
// back to every client in the order of its commands, whatever order the servers answer in.
//
// This file holds the listener, which accepts clients and owns the worker's connections to
// servers; redis_conn.hpp declares what its other files share: the connections to servers
// (redis_server_conn.cpp), the client sessions (redis_client.cpp) and what they do with each
// command (redis_commands.cpp).
#include <memory>
#include <utility>

#include "ambassador/redis_conn.hpp"
#include "ambassador/worker.hpp"
#include "core/conn.hpp"

namespace tender::ambassador {
namespace redis_internal {

void RedisListener::stop(bool close_all) {
  close_acceptor();
  stopped_ = true;
  if (close_all) {
    close_servers();
    for (auto* c : clients_) {
      c->close();
    }
  } else {
    for (auto* c : clients_) {
      c->drain();
    }
    session_ended();
  }
  deadlines_.stop();
}

void RedisListener::session_ended() {
  if (stopped_ && clients_.empty()) {
    close_servers();
  }
}

ServerConn* RedisListener::server(const std::shared_ptr<Cluster>& cluster, const Endpoint& e,
                                  const ListenerConfig& cfg) {
  prune(*cluster);
  auto& s = servers_[e.stats.get()];  // the ServerConn keeps the stats alive
  if (!s) {
    s = std::make_shared<ServerConn>(worker_, weak_from_this(), deadlines_, cluster, e, cfg.timeout,
                                     cfg.max_bulk_bytes);
  }
  return s.get();
}

asio::awaitable<void> RedisListener::serve(std::shared_ptr<RedisListener> self, tcp::socket s) {
  boost::system::error_code ignored;
  s.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<ClientSession>(self, std::move(s), self->state_);
  co_await ClientSession::run(session);
}

void RedisListener::close_servers() {
  for (auto& [k, s] : servers_) {
    s->close();
  }
  servers_.clear();  // a connection still closing holds itself
}

void RedisListener::prune(Cluster& cluster) {
  membership_.prune(
      cluster, servers_, [&](const auto& s) { return s->cluster() == &cluster; },
      [](const auto& s) { s->retire(); });
}

}  // namespace redis_internal

std::shared_ptr<WorkerListener> make_redis_listener(Worker& worker, tcp::acceptor acceptor,
                                                    std::shared_ptr<const ListenerState> state) {
  auto l = std::make_shared<redis_internal::RedisListener>(worker, std::move(acceptor),
                                                           std::move(state));
  l->start();
  l->start_sweeper();
  return l;
}

}  // namespace tender::ambassador
