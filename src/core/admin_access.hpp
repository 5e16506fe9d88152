#pragma once
// Who may use an admin listener: what keeps a web page the operator happens to visit from
// driving it. Two checks, applied to every admin request before routing:
//
//   AdminAccess access{.allowed_hosts = {"tender.internal"}};
//   if (std::optional<Response> refused = access.check(req)) {
//     return *refused;  // 421 or 403, with the reason
//   }
//
// - Host: a page that rebinds its own DNS name to 127.0.0.1 can read what it asks for, but
//   its requests still carry its name. An admin request must name the listener by an IP
//   address, `localhost` (or a name under `.localhost`), or one of `allowed_hosts`; anything
//   else is 421 Misdirected Request. A request without Host (HTTP/1.0) is let through: no
//   browser sends one. `*` among `allowed_hosts` turns the check off.
// - Origin: a page may send a "simple" cross-site POST that no preflight stops (a form, or
//   fetch with text/plain). A request that changes state (any method but GET, HEAD and
//   OPTIONS) is 403 when its Origin is not the listener's own (http://HOST as the request
//   names it; "null" included) or when Sec-Fetch-Site says it came from another origin.
//   Tools such as curl send neither field and are not affected.
//
// Pure logic: no sockets, tested alone.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http.hpp"

namespace tender {

struct AdminAccess {
  // Host names (without port) besides IP addresses and localhost; "*" allows any.
  std::vector<std::string> allowed_hosts;

  // Nullopt when `req` may be served; otherwise the answer that refuses it.
  [[nodiscard]] std::optional<Response> check(const Request& req) const;
  // Whether a Host field's value (with or without port) names this listener.
  [[nodiscard]] bool host_allowed(std::string_view host) const;
};

// True for IPv4 and bracketed IPv6 literals, with or without a port ("10.0.0.1:9901",
// "[::1]:9901").
[[nodiscard]] bool is_ip_literal_host(std::string_view host);
// True for addresses of the loopback networks: 127.0.0.0/8 and ::1 ("localhost" is not an
// address: false).
[[nodiscard]] bool is_loopback_address(std::string_view address);

}  // namespace tender
