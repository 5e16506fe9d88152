#pragma once
// The work queue's store: named queues of items that are enqueued, leased, acked, nacked,
// extended and buried, behind one interface with three implementations (memory, SQLite,
// Redis). The HTTP API (server.cpp) and the shared test suite (store_test.cpp) see only this.
//
//   auto store = open_store("sqlite:/var/lib/tender/queue.db", settings);  // Result<unique_ptr>
//   if (!store) { throw ConfigError(store.error().message()); }            // names the path
//   (*store)->enqueue("emails", {NewItem{.payload = "hi"}}, [](Result<std::vector<Enqueued>> r) {
//     // any thread, once the item is durable (memory: at once)
//   });
//   (*store)->lease("emails", {.n = 1, .wait = 30s}, [](Result<std::vector<Leased>> r) { ... });
//
// Every operation answers through its `Done` exactly once, on any thread (a store's own
// thread, or the caller's before the call returns), and must not block the caller for I/O
// longer than a lock held for memory work. Errors carry an `Errc` below (http_status maps them
// to the API's status codes) and a message a person can act on, naming the queue or item.
//
// Item ids are unique within the store (across its queues), increase with enqueue order, and
// are never reused. A lease id is a fresh random token per lease: the capability to ack,
// nack, extend or bury that one delivery. Once the lease has expired (or the item was
// acked, nacked, buried or leased again), the old lease id gets kStaleLease.
//
// Time: lease expiry, delays and retention are decided on the store's Clock (wall time, since
// leases outlive a restart and, for Redis, are shared between hosts).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace tender::workqueue {

// The store's errors, each with the HTTP status the API answers with.
enum class Errc {
  kInvalid = 1,  // 400: a bad argument (name, count, duration); the message names it
  kNoQueue,      // 404: the queue does not exist (and auto-create is off, or it was a read)
  kNoItem,       // 404: no item with that id (never was, or forgotten after retention)
  kStaleLease,   // 409: the lease id is not the item's current lease
  kNotDead,      // 409: requeue/purge of a dead item that is not dead
  kTooLarge,     // 413: payload over the queue's max_payload_bytes
  kFull,         // 429: the queue holds max_items, or the store max_queues
  kUnavailable,  // 503: the store cannot answer now (disk error, Redis down, closing)
};
[[nodiscard]] const boost::system::error_category& category();
[[nodiscard]] inline boost::system::error_code make_error_code(Errc e) {
  return {static_cast<int>(e), category()};
}
// The HTTP status for `error`: Errc's above; 503 for any error of another category.
[[nodiscard]] int http_status(const Error& error);
// Shorthand for Error(make_error_code(e), message).
[[nodiscard]] Error queue_error(Errc e, std::string message);

using Millis = std::chrono::milliseconds;
using WallTime = std::chrono::system_clock::time_point;

