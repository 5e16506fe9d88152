#pragma once
// Timestamps of log lines: parsed from the forms applications write (RFC 3339, the access
// log's [10/Oct/2000:13:55:36 -0700], Unix seconds or milliseconds) and written back as
// RFC 3339 with the source's own offset. No I/O, no locale, no time zone database.
//
//   auto t = parse_log_time("10/Oct/2000:13:55:36 -0700", TimeFormat::kAuto);
//   if (t) { std::string s; append_rfc3339(s, *t); }   // 2000-10-10T13:55:36-07:00
//   LogTime now = log_time_from(clock.wall());         // the time a line was read, in UTC
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tender::adapter {

// A moment and how it was written: the UTC instant, the offset to print it in, and how many
// fraction digits the source gave (so "12:00:00.5" stays ".5", not ".500000000").
struct LogTime {
  std::int64_t unix_seconds = 0;  // UTC
  std::uint32_t nanos = 0;        // 0..999'999'999
  int fraction_digits = 0;        // 0..9
  int offset_minutes = 0;         // east of UTC
  bool utc = true;                // print "Z" (else the offset, "+00:00" included)
  friend bool operator==(const LogTime&, const LogTime&) = default;
};

enum class TimeFormat {
  kAuto,     // any of the below, tried in this order: RFC 3339, common, Unix (by magnitude)
  kRfc3339,  // 2026-12-06T12:00:00.123+02:00 ('t' or ' ' for 'T'; no offset is UTC)
  kCommon,   // 10/Oct/2000:13:55:36 -0700 (the access logs' form, brackets optional)
  kUnix,     // seconds since the epoch, with an optional fraction: 1733486400.25
  kUnixMs,   // milliseconds since the epoch (integer or fraction)
};

// "auto", "rfc3339", "common", "unix", "unix_ms"; nullopt for anything else.
[[nodiscard]] std::optional<TimeFormat> time_format_from(std::string_view name);
[[nodiscard]] std::string_view to_string(TimeFormat format);

// Parses `text` (whitespace around it ignored). nullopt when it is not a time of `format`:
// a field out of range (month 13, hour 24, minute 60; second 60 is a leap second and allowed),
// trailing bytes, a year outside 0000..9999. kAuto takes a bare number as Unix seconds below
// 1e11, milliseconds below 1e14, microseconds below 1e17, nanoseconds above.
[[nodiscard]] std::optional<LogTime> parse_log_time(std::string_view text, TimeFormat format);

// The same for a number (a JSON field): seconds for kAuto/kUnix (by magnitude for kAuto, as
// above), milliseconds for kUnixMs; nullopt for kRfc3339 and kCommon, NaN, or out of range.
[[nodiscard]] std::optional<LogTime> log_time_from_number(double value, TimeFormat format);

// A wall-clock time as a LogTime in UTC with microseconds.
[[nodiscard]] LogTime log_time_from(std::chrono::system_clock::time_point t);

// Appends `t` quoted, as RFC 3339: "2000-10-10T13:55:36-07:00", "2026-12-06T12:00:00.123Z".
void append_rfc3339(std::string& out, const LogTime& t);

}  // namespace tender::adapter
