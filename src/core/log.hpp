#pragma once
// Structured logging to stderr: one line per event, text or JSON, safe from any thread.
//
//   log::configure({.level = log::Level::kInfo, .format = log::Format::kJson, .role = "echo"});
//   log::info("listening", {{"addr", "127.0.0.1:8080"}, {"threads", 4}});
//
// text: 2026-11-26T23:21:25.123Z info echo: listening addr=127.0.0.1:8080 threads=4
// json: {"ts":"2026-11-26T23:21:25.123Z","level":"info","role":"echo","msg":"listening",...}

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace tender::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kText, kJson };

struct Settings {
  Level level = Level::kInfo;
  Format format = Format::kText;
  std::string role = "tender";
  int fd = 2;  // where lines go; tests may point it elsewhere
};

// One key=value pair of an event. Numbers are formatted as JSON numbers in JSON output.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, int v) : Field(k, static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, unsigned v) : Field(k, static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, std::uint64_t v) : key(k), value(std::to_string(v)), number(true) {}
  Field(std::string_view k, double v);
  std::string_view key;
  std::string value;
  bool number = false;
};
using Fields = std::initializer_list<Field>;

// Replaces the settings. Call before starting threads that log.
void configure(Settings settings);
[[nodiscard]] const Settings& settings();
[[nodiscard]] bool enabled(Level level);

// Writes one line with a single write(2), so lines from threads never interleave.
void write(Level level, std::string_view msg, Fields fields = {});
inline void debug(std::string_view msg, Fields fields = {}) { write(Level::kDebug, msg, fields); }
inline void info(std::string_view msg, Fields fields = {}) { write(Level::kInfo, msg, fields); }
inline void warn(std::string_view msg, Fields fields = {}) { write(Level::kWarn, msg, fields); }
inline void error(std::string_view msg, Fields fields = {}) { write(Level::kError, msg, fields); }

// "debug" | "info" | "warn" | "error" (also "warning").
[[nodiscard]] std::optional<Level> parse_level(std::string_view s);
// "text" | "json".
[[nodiscard]] std::optional<Format> parse_format(std::string_view s);
[[nodiscard]] std::string_view level_name(Level level);

// Formats one event as a line (with '\n'); exposed for tests.
[[nodiscard]] std::string format_line(const Settings& s, Level level, std::string_view ts,
                                      std::string_view msg, Fields fields);

}  // namespace tender::log
