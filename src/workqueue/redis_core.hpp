#pragma once
// The Redis store's machinery (internal): a pool of threads with a connection each, the
// subscriber that hears other servers' wake-ups, and the lease waits, served FIFO per queue.
//
//   auto core = std::make_shared<RedisCore>(address, clock, leaser);
//   core->start(std::move(first_connection));
//   core->post([](RedisConn& c) { ... });           // false once closed
//   CancelWait cancel = core->wait("emails", 10, 60s, 30s, done);
//   core->close();                                  // answers waits, drains, joins
//
// A wait is served by `leaser.lease` on a pool thread whenever its queue may have an item: a
// message on the wake channel (any server), a local wake(), or every address.poll_every
// (250 ms; delays and lease expiries come due without a message), sooner when Redis says when
// the next one is due. A
// wait cancelled (or closed) while its lease runs gets its answer at once; the items that
// lease took are handed back by `leaser.release` (so they are ready again a moment later).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "workqueue/redis_conn.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue::redis {

struct LeaseBatch {
  std::vector<Leased> items;
  std::optional<Millis> next_due;  // when a delayed item or a lease of the queue comes due
};

// How the core leases for a wait, and gives back what nobody received.
struct Leaser {
  std::function<Result<LeaseBatch>(RedisConn&, const std::string& queue, std::size_t n, Millis ttl)>
      lease;
  std::function<void(RedisConn&, const std::vector<Leased>&)> release;
};

class RedisCore : public std::enable_shared_from_this<RedisCore> {
 public:
  static constexpr std::size_t kThreads = 4;

  RedisCore(RedisAddress address, const Clock& clock, Leaser leaser);
  ~RedisCore();
  RedisCore(const RedisCore&) = delete;
  RedisCore& operator=(const RedisCore&) = delete;

  // Starts the threads; `first` (already connected) serves the first pool thread.
  void start(std::unique_ptr<RedisConn> first);
  // Runs `task` on a pool thread. False (and `task` is not run) once close() has begun.
  [[nodiscard]] bool post(std::function<void(RedisConn&)> task);
  // Waits up to `wait` for items of `queue` (see the file comment). Answers kUnavailable at
  // once when closed; errors of the lease (kNoQueue, kUnavailable) end every wait of the queue.
  CancelWait wait(const std::string& queue, std::size_t n, Millis ttl, Millis wait,
                  Done<std::vector<Leased>> done);
  // The queue may have items now: serve its waits (no-op without waits).
  void wake(const std::string& queue);
  // Called every second on a pool thread while open (the store's sweep of expired leases).
  void set_sweep(std::function<void(RedisConn&)> sweep) { sweep_ = std::move(sweep); }
  // Answers every wait empty, runs the tasks already posted, stops and joins the threads.
  // Idempotent; may be called from a pool thread (which then finishes on its own).
  void close();

 private:
  struct Waiter {
    std::size_t n = 1;
    Millis ttl{0};
    std::chrono::steady_clock::time_point deadline;
    Done<std::vector<Leased>> done;
    bool answered = false;
  };
  struct QueueWaits {
    std::deque<std::shared_ptr<Waiter>> list;
    bool serving = false;  // a serve() runs for this queue; `again` asks it for one more turn
    bool again = false;
    std::chrono::steady_clock::time_point next_poll;
  };

  void work(std::unique_ptr<RedisConn> conn);
  void subscribe();
  void tick();
  void serve(RedisConn& conn, const std::string& queue);
  // The first wait of `queue` not yet answered; null (and the queue's entry gone) when none.
  std::shared_ptr<Waiter> next_waiter(const std::string& queue);
  // Answers `waiter` with what its lease got, or fails the queue's waits, or hands back items
  // of a wait answered meanwhile. Returns whether serve() goes on with the next wait.
  bool settle(RedisConn& conn, const std::string& queue, const std::shared_ptr<Waiter>& waiter,
              Result<LeaseBatch> leased);
  void cancel(const std::shared_ptr<Waiter>& waiter);
  // With mu_ held: starts a serve() of `queue` unless one runs.
  void start_serve_locked(const std::string& queue, QueueWaits& waits);
  bool stopping() const;
  // Sleeps up to `d`, less when close() begins.
  void pause_for(std::chrono::milliseconds d);

  const RedisAddress address_;
  const Clock& clock_;
  const Leaser leaser_;
  std::function<void(RedisConn&)> sweep_;
  std::atomic<bool> sweeping_{false};  // a sweep is posted or runs

  mutable std::mutex tasks_mu_;       // taken after mu_, never before it
  std::condition_variable tasks_cv_;  // the pool's threads wait on it
  std::condition_variable stop_cv_;   // pause_for waits on it
  std::deque<std::function<void(RedisConn&)>> tasks_;
  bool closing_ = false;
  std::vector<std::thread> threads_;
  int stop_fd_ = -1;  // eventfd: readable once close() begins

  std::mutex mu_;
  std::map<std::string, QueueWaits, std::less<>> waits_;
  bool closed_ = false;
};

}  // namespace tender::workqueue::redis
