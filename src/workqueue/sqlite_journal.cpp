// The SQLite journal: every change goes through a GroupCommitWriter (one transaction and one
// fsync per batch of concurrent changes); bodies are read through one connection per thread.
//
// Schema (user_version 1): queues(name, paused); items(metadata, result, error) with
// AUTOINCREMENT ids, so that ids are never reused even once every item is forgotten;
// payloads(id, payload) apart, so that a state change rewrites a small row; idempotency keys.
// The file uses incremental auto-vacuum: pages that acked and purged items free are reused,
// and the freelist is given back to the file system when it grows large. New items' payloads
// are also kept in memory (32 MiB at most) until their first lease reads them.
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "core/log.hpp"
#include "core/sqlite.hpp"
#include "core/sqlite_writer.hpp"
#include "workqueue/journal.hpp"

namespace tender::workqueue {
namespace {

constexpr int kSchemaVersion = 1;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE queues(name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE items(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  enqueued_ms INTEGER NOT NULL,
  due_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  lease_id TEXT NOT NULL DEFAULT '',
  result BLOB,
  error TEXT);
CREATE TABLE payloads(id INTEGER PRIMARY KEY, payload BLOB NOT NULL);
CREATE TABLE idempotency(
  queue TEXT NOT NULL, key TEXT NOT NULL, id INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  PRIMARY KEY(queue, key)) WITHOUT ROWID;
CREATE INDEX idempotency_expiry ON idempotency(expires_ms);
PRAGMA user_version = 1;
)sql";

// Runs `sql` with `args` and collects each row through `row`.
template <class Row, class... Args>
Result<> each_row(sqlite::Database& db, std::string_view sql, Row row, const Args&... args) {
  auto st = db.prepare(sql);
  if (!st) {
    return st.error();
  }
  if (auto b = st->bind_all(args...); !b) {
    return b.error();
  }
  for (;;) {
    auto more = st->step();
    if (!more) {
      return more.error();
    }
    if (!*more) {
      return {};
    }
    row(*st);
  }
}

Result<> apply(sqlite::Database& db, const Mutation& m) {
  using Kind = Mutation::Kind;
  Result<std::int64_t> r = std::int64_t{0};
  const ItemRow& row = m.row;
  switch (m.kind) {
    case Kind::kInsert:
      r = db.run(
          "INSERT INTO items(id, queue, state, priority, attempts, max_attempts, enqueued_ms, "
          "due_ms, finished_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
          row.id, row.queue, static_cast<int>(row.state), row.priority, row.attempts,
          row.max_attempts, row.enqueued_ms, row.due_ms, row.finished_ms);
      if (r) {
        r = db.run("INSERT INTO payloads(id, payload) VALUES(?, ?)", row.id,
                   sqlite::Blob{m.payload});
      }
      break;
    case Kind::kUpdate: {
      std::optional<sqlite::Blob> result;
      if (m.result) {
        result = sqlite::Blob{*m.result};
      }
      r = db.run(
          "UPDATE items SET state = ?, priority = ?, attempts = ?, max_attempts = ?, "
          "due_ms = ?, finished_ms = ?, lease_id = ?, result = coalesce(?, result), "
          "error = coalesce(?, error) WHERE id = ?",
          static_cast<int>(row.state), row.priority, row.attempts, row.max_attempts, row.due_ms,
          row.finished_ms, row.lease_id, result, m.error, row.id);
      break;
    }
    case Kind::kDelete:
      r = db.run("DELETE FROM items WHERE id = ?", row.id);
      if (r) {
        r = db.run("DELETE FROM payloads WHERE id = ?", row.id);
      }
      break;
    case Kind::kQueue:
      r = db.run(
          "INSERT INTO queues(name, paused) VALUES(?, ?) "
          "ON CONFLICT(name) DO UPDATE SET paused = excluded.paused",
          row.queue, m.paused ? 1 : 0);
      break;
    case Kind::kIdempotency:
      r = db.run(
          "INSERT OR REPLACE INTO idempotency(queue, key, id, expires_ms) VALUES(?, ?, ?, ?)",
          row.queue, m.key, row.id, m.expires_ms);
      break;
    case Kind::kForgetKeys:
      r = db.run("DELETE FROM idempotency WHERE expires_ms <= ?", m.expires_ms);
      break;
  }
  if (!r) {
    return r.error();
  }
  return {};
}

class SqliteJournal final : public Journal {
 public:
  SqliteJournal(std::string path, sqlite::Database db)
      : path_(std::move(path)), writer_(std::move(db), options()), readers_(path_) {}

  ~SqliteJournal() override { close(); }

  std::string describe() const override { return "sqlite:" + path_; }

