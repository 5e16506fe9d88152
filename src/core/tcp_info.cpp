// The kernel's view of a TCP socket's sending side. Apart from the Asio code because
// <linux/tcp.h>, which has the fields this needs, cannot share a translation unit with glibc's
// <netinet/tcp.h>, which Asio includes.
#include <linux/in.h>
#include <linux/tcp.h>
#include <sys/socket.h>

#include <cstddef>

#include "core/tcp_info.hpp"

namespace tender {

std::optional<SendProgress> tcp_send_progress(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
      len < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) {
    return std::nullopt;
  }
  return SendProgress{info.tcpi_bytes_acked, std::chrono::milliseconds(info.tcpi_last_ack_recv)};
}

}  // namespace tender
