#pragma once
// The engine's implementation (engine.hpp), private to its translation units: engine.cpp (the
// item operations), engine_reads.cpp (reads, pause, the dead list) and engine_index.cpp (the
// indexes, the journal hand-off, waiters and the timer).

#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "workqueue/engine.hpp"
#include "workqueue/engine_state.hpp"

namespace tender::workqueue::engine {

inline constexpr Millis kMaxDelay{30LL * 24 * 3600 * 1000};
inline constexpr std::size_t kMaxKeyBytes = 256;
inline constexpr std::size_t kSweepBatch = 10'000;
// A lease is written this long after it is granted, unless the item has been acked, nacked,
// released or buried since: most are, and their lease is then never written at all.
inline constexpr Millis kLeaseWriteDelay{200};

inline std::int64_t ms_of(WallTime t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

inline Mutation kind_of(Mutation::Kind kind) {
  Mutation m;
  m.kind = kind;
  return m;
}
inline Mutation update_of(std::uint64_t id, const Meta& meta) {
  Mutation m = kind_of(Mutation::Kind::kUpdate);
  m.row = row_of(id, meta);
  return m;
}
inline Mutation delete_of(std::uint64_t id) {
  Mutation m = kind_of(Mutation::Kind::kDelete);
  m.row.id = id;
  return m;
}

inline Error closed_error() { return queue_error(Errc::kUnavailable, "the store is closed"); }

// Callbacks to run once the engine's lock is released.
using Later = std::vector<std::function<void()>>;

class EngineImpl final : public Engine {
 public:
  EngineImpl(std::unique_ptr<Journal> journal, StoreSettings settings)
      : journal_(std::move(journal)), settings_(std::move(settings)), clock_(*settings_.clock) {}

  ~EngineImpl() override { close(); }

  Result<> open(bool timer_thread);

  std::string describe() const override { return journal_->describe(); }

  // --- enqueue ---------------------------------------------------------------------------

  void enqueue(std::string queue, std::vector<NewItem> items,
               Done<std::vector<Enqueued>> done) override;

  // An enqueue's new items, between its hand-off to the journal and the journal's answer.
  struct Staged {
    std::vector<Enqueued> answer;
    std::vector<std::uint64_t> ids;                           // new items
    std::vector<std::string> keys;                            // their idempotency keys (queue\0key)
    std::unordered_map<std::uint64_t, std::string> payloads;  // for waiters served at once
  };
  // Checks sizes and room, and answers the idempotency keys seen before (`answer`; when one
  // names an item still being written, `wait_for_others`).
  Result<> admit(Queue& q, const std::vector<NewItem>& items, std::vector<Enqueued>& answer,
                 bool& wait_for_others);
  // The new items, pending, with their mutations.
  void stage(Queue& q, std::vector<NewItem>& items, Staged& staged, std::vector<Mutation>& muts);
  // Once the journal has answered: the items become leasable (or are dropped), and `done` is
  // queued.
  void enqueued(const Staged& staged, const Result<>& r, const Done<std::vector<Enqueued>>& done,
                Later& later);

  // --- lease -------------------------------------------------------------------------------

  CancelWait lease(std::string queue, LeaseOptions options,
                   Done<std::vector<Leased>> done) override;

  // --- ack, nack, extend, bury -----------------------------------------------------------

  void ack(std::uint64_t id, std::string lease_id, std::string result,
           Done<ItemView> done) override;

  void nack(std::uint64_t id, std::string lease_id, std::string error, std::optional<Millis> delay,
            Done<NackOutcome> done) override;

  void extend(std::uint64_t id, std::string lease_id, Millis ttl, Done<WallTime> done) override;

  void release(std::uint64_t id, std::string lease_id, Done<ItemView> done) override;

  void bury(std::uint64_t id, std::string lease_id, std::string error,
            Done<ItemView> done) override;

  // --- reads -------------------------------------------------------------------------------

  void get(std::uint64_t id, bool with_payload, Done<ItemView> done) override;

  void queues(Done<std::vector<QueueInfo>> done) override;

  void queue(std::string name, Done<QueueInfo> done) override;

  void set_paused(std::string name, bool paused, Done<QueueInfo> done) override;

  void dead(std::string queue, std::uint64_t after, std::size_t limit,
            Done<std::vector<ItemView>> done) override;

  void requeue_dead(std::string queue, std::optional<std::uint64_t> id,
                    Done<std::uint64_t> done) override;

  void purge_dead(std::string queue, std::optional<std::uint64_t> id,
                  Done<std::uint64_t> done) override;

  StoreStats stats() const override;

  void set_commit_observer(CommitObserver observer) override;

  void close() override;

  void tick() override;

 private:
  // --- helpers under the lock --------------------------------------------------------------

  std::int64_t now_ms() const { return ms_of(clock_.wall()); }

  static std::string key_of(std::string_view queue, std::string_view key);

  void clip(std::string& s) const;

  static Error no_item(std::uint64_t id);
  static Error no_queue(const std::string& name);

  Queue& queue_for_load(const std::string& name);

  // The queue `name`; created (with a kQueue mutation appended to `muts`) if allowed.
  Result<Queue*> find_queue(const std::string& name, bool create, std::vector<Mutation>& muts);

  Result<Meta*> leased_item(std::uint64_t id, std::string_view lease_id);

  // Puts item `id` into its queue's index for its state.
  void place(std::uint64_t id, Meta& m);

  void unplace(std::uint64_t id, const Meta& m);

  // Puts an item back as it was before a change the journal failed, unless it has changed
  // again since.
  void undo(std::uint64_t id, const Meta& before, std::uint32_t version);

  QueueInfo info(const Queue& q) const;

  static void fill(ItemView& v, const Bodies& b, bool with_payload);

  // Leases up to n of q's ready items and queues the answer (payloads read after the lock).
  void grant(Queue& q, std::size_t n, std::optional<Millis> ttl, Done<std::vector<Leased>> done,
             Later& later, const std::unordered_map<std::uint64_t, std::string>* fresh);

  // Hands ready items of q to its waiters, first come first served.
  void serve_waiters(Queue& q, Later& later,
                     const std::unordered_map<std::uint64_t, std::string>* fresh);

  void forget_waiter(std::uint64_t token, std::int64_t deadline);

  void cancel_wait(std::uint64_t token);

  void change_dead(std::string queue, std::optional<std::uint64_t> id, bool purge,
                   Done<std::uint64_t> done);

  // What an operation on a leased item writes, and answers once it is written.
  template <class T>
  struct Change {
    Mutation mutation;
    T answer;
  };
  // Changes the item leased under `lease_id`: `change` sets its new state (the item is out of
  // its indexes meanwhile) and returns the Change; an item made ready goes to the waiters.
  // Errors (to `done`): leased_item's, and the journal's (the item then put back).
  template <class T, class Fn>
  void change_leased(std::uint64_t id, std::string_view lease_id, Done<T> done, Fn change) {
    std::unique_lock lk(mu_);
    Later later;
    auto m = leased_item(id, lease_id);
    if (!m) {
      lk.unlock();
      done(m.error());
      return;
    }
    Meta& meta = **m;
    const Meta before = meta;
    unplace(id, meta);
    Change<T> c = change(meta);
    ++meta.version;
    place(id, meta);
    if (meta.state == State::kReady) {
      serve_waiters(*meta.queue, later, nullptr);
    }
    wake_timer_if_due();
    commit_item(lk, id, before, meta.version, std::move(c.mutation), std::move(c.answer),
                std::move(done), later);
  }

  // Hands one item's change to the journal: `done` gets `answer` once it is written, or the
  // error, the item then put back as `before` (unless it has changed again since `version`).
  template <class T>
  void commit_item(std::unique_lock<std::mutex>& lk, std::uint64_t id, const Meta& before,
                   std::uint32_t version, Mutation mutation, T answer, Done<T> done, Later& later) {
    submit(
        lk, {std::move(mutation)},
        [this, id, before, version, answer = std::move(answer), done = std::move(done)](
            Result<> r, Later& after) {
          if (!r) {
            undo(id, before, version);
            after.push_back([done, e = r.error()] { done(e); });
            return;
          }
          after.push_back([done, answer] { done(answer); });
        },
        later);
  }

  // Hands `muts` to the journal; `apply` runs under the lock once it has them (or failed).
  void submit(std::unique_lock<std::mutex>& lk, std::vector<Mutation> muts,
              std::function<void(Result<>, Later&)> apply, Later& later);

  // Journals changes nobody waits for (leases, expiries, sweeps); failures are logged.
  // `written` runs under the lock once the journal has them.
  void write_behind(std::vector<Mutation> muts, std::function<void()> written = nullptr);

  void run(std::unique_lock<std::mutex>& lk, Later& later);

  // --- time ------------------------------------------------------------------------------

  void tick_locked(Later& later);

  // Forgets done items past the retention (or past max_done per queue) and expired keys.
  // True if it caught up (within its budget).
  bool sweep(std::int64_t now, std::vector<Mutation>& muts);
  // The writes of leases granted before `before` whose items are still leased.
  void write_leases(std::int64_t before, std::vector<Mutation>& muts);

  std::int64_t next_due() const;

  void wake_timer_if_due();

  void timer_loop();

  // --- validation (no lock) ----------------------------------------------------------------

  static Result<> check_items(const std::vector<NewItem>& items);

  static Result<> check_lease(const LeaseOptions& o);

  static constexpr std::size_t kMaxDone = 100'000;

  std::unique_ptr<Journal> journal_;
  StoreSettings settings_;
  const Clock& clock_;

  mutable std::mutex mu_;
  bool closed_ = false;
  std::map<std::string, Queue, std::less<>> queues_;
  std::unordered_map<std::uint64_t, Meta> items_;
  std::set<std::pair<std::int64_t, std::uint64_t>> delayed_;  // (ready_ms, id)
  std::set<std::pair<std::int64_t, std::uint64_t>> leased_;   // (expires_ms, id)
  std::unordered_map<std::string, std::uint64_t> keys_;       // queue\0key -> id
  std::multimap<std::int64_t, std::string> key_expiry_;
  std::uint64_t last_id_ = 0;
  std::set<std::uint64_t> failed_enqueues_;  // ids whose enqueue the journal failed
  // Errors of leases expired on their last attempt, until the journal has them.
  std::unordered_map<std::uint64_t, std::string> unwritten_errors_;
  std::uint64_t expired_leases_ = 0;

  std::uint64_t next_token_ = 0;
  std::unordered_map<std::uint64_t, std::list<Waiter>::iterator> waiting_;
  std::unordered_map<std::uint64_t, Queue*> waiter_queue_;
  std::set<std::pair<std::int64_t, std::uint64_t>> wait_deadlines_;
  std::deque<std::pair<std::int64_t, std::uint64_t>> unwritten_leases_;  // (write at, id)

  std::int64_t next_sweep_ms_ = 0;
  std::int64_t planned_wake_ms_ = 0;
  std::condition_variable timer_cv_;
  std::thread timer_;
};

}  // namespace tender::workqueue::engine
