#include "core/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace tender::sqlite {

namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int ev) const override { return sqlite3_errstr(ev); }
};

// At most this much of a statement's SQL goes into an error message.
constexpr std::size_t kSqlInMessage = 80;

// `sql` on one line, whitespace runs collapsed, cut to kSqlInMessage, in double quotes.
std::string quote_sql(std::string_view sql) {
  std::string out = "\"";
  bool space = false;
  for (char c : sql) {
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      space = out.size() > 1;
      continue;
    }
    if (space) {
      out += ' ';
      space = false;
    }
    if (out.size() > kSqlInMessage) {
      out += "...";
      break;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return s;
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

}  // namespace

const boost::system::error_category& category() {
  static const Category instance;
  return instance;
}

namespace detail {

struct Connection {
  sqlite3* db = nullptr;
  std::string path;
  std::size_t cache_capacity = 0;
  // Idle prepared statements by SQL text; `idle_count` of them in all.
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>, StringHash, std::equal_to<>> idle;
  std::size_t idle_count = 0;
  std::size_t outstanding = 0;  // Statements handed out and not yet given back
  int savepoint_depth = 0;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    assert(outstanding == 0 && "a Statement outlived its Database");
    for (auto& [sql, statements] : idle) {
      for (sqlite3_stmt* stmt : statements) {
        sqlite3_finalize(stmt);
      }
    }
    // close_v2 rolls back an open transaction; it fails only with unfinalized statements,
    // which it then closes when they are finalized.
    sqlite3_close_v2(db);
  }

  Error error(int rc, std::string_view what) const {
    const int primary = rc & 0xff;
    std::string reason =
        db != nullptr && sqlite3_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db != nullptr && (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR)) {
      if (const int err = sqlite3_system_errno(db); err != 0) {
        reason += " (" + std::system_category().message(err) + ")";
      }
    }
    return Error(boost::system::error_code(primary, category()),
                 path + ": " + std::string(what) + ": " + reason);
  }

  Result<Statement> prepare(std::string_view sql) {
    sql = trim_end(sql);
    if (auto it = idle.find(sql); it != idle.end() && !it->second.empty()) {
      sqlite3_stmt* stmt = it->second.back();
      it->second.pop_back();
      --idle_count;
      ++outstanding;
      return Statement(this, stmt);
    }
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const unsigned flags = cache_capacity > 0 ? SQLITE_PREPARE_PERSISTENT : 0;
    const int rc =
        sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), flags, &stmt, &tail);
    if (rc != SQLITE_OK) {
      return error(rc, quote_sql(sql));
    }
    if (stmt == nullptr) {
      return Error(make_error_code(Errc::kMisuse), path + ": " + quote_sql(sql) + ": no statement");
    }
    const std::string_view rest(tail, sql.data() + sql.size() - tail);
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
      sqlite3_finalize(stmt);
      return Error(make_error_code(Errc::kMisuse),
                   path + ": " + quote_sql(sql) + ": more than one statement (use exec)");
    }
    ++outstanding;
    return Statement(this, stmt);
  }

  void give_back(sqlite3_stmt* stmt) {
    --outstanding;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (idle_count >= cache_capacity) {
      sqlite3_finalize(stmt);
      return;
    }
    auto it = idle.find(std::string_view(sqlite3_sql(stmt)));
    if (it == idle.end()) {
      it = idle.emplace(sqlite3_sql(stmt), std::vector<sqlite3_stmt*>()).first;
    }
    it->second.push_back(stmt);
    ++idle_count;
  }

  // Prepares (from the cache) and runs a statement that returns no rows.
  Result<> run(std::string_view sql) {
    auto statement = prepare(sql);
    if (!statement) {
      return statement.error();
    }
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    return {};
  }

  bool in_transaction() const { return sqlite3_get_autocommit(db) == 0; }
};

}  // namespace detail

// --- Statement ---------------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) {
      conn_->give_back(stmt_);
    }
    conn_ = std::exchange(other.conn_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ != nullptr) {
    conn_->give_back(stmt_);
  }
}

Result<> Statement::check_bind(int rc, int index) {
  if (rc == SQLITE_OK) {
    return {};
  }
  return conn_->error(rc, quote_sql(sql()) + ": bind " + std::to_string(index));
}

Result<> Statement::bind_int64(int index, std::int64_t value) {
  return check_bind(sqlite3_bind_int64(stmt_, index, value), index);
}

