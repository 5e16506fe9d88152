#include "core/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "core/error.hpp"

namespace tender {
namespace {

using boost::system::error_code;

boost::system::result<Fd> open_ns(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return errno_code(errno);
  }
  return fd;
}

}  // namespace

boost::system::result<Fd> current_netns() { return open_ns("/proc/thread-self/ns/net"); }

boost::system::result<Fd> netns_of(pid_t pid) {
  return open_ns("/proc/" + std::to_string(pid) + "/ns/net");
}

error_code enter_netns(int fd) {
  if (::setns(fd, CLONE_NEWNET) != 0) {
    return errno_code(errno);
  }
  return {};
}

boost::system::result<Fd> create_netns() {
  auto home = current_netns();
  if (!home) {
    return home.error();
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    return errno_code(errno);
  }
  auto made = current_netns();
  if (enter_netns(home->get())) {
    // Stuck in the new namespace: every socket this thread opened from now on would be there.
    std::abort();
  }
  return made;
}

unsigned long netns_inode(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return 0;
  }
  return st.st_ino;
}

NetnsScope::NetnsScope(int fd) {
  auto home = current_netns();
  if (!home) {
    error_ = home.error();
    return;
  }
  if (auto ec = enter_netns(fd)) {
    error_ = ec;
    return;
  }
  previous_ = std::move(*home);
}

NetnsScope::~NetnsScope() {
  if (previous_ && enter_netns(previous_.get())) {
    std::abort();  // as in create_netns: a thread stuck in the wrong namespace misroutes silently
  }
}

}  // namespace tender
