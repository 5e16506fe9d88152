// Group commit: many threads write to one SQLite database, each write durable before it is
// acknowledged, at the cost of one transaction and one fsync per batch instead of per write.
//
// A `GroupCommitWriter` owns one connection and one thread. `submit` queues a write from any
// thread; the writer thread takes everything queued (up to `max_batch`), runs each write inside
// its own SAVEPOINT of one BEGIN IMMEDIATE ... COMMIT, and only after COMMIT has returned calls
// each write's `done` with its result. Writes that arrive during a commit make up the next
// batch, so the busier the writer, the larger its batches, with no added latency when it is idle.
//
// Usage (an HTTP handler of `tender queue` acknowledging an enqueue once it is durable):
//
//   auto db = tender::sqlite::Database::open(path);        // synchronous FULL by default
//   if (!db) { throw ConfigError(db.error().message()); }
//   tender::sqlite::GroupCommitWriter writer(std::move(*db));
//   ...
//   auto queued = writer.submit(
//       [body](tender::sqlite::Database& db) -> tender::Result<> {
//         auto n = db.run("INSERT INTO items(body) VALUES(?)", body);
//         if (!n) { return n.error(); }
//         return {};
//       },
//       [reply](tender::Result<> r) {                        // on the writer thread:
//         post_to_my_loop([reply, r] { reply(r ? 201 : 503); });   // hand it back, quickly
//       });
//   if (!queued) { reply(503); }                             // full or stopped: done never runs
//
// Readers do not go through the writer: they use connections of their own (ThreadReaders in
// core/sqlite.hpp) and, under WAL, see every commit once its `done` is called.
//
// Metrics: stats() gives the counts a role exports (batches, writes, failures, largest batch,
// queue length), e.g. through a Registry callback.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/sqlite.hpp"

namespace tender::sqlite {

struct GroupCommitOptions {
  // The most writes in one transaction. Larger batches amortise the fsync further but make
  // each write of the batch wait for all of them.
  std::size_t max_batch = 1000;
  // How long the writer, woken by a first write, waits for more before it begins (until
  // max_batch are queued). 0: it begins at once; batches then form from the writes that
  // arrive while the previous batch commits, which costs no latency.
  std::chrono::microseconds max_wait{0};
  // The most writes that may wait (not counting the batch being written); past it, submit
  // fails at once, so a flood of writes cannot grow memory without bound.
  std::size_t max_queued = 100000;
  // Called on the writer thread after each COMMIT that succeeded, with the number of writes
  // it made durable and how long the COMMIT (the fsync, mostly) took. Must be quick.
  std::function<void(std::size_t writes, std::chrono::nanoseconds took)> on_commit = nullptr;
};

struct GroupCommitStats {
  std::uint64_t commits = 0;        // transactions committed
  std::uint64_t writes = 0;         // writes whose `done` has been called (or is being called)
  std::uint64_t failed_writes = 0;  // of those, the ones given an error
  std::size_t largest_batch = 0;    // the most writes taken at once
  std::size_t queued = 0;           // writes waiting now
};

class GroupCommitWriter {
 public:
  // A write: runs on the writer thread, inside the batch's transaction and a savepoint of its
  // own. Return an error to undo everything it did (the rest of the batch commits); a thrown
  // exception counts as an error. It must not begin, commit or roll back the transaction
  // itself (Savepoint is fine), and should be quick: every write of the batch waits for it.
  using Write = std::function<Result<>(Database&)>;
  // Called once per write, on the writer thread, after the batch's COMMIT has returned: with
  // success if the write is committed (durable under Synchronous::kFull), else with the
  // write's own error, or the error of the batch's BEGIN or COMMIT (kBusy past the busy
  // timeout, kIoErr, kFull: every write of that transaction gets it), or the error that made
  // SQLite roll the transaction back during a later write. It should hand the result to its own
  // thread and return: the next batch waits for it. It may call submit(), never stop() or the
  // destructor.
  using Done = std::function<void(Result<>)>;

  // Starts the writer thread on `db`, which should be opened read-write with no transaction
  // open. Throws std::system_error only if no thread can be started.
  explicit GroupCommitWriter(Database db, GroupCommitOptions options = {});
  // stop().
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Queues `write`; `done` (may be empty) is called later as described above. Thread-safe.
  // Fails at once, and then never calls `done`: std::errc::resource_unavailable_try_again when
  // max_queued writes are waiting; std::errc::operation_canceled after stop(). Both messages
  // name the database file.
  [[nodiscard]] Result<> submit(Write write, Done done);

  // Refuses new writes, finishes every write already queued (their `done` is called), and
  // joins the thread. Idempotent; thread-safe; must not be called from a `write` or `done`.
  void stop();

  // Thread-safe.
  [[nodiscard]] GroupCommitStats stats() const;
  [[nodiscard]] const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::sqlite
