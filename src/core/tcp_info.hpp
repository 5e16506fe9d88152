#pragma once
// The kernel's view of a TCP socket's sending side: how far the peer has read, and when.
//
//   auto p = tcp_send_progress(socket.native_handle());
//   if (p && p->acked != before) { /* the peer took more, at the latest p->since_ack ago */ }

#include <chrono>
#include <cstdint>
#include <optional>

namespace tender {

struct SendProgress {
  std::uint64_t acked = 0;                // bytes the peer acknowledged since the connection opened
  std::chrono::milliseconds since_ack{};  // since the last acknowledgement came
};

// Empty when `fd` is not a TCP socket (or the kernel predates tcpi_bytes_acked, Linux 4.1).
std::optional<SendProgress> tcp_send_progress(int fd);

}  // namespace tender
