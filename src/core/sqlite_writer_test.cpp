#include "core/sqlite_writer.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/sqlite_test_support.hpp"

namespace tender::sqlite {
namespace {

using testing::contains;
using testing::TempDir;

constexpr auto kPatience = std::chrono::seconds(60);

Database open_ok(const std::string& path) {
  auto db = Database::open(path);
  if (!db) {
    ADD_FAILURE() << db.error().message();
    std::abort();
  }
  return std::move(*db);
}

Database open_with_table(const std::string& path) {
  Database db = open_ok(path);
  EXPECT_TRUE(db.exec("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY)"));
  return db;
}

std::int64_t count_rows(Database& db) {
  auto select = db.prepare("SELECT count(*) FROM t").value();
  EXPECT_TRUE(select.step().value());
  return select.column_int64(0);
}

GroupCommitWriter::Write insert(std::int64_t k) {
  return [k](Database& db) -> Result<> {
    auto n = db.run("INSERT INTO t(k) VALUES(?)", k);
    if (!n) {
      return n.error();
    }
    return {};
  };
}

// Results of `done` calls, kept by a tag, and a wait for a number of them.
class Completions {
 public:
  GroupCommitWriter::Done done(int tag) {
    return [this, tag](Result<> r) {
      std::lock_guard lock(mutex_);
      results_.emplace_back(tag, std::move(r));
      changed_.notify_all();
    };
  }
  // Waits until `n` completions have come (at most kPatience); false if they did not.
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kPatience, [&] { return results_.size() >= n; });
  }
  // The result given to `tag` (fails the test if it got none or several).
  Result<> of(int tag) {
    std::lock_guard lock(mutex_);
    std::optional<Result<>> found;
    for (const auto& [t, r] : results_) {
      if (t == tag) {
        EXPECT_FALSE(found) << "tag " << tag << " completed twice";
        found = r;
      }
    }
    EXPECT_TRUE(found) << "tag " << tag << " never completed";
    return found.value_or(Result<>());
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return results_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<int, Result<>>> results_;
};

// A write that holds the writer thread until open() (or the Gate's destruction), so that the
// writes submitted meanwhile queue up and make one batch.
class Gate {
 public:
  Gate() : state_(std::make_shared<State>()) { state_->opened = state_->open.get_future(); }
  ~Gate() { open(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  GroupCommitWriter::Write write() {
    return [state = state_](Database&) -> Result<> {
      state->entered.set_value();
      state->opened.wait();
      return {};
    };
  }
  // Waits until the writer thread holds the gate.
  bool entered() {
    return state_->entered.get_future().wait_for(kPatience) == std::future_status::ready;
  }
  void open() {
    if (!state_->is_open.exchange(true)) {
      state_->open.set_value();
    }
  }

 private:
  struct State {
    std::promise<void> entered;
    std::promise<void> open;
    std::shared_future<void> opened;
    std::atomic<bool> is_open{false};
  };
  std::shared_ptr<State> state_;
};

TEST(GroupCommitWriter, CommittedWritesSurviveReopening) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  {
    GroupCommitWriter writer(open_with_table(path));
    Completions completions;
    for (int i = 1; i <= 20; ++i) {
      ASSERT_TRUE(writer.submit(insert(i), completions.done(i)));
    }
    ASSERT_TRUE(completions.wait_for(20));
    for (int i = 1; i <= 20; ++i) {
      EXPECT_TRUE(completions.of(i));
    }
    EXPECT_EQ(writer.path(), path);
  }
  Database reopened = open_ok(path);
  EXPECT_EQ(count_rows(reopened), 20);
}

TEST(GroupCommitWriter, ConcurrentWritesAreEachDoneOnceAndOnlyAfterTheirCommit) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  GroupCommitWriter writer(open_with_table(path));
  // A connection of its own, used from `done` (always on the writer thread): what it sees is
  // what any other reader would.
  Database observer = open_ok(path);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  constexpr int kWrites = kThreads * kPerThread;
  std::vector<std::atomic<int>> calls(kWrites);
  std::atomic<int> unseen{0};
  std::atomic<int> failed{0};
  std::atomic<int> completed{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int k = t * kPerThread + i;
        auto queued = writer.submit(insert(k), [&, k](const Result<>& r) {
          ++calls[k];
          if (!r) {
            ++failed;
          }
          auto select = observer.prepare("SELECT count(*) FROM t WHERE k = ?").value();
          (void)select.bind_int64(1, k);
          if (!select.step().value() || select.column_int64(0) != 1) {
            ++unseen;
          }
          ++completed;
        });
        ASSERT_TRUE(queued) << queued.error().message();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  writer.stop();  // finishes everything queued
  EXPECT_EQ(completed, kWrites);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(unseen, 0) << "done was called before its row was visible to other connections";
  for (int k = 0; k < kWrites; ++k) {
    ASSERT_EQ(calls[k], 1) << "write " << k;
  }
  const GroupCommitStats stats = writer.stats();
  EXPECT_EQ(stats.writes, static_cast<std::uint64_t>(kWrites));
  EXPECT_EQ(stats.failed_writes, 0u);
  EXPECT_GE(stats.commits, 1u);
  EXPECT_LE(stats.commits, stats.writes);
  EXPECT_EQ(count_rows(observer), kWrites);
}

TEST(GroupCommitWriter, WritesThatArriveDuringACommitShareTheNextOne) {
  TempDir dir;
  GroupCommitWriter writer(open_with_table(dir.file("a.db")));
  Completions completions;
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.write(), completions.done(0)));
  ASSERT_TRUE(gate.entered());
  for (int i = 1; i <= 50; ++i) {
    ASSERT_TRUE(writer.submit(insert(i), completions.done(i)));
  }
  EXPECT_EQ(writer.stats().queued, 50u);
  gate.open();
  ASSERT_TRUE(completions.wait_for(51));
  const GroupCommitStats stats = writer.stats();
  EXPECT_EQ(stats.commits, 2u);  // the gate's, then all 50 in one
  EXPECT_EQ(stats.writes, 51u);
  EXPECT_EQ(stats.largest_batch, 50u);
  EXPECT_EQ(stats.queued, 0u);
}

