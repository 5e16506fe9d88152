#pragma once
// An address to listen on or connect to, as flags and configuration files write it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tender {

struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  [[nodiscard]] std::string str() const;  // brackets IPv6 literals
};
// "127.0.0.1:8080", "[::1]:0", "localhost:80", ":8080" (host "127.0.0.1"). Port 0..65535 required.
[[nodiscard]] std::optional<HostPort> parse_host_port(std::string_view s);

}  // namespace tender