  Result<Loaded> load() override {
    auto db = readers_.get();
    if (!db) {
      return db.error();
    }
    Loaded out;
    auto r = each_row(**db, "SELECT name, paused FROM queues", [&](sqlite::Statement& st) {
      out.queues.push_back({std::string(st.column_text(0)), st.column_int64(1) != 0});
    });
    if (r) {
      r = each_row(
          **db,
          "SELECT id, queue, state, priority, attempts, max_attempts, enqueued_ms, due_ms, "
          "finished_ms, lease_id FROM items ORDER BY id",
          [&](sqlite::Statement& st) {
            ItemRow row;
            row.id = static_cast<std::uint64_t>(st.column_int64(0));
            row.queue = st.column_text(1);
            const auto state = st.column_int64(2);
            row.state = state >= 0 && state <= 4 ? static_cast<State>(state) : State::kReady;
            row.priority = static_cast<int>(st.column_int64(3));
            row.attempts = static_cast<int>(st.column_int64(4));
            row.max_attempts = static_cast<int>(st.column_int64(5));
            row.enqueued_ms = st.column_int64(6);
            row.due_ms = st.column_int64(7);
            row.finished_ms = st.column_int64(8);
            row.lease_id = st.column_text(9);
            out.items.push_back(std::move(row));
          });
    }
    if (r) {
      r = each_row(
          **db, "SELECT queue, key, id, expires_ms FROM idempotency", [&](sqlite::Statement& st) {
            out.keys.push_back({std::string(st.column_text(0)), std::string(st.column_text(1)),
                                static_cast<std::uint64_t>(st.column_int64(2)),
                                st.column_int64(3)});
          });
    }
    if (r) {
      r = each_row(**db,
                   "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'items'), 0),"
                   " coalesce((SELECT max(id) FROM items), 0))",
                   [&](sqlite::Statement& st) {
                     out.last_id = static_cast<std::uint64_t>(st.column_int64(0));
                   });
    }
    if (!r) {
      return r.error().with_context("loading the queue store " + path_);
    }
    return out;
  }

  std::optional<Result<>> write(std::vector<Mutation> mutations,
                                std::function<void(Result<>)> done) override {
    auto shared = std::make_shared<std::vector<Mutation>>(std::move(mutations));
    std::vector<std::uint64_t> cached = remember(*shared);
    if (!cached.empty()) {
      done = [this, cached, done = std::move(done)](Result<> r) {
        if (!r) {
          forget(cached);
        }
        if (done) {
          done(std::move(r));
        }
      };
    }
    auto queued = writer_.submit(
        [shared](sqlite::Database& db) -> Result<> {
          for (const auto& m : *shared) {
            if (auto r = apply(db, m); !r) {
              return r;
            }
          }
          return {};
        },
        done);
    if (!queued) {
      forget(cached);
      return Result<>(queued.error());
    }
    if (++writes_ % 4096 == 0) {
      reclaim();
    }
    return std::nullopt;
  }

  Result<std::vector<std::pair<std::uint64_t, Bodies>>> read(const std::vector<std::uint64_t>& ids,
                                                             bool with_payload) override {
    std::vector<std::pair<std::uint64_t, Bodies>> out;
    std::vector<std::uint64_t> rest;
    if (with_payload) {
      // An item never read since its enqueue has no result or error yet.
      std::lock_guard lk(cache_mu_);
      for (auto id : ids) {
        auto it = cache_.find(id);
        if (it == cache_.end()) {
          rest.push_back(id);
          continue;
        }
        Bodies b;
        b.payload = std::move(it->second);
        cached_bytes_ -= b.payload.size();
        cache_.erase(it);
        out.emplace_back(id, std::move(b));
      }
    } else {
      rest = ids;
    }
    if (rest.empty()) {
      return out;
    }
    auto db = readers_.get();
    if (!db) {
      return db.error();
    }
    const std::string_view sql = with_payload ? "SELECT i.result, i.error, p.payload FROM items i "
                                                "LEFT JOIN payloads p ON p.id = i.id WHERE i.id = ?"
                                              : "SELECT result, error FROM items WHERE id = ?";
    for (auto id : rest) {
      auto r = each_row(
          **db, sql,
          [&](sqlite::Statement& st) {
            Bodies b;
            b.result = st.column_blob(0);
            b.error = st.column_text(1);
            if (with_payload) {
              b.payload = st.column_blob(2);
            }
            out.emplace_back(id, std::move(b));
          },
          id);
      if (!r) {
        return r.error();
      }
    }
    return out;
  }

  StoreStats stats() const override {
    auto g = writer_.stats();
    StoreStats s;
    s.commits = g.commits;
    s.committed_writes = g.writes - g.failed_writes;
    s.largest_batch = g.largest_batch;
    return s;
  }

  void set_commit_observer(CommitObserver observer) override {
    std::lock_guard lk(observer_mu_);
    observer_ = std::move(observer);
  }

  void close() override { writer_.stop(); }

