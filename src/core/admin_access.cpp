#include "core/admin_access.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace tender {
namespace {

// The host of a Host field's value, without its port: "[::1]:80" -> "[::1]", "a:80" -> "a".
std::string_view host_part(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool parses_as(int family, std::string_view text) {
  if (text.empty() || text.size() > 64) {
    return false;
  }
  std::string s(text);
  unsigned char buf[16];
  return ::inet_pton(family, s.c_str(), buf) == 1;
}

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

bool changes_state(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

}  // namespace

bool is_ip_literal_host(std::string_view host) {
  std::string_view h = host_part(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    return parses_as(AF_INET6, h.substr(1, h.size() - 2));
  }
  return parses_as(AF_INET, h);
}

bool is_loopback_address(std::string_view address) {
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  if (parses_as(AF_INET, address)) {
    return address.starts_with("127.");
  }
  if (!parses_as(AF_INET6, address)) {
    return false;
  }
  std::string s(address);
  in6_addr a{};
  ::inet_pton(AF_INET6, s.c_str(), &a);
  return IN6_IS_ADDR_LOOPBACK(&a) ||
         (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);  // ::ffff:127.x.y.z
}

bool AdminAccess::host_allowed(std::string_view host) const {
  std::string_view h = host_part(host);
  if (is_ip_literal_host(h) || iequals(h, "localhost") || ends_with_icase(h, ".localhost")) {
    return true;
  }
  return std::any_of(allowed_hosts.begin(), allowed_hosts.end(),
                     [&](const std::string& a) { return a == "*" || iequals(a, h); });
}

std::optional<Response> AdminAccess::check(const Request& req) const {
  std::optional<std::string_view> host = req.headers.get("Host");
  if (host && !host_allowed(*host)) {
    return Response::error(
        421, "this admin listener does not answer to host \"" + std::string(host_part(*host)) +
                 "\": use its address or localhost, or allow the name with --admin-allow-host");
  }
  if (!changes_state(req.method)) {
    return std::nullopt;
  }
  if (auto site = req.headers.get("Sec-Fetch-Site");
      site && !iequals(*site, "same-origin") && !iequals(*site, "none")) {
    return Response::error(403, "cross-site " + req.method +
                                    " refused: the admin API takes state-changing requests only "
                                    "from its own origin (Sec-Fetch-Site: " +
                                    std::string(*site) + ")");
  }
  if (auto origin = req.headers.get("Origin")) {
    std::string_view o = *origin;
    std::string_view own = host.value_or("");
    bool same = !own.empty() && ((o.starts_with("http://") && iequals(o.substr(7), own)) ||
                                 (o.starts_with("https://") && iequals(o.substr(8), own)));
    if (!same) {
      return Response::error(403, "cross-origin " + req.method +
                                      " refused: the admin API takes state-changing requests "
                                      "only from its own origin (Origin: " +
                                      std::string(o) + ")");
    }
  }
  return std::nullopt;
}

}  // namespace tender
