#pragma once
// The files `tender tail` follows, and each sink's progress through them: discovery, identity
// (device, inode and fingerprint), rotation by rename and by copytruncate, recovery after a
// restart, and when a file may be let go. No Asio: the role feeds it the watch's snapshots and
// drives each sink's pipeline through read() / acknowledged() / committed(). (Private.)
//
//   TailFiles files(cfg, checkpoint, clock);
//   files.recover(watch.snapshot());                 // throws on a checkpoint it cannot read
//   ... on watch events:  files.reconcile(watch.snapshot());
//   ... a sink's loop:    files.read(sink, batch);   co_await sink.write(batch);
//                         auto ops = files.acknowledged(sink, batch);  ... commit ops ...
//                         files.committed(sink, ops);
//
// The rules (docs/tail.md, "What is never lost"):
// - A file is followed by its open descriptor, so a file renamed away or deleted is still read
//   to its end; it is let go once every sink has had everything up to its end acknowledged and
//   committed, and it has not grown for rotate_wait.
// - Before each read a file's size and fingerprint are checked. Smaller, or other first bytes:
//   its content was replaced in place (copytruncate). The rest of the old content is looked
//   for in a copy (same first bytes, another inode, in the same directory, named by a glob or
//   not): found, the copy continues the old key from where each sink was; the truncated inode
//   becomes a new file. Not found: what was unread is counted as lost and logged.
// - A new file whose first bytes are another followed file's is held back (rotate_wait at most)
//   in case it is that file's copy, so a copytruncate's copy is not shipped twice.
// - After a restart, each checkpointed file is found again by (device, inode) and fingerprint
//   under any name, or as a copy, and resumes at each sink's committed offset.
//
// Not thread-safe: the role's one I/O thread uses it.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/fd.hpp"
#include "core/file_snapshot.hpp"
#include "sidecar/checkpoint.hpp"
#include "sidecar/record.hpp"
#include "sidecar/records.hpp"
#include "sidecar/tail_config.hpp"

namespace tender::sidecar {

// Counts for metrics (totals since start).
struct TailCounters {
  std::uint64_t files_discovered = 0;
  std::uint64_t files_released = 0;
  std::uint64_t rotations = 0;        // files renamed away or deleted while followed
  std::uint64_t truncations = 0;      // copytruncate or another in-place rewrite
  std::uint64_t copies_followed = 0;  // truncations whose unread rest was found in a copy
  std::uint64_t lost_bytes = 0;       // unread bytes of truncated files with no copy, or gone
  std::uint64_t dropped_bytes = 0;    // unread bytes of deleted files let go at max_held_bytes
  std::uint64_t files_gone = 0;       // checkpointed files not found again after a restart
  std::uint64_t files_refused = 0;    // new files left out at max_files
  std::uint64_t cut_records = 0;      // records cut at max_record_bytes
  std::uint64_t cut_bytes = 0;        // bytes those cuts skipped
  std::uint64_t parse_errors = 0;     // records that did not parse (shipped raw)
};

class TailFiles {
 public:
  TailFiles(const TailConfig& config, Checkpoint& checkpoint, const Clock& clock);
  ~TailFiles();
  TailFiles(const TailFiles&) = delete;
  TailFiles& operator=(const TailFiles&) = delete;

  // Start: finds each checkpointed file again (see above), then follows every file of
  // `snapshot`. Files of an input's very first start begin at their end when it reads from the
  // tail. Throws std::runtime_error when the checkpoint cannot be read or written.
  void recover(const Snapshot& snapshot);
  // The watched files now: follows new ones, notes renames, marks the ones gone from every
  // watched name as rotated. Failures to open a file are logged and retried at the next call.
  void reconcile(const Snapshot& snapshot);

  // Appends to `out` the records sink `sink` can have now, reading its files round robin, until
  // `max_records` records or `max_bytes` bytes of text are there or nothing more is readable.
  // Also completes files that are due (a multiline record's wait, a rotated file's end).
  void read(std::size_t sink, std::size_t max_records, std::size_t max_bytes,
            std::vector<Record>& out);
  // Sink `sink` acknowledged `batch` (records it got from read(), in order): returns the
  // checkpoint writes that make it durable (each file's offset after its last record there).
  [[nodiscard]] std::vector<FileOp> acknowledged(std::size_t sink, std::span<const Record> batch);
  // Those writes are durable: files every sink is done with are let go.
  void committed(std::size_t sink, const std::vector<FileOp>& ops);

