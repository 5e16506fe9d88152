#include "pod/log_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "core/log.hpp"

namespace tender::pod {

LogFile::~LogFile() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool LogFile::open(std::string path, std::uint64_t max_bytes, int keep) {
  path_ = std::move(path);
  max_bytes_ = max_bytes;
  keep_ = keep;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    log::warn("cannot open container log", {{"path", path_}, {"error", std::strerror(errno)}});
    return false;
  }
  struct stat st {};
  size_ = ::fstat(fd_, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  return true;
}

void LogFile::rotate() {
  ::close(fd_);
  fd_ = -1;
  for (int i = keep_; i >= 1; --i) {
    std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
    std::string to = path_ + "." + std::to_string(i);
    ::rename(from.c_str(), to.c_str());
  }
  if (keep_ == 0) {
    ::unlink(path_.c_str());
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  size_ = 0;
}

void LogFile::write(std::string_view line) {
  if (fd_ < 0) {
    return;
  }
  if (max_bytes_ > 0 && size_ > 0 && size_ + line.size() + 1 > max_bytes_) {
    rotate();
    if (fd_ < 0) {
      return;
    }
  }
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  const char* p = buf.data();
  std::size_t left = buf.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  size_ += buf.size();
}

LogView::LogView() {
  color_ = ::isatty(1) == 1;
  if (!color_) {
    // A pipe nobody reads must not stall the supervisor; a terminal stays blocking.
    int flags = ::fcntl(1, F_GETFL);
    if (flags >= 0) {
      ::fcntl(1, F_SETFL, flags | O_NONBLOCK);
    }
  }
}

void LogView::write(std::string_view pod, std::string_view container, std::string_view line) {
  if (!enabled_) {
    return;
  }
  std::string out;
  out.reserve(pod.size() + container.size() + line.size() + 24);
  if (color_) {
    static constexpr int kColors[] = {32, 33, 34, 35, 36, 92, 93, 94, 95, 96};
    std::size_t h =
        std::hash<std::string_view>{}(pod) ^ (std::hash<std::string_view>{}(container) << 1);
    out += "\033[" + std::to_string(kColors[h % std::size(kColors)]) + "m";
  }
  out.append(pod).append("/").append(container).append(" |");
  if (color_) {
    out += "\033[0m";
  }
  out.push_back(' ');
  out.append(line);
  out.push_back('\n');
  ssize_t n = ::write(1, out.data(), out.size());
  if (n < static_cast<ssize_t>(out.size())) {
    ++dropped_;
  }
}

}  // namespace tender::pod
