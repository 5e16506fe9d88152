#include "core/sqlite.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/sqlite_test_support.hpp"

namespace tender::sqlite {
namespace {

using testing::contains;
using testing::TempDir;

Database open_ok(const std::string& path, const Options& options = {}) {
  auto db = Database::open(path, options);
  if (!db) {
    ADD_FAILURE() << db.error().message();
    std::abort();
  }
  return std::move(*db);
}

// The first column of the first row of `sql`, as text.
std::string scalar(Database& db, std::string_view sql) {
  auto statement = db.prepare(sql);
  if (!statement) {
    ADD_FAILURE() << statement.error().message();
    return "";
  }
  auto row = statement->step();
  if (!row || !*row) {
    ADD_FAILURE() << "no row from " << sql;
    return "";
  }
  return std::string(statement->column_text(0));
}

TEST(Sqlite, OpenSetsWalSynchronousAndForeignKeys) {
  TempDir dir;
  Database db = open_ok(dir.file("a.db"));
  EXPECT_EQ(scalar(db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(scalar(db, "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(scalar(db, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(db.path(), dir.file("a.db"));

  Database normal = open_ok(dir.file("b.db"), {.synchronous = Synchronous::kNormal});
  EXPECT_EQ(scalar(normal, "PRAGMA synchronous"), "1");
}

TEST(Sqlite, BindsAndReadsEveryType) {
  TempDir dir;
  Database db = open_ok(dir.file("a.db"));
  ASSERT_TRUE(db.exec("CREATE TABLE t(i INTEGER, r REAL, s TEXT, b BLOB, n TEXT);"));
  auto insert = db.prepare("INSERT INTO t VALUES(?, ?, ?, ?, ?)");
  ASSERT_TRUE(insert) << insert.error().message();
  const std::string blob("a\0b\xff", 4);
  ASSERT_TRUE(insert->bind_int64(1, -(std::int64_t{1} << 40)));
  ASSERT_TRUE(insert->bind_double(2, 2.5));
  ASSERT_TRUE(insert->bind_text(3, std::string("héllo")));  // a temporary: the text is copied
  ASSERT_TRUE(insert->bind_blob(4, blob));
  ASSERT_TRUE(insert->bind_null(5));
  auto done = insert->step();
  ASSERT_TRUE(done) << done.error().message();
  EXPECT_FALSE(*done);
  EXPECT_EQ(db.changes(), 1);
  EXPECT_EQ(db.last_insert_rowid(), 1);

  auto select = db.prepare("SELECT i, r, s, b, n FROM t");
  ASSERT_TRUE(select);
  auto row = select->step();
  ASSERT_TRUE(row && *row);
  EXPECT_EQ(select->column_count(), 5);
  EXPECT_EQ(select->column_int64(0), -(std::int64_t{1} << 40));
  EXPECT_EQ(select->column_double(1), 2.5);
  EXPECT_EQ(select->column_text(2), "héllo");
  EXPECT_EQ(select->column_blob(3), blob);
  EXPECT_TRUE(select->column_is_null(4));
  EXPECT_EQ(select->column_text(4), "");
  EXPECT_FALSE(select->column_is_null(0));
  row = select->step();
  ASSERT_TRUE(row);
  EXPECT_FALSE(*row);
}

TEST(Sqlite, RunBindsByTypeAndCountsChanges) {
  Database db = open_ok(":memory:");
  ASSERT_TRUE(db.exec("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER, w REAL, b BLOB)"));
  std::optional<std::int64_t> none;
  EXPECT_EQ(db.run("INSERT INTO t VALUES(?, ?, ?, ?)", "a", 1, 0.5, Blob{"xy"}).value(), 1);
  EXPECT_EQ(
      db.run("INSERT INTO t VALUES(?, ?, ?, ?)", std::string("b"), none, 1.5f, nullptr).value(), 1);
  EXPECT_EQ(
      db.run("UPDATE t SET v = ? WHERE v IS NOT NULL OR k = ?", std::optional<int>(7), "b").value(),
      2);
  EXPECT_EQ(scalar(db, "SELECT group_concat(k || v || typeof(b), ',') FROM t"), "a7blob,b7null");
  // Too many arguments: the index past the last parameter is named.
  auto extra = db.run("DELETE FROM t WHERE k = ?", "a", "b");
  ASSERT_FALSE(extra);
  EXPECT_EQ(extra.error().code(), Errc::kRange);
  EXPECT_TRUE(contains(extra.error().message(), "bind 2"));
}

TEST(Sqlite, AStatementGivenBackStartsAfreshWithoutBindings) {
  Database db = open_ok(":memory:");
  ASSERT_TRUE(db.exec("CREATE TABLE t(x); INSERT INTO t VALUES(1), (2), (3);"));
  const char* sql = "SELECT x FROM t WHERE ? IS NULL OR x = ? ORDER BY x";
  {
    auto select = db.prepare(sql).value();
    ASSERT_TRUE(select.bind_all(1, 1));
    ASSERT_TRUE(select.step().value());  // left in the middle of its rows
    EXPECT_EQ(select.column_int64(0), 1);
  }
  auto again = db.prepare(sql).value();
  // Two of the same SQL at once are two statements.
  auto other = db.prepare(sql).value();
  ASSERT_TRUE(other.bind_all(0, 3));
  std::vector<std::int64_t> seen;
  while (again.step().value()) {
    seen.push_back(again.column_int64(0));
  }
  EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 2, 3}));
  ASSERT_TRUE(other.step().value());
  EXPECT_EQ(other.column_int64(0), 3);
  EXPECT_EQ(other.sql(), sql);
}

TEST(Sqlite, StatementErrorsNameTheFileAndTheSql) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  Database db = open_ok(path);
  auto bad = db.prepare("SELEC 1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::kError);
  EXPECT_EQ(bad.error().message(), path + ": \"SELEC 1\": near \"SELEC\": syntax error");

  auto missing = db.prepare("SELECT * FROM nowhere");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message(), "no such table: nowhere"));

