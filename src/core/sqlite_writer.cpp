#include "core/sqlite_writer.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "core/process.hpp"

namespace tender::sqlite {

namespace {

struct Item {
  GroupCommitWriter::Write write;
  GroupCommitWriter::Done done;
};

// What the writer thread is doing, so that submit() wakes it only when it waits for work.
enum class State { kWorking, kIdle, kGathering };

}  // namespace

struct GroupCommitWriter::Impl {
  Impl(Database database, GroupCommitOptions opts)
      : db(std::move(database)), options(opts), path(db.path()) {
    options.max_batch = std::max<std::size_t>(options.max_batch, 1);
  }

  void run();
  // Runs `batch` in one transaction (more if a write ends one), setting results[i] for each.
  // Returns the number of COMMITs that succeeded.
  std::uint64_t write_batch(std::vector<Item>& batch, std::vector<Result<>>& results);
  Result<> write_one(const Write& write);

  Database db;
  GroupCommitOptions options;
  const std::string path;

  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<Item> queue;
  State state = State::kWorking;
  bool stopping = false;
  GroupCommitStats stats;

  std::mutex join_mutex;
  std::thread thread;
};

GroupCommitWriter::GroupCommitWriter(Database db, GroupCommitOptions options)
    : impl_(std::make_unique<Impl>(std::move(db), options)) {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

GroupCommitWriter::~GroupCommitWriter() { stop(); }

Result<> GroupCommitWriter::submit(Write write, Done done) {
  Impl& s = *impl_;
  bool notify = false;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopping) {
      return Error(std::errc::operation_canceled, s.path + ": the writer is stopped");
    }
    if (s.queue.size() >= s.options.max_queued) {
      return Error(std::errc::resource_unavailable_try_again,
                   s.path + ": the write queue is full (" + std::to_string(s.queue.size()) +
                       " writes waiting)");
    }
    s.queue.push_back(Item{std::move(write), std::move(done)});
    notify = s.state == State::kIdle ||
             (s.state == State::kGathering && s.queue.size() >= s.options.max_batch);
    if (notify) {
      // Later submits need not wake it again.
      s.state = State::kWorking;
    }
  }
  if (notify) {
    s.wake.notify_one();
  }
  return {};
}

void GroupCommitWriter::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    s.stopping = true;
  }
  s.wake.notify_one();
  std::lock_guard join(s.join_mutex);
  if (s.thread.joinable()) {
    s.thread.join();
  }
}

GroupCommitStats GroupCommitWriter::stats() const {
  std::lock_guard lock(impl_->mutex);
  GroupCommitStats stats = impl_->stats;
  stats.queued = impl_->queue.size();
  return stats;
}

const std::string& GroupCommitWriter::path() const { return impl_->path; }

void GroupCommitWriter::Impl::run() {
  name_this_thread("sqlite-writer");
  std::vector<Item> batch;
  std::vector<Result<>> results;
  for (;;) {
    {
      std::unique_lock lock(mutex);
      if (queue.empty() && !stopping) {
        state = State::kIdle;
        wake.wait(lock, [&] { return !queue.empty() || stopping; });
      }
      if (queue.empty()) {
        return;  // stopping, and everything queued is written
      }
      if (options.max_wait.count() > 0 && queue.size() < options.max_batch && !stopping) {
        state = State::kGathering;
        wake.wait_for(lock, options.max_wait,
                      [&] { return queue.size() >= options.max_batch || stopping; });
      }
      state = State::kWorking;
      const std::size_t n = std::min(queue.size(), options.max_batch);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    results.assign(batch.size(), Result<>());
    const std::uint64_t commits = write_batch(batch, results);
    {
      std::lock_guard lock(mutex);
      stats.commits += commits;
      stats.writes += batch.size();
      stats.failed_writes += static_cast<std::uint64_t>(
          std::count_if(results.begin(), results.end(), [](const Result<>& r) { return !r; }));
      stats.largest_batch = std::max(stats.largest_batch, batch.size());
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].done) {
        continue;
      }
      try {
        batch[i].done(std::move(results[i]));
      } catch (const std::exception& e) {
        log::error("sqlite writer: a completion threw", {{"db", path}, {"error", e.what()}});
      } catch (...) {
        log::error("sqlite writer: a completion threw", {{"db", path}});
      }
    }
    batch.clear();
  }
}

std::uint64_t GroupCommitWriter::Impl::write_batch(std::vector<Item>& batch,
                                                   std::vector<Result<>>& results) {
  std::uint64_t commits = 0;
  std::size_t i = 0;
  while (i < batch.size()) {
    auto tx = Transaction::begin(db);
    if (!tx) {
      for (; i < batch.size(); ++i) {
        results[i] = tx.error();
      }
      break;
    }
    std::vector<std::size_t> pending;  // writes done in this transaction, awaiting its COMMIT
    bool ended = false;
    for (; i < batch.size() && !ended; ++i) {
      Result<> r = write_one(batch[i].write);
      if (db.in_transaction()) {
        if (r) {
          pending.push_back(i);
        } else {
          results[i] = std::move(r);
        }
        continue;
      }
      // SQLite rolled the transaction back (disk full, I/O error), or the write ended it
      // against the rules: the writes before it in this transaction are not known to be
      // committed. The rest of the batch goes on in a new transaction.
      ended = true;
      Error error = r ? Error(make_error_code(Errc::kMisuse),
                              path + ": a write ended the batch's transaction itself")
                      : r.error().with_context(path + ": the batch's transaction ended");
      for (std::size_t p : pending) {
        results[p] = error;
      }
      results[i] = r ? Result<>(error) : std::move(r);
    }
    if (ended) {
      continue;
    }
    const auto began = std::chrono::steady_clock::now();
    if (auto committed = tx->commit(); committed) {
      ++commits;
      if (options.on_commit) {
        options.on_commit(pending.size(), std::chrono::steady_clock::now() - began);
      }
    } else {
      for (std::size_t p : pending) {
        results[p] = committed.error();
      }
    }
  }
  return commits;
}

Result<> GroupCommitWriter::Impl::write_one(const Write& write) {
  auto savepoint = Savepoint::begin(db);
  if (!savepoint) {
    return savepoint.error();
  }
  Result<> r;
  try {
    r = write(db);
  } catch (const std::exception& e) {
    r = Error(path + ": the write threw: " + e.what());
  } catch (...) {
    r = Error(path + ": the write threw");
  }
  if (!db.in_transaction()) {
    return r;  // the savepoint went with the transaction; the caller sorts it out
  }
  if (!r) {
    (void)savepoint->rollback();
    return r;
  }
  return savepoint->release();
}

}  // namespace tender::sqlite
