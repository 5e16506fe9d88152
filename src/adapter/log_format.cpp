#include "adapter/log_format.hpp"

#include <algorithm>
#include <array>
#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdio>

#include "core/json_text.hpp"
#include "core/text_fields.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string at_byte(std::string_view what, std::size_t i) {
  return std::string(what) + " at byte " + std::to_string(i);
}

// A cursor over an access log line.
struct Cursor {
  std::string_view s;
  std::size_t i = 0;

  // Bytes up to the next space (or the end); empty if none.
  std::string_view token() {
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ') {
      ++i;
    }
    return s.substr(start, i - start);
  }
  bool space() {
    if (i < s.size() && s[i] == ' ') {
      ++i;
      return true;
    }
    return false;
  }
  // A "quoted string": \" and \\ unescaped (as Apache writes them), other bytes as they are.
  Result<std::string> quoted() {
    if (i >= s.size() || s[i] != '"') {
      return invalid_argument(at_byte("expected '\"'", i));
    }
    const std::size_t open = i++;
    std::string out;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) {
        out.push_back(s[i + 1]);
        i += 2;
      } else if (c == '"') {
        ++i;
        return Result<std::string>(boost::system::in_place_value, std::move(out));
      } else {
        out.push_back(c);
        ++i;
      }
    }
    return invalid_argument(at_byte("unterminated quoted string", open));
  }
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "GET /a HTTP/1.1" -> method, path, protocol ("GET /a": HTTP/0.9, no protocol). Anything else
// (a TLS handshake sent to a plain port, "-") is not split.
void split_request(std::string_view r, json::object& fields) {
  const std::size_t a = r.find(' ');
  if (a == std::string_view::npos || a == 0) {
    return;
  }
  const std::string_view method = r.substr(0, a);
  if (!std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return;
  }
  std::string_view rest = r.substr(a + 1);
  const std::size_t b = rest.rfind(' ');
  std::string_view path = rest;
  std::string_view protocol;
  if (b != std::string_view::npos) {
    path = rest.substr(0, b);
    protocol = rest.substr(b + 1);
    if (!protocol.starts_with("HTTP/") || path.find(' ') != std::string_view::npos) {
      return;
    }
  }
  if (path.empty()) {
    return;
  }
  fields["method"] = method;
  fields["path"] = path;
  if (!protocol.empty()) {
    fields["protocol"] = protocol;
  }
}

std::string_view level_of_status(int status) {
  return status >= 500 ? "error" : status >= 400 ? "warn" : "info";
}

// The first of `names` present in `fields`. (Not erased: boost::json::object::erase moves the
// last field into the hole, and the fields keep the line's order.)
const json::key_value_pair* find_first(const json::object& fields,
                                       const std::vector<std::string>& names) {
  for (const auto& n : names) {
    if (auto it = fields.find(n); it != fields.end()) {
      return &*it;
    }
  }
  return nullptr;
}

std::optional<LogTime> time_of(const json::value& v, TimeFormat format) {
  switch (v.kind()) {
    case json::kind::string:
      return parse_log_time(v.get_string(), format);
    case json::kind::int64:
      return parse_log_time(std::to_string(v.get_int64()), format);
    case json::kind::uint64:
      return parse_log_time(std::to_string(v.get_uint64()), format);
    case json::kind::double_:
      return log_time_from_number(v.get_double(), format);
    default:
      return std::nullopt;
  }
}

std::string text_of(const json::value& v) {
  if (v.is_string()) {
    return std::string(v.get_string());
  }
  return json::serialize(v);
}

}  // namespace

std::string_view to_string(LineResult result) {
  switch (result) {
    case LineResult::kOk:
      return "ok";
    case LineResult::kUnparsed:
      return "unparsed";
    case LineResult::kCut:
      return "cut";
  }
  return "ok";
}

std::string normalize_level(std::string_view level) {
  std::string l = lower(level);
  while (!l.empty() && (l.back() == ' ' || l.back() == '\t')) {
    l.pop_back();
  }
  while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) {
    l.erase(0, 1);
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 30> kLevels{{
      {"trace", "debug"},      {"debug", "debug"},
      {"dbg", "debug"},        {"d", "debug"},
      {"10", "debug"},         {"20", "debug"},
      {"info", "info"},        {"inf", "info"},
      {"information", "info"}, {"informational", "info"},
      {"notice", "info"},      {"i", "info"},
      {"30", "info"},          {"warn", "warn"},
      {"warning", "warn"},     {"wrn", "warn"},
      {"w", "warn"},           {"40", "warn"},
      {"error", "error"},      {"err", "error"},
      {"e", "error"},          {"50", "error"},
      {"fatal", "fatal"},      {"critical", "fatal"},
      {"crit", "fatal"},       {"panic", "fatal"},
      {"emerg", "fatal"},      {"emergency", "fatal"},
      {"alert", "fatal"},      {"60", "fatal"},
  }};
  for (const auto& [from, to] : kLevels) {
    if (l == from) {
      return std::string(to);
    }
  }
  return l;
}