  auto two = db.prepare("SELECT 1; SELECT 2");
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().code(), Errc::kMisuse);
  EXPECT_TRUE(contains(two.error().message(), "more than one statement"));

  ASSERT_TRUE(db.exec("CREATE TABLE t(k INTEGER PRIMARY KEY)"));
  ASSERT_TRUE(db.run("INSERT INTO t VALUES(1)"));
  auto duplicate = db.run("INSERT INTO t VALUES(?)", 1);
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), Errc::kConstraint);
  EXPECT_EQ(duplicate.error().message(),
            path + ": \"INSERT INTO t VALUES(?)\": UNIQUE constraint failed: t.k");

  // Long SQL is shortened, on one line.
  std::string long_sql = "SELECT\n  1 AS one,\n";
  for (int i = 0; i < 50; ++i) {
    long_sql += "  nothing" + std::to_string(i) + ",\n";
  }
  long_sql += "  2";
  auto long_error = db.prepare(long_sql);
  ASSERT_FALSE(long_error);
  EXPECT_TRUE(contains(long_error.error().message(), path + ": \"SELECT 1 AS one, nothing0,"));
  EXPECT_TRUE(contains(long_error.error().message(), "...\": no such column: nothing0"));

  auto script = db.exec("CREATE TABLE u(x); CREATE TABLE u(x);");
  ASSERT_FALSE(script);
  EXPECT_TRUE(contains(script.error().message(), "table u already exists"));
  EXPECT_TRUE(contains(script.error().message(), path));
}

TEST(Sqlite, OpenErrorsNameTheFileAndTheReason) {
  TempDir dir;
  auto directory = Database::open(dir.path());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code(), Errc::kCantOpen);
  EXPECT_TRUE(contains(directory.error().message(), dir.path() + ": open: "));
  EXPECT_TRUE(contains(directory.error().message(), "Is a directory"));

  const std::string text = dir.file("notes.txt");
  std::ofstream(text) << "these are not the bytes of a database, though there are enough of them "
                         "to fill a header of one hundred bytes, which SQLite reads first.\n";
  auto not_db = Database::open(text);
  ASSERT_FALSE(not_db);
  EXPECT_EQ(not_db.error().code(), Errc::kNotADb);
  EXPECT_EQ(not_db.error().message(), text + ": open: file is not a database");

  const std::string nowhere = dir.file("missing/a.db");
  auto no_dir = Database::open(nowhere);
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error().code(), Errc::kCantOpen);
  EXPECT_TRUE(contains(no_dir.error().message(), nowhere + ": open: unable to open database file"));
  EXPECT_TRUE(contains(no_dir.error().message(), "No such file or directory"));

  auto no_create = Database::open(dir.file("b.db"), {.create = false});
  ASSERT_FALSE(no_create);
  EXPECT_EQ(no_create.error().code(), Errc::kCantOpen);
  EXPECT_FALSE(std::filesystem::exists(dir.file("b.db")));
}