 private:
  sqlite::GroupCommitOptions options() {
    sqlite::GroupCommitOptions o;
    o.on_commit = [this](std::size_t writes, std::chrono::nanoseconds took) {
      std::lock_guard lk(observer_mu_);
      if (observer_) {
        observer_(writes, took);
      }
    };
    return o;
  }

  // Keeps the payloads of new items (up to kCacheBytes) until their first read or change,
  // which is nearly always their first lease: leasing then reads nothing from the file.
  // Answers the ids kept.
  std::vector<std::uint64_t> remember(const std::vector<Mutation>& mutations) {
    std::vector<std::uint64_t> kept;
    std::lock_guard lk(cache_mu_);
    for (const auto& m : mutations) {
      if (m.kind == Mutation::Kind::kInsert && cached_bytes_ + m.payload.size() <= kCacheBytes) {
        cache_.emplace(m.row.id, m.payload);
        cached_bytes_ += m.payload.size();
        kept.push_back(m.row.id);
      } else if (m.kind == Mutation::Kind::kDelete || m.kind == Mutation::Kind::kUpdate) {
        // Once an item changes (its ack, nack, or a lease served without reading), a read
        // must also see its result and error: from the file.
        drop(m.row.id);
      }
    }
    return kept;
  }
  void forget(const std::vector<std::uint64_t>& ids) {
    std::lock_guard lk(cache_mu_);
    for (auto id : ids) {
      drop(id);
    }
  }
  void drop(std::uint64_t id) {  // under cache_mu_
    if (auto it = cache_.find(id); it != cache_.end()) {
      cached_bytes_ -= it->second.size();
      cache_.erase(it);
    }
  }

  // Gives free pages back to the file system once they are over a quarter of the file and
  // 16 MiB: a backlog that drained. Under steady churn the free pages are reused instead.
  void reclaim() {
    (void)writer_.submit(
        [](sqlite::Database& db) -> Result<> {
          std::int64_t free_pages = 0;
          std::int64_t pages = 0;
          auto r = each_row(db, "PRAGMA freelist_count",
                            [&](sqlite::Statement& st) { free_pages = st.column_int64(0); });
          if (r) {
            r = each_row(db, "PRAGMA page_count",
                         [&](sqlite::Statement& st) { pages = st.column_int64(0); });
          }
          if (r && free_pages > 4096 && free_pages * 4 > pages) {
            r = each_row(db, "PRAGMA incremental_vacuum", [](sqlite::Statement&) {});
          }
          return r;
        },
        nullptr);
  }

  std::string path_;
  sqlite::GroupCommitWriter writer_;
  sqlite::ThreadReaders readers_;
  std::atomic<std::uint64_t> writes_{0};
  static constexpr std::size_t kCacheBytes = std::size_t{32} << 20;
  std::mutex cache_mu_;
  std::unordered_map<std::uint64_t, std::string> cache_;
  std::size_t cached_bytes_ = 0;
  std::mutex observer_mu_;
  CommitObserver observer_;
};

// Creates the schema in a new file, or checks an existing file's.
Result<> prepare_schema(sqlite::Database& db, const std::string& path) {
  int version = 0;
  std::int64_t tables = 0;
  auto r = each_row(db, "PRAGMA user_version",
                    [&](sqlite::Statement& st) { version = static_cast<int>(st.column_int64(0)); });
  if (r) {
    r = each_row(db, "SELECT count(*) FROM sqlite_master",
                 [&](sqlite::Statement& st) { tables = st.column_int64(0); });
  }
  if (!r) {
    return r.error().with_context(path);
  }
  if (version > kSchemaVersion) {
    return queue_error(Errc::kInvalid, path + ": written by a newer tender (store schema " +
                                           std::to_string(version) + ", this one reads " +
                                           std::to_string(kSchemaVersion) + ")");
  }
  if (version == kSchemaVersion) {
    return {};
  }
  if (tables > 0) {
    return queue_error(Errc::kInvalid,
                       path +
                           ": an SQLite database, but not a tender queue store (it has "
                           "tables of its own); name another file");
  }
  if (auto v = db.exec("PRAGMA auto_vacuum = INCREMENTAL"); !v) {
    return v.error();
  }
  auto tx = sqlite::Transaction::begin(db);
  if (!tx) {
    return tx.error();
  }
  if (auto e = db.exec(kSchema); !e) {
    return e.error();
  }
  if (auto c = tx->commit(); !c) {
    return c.error();
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Journal>> sqlite_journal(const std::string& path) {
  auto db = sqlite::Database::open(path);
  if (!db) {
    return db.error();
  }
  if (auto s = prepare_schema(*db, path); !s) {
    return s.error();
  }
  // Keep the WAL file from staying at its largest after a burst.
  if (auto e = db->exec("PRAGMA journal_size_limit = 67108864"); !e) {
    return e.error();
  }
  return std::unique_ptr<Journal>(std::make_unique<SqliteJournal>(path, std::move(*db)));
}

}  // namespace tender::workqueue
