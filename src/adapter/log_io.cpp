#include "adapter/log_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>

#include "core/log.hpp"

namespace tender::adapter {

namespace {

Result<int> open_fifo(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return Error::from_errno(errno, "open " + path);
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<LogInput>> LogInput::open(const std::string& path, bool read_from_head,
                                                 const Clock& clock) {
  std::unique_ptr<LogInput> in(new LogInput());
  in->path_ = path;
  in->clock_ = &clock;
  if (path == "-") {
    in->kind_ = Kind::kStdin;
    struct stat st {};
    if (::fstat(STDIN_FILENO, &st) != 0) {
      in->ended_ = true;  // no stdin at all: nothing to read
    }
    return in;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)) {
    in->kind_ = Kind::kFifo;
    auto fd = open_fifo(path);
    if (!fd) {
      return fd.error();
    }
    in->fd_.reset(*fd);
    return in;
  }
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Error(std::errc::invalid_argument, path + ": neither a regular file nor a FIFO");
  }
  in->kind_ = Kind::kFile;
  if (::stat(path.c_str(), &st) == 0) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return Error::from_errno(errno, "open " + path);
    }
    in->fd_.reset(fd);
    struct stat now {};
    ::fstat(fd, &now);
    in->dev_ = now.st_dev;
    in->ino_ = now.st_ino;
    in->offset_ = read_from_head ? 0 : static_cast<std::uint64_t>(now.st_size);
    ::lseek(fd, static_cast<off_t>(in->offset_), SEEK_SET);
  }
  return in;
}

LogInput::~LogInput() = default;  // stdin is never in fd_: it stays open

int LogInput::poll_fd() const {
  switch (kind_) {
    case Kind::kStdin:
      return ended_ ? -1 : STDIN_FILENO;
    case Kind::kFifo:
      return fd_.get();
    case Kind::kFile:
      return -1;
  }
  return -1;
}

bool LogInput::pump(std::string& buffer, InputSink& sink) {
  return kind_ == Kind::kFile ? pump_file(buffer, sink) : pump_stream(buffer, sink);
}

void LogInput::reopen_fifo() {
  auto fd = open_fifo(path_);
  if (!fd) {
    log::warn("log input: cannot reopen the FIFO",
              {{"path", path_}, {"error", fd.error().message()}});
    return;  // the old descriptor stays; its end is seen again and the reopen retried
  }
  fd_.reset(*fd);
}

bool LogInput::pump_stream(std::string& buffer, InputSink& sink) {
  const int fd = kind_ == Kind::kStdin ? STDIN_FILENO : fd_.get();
  if (ended_ || fd < 0) {
    return false;
  }
  const ssize_t n = ::read(fd, buffer.data(), buffer.size());
  if (n > 0) {
    bytes_ += static_cast<std::uint64_t>(n);
    sink.data(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    // A FIFO is non-blocking and may hold more; stdin is read only when poll says so.
    return kind_ == Kind::kFifo && static_cast<std::size_t>(n) == buffer.size();
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    return errno == EINTR;
  }
  if (n < 0) {
    log::warn("log input: read failed; taken as its end",
              {{"path", path_}, {"error", Error::from_errno(errno, "read").message()}});
  }
  sink.end();
  if (kind_ == Kind::kStdin) {
    ended_ = true;
  } else {
    reopen_fifo();  // every writer has gone: wait for the next one
  }
  return false;
}

bool LogInput::open_file() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return false;
  }
  if (fd_ && st.st_dev == dev_ && st.st_ino == ino_) {
    return false;
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;  // gone again, or not readable: the next look tries again
  }
  struct stat now {};
  ::fstat(fd, &now);
  fd_.reset(fd);
  dev_ = now.st_dev;
  ino_ = now.st_ino;
  offset_ = 0;
  return true;
}

bool LogInput::pump_file(std::string& buffer, InputSink& sink) {
  if (!fd_) {
    return open_file();
  }
  const ssize_t n = ::pread(fd_.get(), buffer.data(), buffer.size(), static_cast<off_t>(offset_));
  if (n > 0) {
    offset_ += static_cast<std::uint64_t>(n);
    bytes_ += static_cast<std::uint64_t>(n);
    replaced_seen_.reset();  // still written to: the writer has not moved on yet
    sink.data(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    return true;
  }
  if (n < 0 && errno == EINTR) {
    return true;
  }
  // At the end of what the open file holds: was it truncated, or replaced under its name?
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < offset_) {
    sink.end();
    offset_ = 0;
    return true;
  }
  struct stat named {};
  if (::stat(path_.c_str(), &named) == 0 && S_ISREG(named.st_mode) &&
      (named.st_dev != dev_ || named.st_ino != ino_)) {
    // Rotated: the writer may still append to the old file until it reopens by name, so the
    // old one is read until it has been quiet for kRotateWait, then the new one from its start.
    const auto now = clock_->now();
    if (!replaced_seen_) {
      replaced_seen_ = now;
    }
    if (now - *replaced_seen_ < kRotateWait) {
      return false;  // the FileWatch's next event or rescan looks again
    }
    replaced_seen_.reset();
    sink.end();
    return open_file();
  }
  return false;
}

Result<std::unique_ptr<LogOutput>> LogOutput::open(const std::string& path) {
  std::unique_ptr<LogOutput> out(new LogOutput());
  out->path_ = path;
  if (path == "-") {
    out->fd_ = stdout_data_fd(&out->nonblocking_);
    return out;
  }
  // O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of hanging the start.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) {
    return Error::from_errno(errno, "open " + path);
  }
  out->owned_.reset(fd);
  out->fd_ = fd;
  struct stat st {};
  out->nonblocking_ = ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
  if (!out->nonblocking_) {
    ::fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);  // a regular file: writes complete
  }
  return out;
}

LogOutput::~LogOutput() = default;

int LogOutput::poll_fd() const { return blocked_ && !broken_ ? fd_ : -1; }

Result<> LogOutput::flush() {
  blocked_ = false;
  if (broken_) {
    pending_.clear();
    written_ = 0;
    return {};
  }
  while (written_ < pending_.size()) {
    const ssize_t n = ::write(fd_, pending_.data() + written_, pending_.size() - written_);
    if (n > 0) {
      written_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      blocked_ = true;
      break;
    }
    const int err = n < 0 ? errno : EIO;
    if (err == EPIPE || err == EBADF) {
      broken_ = true;
      pending_.clear();
      written_ = 0;
    }
    return Error::from_errno(err, "write " + (path_ == "-" ? std::string("stdout") : path_));
  }
  if (written_ == pending_.size()) {
    pending_.clear();
    written_ = 0;
  } else if (written_ > kMaxPending / 2) {
    pending_.erase(0, written_);  // keep the buffer from creeping
    written_ = 0;
  }
  return {};
}

int stdout_data_fd(bool* nonblocking) {
  static std::mutex mu;
  static int fd = -1;
  static bool nb = false;
  std::lock_guard lock(mu);
  if (fd < 0) {
    std::fflush(stdout);
    fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
      fd = STDOUT_FILENO;  // nothing to move: write where stdout is
    } else {
      ::dup2(STDERR_FILENO, STDOUT_FILENO);
      struct stat st {};
      if (::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        const std::string proc = "/proc/self/fd/" + std::to_string(fd);
        const int again = ::open(proc.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (again >= 0) {
          ::close(fd);
          fd = again;
          nb = true;
        }
      }
    }
  }
  *nonblocking = nb;
  return fd;
}

}  // namespace tender::adapter