TEST(Sqlite, ADatabaseInAReadOnlyPlaceIsRefusedByName) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root writes through file permissions";
  }
  TempDir dir;
  const std::string path = dir.file("a.db");
  { open_ok(path); }
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  auto read_only_file = Database::open(path);
  ASSERT_FALSE(read_only_file);
  EXPECT_TRUE(contains(read_only_file.error().message(), path + ": open: "));

  const std::string locked = dir.file("ro");
  ASSERT_EQ(::mkdir(locked.c_str(), 0555), 0);
  auto in_locked = Database::open(locked + "/a.db");
  ASSERT_FALSE(in_locked);
  EXPECT_EQ(in_locked.error().code(), Errc::kCantOpen);
  EXPECT_TRUE(contains(in_locked.error().message(), locked + "/a.db: open: "));
  EXPECT_TRUE(contains(in_locked.error().message(), "Permission denied"));
}

TEST(Sqlite, InMemoryDatabasesArePrivateToTheirConnection) {
  Database a = open_ok(":memory:");
  Database b = open_ok(":memory:");
  ASSERT_TRUE(a.exec("CREATE TABLE t(x)"));
  EXPECT_TRUE(a.prepare("SELECT x FROM t"));
  EXPECT_FALSE(b.prepare("SELECT x FROM t"));
}

TEST(Sqlite, MovingADatabaseKeepsItsStatementsValid) {
  Database a = open_ok(":memory:");
  ASSERT_TRUE(a.exec("CREATE TABLE t(x); INSERT INTO t VALUES(42);"));
  std::optional<Database> b;  // outlives the statement, as a Database must
  auto select = a.prepare("SELECT x FROM t").value();
  b.emplace(std::move(a));
  ASSERT_TRUE(select.step().value());
  EXPECT_EQ(select.column_int64(0), 42);
}

TEST(Sqlite, ATransactionCommitsOrRollsBackWhenDropped) {
  TempDir dir;
  Database db = open_ok(dir.file("a.db"));
  Database other = open_ok(dir.file("a.db"));
  ASSERT_TRUE(db.exec("CREATE TABLE t(x)"));
  {
    auto tx = Transaction::begin(db);
    ASSERT_TRUE(tx) << tx.error().message();
    EXPECT_TRUE(db.in_transaction());
    ASSERT_TRUE(db.run("INSERT INTO t VALUES(1)"));
    EXPECT_EQ(scalar(other, "SELECT count(*) FROM t"), "0");  // not yet committed
    // Nesting a transaction is refused; the outer one goes on.
    auto nested = Transaction::begin(db);
    ASSERT_FALSE(nested);
    EXPECT_TRUE(contains(nested.error().message(), "within a transaction"));
  }  // dropped: rolled back
  EXPECT_FALSE(db.in_transaction());
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM t"), "0");

  auto tx = Transaction::begin(db, TransactionMode::kDeferred).value();
  ASSERT_TRUE(db.run("INSERT INTO t VALUES(2)"));
  ASSERT_TRUE(tx.commit());
  EXPECT_EQ(scalar(other, "SELECT count(*) FROM t"), "1");
  EXPECT_FALSE(tx.commit());  // over
}

