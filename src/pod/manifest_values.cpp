// Kubernetes' name syntax and the value helpers of the manifest parser (manifest_internal.hpp).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <memory>
#include <regex>

#include "core/log.hpp"
#include "pod/manifest_internal.hpp"

namespace tender::pod {

using std::chrono::milliseconds;

// ---- Kubernetes name syntax -------------------------------------------------------------------

namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63 || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

// RFC 1123 subdomain: labels joined by '.', at most 253 characters.
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (part.empty() || !is_lower_alnum(part.front()) || !is_lower_alnum(part.back()) ||
        !std::all_of(part.begin(), part.end(),
                     [](char c) { return is_lower_alnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

// IANA service name, as Kubernetes port names: 1-15 of [a-z0-9-], a letter, no "--", no '-' at
// either end.
bool is_port_name(std::string_view s) {
  return !s.empty() && s.size() <= 15 && is_dns_label(s) &&
         s.find("--") == std::string_view::npos &&
         std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

// A label value or the name part of a qualified key: empty, or up to 63 of [A-Za-z0-9-_.]
// starting and ending alphanumeric.
bool is_label_value(std::string_view s) {
  if (s.empty()) {
    return true;
  }
  if (s.size() > 63 || !is_alnum(s.front()) || !is_alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A label or annotation key: an optional DNS subdomain prefix and '/', then a name.
bool is_qualified_name(std::string_view s) {
  auto slash = s.find('/');
  std::string_view name = s;
  if (slash != std::string_view::npos) {
    if (!is_dns_subdomain(s.substr(0, slash))) {
      return false;
    }
    name = s.substr(slash + 1);
  }
  return !name.empty() && is_label_value(name);
}

// Kubernetes' relaxed environment variable names: printable ASCII except '='.
bool is_env_name(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= ' ' && c <= '~' && c != '='; });
}

bool is_http_token(std::string_view s) {
  static constexpr std::string_view kSpecial = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || kSpecial.find(c) != std::string_view::npos;
  });
}

bool has_backstep(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (path.substr(start, slash == std::string_view::npos ? slash : slash - start) == "..") {
      return true;
    }
    if (slash == std::string_view::npos) {
      return false;
    }
    start = slash + 1;
  }
  return false;
}

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// ---- values -----------------------------------------------------------------------------------

// kubectl decodes YAML 1.1: an unquoted 8080 or yes in a string field is a number or a boolean,
// and the API server rejects it. tender reads it as text, but says so once.
void warn_if_not_text(const ConfigNode& n) {
  const YAML::Node& y = n.yaml();
  if (!y.IsScalar() || y.Tag() != "?") {
    return;
  }
  static const std::regex non_string(
      R"([-+]?[0-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+|)"
      R"([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|)"
      R"(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)");
  if (std::regex_match(y.Scalar(), non_string)) {
    log::warn("unquoted value is not a string for kubectl; quote it",
              {{"file", n.file()}, {"line", n.line()}, {"field", n.path()}, {"value", y.Scalar()}});
  }
}

// The pairs of a map, in file order, each value a ConfigNode at "<path>.<key>" (empty if `n` is
// undefined). Linear, where looking each key up again would walk the map every time.
std::vector<std::pair<std::string, ConfigNode>> entries(const ConfigNode& n) {
  std::vector<std::pair<std::string, ConfigNode>> out;
  if (!n.defined()) {
    return out;
  }
  if (!n.is_map()) {
    n.fail("", "expected a mapping");
  }
  auto file = std::make_shared<const std::string>(n.file());
  for (auto it = n.yaml().begin(); it != n.yaml().end(); ++it) {
    std::string key = it->first.as<std::string>();
    std::string path = n.path().empty() ? key : n.path() + "." + key;
    out.emplace_back(std::move(key), ConfigNode(it->second, file, std::move(path)));
  }
  return out;
}

std::optional<std::string> text(const ConfigNode& n, std::string_view key) {
  auto v = n.string(key);
  if (v) {
    warn_if_not_text(n.child(key));
  }
  return v;
}

std::string required_text(const ConfigNode& n, std::string_view key) {
  auto v = n.string(key);
  if (!v || v->empty()) {
    n.fail(key, "required");
  }
  return *v;
}

// A list of strings, as Kubernetes requires (a single string is an error, not a one-item list).
std::optional<std::vector<std::string>> text_list(const ConfigNode& n, std::string_view key) {
  ConfigNode c = n.child(key);
  if (!c.defined()) {
    return std::nullopt;
  }
  if (!c.is_sequence()) {
    n.fail(key, "expected a list of strings, like [\"sleep\", \"10\"]");
  }
  std::vector<std::string> out;
  for (const auto& item : c.items()) {
    if (!item.defined()) {
      item.fail("", "expected a string, not null");
    }
    out.push_back(item.as_string());
    warn_if_not_text(item);
  }
  return out;
}

milliseconds seconds_field(const ConfigNode& n, std::string_view key, std::int64_t min,
                           std::int64_t fallback) {
  return milliseconds(n.integer(key, min, kMaxSeconds).value_or(fallback) * 1000);
}

// A Kubernetes quantity as bytes: 1Gi, 500Mi, 128974848, 129e6, 129M, 1.5Gi. Rounds up.
std::optional<std::uint64_t> parse_quantity(std::string_view s) {
  static const std::regex quantity(
      R"(\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|[eE]([-+]?[0-9]+))?)");
  std::cmatch m;
  if (!std::regex_match(s.data(), s.data() + s.size(), m, quantity)) {
    return std::nullopt;
  }
  double v = 0;
  std::from_chars(m[1].first, m[1].second, v);  // the regex admits only what parses
  constexpr std::pair<std::string_view, double> kScales[] = {
      {"Ki", 0x1p10}, {"Mi", 0x1p20}, {"Gi", 0x1p30}, {"Ti", 0x1p40},
      {"Pi", 0x1p50}, {"Ei", 0x1p60}, {"k", 1e3},     {"M", 1e6},
      {"G", 1e9},     {"T", 1e12},    {"P", 1e15},    {"E", 1e18}};
  double scale = 1;
  if (m[4].matched) {
    std::string_view e(m[4].first, static_cast<std::size_t>(m[4].length()));
    if (e.front() == '+') {
      e.remove_prefix(1);
    }
    int exp = 0;
    auto [end, ec] = std::from_chars(e.data(), e.data() + e.size(), exp);
    if (ec != std::errc() || exp > 30) {
      return std::nullopt;
    }
    scale = std::pow(10.0, exp);
  } else if (m[3].matched) {
    for (const auto& [name, f] : kScales) {
      if (m[3].str() == name) {
        scale = f;
      }
    }
  }
  double bytes = std::ceil(v * scale);
  if (!std::isfinite(bytes) || bytes >= 0x1p64) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(bytes);
}

std::optional<RestartPolicy> parse_restart_policy(std::string_view s) {
  if (s == "Always") {
    return RestartPolicy::kAlways;
  }
  if (s == "OnFailure") {
    return RestartPolicy::kOnFailure;
  }
  if (s == "Never") {
    return RestartPolicy::kNever;
  }
  return std::nullopt;
}

}  // namespace tender::pod
