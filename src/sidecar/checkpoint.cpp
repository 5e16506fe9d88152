#include "sidecar/checkpoint.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <future>
#include <random>

#include "core/fd.hpp"
#include "core/sqlite.hpp"
#include "core/sqlite_writer.hpp"

namespace tender::sidecar {

namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tail_files(
  key TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL, fp_len INTEGER NOT NULL,
  fp_hash INTEGER NOT NULL, path TEXT NOT NULL, input TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tail_offsets(
  key TEXT NOT NULL, sink TEXT NOT NULL, offset INTEGER NOT NULL, PRIMARY KEY(key, sink));
CREATE TABLE IF NOT EXISTS tail_inputs(name TEXT PRIMARY KEY);
)sql";

std::int64_t as_i64(std::uint64_t v) { return std::bit_cast<std::int64_t>(v); }
std::uint64_t as_u64(std::int64_t v) { return std::bit_cast<std::uint64_t>(v); }

Result<> run_op(sqlite::Database& db, const FileOp& op) {
  Result<std::int64_t> r = std::int64_t{0};
  switch (op.kind) {
    case FileOp::Kind::kUpsert: {
      const FileRow& f = op.row;
      r = db.run(
          "INSERT INTO tail_files(key, dev, ino, fp_len, fp_hash, path, input) "
          "VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET dev = excluded.dev, "
          "ino = excluded.ino, fp_len = excluded.fp_len, fp_hash = excluded.fp_hash, "
          "path = excluded.path, input = excluded.input",
          f.key, as_i64(f.dev), as_i64(f.ino), static_cast<std::int64_t>(f.fp.len),
          as_i64(f.fp.hash), f.path, f.input);
      for (const auto& [sink, offset] : f.offsets) {
        if (!r) {
          break;
        }
        r = db.run(
            "INSERT INTO tail_offsets(key, sink, offset) VALUES(?, ?, ?) "
            "ON CONFLICT(key, sink) DO UPDATE SET offset = excluded.offset",
            f.key, sink, as_i64(offset));
      }
      break;
    }
    case FileOp::Kind::kOffset:
      r = db.run(
          "INSERT INTO tail_offsets(key, sink, offset) VALUES(?, ?, ?) "
          "ON CONFLICT(key, sink) DO UPDATE SET offset = excluded.offset",
          op.key, op.sink, as_i64(op.offset));
      break;
    case FileOp::Kind::kRemove:
      r = db.run("DELETE FROM tail_offsets WHERE key = ?", op.key);
      if (r) {
        r = db.run("DELETE FROM tail_files WHERE key = ?", op.key);
      }
      break;
    case FileOp::Kind::kInputStarted:
      r = db.run("INSERT OR IGNORE INTO tail_inputs(name) VALUES(?)", op.key);
      break;
  }
  if (!r) {
    return r.error();
  }
  return {};
}

}  // namespace

FileOp FileOp::upsert(FileRow row) { return {.kind = Kind::kUpsert, .row = std::move(row)}; }
FileOp FileOp::set_offset(std::string key, std::string sink, std::uint64_t offset) {
  return {.kind = Kind::kOffset, .key = std::move(key), .sink = std::move(sink), .offset = offset};
}
FileOp FileOp::remove(std::string key) { return {.kind = Kind::kRemove, .key = std::move(key)}; }
FileOp FileOp::input_started(std::string input) {
  return {.kind = Kind::kInputStarted, .key = std::move(input)};
}

struct Checkpoint::Impl {
  Impl(Fd held, std::string p, sqlite::Database writer_db)
      : lock(std::move(held)), path(std::move(p)), writer(std::move(writer_db)) {}
  Fd lock;  // PATH.lock, flock()ed: one tail per checkpoint
  std::string path;
  sqlite::GroupCommitWriter writer;

  // A connection of its own for reading at start, closed after (its cache is not kept).
  [[nodiscard]] Result<sqlite::Database> reader() const {
    return sqlite::Database::open(path, {.create = false, .read_only = true});
  }
};

