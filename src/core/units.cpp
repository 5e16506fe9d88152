#include "core/units.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <utility>

namespace tender {
namespace {

// A duration in microseconds, not rounded.
std::optional<double> parse_duration_in_us(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  double total_us = 0;
  std::size_t i = 0;
  bool any = false;
  while (i < s.size()) {
    double v = 0;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
    if (ec != std::errc() || !std::isfinite(v) || v < 0) {
      return std::nullopt;
    }
    i = static_cast<std::size_t>(p - s.data());
    std::size_t u = i;
    while (u < s.size() && std::isalpha(static_cast<unsigned char>(s[u]))) {
      ++u;
    }
    std::string_view unit = s.substr(i, u - i);
    double scale = 0;
    if (unit.empty()) {
      if (any || u != s.size()) {
        return std::nullopt;  // a bare number is only valid alone: seconds
      }
      scale = 1e6;
    } else if (unit == "us") {
      scale = 1;
    } else if (unit == "ms") {
      scale = 1e3;
    } else if (unit == "s") {
      scale = 1e6;
    } else if (unit == "m") {
      scale = 60e6;
    } else if (unit == "h") {
      scale = 3600e6;
    } else {
      return std::nullopt;
    }
    total_us += v * scale;
    any = true;
    i = u;
  }
  if (total_us > 1e18) {
    return std::nullopt;
  }
  return total_us;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view s) {
  auto us = parse_duration_in_us(s);
  if (!us) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*us / 1e3)));
}

std::optional<std::chrono::microseconds> parse_duration_us(std::string_view s) {
  auto us = parse_duration_in_us(s);
  if (!us) {
    return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(*us)));
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 != 0) {
    return std::to_string(ms) + "ms";
  }
  auto secs = ms / 1000;
  if (secs >= 60 && secs % 60 == 0) {
    return std::to_string(secs / 60) + "m";
  }
  if (secs > 60) {
    return std::to_string(secs / 60) + "m" + std::to_string(secs % 60) + "s";
  }
  return std::to_string(secs) + "s";
}

std::optional<std::uint64_t> parse_bytes(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) {
    return std::nullopt;
  }
  std::string_view unit = s.substr(static_cast<std::size_t>(p - s.data()));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "k" || unit == "K" || unit == "KiB") {
    scale = 1ULL << 10;
  } else if (unit == "M" || unit == "MiB") {
    scale = 1ULL << 20;
  } else if (unit == "G" || unit == "GiB") {
    scale = 1ULL << 30;
  } else if (unit == "KB") {
    scale = 1000;
  } else if (unit == "MB") {
    scale = 1000'000;
  } else if (unit == "GB") {
    scale = 1000'000'000;
  } else {
    return std::nullopt;
  }
  if (v > UINT64_MAX / scale) {
    return std::nullopt;
  }
  return v * scale;
}

std::string format_bytes(std::uint64_t bytes) {
  for (const auto& [shift, unit] :
       {std::pair{30, "GiB"}, std::pair{20, "MiB"}, std::pair{10, "KiB"}}) {
    if (bytes >= (std::uint64_t{1} << shift) && bytes % (std::uint64_t{1} << shift) == 0) {
      return std::to_string(bytes >> shift) + unit;
    }
  }
  return std::to_string(bytes) + " bytes";
}

std::string format_utc(std::chrono::system_clock::time_point t, bool millis) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (millis) {
    char frac[8];
    int len = std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
    out.append(frac, static_cast<std::size_t>(len));
  }
  out += 'Z';
  return out;
}

}  // namespace tender
