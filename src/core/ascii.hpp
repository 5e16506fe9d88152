#pragma once
// ASCII case for protocol and configuration text: header names, URL schemes, signal and
// capability names, Kubernetes names. Unlike std::tolower and std::toupper it does not depend
// on the locale, and it leaves every byte outside A-Z and a-z as it is.
//
//   ascii_lower("Content-Length") == "content-length"
//   ascii_upper("net_admin") == "NET_ADMIN"

#include <string>
#include <string_view>

namespace tender {

[[nodiscard]] constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

[[nodiscard]] constexpr char ascii_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

[[nodiscard]] inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = ascii_lower(c);
  }
  return out;
}

[[nodiscard]] inline std::string ascii_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = ascii_upper(c);
  }
  return out;
}

}  // namespace tender
