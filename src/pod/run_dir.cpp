#include "pod/run_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "core/log.hpp"
#include "core/temp_dir.hpp"

namespace tender::pod {
namespace fs = std::filesystem;
namespace {

// $TMPDIR/tender-pod-PORT, made if missing. In a shared /tmp another user may have made that
// name first (a directory, or a link to one of ours): only a directory of our own is used.
std::string default_dir(std::uint16_t port) {
  std::string path = temp_base() + "/tender-pod-" + std::to_string(port);
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    throw std::system_error(errno, std::generic_category(), "cannot create run directory " + path);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot use run directory " + path);
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    throw std::runtime_error("the default run directory " + path +
                             " is not a directory of this user (uid " +
                             std::to_string(::geteuid()) + "): remove it, or give --run-dir DIR");
  }
  return path;
}

std::string new_temp_dir() {
  auto made = make_temp_dir("tender-pod-");
  if (!made) {
    throw std::runtime_error("cannot create a run directory: " + made.error().message());
  }
  return *made;
}

// Locks runner.pid in `dir` (or throws), and removes what a runner that did not exit cleanly
// (SIGKILL, a crash) left: the pid it wrote is still there.
Fd lock_dir(const std::string& dir) {
  std::string path = dir + "/runner.pid";
  Fd lock(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    throw std::runtime_error("run directory " + dir +
                             " is in use by another tender pod run (locked " + path +
                             "): give this one another --run-dir DIR");
  }
  char buf[32] = {};
  ssize_t n = ::pread(lock.get(), buf, sizeof buf - 1, 0);
  if (n > 0) {
    std::error_code ec;
    int removed = 0;
    for (const auto& entry : fs::directory_iterator(dir + "/pods", ec)) {
      removed += fs::remove_all(entry.path() / "volumes", ec) > 0 ? 1 : 0;
    }
    fs::remove(dir + "/partitions.nft", ec);
    fs::remove(dir + "/hosts", ec);
    log::warn(
        "cleaned up after a runner that did not exit cleanly",
        {{"pid", std::string(buf, static_cast<std::size_t>(n))}, {"pods_with_volumes", removed}});
  }
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(lock.get(), 0) != 0 ||
      ::pwrite(lock.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    log::warn("cannot write the run directory's lock file", {{"path", path}});
  }
  return lock;
}

}  // namespace

RunDir RunDir::claim(const std::string& given, std::uint16_t admin_port) {
  RunDir d;
  bool take_over = false;
  if (!given.empty()) {
    std::error_code ec;
    fs::create_directories(given, ec);
    if (ec) {
      throw std::system_error(ec, "cannot create run directory " + given);
    }
    d.path_ = given;
  } else if (admin_port != 0) {
    d.path_ = default_dir(admin_port);
    take_over = true;
  } else {
    d.path_ = new_temp_dir();
    d.temporary_ = true;
  }
  d.lock_ = lock_dir(d.path_);
  std::error_code ec;
  if (take_over) {
    // The last run's logs were kept for reading after it exited; this run writes its own.
    fs::remove_all(d.path_ + "/pods", ec);
    if (ec) {
      log::warn("cannot remove the last run's pods from the run directory",
                {{"path", d.path_ + "/pods"}, {"error", ec.message()}});
    }
  }
  fs::create_directories(d.path_ + "/pods", ec);
  return d;
}

void RunDir::release() {
  if (!lock_) {
    return;
  }
  if (temporary_) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) {
      log::warn("cannot remove the run directory", {{"path", path_}, {"error", ec.message()}});
    }
  } else if (::ftruncate(lock_.get(), 0) != 0) {
    log::warn("cannot clear the run directory's lock file", {{"path", path_ + "/runner.pid"}});
  }
  lock_.reset();
}

}  // namespace tender::pod
