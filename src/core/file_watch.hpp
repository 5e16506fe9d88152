#pragma once
// Watching files: inotify for promptness, a periodic rescan as the safety net, one stream of
// events (created, modified, truncated, renamed, deleted, replaced; see core/file_snapshot.hpp).
//
//   auto watch = tender::FileWatch::create({.rescan_interval = std::chrono::seconds(1)});
//   if (!watch) { ... watch.error().message() ... }
//   if (auto added = watch->add("/var/log/app", "*.log"); !added) { ... }   // a glob per dir
//   if (auto added = watch->add_file("/etc/tender/endpoints.txt"); !added) { ... }
//   for (;;) {
//     auto events = watch->wait(std::chrono::seconds(10));   // command-line clients
//     for (const tender::FileEvent& e : *events) { ... e.kind, e.path, e.id ... }
//   }
//
// In an event loop of one's own: poll `fd()` for reading, call `read_events()` when it is
// readable and `rescan()` once `next_rescan()` has passed (`until_rescan()` is the poll
// timeout). Roles with an io_context use `AsyncFileWatch` (core/file_watch_asio.hpp).
//
// How it works, and what that promises:
// - Directories are watched, not files: a directory's inotify watch reports its entries'
//   creation, renaming, deletion and writes, so following a thousand logs takes one watch, and
//   a file replaced by rename is still seen. Names are matched with fnmatch(FNM_PERIOD) against
//   the file name only, so "*" does not match ".endpoints.tmp". Only regular files are
//   reported; a symlink counts as the file it points to (its target's device and inode).
// - Every event comes from comparing what stat() says now with what was last seen
//   (`diff_snapshots`): inotify only says where to look. So a change is reported once,
//   whether inotify or the rescan noticed it first, and what inotify cannot see is still
//   reported at the next rescan: a queue overflow (IN_Q_OVERFLOW, which also triggers an
//   immediate rescan), filesystems whose changes inotify does not report (NFS, FUSE, /proc),
//   files behind symlinks, and directories that appear after `add`.
// - Files present when `add` is called are the starting point and produce no events
//   (`snapshot()` lists them); events are about what changes afterwards.
// - A directory that does not exist (yet) at `add`, or that is deleted or renamed later, is
//   looked for again at every rescan; when it appears its watch is added first and its files
//   are then reported as created. Its parent is not watched, so noticing it takes up to one
//   `rescan_interval`.
// - When the inotify watch limit (fs.inotify.max_user_watches) is reached, the directory is
//   still rescanned every `rescan_interval`, with a warning logged once.
//
// Not thread-safe: one thread uses a FileWatch at a time.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/file_snapshot.hpp"

namespace tender {

struct FileWatchOptions {
  // How often everything is stat()ed again, whatever inotify said.
  std::chrono::milliseconds rescan_interval{1500};
  // Decides when a rescan is due. Must outlive the FileWatch.
  const Clock* clock = &system_clock();
};

// The directory and the name of `path`, as `add_file` watches them: "/a/b.log" -> {"/a",
// "b.log"}, "/b.log" -> {"/", "b.log"}, "b.log" -> {".", "b.log"}.
[[nodiscard]] std::pair<std::string, std::string> split_path(const std::string& path);
// Whether the file name `name` matches `pattern` as `add` matches names (fnmatch with
// FNM_PERIOD), for code that must agree with the watch on which files it reports.
[[nodiscard]] bool glob_matches(const std::string& pattern, const std::string& name);

class FileWatch {
 public:
  // An inotify instance (non-blocking, close-on-exec). Fails if the process or user has no
  // inotify instance left (EMFILE), or if rescan_interval is not positive (EINVAL).
  [[nodiscard]] static Result<FileWatch> create(FileWatchOptions options = {});

  FileWatch(FileWatch&&) noexcept;
  FileWatch& operator=(FileWatch&&) noexcept;
  ~FileWatch();

  // Watches the files of `dir` whose names match `pattern` (fnmatch with FNM_PERIOD; no '/').
  // Several patterns may be added for one directory. A missing directory is not an error (see
  // above). Fails with EINVAL for an empty dir or a pattern that is empty or holds '/', and
  // with inotify_add_watch's errno when the directory exists but cannot be watched (EACCES,
  // ENOTDIR); then nothing is added.
  [[nodiscard]] Result<> add(const std::string& dir, const std::string& pattern = "*");
  // Watches one file, as add(its directory, its name taken literally). Fails as `add`.
  [[nodiscard]] Result<> add_file(const std::string& path);

  // The descriptor to poll for reading; owned by the FileWatch.
  [[nodiscard]] int fd() const;

  // Drains what inotify has queued (never blocks) and returns the events it leads to, possibly
  // none (a write to a file no pattern matches). After IN_Q_OVERFLOW it is `rescan()`.
  // Fails only if reading the inotify descriptor fails with something other than EAGAIN or
  // EINTR; the next rescan still finds every change.
  [[nodiscard]] Result<std::vector<FileEvent>> read_events();

  // Stats every watched directory and file again, retries the watches of directories that
  // were missing, and returns what changed since last seen. Sets next_rescan() to now +
  // rescan_interval. Never fails: a directory that cannot be read counts as empty.
  std::vector<FileEvent> rescan();

  // When the next periodic rescan is due, by the options' clock.
  [[nodiscard]] std::chrono::steady_clock::time_point next_rescan() const;
  // How long until then (zero once it is due): a poll timeout.
  [[nodiscard]] std::chrono::milliseconds until_rescan() const;

  // Blocks until there are events or `timeout` has passed (real time), reading inotify and
  // rescanning when due. Returns the events, or none after the timeout. Fails as read_events.
  [[nodiscard]] Result<std::vector<FileEvent>> wait(std::chrono::milliseconds timeout);

  // Every watched file that exists, as last seen.
  [[nodiscard]] Snapshot snapshot() const;

  // How many times inotify's queue overflowed (each answered by a rescan).
  [[nodiscard]] std::uint64_t overflows() const;

 private:
  struct Impl;
  explicit FileWatch(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender
