#pragma once
// A bounded piece of a container's log file for the admin API's log tail
// (GET /v1/pods/{name}/containers/{c}/logs): the last bytes cut to whole lines, or what came
// after an offset a reader got last time. Pure file reading: no Asio.
//
//   auto chunk = read_log_tail(path, std::nullopt, 16 << 10);   // the last 16 KiB of lines
//   ... later, with what the reader kept:
//   chunk = read_log_tail(path, LogCursor{chunk->next, chunk->file}, 16 << 10);
//   if (chunk->reset) { ... the file was rotated or shrank: this is its tail again ... }
//   std::string json = log_chunk_json(*chunk);  // {"offset":..,"next":..,"size":..,"text":".."}

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.hpp"

namespace tender::pod {

inline constexpr std::size_t kLogTailDefault = std::size_t{16} << 10;
inline constexpr std::size_t kLogTailMax = std::size_t{256} << 10;

// Where a reader left off: the offset after its last chunk and, if it knows it, which file
// that was (LogChunk::file). A different file, or a file now shorter than `offset`, means the
// log was rotated or truncated: reading starts again from the tail.
struct LogCursor {
  std::uint64_t offset = 0;
  std::string file;  // "" when unknown: only the size is compared
};

struct LogChunk {
  std::uint64_t offset = 0;  // where `text` starts in the file
  std::uint64_t next = 0;    // where it ends: the offset to ask from next time
  std::uint64_t size = 0;    // the file's size when read
  std::string file;          // the file's identity (device and inode), "" if there is none
  std::string text;          // the bytes, as they are (not checked for UTF-8 here)
  bool reset = false;        // the cursor no longer fit the file; this is its tail instead
};

// Reads at most `limit` bytes of the log at `path`. Without a cursor: the last `limit` bytes,
// starting after a newline unless they start the file. With one: from its offset, ending after
// the last newline read unless the chunk holds none (a line longer than `limit` comes in
// pieces). A missing file is an empty log (size 0). Fails with the errno of open/read/fstat
// for anything else (EACCES, EISDIR, ...).
[[nodiscard]] Result<LogChunk> read_log_tail(const std::string& path,
                                             const std::optional<LogCursor>& cursor,
                                             std::size_t limit);

// The chunk as the API's JSON object, its text valid UTF-8 (bad bytes become U+FFFD).
[[nodiscard]] std::string log_chunk_json(const LogChunk& chunk);

}  // namespace tender::pod