// A queue's settings: from the config's `queues:` (declared queues) or `queue_defaults:`.
struct QueueSettings {
  int max_attempts = 5;                     // leases before an item goes dead (1..1000)
  Millis lease_ttl{60'000};                 // a lease's TTL when the lease asks none
  Millis retry_backoff{1'000};              // a nacked item waits this after its 1st attempt,
  Millis retry_backoff_max{300'000};        //   doubling per attempt up to this
  std::size_t max_payload_bytes = 1 << 20;  // larger enqueues get kTooLarge
  std::size_t max_items = 1'000'000;        // ready + delayed + leased + dead; then kFull

  // The wait after a nack of attempt `attempt` (1-based): retry_backoff * 2^(attempt-1),
  // at most retry_backoff_max.
  [[nodiscard]] Millis backoff(int attempt) const;
};

struct StoreSettings {
  QueueSettings defaults;
  std::map<std::string, QueueSettings, std::less<>> declared;  // exist from the start
  // Queues other than the declared ones are created by an enqueue or a lease naming them.
  // Off: those get kNoQueue.
  bool auto_create = true;
  std::size_t max_queues = 10'000;
  Millis retention{600'000};                // acked items (and results) are kept this long
  Millis idempotency_window{600'000};       // an idempotency key names its first item this long
  std::size_t max_result_bytes = 64 << 10;  // ack results and nack errors are cut to this
  const Clock* clock = &system_clock();
};

// A valid queue name: 1..128 of [A-Za-z0-9._-]. The error (kInvalid) says why not.
[[nodiscard]] Result<> check_queue_name(std::string_view name);

enum class State { kReady, kDelayed, kLeased, kDone, kDead };
[[nodiscard]] std::string_view state_name(State s);  // "ready", "delayed", ... "done", "dead"

struct NewItem {
  std::string payload;
  int priority = 0;                 // -1000..1000; higher is leased first, then by id
  Millis delay{0};                  // not leasable before now + delay
  std::optional<int> max_attempts;  // overrides the queue's
  std::string idempotency_key;      // empty: none
};

struct Enqueued {
  std::uint64_t id = 0;
  bool created = true;  // false: the idempotency key named an earlier item, whose id this is
};

struct LeaseOptions {
  std::size_t n = 1;          // 1..1000
  std::optional<Millis> ttl;  // default: the queue's lease_ttl
  Millis wait{0};             // how long to wait for a first item when none is ready
};

struct Leased {
  std::uint64_t id = 0;
  std::string queue;
  std::string lease_id;
  std::string payload;
  int attempt = 0;  // 1 on the first lease
  int max_attempts = 0;
  int priority = 0;
  WallTime enqueued;
  WallTime lease_expires;
};

// What GET /v1/items/ID shows. The lease id is never shown: it is the worker's capability.
struct ItemView {
  std::uint64_t id = 0;
  std::string queue;
  State state = State::kReady;
  int priority = 0;
  int attempts = 0;  // leases so far
  int max_attempts = 0;
  WallTime enqueued;
  std::optional<WallTime> ready_at;       // delayed: when it becomes ready
  std::optional<WallTime> lease_expires;  // leased
  std::optional<WallTime> finished;       // done or dead: when
  std::string error;                      // the last nack's or bury's error, or lease expiry's
  std::string result;                     // done: what the ack carried
  std::optional<std::string> payload;     // when asked for
};

struct NackOutcome {
  State state = State::kDelayed;  // kDelayed (or kReady for a zero delay), or kDead
  std::optional<WallTime> ready_at;
};

struct QueueCounts {
  std::uint64_t ready = 0;
  std::uint64_t delayed = 0;
  std::uint64_t leased = 0;
  std::uint64_t done = 0;  // acked and still retained
  std::uint64_t dead = 0;
};

struct QueueInfo {
  std::string name;
  bool paused = false;
  QueueSettings settings;
  QueueCounts counts;
  std::optional<WallTime> oldest_ready;  // the enqueue time of the oldest ready item
};

// Counters for /metrics and /statusz, cumulative since the store opened.
struct StoreStats {
  std::uint64_t commits = 0;           // durable writes (transactions, fsyncs); 0: memory
  std::uint64_t committed_writes = 0;  // operations in them
  std::uint64_t expired_leases = 0;
  std::size_t largest_batch = 0;
};

template <class T>
using Done = std::function<void(Result<T>)>;

// A started lease wait: cancel() answers it at once with what it has (nothing), unless it has
// been answered already. Copyable; calling it after the answer does nothing.
using CancelWait = std::function<void()>;

// Observes each durable commit (for the batch-size and fsync-latency histograms). Called on
// the store's writer thread; must be quick.
using CommitObserver = std::function<void(std::size_t writes, std::chrono::nanoseconds took)>;

class Store {
 public:
  virtual ~Store() = default;

  // The store's kind and location for /configz and logs: "memory", "sqlite:/path", "redis://..."
  [[nodiscard]] virtual std::string describe() const = 0;

  // Enqueues `items` into `queue`, all or none. Answers once they are durable. A batch may
  // mix new items and idempotency keys seen before (their Enqueued says created=false).
  // Errors: kInvalid (bad name, priority or delay), kNoQueue, kTooLarge (the first too large
  // item is named), kFull, kUnavailable.
  virtual void enqueue(std::string queue, std::vector<NewItem> items,
                       Done<std::vector<Enqueued>> done) = 0;

  // Leases up to `n` ready items, highest priority first, then oldest. When none is ready
  // (or the queue is paused), waits up to `wait` for one and answers as soon as there is one;
  // answers an empty vector when the wait ends or is cancelled. Each lease counts an attempt.
  // Errors: kInvalid, kNoQueue (auto-create off), kUnavailable. The returned CancelWait ends
  // the wait (the HTTP layer calls it when the client goes away or the server drains).
  virtual CancelWait lease(std::string queue, LeaseOptions options,
                           Done<std::vector<Leased>> done) = 0;

  // Finishes the item: done (state kDone), kept with `result` for the retention.
  // Errors: kNoItem, kStaleLease, kUnavailable.
  virtual void ack(std::uint64_t id, std::string lease_id, std::string result,
                   Done<ItemView> done) = 0;
  // Gives the item back with `error`: ready again after `delay` (default: the queue's
  // backoff for this attempt), or dead when it has had max_attempts leases.
  virtual void nack(std::uint64_t id, std::string lease_id, std::string error,
                    std::optional<Millis> delay, Done<NackOutcome> done) = 0;
  // Extends the lease to now + ttl. Answers the new expiry.
  virtual void extend(std::uint64_t id, std::string lease_id, Millis ttl, Done<WallTime> done) = 0;
  // Gives the leased item back unfinished: ready again at once, in its place, and this
  // delivery does not count as an attempt (a worker that stops before it could try).
  // Errors: kNoItem, kStaleLease, kUnavailable.
  virtual void release(std::uint64_t id, std::string lease_id, Done<ItemView> done) = 0;
  // Moves the leased item to the dead list at once with `error` (the worker knows it will
  // never succeed).
  virtual void bury(std::uint64_t id, std::string lease_id, std::string error,
                    Done<ItemView> done) = 0;

  // One item (with its payload if `with_payload`). Errors: kNoItem.
  virtual void get(std::uint64_t id, bool with_payload, Done<ItemView> done) = 0;

  // Every queue, by name. Errors: kUnavailable.
  virtual void queues(Done<std::vector<QueueInfo>> done) = 0;
  // One queue. Errors: kNoQueue (reads never create a queue).
  virtual void queue(std::string name, Done<QueueInfo> done) = 0;
  // Pauses (leases wait; enqueues go on) or resumes a queue. Errors: kNoQueue.
  virtual void set_paused(std::string name, bool paused, Done<QueueInfo> done) = 0;

  // Dead items of `queue` with id > after, oldest first, at most `limit` (1..1000), with
  // payloads. Errors: kNoQueue.
  virtual void dead(std::string queue, std::uint64_t after, std::size_t limit,
                    Done<std::vector<ItemView>> done) = 0;
  // Dead items back to ready with their attempts reset to 0: one (`id`; kNoItem, kNotDead),
  // or all of the queue's. Answers how many.
  virtual void requeue_dead(std::string queue, std::optional<std::uint64_t> id,
                            Done<std::uint64_t> done) = 0;
  // Deletes dead items: one or all. Answers how many.
  virtual void purge_dead(std::string queue, std::optional<std::uint64_t> id,
                          Done<std::uint64_t> done) = 0;

  [[nodiscard]] virtual StoreStats stats() const = 0;
  // Set before the first operation.
  virtual void set_commit_observer(CommitObserver observer) { (void)observer; }

  // Answers every wait (empty), finishes writes in flight, stops the store's threads. Later
  // operations answer kUnavailable. Idempotent.
  virtual void close() = 0;
};

// Opens the store named by `url`:
//   memory                    nothing survives the process
//   sqlite:PATH               SQLite file PATH (created if missing; its directory must exist)
//   redis://HOST:PORT[/DB]    a Redis server (optionally redis://:PASSWORD@HOST:PORT/DB)
// Errors (the caller exits 2 for kInvalid, else 1), each naming the path or address: an
// unknown scheme; an SQLite file that is not a database, is corrupt, was written by a newer
// schema, or cannot be created or written; a Redis server that cannot be reached.
[[nodiscard]] Result<std::unique_ptr<Store>> open_store(const std::string& url,
                                                        StoreSettings settings);

}  // namespace tender::workqueue

namespace boost::system {
template <>
struct is_error_code_enum<tender::workqueue::Errc> : std::true_type {};
}  // namespace boost::system