TEST(GroupCommitWriter, ABatchHoldsAtMostMaxBatchWritesAndEachCommitIsReported) {
  TempDir dir;
  std::mutex mu;
  std::vector<std::size_t> reported;
  GroupCommitOptions options;
  options.max_batch = 4;
  options.on_commit = [&](std::size_t writes, std::chrono::nanoseconds took) {
    std::lock_guard lock(mu);
    reported.push_back(writes);
    EXPECT_GT(took.count(), 0);
  };
  GroupCommitWriter writer(open_with_table(dir.file("a.db")), options);
  Completions completions;
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.write(), completions.done(0)));
  ASSERT_TRUE(gate.entered());
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(writer.submit(insert(i), completions.done(i)));
  }
  gate.open();
  ASSERT_TRUE(completions.wait_for(11));
  const GroupCommitStats stats = writer.stats();
  EXPECT_EQ(stats.largest_batch, 4u);
  EXPECT_EQ(stats.commits, 4u);  // the gate's, then 4 + 4 + 2
  std::lock_guard lock(mu);
  EXPECT_EQ(reported, (std::vector<std::size_t>{1, 4, 4, 2}));
}

TEST(GroupCommitWriter, MaxWaitGathersWritesUntilABatchIsFull) {
  TempDir dir;
  // A long wait that a full batch cuts short: were max_wait ignored, the first write would
  // be committed alone.
  GroupCommitWriter writer(open_with_table(dir.file("a.db")),
                           {.max_batch = 3, .max_wait = std::chrono::minutes(1)});
  Completions completions;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(writer.submit(insert(i), completions.done(i)));
  }
  ASSERT_TRUE(completions.wait_for(3));
  const GroupCommitStats stats = writer.stats();
  EXPECT_EQ(stats.commits, 1u);
  EXPECT_EQ(stats.largest_batch, 3u);
}

TEST(GroupCommitWriter, AFailingWriteIsUndoneAloneAndGetsItsOwnError) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  GroupCommitWriter writer(open_with_table(path));
  Completions completions;
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.write(), completions.done(0)));
  ASSERT_TRUE(gate.entered());
  ASSERT_TRUE(writer.submit(insert(1), completions.done(1)));
  ASSERT_TRUE(writer.submit(
      [](Database& db) -> Result<> {
        EXPECT_TRUE(db.run("INSERT INTO t(k) VALUES(2)"));
        return Error(std::errc::invalid_argument, "item 2 is not wanted");
      },
      completions.done(2)));
  ASSERT_TRUE(writer.submit(insert(1), completions.done(3)));  // a duplicate key
  ASSERT_TRUE(writer.submit(
      [](Database& db) -> Result<> {
        EXPECT_TRUE(db.run("INSERT INTO t(k) VALUES(4)"));
        throw std::runtime_error("the executor broke");
      },
      completions.done(4)));
  ASSERT_TRUE(writer.submit(insert(5), completions.done(5)));
  gate.open();
  ASSERT_TRUE(completions.wait_for(6));

  EXPECT_TRUE(completions.of(1));
  EXPECT_EQ(completions.of(2).error().message(), "item 2 is not wanted");
  const Result<> duplicate = completions.of(3);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), Errc::kConstraint);
  EXPECT_TRUE(contains(duplicate.error().message(), path));
  const Result<> threw = completions.of(4);
  ASSERT_FALSE(threw);
  EXPECT_TRUE(contains(threw.error().message(), "the executor broke"));
  EXPECT_TRUE(completions.of(5));

  Database reader = open_ok(path);
  auto select = reader.prepare("SELECT group_concat(k) FROM t").value();
  ASSERT_TRUE(select.step().value());
  EXPECT_EQ(select.column_text(0), "1,5");
  const GroupCommitStats stats = writer.stats();
  EXPECT_EQ(stats.commits, 2u);
  EXPECT_EQ(stats.failed_writes, 3u);
}

