// SQLite for the roles that keep durable state (the work queue's store, the log shipper's
// checkpoints): a connection (`Database`), prepared statements, transactions and savepoints.
// Writes from many threads go through `GroupCommitWriter` (core/sqlite_writer.hpp), which
// batches them into one transaction and one fsync.
//
// Every failure is a tender::Error whose message names the database file and, for a statement,
// its SQL (shortened), and whose code is SQLite's primary result code in `sqlite::category()`,
// so a caller can branch on it:
//
//   if (r.error().code() == tender::sqlite::Errc::kConstraint) { ... }   // duplicate key
//
// Usage:
//
//   auto db = tender::sqlite::Database::open("/var/lib/tender/queue.db");
//   if (!db) {
//     log::error(db.error().message());  // "/var/lib/...: open: unable to open database file
//     return;                            //  (Permission denied)"
//   }
//   if (auto r = db->exec("CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, body TEXT)");
//       !r) { ... }
//   {
//     auto tx = tender::sqlite::Transaction::begin(*db);          // BEGIN IMMEDIATE
//     auto n = db->run("INSERT INTO items(body) VALUES(?)", "hello");  // rows changed
//     if (!tx || !n || !tx->commit()) { ... }                      // else rolled back
//   }
//   auto select = db->prepare("SELECT id, body FROM items WHERE id > ?");  // cached by SQL
//   (void)select->bind_int64(1, 0);
//   for (auto row = select->step(); row && *row; row = select->step()) {
//     use(select->column_int64(0), select->column_text(1));
//   }
//
// Threads: a Database is one SQLite connection, opened in SQLite's multi-thread mode: it and
// its statements may be used by one thread at a time (any thread, but not concurrently). A role
// that reads from several threads gives each its own connection (`ThreadReaders` below); with
// WAL, readers see the last commit and never wait for the writer, nor it for them. Writes go
// through one connection, a GroupCommitWriter's, so they never contend for SQLite's write lock
// within the process; the busy timeout covers other processes (the `sqlite3` shell, a backup).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

#include "core/error.hpp"

// SQLite's own types, declared but not defined here: callers do not include sqlite3.h.
struct sqlite3;
struct sqlite3_stmt;

namespace tender::sqlite {

// SQLite's primary result codes that callers may want to tell apart (the values are SQLite's).
enum class Errc {
  kError = 1,        // SQL error (syntax, missing table, ...)
  kBusy = 5,         // the busy timeout passed while another connection held a lock
  kLocked = 6,       // a conflict within this connection
  kReadOnly = 8,     // write to a read-only database or connection
  kInterrupt = 9,    //
  kIoErr = 10,       // the operating system failed a read, write or fsync
  kCorrupt = 11,     // the file is damaged
  kFull = 13,        // disk full
  kCantOpen = 14,    // the file cannot be opened (missing directory, a directory, no permission)
  kConstraint = 19,  // UNIQUE, NOT NULL, CHECK or FOREIGN KEY violated
  kMismatch = 20,    // datatype mismatch (e.g. a non-integer rowid)
  kMisuse = 21,      // the API used wrongly
  kRange = 25,       // a bind index out of range
  kNotADb = 26,      // the file is not an SQLite database
};

// The category of SQLite result codes: name "sqlite", message SQLite's text for the code.
[[nodiscard]] const boost::system::error_category& category();
[[nodiscard]] inline boost::system::error_code make_error_code(Errc e) {
  return {static_cast<int>(e), category()};
}

enum class Synchronous {
  kFull,    // every COMMIT is fsynced before it returns: survives power loss (the default)
  kNormal,  // WAL is fsynced at checkpoints only: a crash of the process loses nothing, a
            // power loss may lose the last commits (the database stays consistent)
};

struct Options {
  // How long a statement waits for a lock another connection holds before failing with
  // Errc::kBusy. Zero fails at once.
  std::chrono::milliseconds busy_timeout{5000};
  Synchronous synchronous = Synchronous::kFull;
  // Create the file if it is missing (the directory must exist).
  bool create = true;
  // The connection refuses writes (PRAGMA query_only) and does not create the file; for
  // readers. It still opens the file read-write when it can, so WAL's shared memory works.
  bool read_only = false;
  // How many idle prepared statements `prepare` keeps for reuse, keyed by SQL text.
  std::size_t statement_cache = 64;
};

class Database;
namespace detail {
struct Connection;  // a Database's state, on the heap so that moving a Database moves nothing
}  // namespace detail

// A prepared statement, from Database::prepare. Move-only. It belongs to its Database, which
// must outlive it; on destruction it is reset, its bindings cleared, and handed back to the
// Database's cache. Bind indices start at 1 (SQLite's convention), column indices at 0.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Each fails with Errc::kRange for an index the SQL has no parameter for. Text and blobs are
  // copied, so the argument need not outlive the call.
  [[nodiscard]] Result<> bind_int64(int index, std::int64_t value);
  [[nodiscard]] Result<> bind_double(int index, double value);
  [[nodiscard]] Result<> bind_text(int index, std::string_view value);
  [[nodiscard]] Result<> bind_blob(int index, std::string_view bytes);
  [[nodiscard]] Result<> bind_null(int index);

