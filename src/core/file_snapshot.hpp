#pragma once
// What a set of watched files looked like at one moment, and what changed between two such
// moments. No I/O: `FileWatch` (core/file_watch.hpp) fills snapshots from stat() and turns both
// its inotify wake-ups and its periodic rescans into events through `diff_snapshots`, so every
// change is reported the same way whichever noticed it first.
//
//   Snapshot before = {{"/var/log/app/app.log", {.dev = 1, .ino = 10, .size = 900}}};
//   Snapshot after = {{"/var/log/app/app.log.1", {.dev = 1, .ino = 10, .size = 1000}},
//                     {"/var/log/app/app.log", {.dev = 1, .ino = 11, .size = 40}}};
//   for (const FileEvent& e : diff_snapshots(before, after)) { ... }
//   // renamed app.log -> app.log.1 (ino 10), modified app.log.1 (it grew before it was moved),
//   // replaced app.log (ino 11)
//
// A file's identity is (device, inode): a name that now holds another inode is a new file, and
// an inode found under another name was renamed.

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tender {

struct FileId {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  friend auto operator<=>(const FileId&, const FileId&) = default;
};

// What stat() said about one file.
struct FileState {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // nanoseconds since the epoch
  [[nodiscard]] FileId id() const { return {dev, ino}; }
  friend bool operator==(const FileState&, const FileState&) = default;
};

// Full path -> state, for every watched file that exists.
using Snapshot = std::map<std::string, FileState>;

enum class FileEventKind {
  kCreated,    // a new file under a name that held none
  kModified,   // same file, grown or its mtime changed (content rewritten in place)
  kTruncated,  // same file, smaller than before (copytruncate, `> file`)
  kRenamed,    // a file seen before under `from` is now under `path`
  kDeleted,    // the file is no longer under any watched name (removed, or renamed away)
  kReplaced,   // the name now holds a new file (a new inode: rename over it, rotate-and-create)
};

// "created", "modified", ...: for logs and tests.
std::string_view to_string(FileEventKind kind);

struct FileEvent {
  FileEventKind kind = FileEventKind::kCreated;
  std::string path;        // the name now; for kDeleted the name it had
  std::string from;        // kRenamed: the name it had; empty otherwise
  FileId id;               // the file the event is about (for kReplaced, the new one)
  std::uint64_t size = 0;  // its size now (for kDeleted, the last size seen)
  friend bool operator==(const FileEvent&, const FileEvent&) = default;
};

// The events that turn `before` into `after`, in an order a follower can act on:
//   1. for each file present in both (by identity, in `before`'s path order): kRenamed if its
//      name changed, then kTruncated (smaller) or kModified (grown, or the same size with a new
//      mtime), so the tail of a rotated log is read before its successor;
//   2. kDeleted for each file of `before` found under no name in `after` — unless its name is
//      taken by another file (then 3. or the kRenamed reports it, and no kDeleted is added);
//   3. for each new identity in `after` (in path order): kReplaced if its name held another
//      file in `before`, kCreated otherwise.
// A file truncated and then grown past its old size between two snapshots looks modified: no
// snapshot can tell; readers that need to know compare content or watch more often.
// Never fails.
std::vector<FileEvent> diff_snapshots(const Snapshot& before, const Snapshot& after);

}  // namespace tender
