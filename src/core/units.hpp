#pragma once
// Durations and sizes as people write them in flags and configuration files, and back.
//
//   auto grace = parse_duration("1m30s");   // 90'000 ms; nullopt for "soon"
//   auto limit = parse_bytes("64KiB");      // 65'536
//   format_duration(*grace);                // "1m30s"
//
// Pure functions: no YAML, no I/O.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tender {

// "250ms", "10s", "1.5s", "2m", "1h", "1m30s", "500us", or a bare number of seconds, rounded to
// the millisecond. Negative is invalid.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);
// The same rounded to the microsecond.
[[nodiscard]] std::optional<std::chrono::microseconds> parse_duration_us(std::string_view s);
// "512", "64KiB", "8MiB", "1GiB", "10KB" (1000-based), "4k" / "4M" / "1G" (1024-based).
[[nodiscard]] std::optional<std::uint64_t> parse_bytes(std::string_view s);
// Renders a duration the way parse_duration reads it: "30s", "250ms", "1m30s".
[[nodiscard]] std::string format_duration(std::chrono::milliseconds d);

// "4MiB", "512KiB", or "1000 bytes": a size as parse_bytes() reads it back.
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

// A calendar time in UTC as RFC 3339: "2026-12-06T06:29:16Z", or "2026-12-06T06:29:16.042Z"
// with `millis`.
[[nodiscard]] std::string format_utc(std::chrono::system_clock::time_point t, bool millis = false);

}  // namespace tender