  // Binds the arguments to parameters 1, 2, ... by type: integers (and bool) as int64,
  // floating point as double, anything convertible to std::string_view as text, `Blob` as a
  // blob, std::nullopt / nullptr as NULL, std::optional<T> as T or NULL. Fails as the binds.
  template <class... Args>
  [[nodiscard]] Result<> bind_all(const Args&... args);

  // Runs the statement to its next row: true when a row is ready for the column getters,
  // false when done (a later step() starts again from the beginning). Errors: the SQLite
  // error (kBusy, kConstraint, kIoErr, ...) with the file, the SQL and SQLite's message. After
  // an error, reset() before stepping again.
  [[nodiscard]] Result<bool> step();

  // The current row's columns (after step() returned true). A NULL reads as 0, 0.0 or "".
  // The views stay valid until the next step(), reset() or destruction.
  [[nodiscard]] int column_count() const;
  [[nodiscard]] bool column_is_null(int column) const;
  [[nodiscard]] std::int64_t column_int64(int column) const;
  [[nodiscard]] double column_double(int column) const;
  [[nodiscard]] std::string_view column_text(int column) const;
  [[nodiscard]] std::string_view column_blob(int column) const;

  // Back to the start, bindings kept. Cannot fail (an earlier step's error was returned then).
  void reset();
  // Back to the start, every parameter NULL again.
  void clear();

  // The SQL text the statement was prepared from.
  [[nodiscard]] std::string_view sql() const;

 private:
  friend struct detail::Connection;
  Statement(detail::Connection* conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  [[nodiscard]] Result<> check_bind(int rc, int index);

  detail::Connection* conn_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// A blob for Statement::bind_all and Database::run (a std::string_view binds as text).
struct Blob {
  std::string_view bytes;
};

// One SQLite connection. Move-only (moving keeps its statements and transactions valid:
// the connection's state lives on the heap). Thread-safety: see the file comment.
class Database {
 public:
  // Opens (and with `create`, creates) the database at `path`; ":memory:" is a private
  // in-memory database. Sets the WAL journal (kept in the file, so readers opened later use
  // it too; an in-memory database has none), the busy timeout, `synchronous` and
  // foreign_keys=ON. Errors, each naming `path` and SQLite's reason: kCantOpen for a missing
  // directory, a directory, no permission, or a missing file without `create` (with the
  // system's reason, e.g. "(Is a directory)"); kNotADb for a file that is not a database;
  // kReadOnly / kCantOpen when WAL cannot be set up in a read-only location; kBusy if another
  // connection holds a lock past the busy timeout while WAL is being set up.
  [[nodiscard]] static Result<Database> open(std::string path, const Options& options = {});

  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  // Closes the connection; every Statement, Transaction and Savepoint of it must be gone. An
  // open transaction is rolled back.
  ~Database();

  // Runs `script`: any number of statements separated by ';' (schema, pragmas), without
  // parameters and discarding rows. Stops at the first failing statement and returns its
  // error (statements before it stay run, so wrap a script in a transaction to make it whole).
  [[nodiscard]] Result<> exec(std::string_view script);

  // A statement for `sql` (one statement; text after it is an error). Reuses an idle one
  // prepared before with the same text when the cache has it. Errors: kError with SQLite's
  // reason for bad SQL or a missing table, also kBusy when the schema is locked.
  [[nodiscard]] Result<Statement> prepare(std::string_view sql);

  // Prepares `sql`, binds `args` as Statement::bind_all does, and steps it to the end
  // (discarding rows). Returns changes(): for an INSERT, UPDATE or DELETE, the rows it changed.
  // Errors: those of prepare, the binds and step.
  template <class... Args>
  [[nodiscard]] Result<std::int64_t> run(std::string_view sql, const Args&... args);

  // The number of rows the last INSERT, UPDATE or DELETE changed.
  [[nodiscard]] std::int64_t changes() const;
  // The rowid of the last row this connection inserted (0 if none).
  [[nodiscard]] std::int64_t last_insert_rowid() const;
  // True inside BEGIN ... COMMIT/ROLLBACK (SQLite's autocommit is off).
  [[nodiscard]] bool in_transaction() const;
  [[nodiscard]] const std::string& path() const;

 private:
  friend class Transaction;
  friend class Savepoint;
  explicit Database(std::unique_ptr<detail::Connection> conn);

  std::unique_ptr<detail::Connection> conn_;
};

enum class TransactionMode {
  kImmediate,  // takes the write lock at BEGIN, so a later write never fails with kBusy
               // half-way (what writers want)
  kDeferred,   // takes locks as statements need them; a read-only transaction gives a
               // consistent snapshot across several SELECTs
};

// BEGIN ... COMMIT, rolled back if destroyed before commit() (e.g. on an early error
// return). Move-only; the Database must outlive it. Not nestable: use Savepoint inside.
class Transaction {
 public:
  // Errors: kBusy when another connection holds the write lock past the busy timeout;
  // kError when a transaction is already open on this connection.
  [[nodiscard]] static Result<Transaction> begin(
      Database& db, TransactionMode mode = TransactionMode::kImmediate);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&& other) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // Makes the transaction's writes durable (with Synchronous::kFull) and visible to other
  // connections. On failure (kIoErr, kFull, a deferred FOREIGN KEY kConstraint, kBusy) the
  // transaction has been rolled back: nothing of it is kept.
  [[nodiscard]] Result<> commit();
  // Discards the transaction's writes. Fails only if the connection is broken (kIoErr); the
  // transaction is over either way.
  [[nodiscard]] Result<> rollback();

 private:
  explicit Transaction(detail::Connection* conn) : conn_(conn) {}
  detail::Connection* conn_ = nullptr;
};

// SAVEPOINT ... RELEASE inside a transaction (or alone, when it acts as one): work that can be
// undone without undoing the rest. Rolled back to (and released) if destroyed before
// release(). Move-only; the Database must outlive it; savepoints nest, released or rolled
// back innermost first.
class Savepoint {
 public:
  // Errors: as a statement's (kBusy without an enclosing transaction).
  [[nodiscard]] static Result<Savepoint> begin(Database& db);

  Savepoint(Savepoint&& other) noexcept;
  Savepoint& operator=(Savepoint&& other) noexcept;
  Savepoint(const Savepoint&) = delete;
  Savepoint& operator=(const Savepoint&) = delete;
  ~Savepoint();

  // Keeps the savepoint's writes as part of the enclosing transaction (committing them if
  // there is none). On failure it has been rolled back.
  [[nodiscard]] Result<> release();
  // Undoes the writes since begin(); the enclosing transaction goes on.
  [[nodiscard]] Result<> rollback();

 private:
  Savepoint(detail::Connection* conn, int depth) : conn_(conn), depth_(depth) {}
  [[nodiscard]] std::string name() const;
  detail::Connection* conn_ = nullptr;
  int depth_ = 0;  // 1 for the outermost
};

// One read connection per thread, opened on a thread's first get() with `options` (read_only
// is forced on) and kept until the ThreadReaders is destroyed. For roles whose worker threads
// read the database a GroupCommitWriter writes: each thread reads without locks of ours, and
// under WAL without waiting for the writer.
//
//   tender::sqlite::ThreadReaders readers(path);
//   // on any worker thread:
//   auto db = readers.get();
//   if (!db) { return http_error(503, db.error().message()); }
//   auto select = (*db)->prepare("SELECT ...");
//
// Thread-safety: get() from any thread; a returned Database is for the calling thread only.
// The ThreadReaders must outlive every use of what get() returned.
class ThreadReaders {
 public:
  explicit ThreadReaders(std::string path, Options options = {});
  ~ThreadReaders();
  ThreadReaders(const ThreadReaders&) = delete;
  ThreadReaders& operator=(const ThreadReaders&) = delete;

  // This thread's connection. Errors: those of Database::open (a failed open is retried at
  // the next call).
  [[nodiscard]] Result<Database*> get();

 private:
  std::string path_;
  Options options_;
  std::mutex mutex_;
  std::unordered_map<std::thread::id, std::unique_ptr<Database>> connections_;
};

// --- templates ---------------------------------------------------------------------------------

namespace detail {
template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <class... Args>
Result<> Statement::bind_all(const Args&... args) {
  int index = 0;
  Result<> result;
  auto one = [&](const auto& self, const auto& value) -> Result<> {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, std::nullopt_t> || std::is_same_v<T, std::nullptr_t>) {
      return bind_null(index);
    } else if constexpr (detail::IsOptional<T>::value) {
      return value ? self(self, *value) : bind_null(index);
    } else if constexpr (std::is_same_v<T, Blob>) {
      return bind_blob(index, value.bytes);
    } else if constexpr (std::is_integral_v<T>) {
      return bind_int64(index, static_cast<std::int64_t>(value));
    } else if constexpr (std::is_floating_point_v<T>) {
      return bind_double(index, static_cast<double>(value));
    } else {
      static_assert(std::is_convertible_v<const T&, std::string_view>,
                    "bind_all binds integers, floating point, text, Blob, optional and null");
      return bind_text(index, std::string_view(value));
    }
  };
  // Stops at the first failure: the && chain does not evaluate what follows.
  (void)((++index, result = one(one, args), result.has_value()) && ...);
  (void)one;  // with no arguments
  return result;
}

template <class... Args>
Result<std::int64_t> Database::run(std::string_view sql, const Args&... args) {
  auto statement = prepare(sql);
  if (!statement) {
    return statement.error();
  }
  if (auto bound = statement->bind_all(args...); !bound) {
    return bound.error();
  }
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      break;
    }
  }
  return changes();
}

}  // namespace tender::sqlite

template <>
struct boost::system::is_error_code_enum<tender::sqlite::Errc> : std::true_type {};