namespace {

// "host ident user [time] ": the parts before the request.
Result<> parse_who_and_when(Cursor& c, AccessLine& out) {
  const std::string_view line = c.s;
  const std::string_view remote = c.token();
  if (remote.empty()) {
    return invalid_argument(at_byte("expected the remote address", 0));
  }
  out.fields["remote_addr"] = remote;
  if (!c.space()) {
    return invalid_argument(at_byte("expected ' '", c.i));
  }
  const std::string_view ident = c.token();
  if (ident.empty() || !c.space()) {
    return invalid_argument(at_byte("expected the identity ('-' for none)", c.i));
  }
  const std::string_view user = c.token();
  if (user.empty() || !c.space()) {
    return invalid_argument(at_byte("expected the user ('-' for none)", c.i));
  }
  if (ident != "-") {
    out.fields["ident"] = ident;
  }
  if (user != "-") {
    out.fields["user"] = user;
  }
  if (c.i >= line.size() || line[c.i] != '[') {
    return invalid_argument(at_byte("expected '['", c.i));
  }
  const std::size_t close = line.find(']', c.i);
  if (close == std::string_view::npos) {
    return invalid_argument(at_byte("expected ']'", c.i));
  }
  auto time = parse_log_time(line.substr(c.i + 1, close - c.i - 1), TimeFormat::kCommon);
  if (!time) {
    return invalid_argument(at_byte("bad time", c.i + 1));
  }
  out.time = *time;
  c.i = close + 1;
  if (!c.space()) {
    return invalid_argument(at_byte("expected ' '", c.i));
  }
  return {};
}

// "\"request\" status bytes".
Result<> parse_request_and_status(Cursor& c, AccessLine& out) {
  auto request = c.quoted();
  if (!request) {
    return request.error();
  }
  out.request = std::move(*request);
  split_request(out.request, out.fields);
  if (!c.space()) {
    return invalid_argument(at_byte("expected ' '", c.i));
  }
  const std::size_t status_at = c.i;
  const std::string_view status = c.token();
  if (status.size() != 3 || !all_digits(status)) {
    return invalid_argument(at_byte("expected a 3-digit status", status_at));
  }
  out.status = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
  out.fields["status"] = out.status;
  if (!c.space()) {
    return invalid_argument(at_byte("expected ' '", c.i));
  }
  const std::size_t bytes_at = c.i;
  const std::string_view bytes = c.token();
  if (bytes == "-") {
    out.fields["bytes"] = 0;
  } else if (all_digits(bytes) && bytes.size() <= 18) {
    out.fields["bytes"] = std::stoll(std::string(bytes));
  } else {
    return invalid_argument(at_byte("expected the size in bytes ('-' for none)", bytes_at));
  }
  return {};
}

// Combined's " \"referer\" \"user agent\"".
Result<> parse_referer_and_agent(Cursor& c, AccessLine& out) {
  if (!c.space()) {
    return invalid_argument(at_byte("expected ' '", c.i));
  }
  auto referer = c.quoted();
  if (!referer) {
    return referer.error();
  }
  if (!c.space()) {
    return invalid_argument(at_byte("expected ' '", c.i));
  }
  auto agent = c.quoted();
  if (!agent) {
    return agent.error();
  }
  if (*referer != "-") {
    out.fields["referer"] = *referer;
  }
  if (*agent != "-") {
    out.fields["user_agent"] = *agent;
  }
  return {};
}

}  // namespace

Result<AccessLine> parse_access_line(std::string_view line, bool combined) {
  Cursor c{line};
  AccessLine out;
  if (auto r = parse_who_and_when(c, out); !r) {
    return r.error();
  }
  if (auto r = parse_request_and_status(c, out); !r) {
    return r.error();
  }
  if (combined) {
    if (auto r = parse_referer_and_agent(c, out); !r) {
      return r.error();
    }
  }
  // What servers add after the format (nginx's "$http_x_forwarded_for", a combined line read
  // as common) is kept, not lost.
  if (c.i < line.size()) {
    std::string_view extra = line.substr(c.i);
    while (!extra.empty() && extra.front() == ' ') {
      extra.remove_prefix(1);
    }
    if (!extra.empty()) {
      out.fields["extra"] = extra;
    }
  }
  return out;
}

Result<LineFormatter> LineFormatter::create(const LogSettings& settings) {
  LineFormatter f;
  f.settings_ = settings;
  if (settings.format == LogFormat::kRegex) {
    auto re = compile_regex("pattern", settings.pattern, /*need_groups=*/true);
    if (!re) {
      return re.error();
    }
    f.regex_ = std::move(*re);
  }
  if (settings.format == LogFormat::kJson) {
    f.json_ = std::make_unique<json::parser>();
  }
  return f;
}

LineFormatter::LineFormatter(LineFormatter&&) noexcept = default;
LineFormatter& LineFormatter::operator=(LineFormatter&&) noexcept = default;
LineFormatter::~LineFormatter() = default;