TEST(Sqlite, SavepointsUndoOnlyTheirOwnWork) {
  Database db = open_ok(":memory:");
  ASSERT_TRUE(db.exec("CREATE TABLE t(x)"));
  auto tx = Transaction::begin(db).value();
  ASSERT_TRUE(db.run("INSERT INTO t VALUES(1)"));
  {
    auto outer = Savepoint::begin(db).value();
    ASSERT_TRUE(db.run("INSERT INTO t VALUES(2)"));
    {
      auto inner = Savepoint::begin(db).value();
      ASSERT_TRUE(db.run("INSERT INTO t VALUES(3)"));
    }  // dropped: 3 undone
    {
      auto inner = Savepoint::begin(db).value();
      ASSERT_TRUE(db.run("INSERT INTO t VALUES(4)"));
      ASSERT_TRUE(inner.release());
    }
    ASSERT_TRUE(outer.release());
  }
  {
    auto undone = Savepoint::begin(db).value();
    ASSERT_TRUE(db.run("INSERT INTO t VALUES(5)"));
    ASSERT_TRUE(undone.rollback());
  }
  EXPECT_TRUE(db.in_transaction());  // savepoints never end the enclosing transaction
  ASSERT_TRUE(tx.commit());
  EXPECT_EQ(scalar(db, "SELECT group_concat(x) FROM t"), "1,2,4");

  // Alone, a released savepoint commits.
  auto alone = Savepoint::begin(db).value();
  ASSERT_TRUE(db.run("INSERT INTO t VALUES(6)"));
  ASSERT_TRUE(alone.release());
  EXPECT_FALSE(db.in_transaction());
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM t"), "4");
}

// The scheduling state of one of this process's threads ('R', 'S', ...), or 0 once it is gone.
char thread_state(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '\0' : stat[paren + 2];
}

TEST(Sqlite, ALockedDatabaseIsWaitedForUpToTheBusyTimeout) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  Database holder = open_ok(path);
  ASSERT_TRUE(holder.exec("CREATE TABLE t(x)"));
  auto held = Transaction::begin(holder).value();

  // Without a timeout: refused at once, naming the file.
  Database impatient = open_ok(path, {.busy_timeout = std::chrono::milliseconds(0)});
  auto refused = Transaction::begin(impatient);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::kBusy);
  EXPECT_EQ(refused.error().message(), path + ": \"BEGIN IMMEDIATE\": database is locked");

  // With one: it waits (sleeping in SQLite's busy handler) until the lock is released.
  Database patient = open_ok(path, {.busy_timeout = std::chrono::minutes(1)});
  std::atomic<pid_t> tid{0};
  std::atomic<bool> finished{false};
  Result<> begun;
  std::thread waiter([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    auto tx = Transaction::begin(patient);
    begun = tx ? Result<>() : Result<>(tx.error());
    if (tx) {
      (void)tx->rollback();
    }
    finished = true;
  });
  // Poll until it sleeps (waiting for the lock) or, were the timeout ignored, has given up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!finished && (tid == 0 || thread_state(tid) != 'S') &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_FALSE(finished) << "the waiter did not wait";
  ASSERT_TRUE(held.commit());
  waiter.join();
  EXPECT_TRUE(begun) << begun.error().message();
}

TEST(Sqlite, ThreadReadersGiveEachThreadItsOwnReadOnlyConnection) {
  TempDir dir;
  const std::string path = dir.file("a.db");
  Database writer = open_ok(path);
  ASSERT_TRUE(writer.exec("CREATE TABLE t(x); INSERT INTO t VALUES(1);"));
  ThreadReaders readers(path);

  Database* mine = readers.get().value();
  EXPECT_EQ(readers.get().value(), mine);
  EXPECT_EQ(scalar(*mine, "SELECT count(*) FROM t"), "1");
  auto refused = mine->run("INSERT INTO t VALUES(2)");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), Errc::kReadOnly);

  std::vector<Database*> theirs(4);
  std::vector<std::string> counts(4);
  ASSERT_TRUE(writer.run("INSERT INTO t VALUES(3)"));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < theirs.size(); ++i) {
    threads.emplace_back([&, i] {
      theirs[i] = readers.get().value();
      counts[i] = scalar(*theirs[i], "SELECT count(*) FROM t");
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::set<Database*> distinct(theirs.begin(), theirs.end());
  distinct.insert(mine);
  EXPECT_EQ(distinct.size(), 5u);
  EXPECT_EQ(counts, std::vector<std::string>(4, "2"));  // each sees the last commit

  ThreadReaders nowhere(dir.file("missing.db"));
  auto missing = nowhere.get();
  ASSERT_FALSE(missing);
  EXPECT_TRUE(contains(missing.error().message(), dir.file("missing.db")));
}

}  // namespace
}  // namespace tender::sqlite
