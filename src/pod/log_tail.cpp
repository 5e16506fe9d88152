#include "pod/log_tail.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/fd.hpp"
#include "core/json_text.hpp"

namespace tender::pod {
namespace {

// Reads up to `n` bytes at `at`; short only at the end of the file.
Result<std::string> read_at(int fd, std::uint64_t at, std::size_t n) {
  std::string buf(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, buf.data() + got, n - got, static_cast<off_t>(at + got));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      return Error::from_errno(errno, "cannot read the log");
    }
    if (r == 0) {
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  buf.resize(got);
  return Result<std::string>(boost::system::in_place_value, std::move(buf));
}

}  // namespace

Result<LogChunk> read_log_tail(const std::string& path, const std::optional<LogCursor>& cursor,
                               std::size_t limit) {
  limit = std::clamp<std::size_t>(limit, 1, kLogTailMax);
  LogChunk chunk;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno != ENOENT) {
      return Error::from_errno(errno, "cannot open the log " + path);
    }
    chunk.reset = cursor && cursor->offset > 0;
    return chunk;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Error::from_errno(errno, "cannot stat the log " + path);
  }
  chunk.size = static_cast<std::uint64_t>(st.st_size);
  chunk.file = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  bool from_cursor = cursor && cursor->offset <= chunk.size &&
                     (cursor->file.empty() || cursor->file == chunk.file);
  chunk.reset = cursor && !from_cursor;
  if (from_cursor) {
    chunk.offset = cursor->offset;
    std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(limit, chunk.size - chunk.offset));
    auto bytes = read_at(fd.get(), chunk.offset, n);
    if (!bytes) {
      return bytes.error();
    }
    chunk.text = std::move(*bytes);
    // Stop after the last whole line unless this reaches the end (or holds no newline at all).
    if (chunk.offset + chunk.text.size() < chunk.size) {
      auto nl = chunk.text.rfind('\n');
      if (nl != std::string::npos) {
        chunk.text.resize(nl + 1);
      }
    }
  } else {
    chunk.offset = chunk.size > limit ? chunk.size - limit : 0;
    auto bytes =
        read_at(fd.get(), chunk.offset, static_cast<std::size_t>(chunk.size - chunk.offset));
    if (!bytes) {
      return bytes.error();
    }
    chunk.text = std::move(*bytes);
    // Start at a line: past the first newline unless this is the start of the file or the
    // byte before it ended a line.
    bool at_line = chunk.offset == 0;
    if (!at_line) {
      auto before = read_at(fd.get(), chunk.offset - 1, 1);
      at_line = before && *before == "\n";
    }
    if (!at_line) {
      auto nl = chunk.text.find('\n');
      if (nl != std::string::npos && nl + 1 < chunk.text.size()) {
        chunk.offset += nl + 1;
        chunk.text.erase(0, nl + 1);
      }
    }
  }
  chunk.next = chunk.offset + chunk.text.size();
  return chunk;
}

std::string log_chunk_json(const LogChunk& chunk) {
  std::string out = "{\"offset\":" + std::to_string(chunk.offset) +
                    ",\"next\":" + std::to_string(chunk.next) +
                    ",\"size\":" + std::to_string(chunk.size) + ",\"file\":";
  append_json_string(out, chunk.file);
  if (chunk.reset) {
    out += ",\"reset\":true";
  }
  out += ",\"text\":";
  append_json_string_utf8(out, chunk.text);
  out += "}\n";
  return out;
}

}  // namespace tender::pod
