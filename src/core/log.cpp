#include "core/log.hpp"

#include "core/units.hpp"

#include "core/json_text.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <ctime>

namespace tender::log {
namespace {

Settings& mutable_settings() {
  static Settings s;
  return s;
}

// A text value is quoted when it would otherwise be ambiguous.
void append_text_value(std::string& out, std::string_view v) {
  bool plain = !v.empty() && v.find_first_of(" \"=\n\t\\") == std::string_view::npos;
  if (plain) {
    out.append(v);
  } else {
    append_json_string(out, v);
  }
}

std::string timestamp() { return format_utc(std::chrono::system_clock::now(), true); }

}  // namespace

Field::Field(std::string_view k, double v) : key(k), number(true) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  value.assign(buf, res.ptr);
}

void configure(Settings settings) { mutable_settings() = std::move(settings); }

const Settings& settings() { return mutable_settings(); }

bool enabled(Level level) { return level >= mutable_settings().level; }

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::optional<Level> parse_level(std::string_view s) {
  if (s == "debug") {
    return Level::kDebug;
  }
  if (s == "info") {
    return Level::kInfo;
  }
  if (s == "warn" || s == "warning") {
    return Level::kWarn;
  }
  if (s == "error") {
    return Level::kError;
  }
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view s) {
  if (s == "text") {
    return Format::kText;
  }
  if (s == "json") {
    return Format::kJson;
  }
  return std::nullopt;
}

std::string format_line(const Settings& s, Level level, std::string_view ts, std::string_view msg,
                        Fields fields) {
  std::string line;
  line.reserve(96 + msg.size());
  if (s.format == Format::kJson) {
    line += "{\"ts\":";
    append_json_string(line, ts);
    line += ",\"level\":";
    append_json_string(line, level_name(level));
    line += ",\"role\":";
    append_json_string(line, s.role);
    line += ",\"msg\":";
    append_json_string(line, msg);
    for (const auto& f : fields) {
      line.push_back(',');
      append_json_string(line, f.key);
      line.push_back(':');
      if (f.number) {
        line += f.value;
      } else {
        append_json_string(line, f.value);
      }
    }
    line += "}\n";
  } else {
    line.append(ts);
    line.push_back(' ');
    line.append(level_name(level));
    line.push_back(' ');
    line.append(s.role);
    line += ": ";
    line.append(msg);
    for (const auto& f : fields) {
      line.push_back(' ');
      line.append(f.key);
      line.push_back('=');
      append_text_value(line, f.value);
    }
    line.push_back('\n');
  }
  return line;
}

void write(Level level, std::string_view msg, Fields fields) {
  const Settings& s = mutable_settings();
  if (level < s.level) {
    return;
  }
  std::string line = format_line(s, level, timestamp(), msg, fields);
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(s.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace tender::log
