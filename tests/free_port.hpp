#pragma once
// A loopback port that nobody listens on now, for tests that start servers of their own
// (etcd, redis-server, tender itself) on free ports. Header-only, so unit tests of the roles can
// use it as well as the integration tests.
//
//   std::uint16_t port = tender::testing::free_port();   // 0 if none could be found

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

namespace tender::testing {

// Binds 127.0.0.1:0, reads the port the kernel chose and releases it.
inline std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace tender::testing