  // The next moment (steady clock) something becomes due without any file event: a multiline
  // record's wait, a rotated file's rotate_wait. nullopt: nothing pending.
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> next_due() const;
  // Bytes held for sink `sink` in partial records (its share of the memory buffer).
  [[nodiscard]] std::uint64_t held_bytes(std::size_t sink) const;
  // Files followed now (including rotated ones not let go yet).
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] const TailCounters& counters() const { return counters_; }
  // Per followed file: key, path, input, size, live, and per sink its read and committed
  // offsets and lag.
  [[nodiscard]] boost::json::array status() const;
  // Bytes not yet committed per file name a file was first seen under (for the lag gauge):
  // every sink's lag, summed over files of that name.
  [[nodiscard]] std::map<std::string, std::uint64_t> lag_by_origin() const;

  // Told of every read and every acknowledgement, per file (by the name it was first seen
  // under) and sink: records and bytes of the file. For the role's counters.
  using Meter = std::function<void(const std::string& origin, std::size_t sink,
                                   std::uint64_t records, std::uint64_t bytes)>;
  void set_meters(Meter on_read, Meter on_sent) {
    on_read_ = std::move(on_read);
    on_sent_ = std::move(on_sent);
  }

 private:
  struct Cursor;
  struct File;

  [[nodiscard]] const Input* input_for(const std::string& path) const;
  File* discover(const std::string& path, bool first_start);
  // Follows the open file `fd` as a new file of `input` under `path` (live: by that name; not
  // live: read to its end and let go). nullptr when it cannot be yet (empty, max_files, a
  // possible copy held back, the checkpoint failing).
  File* adopt(Fd fd, const std::string& path, const Input& input, bool first_start, bool live);
  // recover()'s steps: checkpointed files under a watched name, then elsewhere in their directory.
  void resume_named(const Snapshot& snapshot, const std::vector<FileRow>& rows,
                    std::vector<bool>& used, std::set<FileId>& claimed);
  void resume_moved(const std::vector<FileRow>& rows, const std::vector<bool>& used,
                    std::set<FileId>& claimed);
  File* follow_row(const FileRow& row, Fd fd, const std::string& path, std::uint64_t size,
                   bool live);
  bool check(File& f);
  void truncated(File& f, std::uint64_t old_size);
  // In `dir`, a regular file of at least `min_size` bytes whose first bytes are `fp`'s, not
  // followed under another key: the inode `self` itself (renamed) if `same_inode_too` and it is
  // there, else the most recently modified other inode (a copy).
  [[nodiscard]] std::optional<std::string> find_copy(FileId self, const Fingerprint& fp,
                                                     const std::string& dir, std::uint64_t min_size,
                                                     bool same_inode_too) const;
  void read_file(File& f, std::size_t sink, std::size_t max_bytes, std::vector<Record>& out);
  void maybe_release(File& f);
  void release(File& f);
  void enforce_held_limit();
  void discover_suspects();
  void persist(std::vector<FileOp> ops);
  [[nodiscard]] std::int64_t wall_ns() const;

  const TailConfig& config_;
  Checkpoint& checkpoint_;
  const Clock& clock_;
  std::map<std::string, std::unique_ptr<File>> files_;  // by key
  std::map<FileId, File*> live_;                        // inode under a watched name -> file
  // New files held back as possible copies: since when, and under which name.
  struct Suspect {
    std::chrono::steady_clock::time_point since;
    std::string path;
  };
  std::map<FileId, Suspect> suspects_;
  std::set<std::string> started_inputs_;
  Snapshot last_snapshot_;
  std::vector<std::size_t> next_;  // per sink: where read()'s round robin resumes
  std::string buffer_;             // one read's bytes
  TailCounters counters_;
  bool warned_max_files_ = false;
  std::uint64_t pass_ = 0;  // read() calls: a file is checked once per call
  Meter on_read_;
  Meter on_sent_;
};

}  // namespace tender::sidecar