TEST(GroupCommitWriter, AFailedCommitFailsEveryWriteOfItsBatch) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  Database db = open_ok(path);
  // A deferred foreign key is checked at COMMIT, so this batch's COMMIT fails.
  ASSERT_TRUE(db.exec(
      "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
      "CREATE TABLE child(pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"));
  GroupCommitWriter writer(std::move(db));
  Completions completions;
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.write(), completions.done(0)));
  ASSERT_TRUE(gate.entered());
  auto run = [](const std::string& sql) {
    return [sql](Database& db) -> Result<> {
      auto n = db.run(sql);
      if (!n) {
        return n.error();
      }
      return {};
    };
  };
  ASSERT_TRUE(writer.submit(run("INSERT INTO parent VALUES(1)"), completions.done(1)));
  ASSERT_TRUE(writer.submit(run("INSERT INTO child VALUES(99)"), completions.done(2)));
  gate.open();
  ASSERT_TRUE(completions.wait_for(3));
  for (int tag : {1, 2}) {
    const Result<> r = completions.of(tag);
    ASSERT_FALSE(r) << tag;
    EXPECT_EQ(r.error().code(), Errc::kConstraint);
    EXPECT_EQ(r.error().message(), path + ": \"COMMIT\": FOREIGN KEY constraint failed");
  }
  EXPECT_EQ(writer.stats().commits, 1u);  // the gate's alone

  // The writer goes on.
  ASSERT_TRUE(writer.submit(run("INSERT INTO parent VALUES(2)"), completions.done(3)));
  ASSERT_TRUE(completions.wait_for(4));
  EXPECT_TRUE(completions.of(3));
  Database reader = open_ok(path);
  auto select = reader.prepare("SELECT group_concat(id) FROM parent").value();
  ASSERT_TRUE(select.step().value());
  EXPECT_EQ(select.column_text(0), "2");
}

TEST(GroupCommitWriter, AFullQueueRefusesAtOnce) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  GroupCommitWriter writer(open_with_table(path), {.max_queued = 2});
  Completions completions;
  Gate gate;
  ASSERT_TRUE(writer.submit(gate.write(), completions.done(0)));
  ASSERT_TRUE(gate.entered());  // taken off the queue
  ASSERT_TRUE(writer.submit(insert(1), completions.done(1)));
  ASSERT_TRUE(writer.submit(insert(2), completions.done(2)));
  auto refused = writer.submit(insert(3), completions.done(3));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), std::errc::resource_unavailable_try_again);
  EXPECT_EQ(refused.error().message(), path + ": the write queue is full (2 writes waiting)");
  gate.open();
  ASSERT_TRUE(completions.wait_for(3));
  writer.stop();
  EXPECT_EQ(completions.size(), 3u);  // the refused write's done is never called
  EXPECT_TRUE(completions.of(2));
}

TEST(GroupCommitWriter, StopFinishesWhatIsQueuedThenRefuses) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  GroupCommitWriter writer(open_with_table(path));
  Completions completions;
  for (int i = 1; i <= 100; ++i) {
    ASSERT_TRUE(writer.submit(insert(i), completions.done(i)));
  }
  writer.stop();
  EXPECT_EQ(completions.size(), 100u);
  auto late = writer.submit(insert(101), completions.done(101));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), std::errc::operation_canceled);
  EXPECT_EQ(late.error().message(), path + ": the writer is stopped");
  writer.stop();  // again: nothing happens
  Database reader = open_ok(path);
  EXPECT_EQ(count_rows(reader), 100);
}

// What `done` acknowledges survives the process being killed right after.
TEST(GroupCommitWriter, AcknowledgedWritesSurviveAKilledProcess) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  { open_with_table(path); }
  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  constexpr int kWrites = 200;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(acks[0]);
    auto db = Database::open(path);
    if (!db) {
      ::_exit(1);
    }
    GroupCommitWriter writer(std::move(*db));
    for (int i = 0; i < kWrites; ++i) {
      (void)writer.submit(insert(i), [fd = acks[1]](const Result<>& r) {
        const char ack = r ? 'y' : 'n';
        (void)!::write(fd, &ack, 1);
      });
    }
    ::pause();  // until killed, with nothing flushed or closed on the way out
    ::_exit(0);
  }
  ::close(acks[1]);
  int acknowledged = 0;
  char ack = 0;
  while (acknowledged < kWrites && ::read(acks[0], &ack, 1) == 1) {
    ASSERT_EQ(ack, 'y');
    ++acknowledged;
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(acks[0]);
  ASSERT_EQ(acknowledged, kWrites);
  Database reopened = open_ok(path);
  EXPECT_EQ(count_rows(reopened), kWrites);
}

}  // namespace
}  // namespace tender::sqlite
