#pragma once
// One log line in, one JSON line out: the parsing and normalising half of the log adapter (no
// I/O). Every line gives exactly one JSON line, whether it parses or not.
//
//   auto f = LineFormatter::create(settings);           // Result: the pattern compiles
//   std::string out;
//   LineResult r = f->format(line, /*cut=*/false, log_time_from(clock.wall()), out);
//   // out: {"time":"2000-10-10T13:55:36-07:00","level":"info","message":"GET / HTTP/1.0",...}\n
//
// The shape (docs/adapt.md): `time` (RFC 3339, the source's offset or Z; the time the line
// was read when it has none or it does not parse), `level` (debug, info, warn, error, fatal,
// or an unknown value lowercased; "info" when the line has none; "unknown" when the line does
// not parse), `message`, the parsed fields, the static fields, then `cut: true` for a line
// longer than max_line_bytes and `parse_error` for a line that did not parse. A parsed field
// whose name is taken (time, level, message, cut, parse_error, fields, a static field) goes
// under `fields`. Strings are made valid UTF-8 (bad bytes become U+FFFD).
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "adapter/log_config.hpp"
#include "adapter/log_time.hpp"
#include "core/error.hpp"

namespace boost::json {
class parser;
}  // namespace boost::json

namespace tender {
struct CompiledRegex;
}  // namespace tender

namespace tender::adapter {

// What became of a line: the `result` label of tender_adapt_log_lines_total.
enum class LineResult { kOk, kUnparsed, kCut };
[[nodiscard]] std::string_view to_string(LineResult result);

// A level as written ("WARNING", "Err", "30", "E") -> debug, info, warn, error, fatal; other
// values lowercased and kept.
[[nodiscard]] std::string normalize_level(std::string_view level);

// A parsed access log line (common or combined).
struct AccessLine {
  LogTime time;
  int status = 0;
  std::string request;         // the request line, the message
  boost::json::object fields;  // remote_addr, user, method, path, protocol, status, bytes, ...
};
// Parses the NCSA common log format (`combined`: Apache/nginx combined, with referer and user
// agent). Fails with EINVAL and where: "expected '[' at byte 14", "bad time at byte 15", ...
[[nodiscard]] Result<AccessLine> parse_access_line(std::string_view line, bool combined);

class LineFormatter {
 public:
  // Fails with EINVAL when the settings' pattern does not compile (parse_log_settings checked
  // it already).
  [[nodiscard]] static Result<LineFormatter> create(const LogSettings& settings);
  LineFormatter(LineFormatter&&) noexcept;
  LineFormatter& operator=(LineFormatter&&) noexcept;
  ~LineFormatter();

  // Appends the JSON line of `line` (no newline in it; a trailing '\r' is part of the line)
  // with its '\n' to `out`. `cut`: the line was longer than max_line_bytes and this is its
  // start. `read_at`: the time it was read. Never fails.
  LineResult format(std::string_view line, bool cut, const LogTime& read_at, std::string& out);

 private:
  LineFormatter() = default;
  // Fields of `line`, or why not.
  Result<boost::json::object> parse_fields(std::string_view line);
  void append_line(std::string& out, const LogTime& time, std::string_view level,
                   std::string_view message, const boost::json::object& fields, bool cut,
                   std::string_view parse_error,
                   const std::array<std::string_view, 3>& used = {}) const;

  LogSettings settings_;
  std::shared_ptr<const CompiledRegex> regex_;
  std::unique_ptr<boost::json::parser> json_;
};

}  // namespace tender::adapter