Result<Checkpoint> Checkpoint::open(const std::string& path) {
  // Two shippers on one checkpoint would both send everything and overwrite each other's
  // offsets: the second is refused.
  std::string lock_path = path + ".lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock) {
    return Error::from_errno(errno, lock_path);
  }
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Error(std::errc::device_or_resource_busy,
                   path + ": in use by another tender tail (" + lock_path + " is locked)");
    }
    return Error::from_errno(errno, lock_path);
  }
  auto db = sqlite::Database::open(path);
  if (!db) {
    return db.error();
  }
  if (auto ok = db->exec(kSchema); !ok) {
    return ok.error();
  }
  return Checkpoint(std::make_unique<Impl>(std::move(lock), path, std::move(*db)));
}

Checkpoint::Checkpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() {
  if (impl_) {
    impl_->writer.stop();
  }
}

Result<std::vector<FileRow>> Checkpoint::load() {
  auto reader = impl_->reader();
  if (!reader) {
    return reader.error();
  }
  std::vector<FileRow> rows;
  std::map<std::string, std::size_t> by_key;
  {
    auto files = reader->prepare(
        "SELECT key, dev, ino, fp_len, fp_hash, path, input FROM tail_files ORDER BY key");
    if (!files) {
      return files.error();
    }
    for (auto row = files->step(); row; row = files->step()) {
      if (!*row) {
        break;
      }
      FileRow f;
      f.key = std::string(files->column_text(0));
      f.dev = as_u64(files->column_int64(1));
      f.ino = as_u64(files->column_int64(2));
      f.fp.len = static_cast<std::uint32_t>(files->column_int64(3));
      f.fp.hash = as_u64(files->column_int64(4));
      f.path = std::string(files->column_text(5));
      f.input = std::string(files->column_text(6));
      by_key[f.key] = rows.size();
      rows.push_back(std::move(f));
    }
  }
  auto offsets = reader->prepare("SELECT key, sink, offset FROM tail_offsets");
  if (!offsets) {
    return offsets.error();
  }
  for (auto row = offsets->step(); row && *row; row = offsets->step()) {
    auto it = by_key.find(std::string(offsets->column_text(0)));
    if (it != by_key.end()) {
      rows[it->second].offsets[std::string(offsets->column_text(1))] =
          as_u64(offsets->column_int64(2));
    }
  }
  return rows;
}

Result<std::vector<std::string>> Checkpoint::started_inputs() {
  auto reader = impl_->reader();
  if (!reader) {
    return reader.error();
  }
  std::vector<std::string> names;
  auto q = reader->prepare("SELECT name FROM tail_inputs");
  if (!q) {
    return q.error();
  }
  for (auto row = q->step(); row && *row; row = q->step()) {
    names.emplace_back(q->column_text(0));
  }
  return names;
}

Result<> Checkpoint::submit(std::vector<FileOp> ops, std::function<void(Result<>)> done) {
  return impl_->writer.submit(
      [ops = std::move(ops)](sqlite::Database& db) -> Result<> {
        for (const FileOp& op : ops) {
          if (auto ok = run_op(db, op); !ok) {
            return ok;
          }
        }
        return {};
      },
      std::move(done));
}

Result<> Checkpoint::apply(std::vector<FileOp> ops) {
  auto promise = std::make_shared<std::promise<Result<>>>();
  auto future = promise->get_future();
  if (auto queued = submit(std::move(ops), [promise](Result<> r) { promise->set_value(r); });
      !queued) {
    return queued;
  }
  return future.get();
}

void Checkpoint::stop() { impl_->writer.stop(); }
const std::string& Checkpoint::path() const { return impl_->writer.path(); }
std::uint64_t Checkpoint::commits() const { return impl_->writer.stats().commits; }

std::uint64_t fingerprint_hash(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string new_file_key() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace tender::sidecar
