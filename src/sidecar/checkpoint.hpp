#pragma once
// `tender tail`'s durable state, in SQLite (core/sqlite.hpp): which files it follows, under what
// identity, and how far each sink has acknowledged each of them. (Private.)
//
//   auto cp = Checkpoint::open("/var/lib/tender/tail.db");       // Result<>
//   auto rows = cp->load();                                      // at start
//   cp->apply({FileOp::upsert(row)});                            // durable when it returns
//   cp->submit({FileOp::offset(key, "archive", 8192)}, done);    // group commit; done later
//
// A file's row is written before any of its records is sent, so the key a receiver sees is the
// key found again after a restart. An offset is written only after the sink acknowledged every
// record before it (the tail pipeline's rule), so after a crash reading resumes at the first
// unacknowledged record.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace tender::sidecar {

// Hash of a file's first `len` bytes (len <= kFingerprintBytes): with (device, inode) the
// file's identity, so a reused inode holding other content is a new file, and a copy of a file
// (copytruncate) can be recognised as its continuation.
struct Fingerprint {
  std::uint32_t len = 0;
  std::uint64_t hash = 0;
  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};
inline constexpr std::uint32_t kFingerprintBytes = 1024;

struct FileRow {
  std::string key{};  // 16 hex digits
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  Fingerprint fp{};
  std::string path{};
  std::string input{};
  std::map<std::string, std::uint64_t> offsets{};  // sink name -> acknowledged offset
};

struct FileOp {
  enum class Kind { kUpsert, kOffset, kRemove, kInputStarted };
  Kind kind = Kind::kUpsert;
  FileRow row{};       // kUpsert (its offsets are written too)
  std::string key{};   // kOffset, kRemove; kInputStarted: the input's name
  std::string sink{};  // kOffset
  std::uint64_t offset = 0;

  static FileOp upsert(FileRow row);
  static FileOp set_offset(std::string key, std::string sink, std::uint64_t offset);
  static FileOp remove(std::string key);
  static FileOp input_started(std::string input);
};

class Checkpoint {
 public:
  // Opens or creates the database (its directory must exist) and its tables, holding an
  // exclusive flock() on PATH.lock for its lifetime. Errors name the file: kCantOpen, kNotADb,
  // kReadOnly (core/sqlite.hpp); EBUSY when another process holds the lock; the errno of
  // creating PATH.lock.
  [[nodiscard]] static Result<Checkpoint> open(const std::string& path);
  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  ~Checkpoint();

  // Every file row with its offsets, and the inputs that have started once. Call before the
  // first apply/submit.
  [[nodiscard]] Result<std::vector<FileRow>> load();
  [[nodiscard]] Result<std::vector<std::string>> started_inputs();

  // Applies `ops` in one transaction, durable (fsynced) when it returns. Blocks the caller for
  // one commit: for rare changes (a new file).
  [[nodiscard]] Result<> apply(std::vector<FileOp> ops);
  // Queues `ops` for the writer thread's next transaction; `done` runs on that thread after the
  // commit (durable) or with its error. Fails at once when the writer's queue is full or it has
  // stopped (then `done` never runs).
  [[nodiscard]] Result<> submit(std::vector<FileOp> ops, std::function<void(Result<>)> done);

  // Finishes queued writes and stops the writer thread. Idempotent.
  void stop();
  [[nodiscard]] const std::string& path() const;
  // Transactions committed.
  [[nodiscard]] std::uint64_t commits() const;

 private:
  struct Impl;
  explicit Checkpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// FNV-1a over `bytes` (the fingerprint's hash).
[[nodiscard]] std::uint64_t fingerprint_hash(std::string_view bytes);
// 16 lowercase hex digits of a random 64-bit number: a new file's key.
[[nodiscard]] std::string new_file_key();

}  // namespace tender::sidecar