Result<json::object> LineFormatter::parse_fields(std::string_view line) {
  switch (settings_.format) {
    case LogFormat::kLogfmt:
      return parse_logfmt(line);
    case LogFormat::kRegex:
      return parse_regex(*regex_, line);
    case LogFormat::kJson: {
      boost::system::error_code ec;
      json_->reset();
      const std::size_t used = json_->write(line.data(), line.size(), ec);
      if (ec) {
        return invalid_argument(ec.message() + " at byte " + std::to_string(used));
      }
      json::value v = json_->release();
      if (!v.is_object()) {
        return invalid_argument("not an object");
      }
      return std::move(v.get_object());
    }
    case LogFormat::kCommon:
    case LogFormat::kCombined:
      break;
  }
  return invalid_argument("not a field format");
}

LineResult LineFormatter::format(std::string_view line, bool cut, const LogTime& read_at,
                                 std::string& out) {
  const LogFormat f = settings_.format;
  if (f == LogFormat::kCommon || f == LogFormat::kCombined) {
    auto access = parse_access_line(line, f == LogFormat::kCombined);
    if (!access) {
      append_line(out, read_at, "unknown", line, {}, cut,
                  std::string(to_string(f)) + ": " + access.error().message());
      return cut ? LineResult::kCut : LineResult::kUnparsed;
    }
    append_line(out, access->time, level_of_status(access->status), access->request, access->fields,
                cut, {});
    return cut ? LineResult::kCut : LineResult::kOk;
  }
  auto fields = parse_fields(line);
  if (!fields) {
    append_line(out, read_at, "unknown", line, {}, cut,
                std::string(to_string(f)) + ": " + fields.error().message());
    return cut ? LineResult::kCut : LineResult::kUnparsed;
  }
  const json::object& fs = *fields;
  // The fields time, level and message were taken from, left out of the rest.
  std::array<std::string_view, 3> used{};
  LogTime time = read_at;
  if (const auto* t = find_first(fs, settings_.time_fields)) {
    if (auto parsed = time_of(t->value(), settings_.time_format)) {
      time = *parsed;
      used[0] = t->key();
    }
    // Else not a time of time_format: `time` is when the line was read, and the value stays
    // under its name (under `fields` when that is "time").
  }
  std::string level = "info";
  if (const auto* l = find_first(fs, settings_.level_fields)) {
    level = normalize_level(text_of(l->value()));
    used[1] = l->key();
  }
  std::string message;
  if (const auto* m = find_first(fs, settings_.message_fields)) {
    message = text_of(m->value());
    used[2] = m->key();
  } else {
    message = line;
  }
  append_line(out, time, level, message, fs, cut, {}, used);
  return cut ? LineResult::kCut : LineResult::kOk;
}

void LineFormatter::append_line(std::string& out, const LogTime& time, std::string_view level,
                                std::string_view message, const json::object& fields, bool cut,
                                std::string_view parse_error,
                                const std::array<std::string_view, 3>& used) const {
  auto taken = [this](std::string_view name) {
    for (std::string_view r : {"time", "level", "message", "cut", "parse_error", "fields"}) {
      if (name == r) {
        return true;
      }
    }
    return std::any_of(settings_.static_fields.begin(), settings_.static_fields.end(),
                       [&](const auto& kv) { return kv.first == name; });
  };
  out.reserve(out.size() + message.size() + 96);
  out += "{\"time\":";
  append_rfc3339(out, time);
  out += ",\"level\":";
  append_json_string_utf8(out, level);
  out += ",\"message\":";
  append_json_string_utf8(out, message);
  bool clashes = false;
  auto is_used = [&used](std::string_view name) {
    return std::find(used.begin(), used.end(), name) != used.end();
  };
  for (const auto& kv : fields) {
    if (is_used(kv.key())) {
      continue;
    }
    if (taken(kv.key())) {
      clashes = true;
      continue;
    }
    out.push_back(',');
    append_json_string_utf8(out, kv.key());
    out.push_back(':');
    append_json_value(out, kv.value());
  }
  if (clashes) {
    out += ",\"fields\":{";
    bool first = true;
    for (const auto& kv : fields) {
      if (is_used(kv.key()) || !taken(kv.key())) {
        continue;
      }
      if (!first) {
        out.push_back(',');
      }
      first = false;
      append_json_string_utf8(out, kv.key());
      out.push_back(':');
      append_json_value(out, kv.value());
    }
    out.push_back('}');
  }
  for (const auto& [k, v] : settings_.static_fields) {
    out.push_back(',');
    append_json_string_utf8(out, k);
    out.push_back(':');
    append_json_string_utf8(out, v);
  }
  if (cut) {
    out += ",\"cut\":true";
  }
  if (!parse_error.empty()) {
    out += ",\"parse_error\":";
    append_json_string_utf8(out, parse_error);
  }
  out += "}\n";
}

}  // namespace tender::adapter