Result<> Statement::bind_double(int index, double value) {
  return check_bind(sqlite3_bind_double(stmt_, index, value), index);
}

Result<> Statement::bind_text(int index, std::string_view value) {
  return check_bind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
}

Result<> Statement::bind_blob(int index, std::string_view bytes) {
  // A null pointer would bind NULL: an empty blob needs a valid one.
  const char* data = bytes.data() != nullptr ? bytes.data() : "";
  return check_bind(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT), index);
}

Result<> Statement::bind_null(int index) {
  return check_bind(sqlite3_bind_null(stmt_, index), index);
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt_);
    return false;
  }
  // The error, before reset() could replace the connection's message.
  Error error = conn_->error(rc, quote_sql(sql()));
  sqlite3_reset(stmt_);
  return error;
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string_view Statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  // The size after the text conversion, as SQLite's documentation asks.
  const int size = sqlite3_column_bytes(stmt_, column);
  return text == nullptr ? std::string_view() : std::string_view(text, size);
}

std::string_view Statement::column_blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return data == nullptr ? std::string_view() : std::string_view(data, size);
}

void Statement::reset() { sqlite3_reset(stmt_); }

void Statement::clear() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view Statement::sql() const { return sqlite3_sql(stmt_); }

// --- Database ----------------------------------------------------------------------------------

namespace {

// Runs a pragma and returns its first column of its first row ("" if none).
Result<std::string> pragma(detail::Connection& conn, std::string_view sql) {
  auto statement = conn.prepare(sql);
  if (!statement) {
    return statement.error();
  }
  std::string value;
  for (;;) {
    auto row = statement->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return Result<std::string>(boost::system::in_place_value, std::move(value));
    }
    if (value.empty() && statement->column_count() > 0) {
      value = statement->column_text(0);
    }
  }
}

// Open's errors say "open", not the pragma that met them.
Error open_error(const detail::Connection& conn, const Error& error) {
  if (error.code().category() != category()) {
    return error;
  }
  return conn.error(error.code().value(), "open");
}

}  // namespace

Database::Database(std::unique_ptr<detail::Connection> conn) : conn_(std::move(conn)) {}
Database::Database(Database&& other) noexcept = default;
Database& Database::operator=(Database&& other) noexcept = default;
Database::~Database() = default;

Result<Database> Database::open(std::string path, const Options& options) {
  auto conn = std::make_unique<detail::Connection>();
  conn->path = std::move(path);
  conn->cache_capacity = options.statement_cache;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (options.create && !options.read_only) {
    flags |= SQLITE_OPEN_CREATE;
  }
  const int rc = sqlite3_open_v2(conn->path.c_str(), &conn->db, flags, nullptr);
  if (rc != SQLITE_OK) {
    return conn->error(rc, "open");
  }
  sqlite3_busy_timeout(conn->db, static_cast<int>(std::clamp<std::int64_t>(
                                     options.busy_timeout.count(), 0, 1 << 30)));
  const bool in_memory = conn->path.empty() || conn->path == ":memory:";
  // Reading the schema's version makes SQLite read the file's header: a file that is not a
  // database fails here, whatever the options.
  auto checked = pragma(*conn, "PRAGMA schema_version");
  if (!checked) {
    return open_error(*conn, checked.error());
  }
  if (options.read_only) {
    if (auto r = pragma(*conn, "PRAGMA query_only = ON"); !r) {
      return open_error(*conn, r.error());
    }
  } else {
    if (sqlite3_db_readonly(conn->db, "main") == 1) {
      return Error(make_error_code(Errc::kReadOnly),
                   conn->path + ": open: the file can only be opened read-only");
    }
    if (!in_memory) {
      auto mode = pragma(*conn, "PRAGMA journal_mode = WAL");
      if (!mode) {
        return open_error(*conn, mode.error());
      }
      if (*mode != "wal") {
        return Error(
            make_error_code(Errc::kError),
            conn->path + ": open: cannot use WAL (the journal mode stays \"" + *mode + "\")");
      }
    }
  }
  const char* sync = options.synchronous == Synchronous::kFull ? "PRAGMA synchronous = FULL"
                                                               : "PRAGMA synchronous = NORMAL";
  for (const char* sql : {sync, "PRAGMA foreign_keys = ON"}) {
    if (auto r = pragma(*conn, sql); !r) {
      return open_error(*conn, r.error());
    }
  }
  return Database(std::move(conn));
}

