// Sink URLs and sink maps of a config file (no I/O).
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <string>
#include <string_view>

#include "core/ascii.hpp"
#include "core/cli.hpp"
#include "core/units.hpp"
#include "sidecar/sink.hpp"

namespace tender::sidecar {
namespace {

namespace json = boost::json;

constexpr std::string_view kSchemes =
    "expected stdout, file:PATH, http://HOST[:PORT]/PATH or loki://HOST[:PORT]";
constexpr std::string_view kLokiPushTarget = "/loki/api/v1/push";

[[noreturn]] void bad_url(const std::string& url, std::string_view why) {
  throw UsageError(std::string(why) + " in " + url + " (" + std::string(kSchemes) + ")");
}

// A port as written in a URL: 1..65535.
std::uint16_t parse_port(const std::string& url, std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    bad_url(url, "bad port '" + std::string(text) + "'");
  }
  return static_cast<std::uint16_t>(value);
}

// http://HOST[:PORT][/PATH][?QUERY] and loki://HOST[:PORT][/PATH]: host, port and target.
void parse_network_url(const std::string& url, std::uint16_t default_port, SinkConfig& out) {
  auto u = boost::urls::parse_uri(url);
  if (!u) {
    bad_url(url, "not a URL");
  }
  if (!u->has_authority() || u->host().empty()) {
    bad_url(url, "no host");
  }
  if (u->has_userinfo()) {
    bad_url(url, "credentials in the URL are not supported (set an Authorization header)");
  }
  if (u->has_fragment()) {
    bad_url(url, "a fragment ('#') means nothing to a sink");
  }
  out.host = std::string(u->host_address());
  out.port = u->has_port() ? parse_port(url, u->port()) : default_port;
  out.target = std::string(u->encoded_resource());
  if (out.target.empty() || out.target.front() != '/') {
    out.target.insert(out.target.begin(), '/');
  }
}

bool looks_secret(std::string_view name) {
  const std::string n = ascii_lower(name);
  for (std::string_view word : {"authorization", "cookie", "token", "secret", "password", "passwd",
                                "api-key", "api_key", "apikey", "credential"}) {
    if (n.find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// `url` with the values of secret-looking query parameters replaced ("?token=<redacted>").
std::string redact_url(const std::string& url) {
  auto q = url.find('?');
  if (q == std::string::npos) {
    return url;
  }
  std::string out = url.substr(0, q + 1);
  std::string_view query = std::string_view(url).substr(q + 1);
  bool first = true;
  while (!query.empty() || first) {
    auto amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (!first) {
      out += '&';
    }
    first = false;
    auto eq = param.find('=');
    if (eq != std::string_view::npos && looks_secret(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1));
      out += "<redacted>";
    } else {
      out.append(param);
    }
    if (amp == std::string_view::npos) {
      break;
    }
  }
  return out;
}

std::string_view kind_name(SinkKind kind) {
  switch (kind) {
    case SinkKind::kStdout:
      return "stdout";
    case SinkKind::kFile:
      return "file";
    case SinkKind::kHttp:
      return "http";
    case SinkKind::kLoki:
      return "loki";
  }
  return "unknown";
}

// A map of strings (labels, headers): every value a scalar; throws at the offending key.
std::vector<std::pair<std::string, std::string>> string_map(const ConfigNode& node,
                                                            std::string_view key) {
  auto child = node.child(key);
  if (!child.defined()) {
    return {};
  }
  if (!child.is_map()) {
    node.fail(key, "must be a map of names to strings");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& name : child.keys()) {
    if (name.empty()) {
      child.fail(name, "an empty name");
    }
    auto value = child.string(name);
    if (!value) {
      child.fail(name, "needs a value");
    }
    out.emplace_back(name, *value);
  }
  return out;
}

}  // namespace

SinkConfig parse_sink_url(const std::string& url) {
  SinkConfig out;
  out.url = url;
  out.name = redact_url(url);  // it shows in logs and metrics
  if (url == "stdout") {
    out.kind = SinkKind::kStdout;
    out.format = RecordFormat::kRaw;
    return out;
  }
  auto colon = url.find(':');
  if (colon == std::string::npos || colon == 0) {
    bad_url(url, "no scheme");
  }
  const std::string scheme = ascii_lower(std::string_view(url).substr(0, colon));
  if (scheme == "file") {
    out.kind = SinkKind::kFile;
    out.format = RecordFormat::kRaw;
    std::string_view rest = std::string_view(url).substr(colon + 1);
    if (rest.starts_with("//")) {
      // file:///abs/path: an empty authority; a host is meaningless here.
      rest.remove_prefix(2);
      if (!rest.starts_with("/")) {
        bad_url(url, "a file URL names no host (file:/PATH or file:///PATH)");
      }
    }
    if (rest.empty()) {
      bad_url(url, "no path");
    }
    out.path = std::string(rest);
    return out;
  }
  if (scheme == "http") {
    out.kind = SinkKind::kHttp;
    out.format = RecordFormat::kJson;
    parse_network_url(url, 80, out);
    return out;
  }
  if (scheme == "loki") {
    out.kind = SinkKind::kLoki;
    out.format = RecordFormat::kJson;
    parse_network_url(url, 3100, out);
    if (out.target == "/") {
      out.target = std::string(kLokiPushTarget);
    }
    return out;
  }
  bad_url(url, "unknown sink scheme '" + url.substr(0, colon) + "'");
}

SinkConfig parse_sink(const ConfigNode& node) {
  if (!node.is_map()) {
    node.fail("", "a sink must be a map with at least `url`");
  }
  node.warn_unknown({"name", "url", "format", "labels", "batch_records", "batch_bytes", "timeout",
                     "headers", "max_file_bytes", "keep_files", "fsync"});
  auto url = node.string("url");
  if (!url) {
    node.fail("url", "is required (stdout, file:PATH, http://HOST:PORT/PATH, loki://HOST:PORT)");
  }
  SinkConfig out;
  try {
    out = parse_sink_url(*url);
  } catch (const UsageError& e) {
    node.fail("url", e.what());
  }
  bool network = out.kind == SinkKind::kHttp || out.kind == SinkKind::kLoki;
  // A key that does not apply to this kind of sink is an error, not a silent no-op.
  auto only_for = [&](std::string_view key, bool applies, std::string_view kinds) {
    if (node.has(key) && !applies) {
      node.fail(key, "applies to " + std::string(kinds) + " sinks only, not to " +
                         std::string(kind_name(out.kind)));
    }
  };
  if (auto name = node.string("name")) {
    if (name->empty()) {
      node.fail("name", "must not be empty");
    }
    out.name = *name;
  }
  only_for("format", out.kind != SinkKind::kLoki, "stdout, file and http");
  if (auto format = node.string("format")) {
    if (*format == "raw") {
      out.format = RecordFormat::kRaw;
    } else if (*format == "json") {
      out.format = RecordFormat::kJson;
    } else {
      node.fail("format", "must be raw or json, not \"" + *format + "\"");
    }
  }
  only_for("labels", out.kind == SinkKind::kLoki, "loki");
  for (auto& [k, v] : string_map(node, "labels")) {
    out.labels[k] = v;
  }
  only_for("headers", network, "http and loki");
  out.headers = string_map(node, "headers");
  only_for("timeout", network, "http and loki");
  if (auto timeout = node.duration("timeout")) {
    if (timeout->count() <= 0) {
      node.fail("timeout", "must be positive");
    }
    out.timeout = *timeout;
  }
  if (auto n = node.integer("batch_records", 1, 1'000'000)) {
    out.batch_records = static_cast<std::size_t>(*n);
  }
  if (auto n = node.bytes("batch_bytes")) {
    if (*n == 0 || *n > (std::uint64_t{1} << 30)) {
      node.fail("batch_bytes", "must be between 1 byte and 1GiB");
    }
    out.batch_bytes = static_cast<std::size_t>(*n);
  }
  only_for("max_file_bytes", out.kind == SinkKind::kFile, "file");
  only_for("keep_files", out.kind == SinkKind::kFile, "file");
  only_for("fsync", out.kind == SinkKind::kFile, "file");
  if (auto n = node.bytes("max_file_bytes")) {
    out.max_file_bytes = *n;
  }
  if (auto n = node.integer("keep_files", 0, 1000)) {
    out.keep_files = static_cast<int>(*n);
  }
  if (auto b = node.boolean("fsync")) {
    out.fsync = *b;
  }
  return out;
}

json::object sink_json(const SinkConfig& config) {
  json::object o;
  o["name"] = redact_url(config.name);
  o["kind"] = kind_name(config.kind);
  o["url"] = redact_url(config.url);
  if (config.kind != SinkKind::kLoki) {
    o["format"] = config.format == RecordFormat::kRaw ? "raw" : "json";
  }
  o["batch_records"] = config.batch_records;
  o["batch_bytes"] = config.batch_bytes;
  if (config.kind == SinkKind::kFile) {
    o["path"] = config.path;
    o["max_file_bytes"] = config.max_file_bytes;
    o["keep_files"] = config.keep_files;
    o["fsync"] = config.fsync;
  }
  if (config.kind == SinkKind::kHttp || config.kind == SinkKind::kLoki) {
    o["host"] = config.host;
    o["port"] = config.port;
    o["target"] = redact_url(config.target);
    o["timeout"] = format_duration(config.timeout);
    json::object headers;
    for (const auto& [k, v] : config.headers) {
      headers[k] = looks_secret(k) ? std::string("<redacted>") : v;
    }
    o["headers"] = std::move(headers);
  }
  if (config.kind == SinkKind::kLoki) {
    json::object labels;
    for (const auto& [k, v] : config.labels) {
      labels[k] = v;
    }
    o["labels"] = std::move(labels);
  }
  return o;
}

}  // namespace tender::sidecar
