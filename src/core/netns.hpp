// Network namespaces, per thread. Linux keeps a network namespace per thread, so a thread can
// step into a namespace, open sockets there (they stay in it for life) and step back out.
// A namespace lives while anything refers to it: a process in it, or an fd returned here. A
// runner that keeps its namespaces only as fds leaves nothing behind when it dies.
//
//   auto ns = tender::create_netns();            // needs CAP_SYS_ADMIN
//   if (!ns) { log(ns.error().message()); ... }   // EPERM without privileges
//   {
//     tender::NetnsScope in(ns->get());          // this thread is in `ns` until the scope ends
//     int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // a socket of `ns`
//   }
#pragma once

#include <sys/types.h>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "core/fd.hpp"

namespace tender {

// A new network namespace (with only a loopback, down). The calling thread stays where it was.
[[nodiscard]] boost::system::result<Fd> create_netns();

// The calling thread's network namespace.
[[nodiscard]] boost::system::result<Fd> current_netns();

// The network namespace of process `pid`.
[[nodiscard]] boost::system::result<Fd> netns_of(pid_t pid);

// Moves the calling thread into the namespace `fd` refers to.
[[nodiscard]] boost::system::error_code enter_netns(int fd);

// The namespace's inode number: equal for two fds of the same namespace, and what
// `readlink /proc/PID/ns/net` shows as net:[INODE]. 0 on error.
unsigned long netns_inode(int fd);

// Enters a namespace for the lifetime of the scope, then returns to the previous one.
class NetnsScope {
 public:
  explicit NetnsScope(int fd);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  // Whether entering failed; the thread then stayed where it was.
  boost::system::error_code error() const { return error_; }

 private:
  Fd previous_;
  boost::system::error_code error_;
};

}  // namespace tender
