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

bool is_config_key(std::string_view s) {
  if (s.empty() || s.size() > 253 || s == "." || s.substr(0, 2) == "..") {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool is_volume_file_path(std::string_view s) {
  return !s.empty() && s.front() != '/' && !has_backstep(s) && s.substr(0, 2) != "..";
}

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// ---- values -----------------------------------------------------------------------------------

// kubectl decodes YAML 1.1: an unquoted 8080 or yes in a string field is a number or a boolean,
// and the API server rejects it. tender reads it as text, but says so once.
void warn_if_not_text(const ConfigNode& n, bool secret) {
  const YAML::Node& y = n.yaml();
  // Longer than any number or boolean written by hand; and std::regex recurses per character.
  if (!y.IsScalar() || y.Tag() != "?" || y.Scalar().size() > 256) {
    return;
  }
  static const std::regex non_string(
      R"([-+]?[0-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+|)"
      R"([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|)"
      R"(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)");
  if (std::regex_match(y.Scalar(), non_string)) {
    log::warn("unquoted value is not a string for kubectl; quote it",
              {{"file", n.file()},
               {"line", n.line()},
               {"field", n.path()},
               {"value", secret ? std::string("(secret)") : y.Scalar()}});
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

// Exact for the usual forms (2, 0.5, 250m, 1.5m); other quantities (1e3, 2k) through
// parse_quantity, in whole CPUs.
std::optional<std::uint64_t> parse_cpu_millis(std::string_view s) {
  const bool milli = s.ends_with('m');
  std::string_view num = milli ? s.substr(0, s.size() - 1) : s;
  const auto dot = num.find('.');
  std::string_view whole = num.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : num.substr(dot + 1);
  auto digits = [](std::string_view d) {
    return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (num.empty() || num == "." || !digits(whole) || !digits(frac) || whole.size() > 15) {
    if (milli) {
      return std::nullopt;
    }
    auto units = parse_quantity(s);
    return units && *units <= (std::uint64_t{1} << 50) ? std::optional(*units * 1000)
                                                       : std::nullopt;
  }
  std::uint64_t v = 0;
  for (char c : whole) {
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  // Thousandths from the fraction (none for a quantity in millicores already); any digit past
  // them rounds up, as Kubernetes rounds CPU to the millicore.
  const std::size_t kept = milli ? 0 : 3;
  for (std::size_t i = 0; i < kept; ++i) {
    v = v * 10 + (i < frac.size() ? static_cast<std::uint64_t>(frac[i] - '0') : 0);
  }
  if (frac.size() > kept && frac.substr(kept).find_first_not_of('0') != std::string_view::npos) {
    ++v;
  }
  return v;
}

std::optional<std::string> decode_base64(std::string_view s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') {
      return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
      return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::string clean;
  clean.reserve(s.size());
  for (char c : s) {
    if (c != '\n' && c != '\r') {
      clean.push_back(c);
    }
  }
  if (clean.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (std::size_t i = 0; i < clean.size(); i += 4) {
    const bool last = i + 4 == clean.size();
    int pad = 0;
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = clean[i + j];
      if (c == '=' && last && j >= 2) {
        ++pad;
        group <<= 6;
        continue;
      }
      int v = value(c);
      if (v < 0 || pad > 0) {
        return std::nullopt;  // not the alphabet, or data after padding
      }
      group = (group << 6) | static_cast<std::uint32_t>(v);
    }
    out.push_back(static_cast<char>(group >> 16));
    if (pad < 2) {
      out.push_back(static_cast<char>((group >> 8) & 0xff));
    }
    if (pad < 1) {
      out.push_back(static_cast<char>(group & 0xff));
    }
  }
  return out;
}

std::optional<int> file_mode(const ConfigNode& n, std::string_view key) {
  auto s = n.string(key);
  if (!s) {
    return std::nullopt;
  }
  std::string_view digits = *s;
  int base = 10;
  if (digits.starts_with("0o") || digits.starts_with("0O")) {
    digits.remove_prefix(2);
    base = 8;
  } else if (digits.size() > 1 && digits.front() == '0') {
    base = 8;  // YAML 1.1, as kubectl reads it: 0644 is octal
  }
  int v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || v < 0 ||
      v > 0777) {
    n.fail(key,
           "not a file mode (0 to 0777 in octal, like 0644 or 0400, or 0 to 511 in "
           "decimal): " +
               quote(*s));
  }
  return v;
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
