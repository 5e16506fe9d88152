#include "adapter/log_config.hpp"

#include <algorithm>
#include <array>

#include "core/text_fields.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

constexpr std::array<std::pair<std::string_view, LogFormat>, 5> kFormats{{
    {"regex", LogFormat::kRegex},
    {"logfmt", LogFormat::kLogfmt},
    {"json", LogFormat::kJson},
    {"common", LogFormat::kCommon},
    {"combined", LogFormat::kCombined},
}};

constexpr std::size_t kMinLineBytes = 256;
constexpr std::size_t kMaxLineBytes = std::size_t{64} << 20;

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) {
    a.emplace_back(s);
  }
  return a;
}

}  // namespace

std::string_view to_string(LogFormat format) {
  for (const auto& [name, f] : kFormats) {
    if (f == format) {
      return name;
    }
  }
  return "logfmt";
}

json::object LogSettings::to_json() const {
  json::object o;
  o["name"] = name;
  o["input"] = input;
  o["format"] = to_string(format);
  if (format == LogFormat::kRegex) {
    o["pattern"] = pattern;
  }
  o["output"] = output;
  o["read_from"] = read_from_head ? "head" : "tail";
  o["max_line_bytes"] = max_line_bytes;
  if (format != LogFormat::kCommon && format != LogFormat::kCombined) {
    o["time_field"] = to_array(time_fields);
    o["time_format"] = to_string(time_format);
    o["level_field"] = to_array(level_fields);
    o["message_field"] = to_array(message_fields);
  }
  json::object st;
  for (const auto& [k, v] : static_fields) {
    st[k] = v;
  }
  o["static_fields"] = std::move(st);
  return o;
}

namespace {

// time_field, time_format, level_field, message_field (regex, logfmt, json) and
// static_fields.
void parse_field_settings(const ConfigNode& entry, LogSettings& s) {
  const bool access = s.format == LogFormat::kCommon || s.format == LogFormat::kCombined;
  auto names = [&](std::string_view key, std::vector<std::string>& into) {
    if (auto v = entry.strings(key)) {
      if (access) {
        entry.fail(key, "goes with formats regex, logfmt and json (access logs have theirs)");
      }
      if (v->empty() ||
          std::any_of(v->begin(), v->end(), [](const auto& n) { return n.empty(); })) {
        entry.fail(key, "a field name, or a list of them");
      }
      into = std::move(*v);
    }
  };
  names("time_field", s.time_fields);
  names("level_field", s.level_fields);
  names("message_field", s.message_fields);
  if (auto t = entry.string("time_format")) {
    auto tf = time_format_from(*t);
    if (!tf) {
      entry.fail("time_format", "auto, rfc3339, common, unix or unix_ms: \"" + *t + "\"");
    }
    if (access) {
      entry.fail("time_format", "goes with formats regex, logfmt and json");
    }
    s.time_format = *tf;
  }
  ConfigNode st = entry.child("static_fields");
  if (st.defined() && !st.is_map()) {
    entry.fail("static_fields", "a map of field names to strings");
  }
  for (const auto& key : st.keys()) {
    for (std::string_view reserved : {"time", "level", "message", "cut", "parse_error", "fields"}) {
      if (key == reserved) {
        st.fail(key, "is an output key of every line; pick another name");
      }
    }
    s.static_fields.emplace_back(key, st.string(key).value_or(""));
  }
}

}  // namespace

LogSettings parse_log_settings(const ConfigNode& entry) {
  if (!entry.is_map()) {
    entry.fail("", "a log adapter is a map with a name, an input and a format");
  }
  entry.warn_unknown({"name", "input", "format", "pattern", "output", "read_from", "max_line_bytes",
                      "time_field", "time_format", "level_field", "message_field",
                      "static_fields"});
  LogSettings s;
  s.file = entry.file();
  s.line = entry.line();
  s.path = entry.path();
  std::optional<std::string> name = entry.string("name");
  if (!name || name->empty()) {
    entry.fail("name", "every log adapter needs a name");
  }
  s.name = *name;
  s.input = entry.string("input").value_or("-");
  if (s.input.empty()) {
    entry.fail("input", "empty: \"-\" for stdin, or the path of a file or FIFO");
  }
  std::optional<std::string> format = entry.string("format");
  if (!format) {
    entry.fail("format", "needs a format: regex, logfmt, json, common or combined");
  }
  const auto* f = std::find_if(kFormats.begin(), kFormats.end(),
                               [&](const auto& e) { return e.first == *format; });
  if (f == kFormats.end()) {
    entry.fail("format",
               "not a log format (regex, logfmt, json, common, combined): \"" + *format + "\"");
  }
  s.format = f->second;
  if (auto p = entry.string("pattern")) {
    if (s.format != LogFormat::kRegex) {
      entry.fail("pattern", "goes with format: regex only");
    }
    s.pattern = *p;
  }
  if (s.format == LogFormat::kRegex) {
    if (s.pattern.empty()) {
      entry.fail(entry.has("pattern") ? "pattern" : "format",
                 "format regex needs a pattern with named groups (?<name>...)");
    }
    if (auto re = compile_regex("pattern", s.pattern, /*need_groups=*/true); !re) {
      entry.fail("pattern", re.error().message());
    }
  }
  s.output = entry.string("output").value_or("-");
  if (s.output.empty()) {
    entry.fail("output", "empty: \"-\" for stdout, or the path of a file");
  }
  if (auto r = entry.string("read_from")) {
    if (*r != "head" && *r != "tail") {
      entry.fail("read_from", "head or tail: \"" + *r + "\"");
    }
    s.read_from_head = *r == "head";
  }
  if (auto b = entry.bytes("max_line_bytes")) {
    if (*b < kMinLineBytes || *b > kMaxLineBytes) {
      entry.fail("max_line_bytes", "between 256B and 64MiB");
    }
    s.max_line_bytes = static_cast<std::size_t>(*b);
  }
  parse_field_settings(entry, s);
  return s;
}

}  // namespace tender::adapter
