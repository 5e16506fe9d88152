#include "core/host_port.hpp"

#include <charconv>

namespace tender {

std::string HostPort::str() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(std::string_view s) {
  HostPort hp;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    hp.host = std::string(s.substr(1, close - 1));
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    hp.host = std::string(s.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) {
      return std::nullopt;  // IPv6 literals need brackets
    }
    port = s.substr(colon + 1);
  }
  if (hp.host.empty()) {
    hp.host = "127.0.0.1";  // every interface only when asked for by name (0.0.0.0, [::])
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || v > 65535) {
    return std::nullopt;
  }
  hp.port = static_cast<std::uint16_t>(v);
  return hp;
}

}  // namespace tender
