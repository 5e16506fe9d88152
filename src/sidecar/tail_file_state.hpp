#pragma once
// What tail_files.cpp and tail_discover.cpp share: a followed file's state and each sink's
// cursor in it, and the small file helpers. (Private to TailFiles.)

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/fd.hpp"
#include "core/file_watch.hpp"
#include "sidecar/tail_files.hpp"

namespace tender::sidecar::tail_internal {

inline constexpr std::size_t kChunk = std::size_t{64} << 10;
inline constexpr std::size_t kMaxDirEntries = 10'000;

// Up to `n` bytes from the start of the file (fewer if it is shorter).
inline std::string read_prefix(int fd, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

inline bool prefix_matches(std::string_view prefix, const Fingerprint& fp) {
  return fp.len <= prefix.size() && fingerprint_hash(prefix.substr(0, fp.len)) == fp.hash;
}

inline FileId id_of(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

}  // namespace tender::sidecar::tail_internal

namespace tender::sidecar {

struct TailFiles::Cursor {
  std::optional<RecordAssembler> assembler;  // empty: the file's input does not use this sink
  std::uint64_t acked = 0;
  std::uint64_t committed = 0;
  bool finished = false;        // finish() called: nothing more will be read
  std::uint64_t final_end = 0;  // then: the end of the file's last record
};

struct TailFiles::File {
  std::string key;
  std::shared_ptr<const Source> source;
  const Input* input = nullptr;
  std::string origin;  // the name it was first seen under
  Fd fd;
  FileId id;
  Fingerprint fp;
  bool row_dirty = false;  // fingerprint or path changed since the row was written
  std::uint64_t size = 0;
  std::uint64_t nlink = 1;
  std::chrono::steady_clock::time_point grew_at;
  std::chrono::steady_clock::time_point rotated_at;
  bool live = true;  // its inode is under a watched name
  std::uint64_t checked_pass = 0;
  std::vector<Cursor> cursors;  // per sink

  void set_path(const std::string& path) {
    auto s = std::make_shared<Source>(*source);
    s->path = path;
    source = s;
    for (Cursor& c : cursors) {
      if (c.assembler) {
        c.assembler->set_source(source);
      }
    }
    row_dirty = true;
  }
  [[nodiscard]] FileRow row() const {
    return {.key = key,
            .dev = id.dev,
            .ino = id.ino,
            .fp = fp,
            .path = source->path,
            .input = input->name,
            .offsets = {}};
  }
  // The least offset some sink has not read yet.
  [[nodiscard]] std::uint64_t min_fed() const {
    std::uint64_t least = UINT64_MAX;
    for (const Cursor& c : cursors) {
      if (c.assembler) {
        least = std::min(least, c.finished ? c.final_end : c.assembler->fed_offset());
      }
    }
    return least == UINT64_MAX ? size : least;
  }
};

}  // namespace tender::sidecar