Result<> Database::exec(std::string_view script) {
  const std::string text(script);
  const int rc = sqlite3_exec(conn_->db, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return conn_->error(rc, quote_sql(script));
  }
  return {};
}

Result<Statement> Database::prepare(std::string_view sql) { return conn_->prepare(sql); }

std::int64_t Database::changes() const { return sqlite3_changes64(conn_->db); }

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(conn_->db); }

bool Database::in_transaction() const { return conn_->in_transaction(); }

const std::string& Database::path() const { return conn_->path; }

// --- Transaction -------------------------------------------------------------------------------

Result<Transaction> Transaction::begin(Database& db, TransactionMode mode) {
  auto r = db.conn_->run(mode == TransactionMode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!r) {
    return r.error();
  }
  return Transaction(db.conn_.get());
}

Transaction::Transaction(Transaction&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)) {}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    (void)rollback();
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}

Transaction::~Transaction() { (void)rollback(); }

Result<> Transaction::commit() {
  detail::Connection* conn = std::exchange(conn_, nullptr);
  if (conn == nullptr) {
    return Error(make_error_code(Errc::kMisuse), "commit of a transaction that is over");
  }
  auto r = conn->run("COMMIT");
  if (!r && conn->in_transaction()) {
    (void)conn->run("ROLLBACK");
  }
  return r;
}

Result<> Transaction::rollback() {
  detail::Connection* conn = std::exchange(conn_, nullptr);
  // SQLite may have rolled back already (after kFull or kIoErr): then there is nothing to do.
  if (conn == nullptr || !conn->in_transaction()) {
    return {};
  }
  return conn->run("ROLLBACK");
}

// --- Savepoint ---------------------------------------------------------------------------------

Result<Savepoint> Savepoint::begin(Database& db) {
  detail::Connection* conn = db.conn_.get();
  Savepoint savepoint(conn, conn->savepoint_depth + 1);
  if (auto r = conn->run("SAVEPOINT " + savepoint.name()); !r) {
    savepoint.conn_ = nullptr;
    return r.error();
  }
  conn->savepoint_depth = savepoint.depth_;
  return savepoint;
}

// Named by depth, so that the same few statements are cached however many savepoints are made.
std::string Savepoint::name() const { return "tender_sp" + std::to_string(depth_); }

Savepoint::Savepoint(Savepoint&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), depth_(other.depth_) {}

Savepoint& Savepoint::operator=(Savepoint&& other) noexcept {
  if (this != &other) {
    (void)rollback();
    conn_ = std::exchange(other.conn_, nullptr);
    depth_ = other.depth_;
  }
  return *this;
}

Savepoint::~Savepoint() { (void)rollback(); }

Result<> Savepoint::release() {
  detail::Connection* conn = std::exchange(conn_, nullptr);
  if (conn == nullptr) {
    return Error(make_error_code(Errc::kMisuse), "release of a savepoint that is over");
  }
  conn->savepoint_depth = depth_ - 1;
  auto r = conn->run("RELEASE " + name());
  if (!r) {
    (void)conn->run("ROLLBACK TO " + name());
    (void)conn->run("RELEASE " + name());
  }
  return r;
}

Result<> Savepoint::rollback() {
  detail::Connection* conn = std::exchange(conn_, nullptr);
  if (conn == nullptr) {
    return {};
  }
  conn->savepoint_depth = depth_ - 1;
  auto r = conn->run("ROLLBACK TO " + name());
  auto released = conn->run("RELEASE " + name());
  return r ? released : r;
}

// --- ThreadReaders -----------------------------------------------------------------------------

ThreadReaders::ThreadReaders(std::string path, Options options)
    : path_(std::move(path)), options_(options) {
  options_.read_only = true;
}

ThreadReaders::~ThreadReaders() = default;

Result<Database*> ThreadReaders::get() {
  const std::thread::id me = std::this_thread::get_id();
  std::lock_guard lock(mutex_);
  if (auto it = connections_.find(me); it != connections_.end()) {
    return it->second.get();
  }
  auto db = Database::open(path_, options_);
  if (!db) {
    return db.error();
  }
  auto& slot = connections_[me];
  slot = std::make_unique<Database>(std::move(*db));
  return slot.get();
}

}  // namespace tender::sqlite
