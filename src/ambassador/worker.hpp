#pragma once
// The proxy's insides shared by its listeners: a worker thread with its own io_context, its
// views of the clusters, and the listener interface each protocol implements. Not public.
//
// Threads: every connection lives on the worker that accepted it, and only that worker's thread
// starts or completes operations on it. A listener's state (config and clusters) is immutable
// and replaced as a whole on reload, posted to each worker, so the request path reads it
// without locks.

#include <algorithm>
#include <boost/asio.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ambassador/cluster.hpp"
#include "ambassador/config.hpp"
#include "core/asio_util.hpp"
#include "core/metrics.hpp"
#include "core/poll_loop.hpp"
#include "core/process.hpp"
#include "core/upstream/connect.hpp"
#include "core/upstream/discovery.hpp"
#include "core/uring.hpp"

namespace tender::ambassador {

namespace asio = boost::asio;
using asio::ip::tcp;

// A listener's configuration and the clusters it sends to (one per route for http, else one).
struct ListenerState {
  ListenerConfig config;
  std::vector<std::shared_ptr<Cluster>> clusters;
  // Metrics of this listener, resolved once.
  Counter* requests = nullptr;      // redis commands, http requests, tcp connections
  CounterFamily* errors = nullptr;  // {listener, kind}
  Gauge* connections = nullptr;
  Histogram* latency = nullptr;
  // redis: bytes of partial commands its clients' buffers hold, on every worker (what
  // max_input_bytes bounds); one gauge per listener name, kept across reloads.
  Gauge* buffered = nullptr;
};

class Worker;

// One protocol's accept loop and sessions on one worker.
class WorkerListener {
 public:
  virtual ~WorkerListener() = default;
  // Takes the new state for connections accepted from now on (and for new requests of open
  // connections, where the protocol allows).
  virtual void update(std::shared_ptr<const ListenerState> state) = 0;
  // Stops accepting; open connections carry on (drain) unless close_all.
  virtual void stop(bool close_all) = 0;
  // Open downstream connections.
  [[nodiscard]] virtual std::size_t connections() const = 0;
  // The same count, to read after the listener is gone from the caller's hands (retired by a
  // reload, its connections still draining on the worker).
  [[nodiscard]] virtual std::shared_ptr<const std::atomic<std::size_t>> connection_count()
      const = 0;
};

class Worker {
 public:
  // With `io_uring`, the worker's http and redis sockets read and write through a ring when
  // the kernel allows one (ring_refused() says why not otherwise). Out of work, the worker spins
  // looking for more for up to `busy_poll` before it sleeps (core/poll_loop.hpp); `wakeups`
  // count how it woke.
  Worker(int index, bool io_uring, std::chrono::microseconds busy_poll, PollCounters wakeups)
      : index_(index), poll_(busy_poll), wakeups_(wakeups) {
    if (io_uring) {
      if (auto ring = Ring::open(ioc_)) {
        ring_ = std::move(*ring);
      } else {
        ring_refused_ = ring.error().message();
      }
    } else {
      ring_refused_ = "turned off (io_uring: off)";
    }
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  [[nodiscard]] int index() const { return index_; }
  asio::io_context& ioc() { return ioc_; }
  [[nodiscard]] Ring* ring() { return ring_.get(); }
  [[nodiscard]] const std::string& ring_refused() const { return ring_refused_; }
  // Before run(): back to epoll (another worker could not have a ring: all or none).
  void drop_ring(std::string why) {
    ring_.reset();
    ring_refused_ = std::move(why);
  }
  // This worker's view of `cluster` (worker thread only). A view is used between two
  // suspensions only (what outlives one, a Picked, holds its own references), so when a new
  // one is made, those of clusters nothing else holds any more (a reload removed them, their
  // last requests are done) go.
  WorkerCluster& view(const std::shared_ptr<Cluster>& cluster) {
    auto it = views_.find(cluster.get());
    if (it != views_.end() && it->second->shared() == cluster) {
      return *it->second;
    }
    std::erase_if(views_, [&](const auto& v) {
      return v.first != cluster.get() && v.second->shared().use_count() == 1;
    });
    auto& v = views_[cluster.get()];
    v = std::make_unique<WorkerCluster>(cluster);
    return *v;
  }
  [[nodiscard]] std::size_t views() const { return views_.size(); }
  void run() {
    thread_ = std::thread([this] {
      name_this_thread("proxy-worker-" + std::to_string(index_));
      auto guard = asio::make_work_guard(ioc_);
      run_polling(ioc_, poll_, wakeups_, &at_idle_);
    });
  }
  // Runs `work` once the handlers ready now have run (worker thread only), to gather what they
  // add to it. With busy polling, when the worker is out of ready work (AtIdle): looking for
  // more costs little, so one write can wait for everything. Without, after the handlers of
  // this turn of the loop: holding work until the loop is idle would put the worker to sleep
  // right after each write, and a sleep costs more than the write it saves.
  void after_ready(std::function<void()> work) {
    if (poll_.budget().count() > 0) {
      at_idle_.defer(std::move(work));
    } else {
      asio::post(ioc_, std::move(work));
    }
  }
  // A reload's busy_poll (any thread).
  void set_busy_poll(std::chrono::microseconds budget) { poll_.set(budget); }
  // Stops the loop once what was posted to it so far has run (a listener's stop among them).
  void join() {
    asio::post(ioc_, [this] { ioc_.stop(); });
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  int index_;
  // Before ioc_, so destroyed after it: coroutine frames the io_context destroys with it may
  // still use their cluster's view (views hold no sockets).
  std::unordered_map<Cluster*, std::unique_ptr<WorkerCluster>> views_;
  // One thread runs it, and only it starts and completes operations on its sockets (others post
  // to it), so the reactor's per-socket locks are left out; posting still takes a lock.
  asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::unique_ptr<Ring> ring_;  // after ioc_: goes first
  AtIdle at_idle_;              // after ioc_: what it holds may own sockets
  std::string ring_refused_;
  BusyPoll poll_;
  PollCounters wakeups_;
  std::thread thread_;
};

// Tells a listener when a cluster's endpoints may have changed since it last looked, and
// which of the upstream connections it keeps (keyed by endpoint stats) lead to endpoints that
// left. Worker thread only.
class MembershipWatch {
 public:
  // Calls gone(value) and erases the entry for each key of `conns` (endpoint stats) whose
  // endpoint is no longer in `cluster` and for which mine(value) holds; only when the
  // cluster's generation moved since the last call for it.
  template <typename Map, typename Mine, typename Gone>
  void prune(const Cluster& cluster, Map& conns, Mine&& mine, Gone&& gone) {
    auto gen = cluster.generation();
    if (&cluster == last_ && gen == last_gen_) {
      return;  // the common case, without a lookup: the same cluster, unchanged
    }
    last_ = &cluster;
    last_gen_ = gen;
    auto& seen = seen_[&cluster];
    if (seen == gen) {
      return;
    }
    seen = gen;
    auto eps = cluster.endpoints();
    for (auto it = conns.begin(); it != conns.end();) {
      bool member = std::any_of(eps->begin(), eps->end(),
                                [&](const Endpoint& e) { return e.stats.get() == it->first; });
      if (!member && mine(it->second)) {
        gone(it->second);
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }

 private:
  std::unordered_map<const Cluster*, std::uint64_t> seen_;
  const Cluster* last_ = nullptr;  // the cluster of the last call, and its generation then
  std::uint64_t last_gen_ = 0;
};

// Protocol implementations (tcp_proxy.cpp, redis_proxy.cpp, http_proxy.cpp). `acceptor` is
// bound and listening; the listener starts accepting on the worker's thread.
std::shared_ptr<WorkerListener> make_tcp_listener(Worker& worker, tcp::acceptor acceptor,
                                                  std::shared_ptr<const ListenerState> state);
std::shared_ptr<WorkerListener> make_http_listener(Worker& worker, tcp::acceptor acceptor,
                                                   std::shared_ptr<const ListenerState> state);
std::shared_ptr<WorkerListener> make_redis_listener(Worker& worker, tcp::acceptor acceptor,
                                                    std::shared_ptr<const ListenerState> state);

using upstream::connect_upstream;
using upstream::UpstreamLease;

}  // namespace tender::ambassador

namespace tender::ambassador {

// What every protocol's listener shares: its worker, its acceptor, the state in force, the
// connection count, and the accept loop, which hands each connection to the coroutine
// Derived::serve(std::shared_ptr<Derived>, tcp::socket) on the worker.
template <typename Derived>
class ListenerBase : public WorkerListener, public std::enable_shared_from_this<Derived> {
 public:
  ListenerBase(Worker& w, tcp::acceptor a, std::shared_ptr<const ListenerState> state)
      : worker_(w), acceptor_(std::move(a)), state_(std::move(state)) {}

  void start() {
    asio::co_spawn(worker_.ioc(), accept_loop(this->shared_from_this()), asio::detached);
  }
  void update(std::shared_ptr<const ListenerState> state) override { state_ = std::move(state); }
  [[nodiscard]] std::size_t connections() const override { return count_->load(); }
  [[nodiscard]] std::shared_ptr<const std::atomic<std::size_t>> connection_count() const override {
    return count_;
  }
  [[nodiscard]] Worker& worker() { return worker_; }

 protected:
  void close_acceptor() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  Worker& worker_;
  tcp::acceptor acceptor_;
  std::shared_ptr<const ListenerState> state_;
  std::shared_ptr<std::atomic<std::size_t>> count_ = std::make_shared<std::atomic<std::size_t>>(0);

 private:
  static asio::awaitable<void> accept_loop(std::shared_ptr<Derived> self) {
    for (;;) {
      auto [ec, s] = co_await self->acceptor_.async_accept(kTuple);
      if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) {
        co_return;
      }
      if (ec) {  // e.g. EMFILE: serve what is open, try again shortly
        asio::steady_timer t(self->worker_.ioc(), std::chrono::milliseconds(100));
        co_await t.async_wait(kTuple);
        continue;
      }
      asio::co_spawn(self->worker_.ioc(), Derived::serve(self, std::move(s)), asio::detached);
    }
  }
};

}  // namespace tender::ambassador
