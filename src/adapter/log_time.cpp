#include "adapter/log_time.hpp"

#include <array>
#include <cmath>
#include <cstdio>

#include "core/http.hpp"

namespace tender::adapter {
namespace {

constexpr std::int64_t kSecondsPerDay = 86'400;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + static_cast<std::int64_t>(doe) - 719'468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719'468;
  const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  const auto doe = static_cast<unsigned>(z - era * 146'097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  constexpr std::array<unsigned, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// A cursor over the text being parsed.
struct Scan {
  std::string_view s;
  std::size_t i = 0;

  [[nodiscard]] bool done() const { return i == s.size(); }
  [[nodiscard]] char peek() const { return i < s.size() ? s[i] : '\0'; }
  bool eat(char c) {
    if (peek() != c) {
      return false;
    }
    ++i;
    return true;
  }
  // Exactly `n` decimal digits.
  bool digits(int n, unsigned& out) {
    out = 0;
    for (int k = 0; k < n; ++k) {
      const char c = peek();
      if (c < '0' || c > '9') {
        return false;
      }
      out = out * 10 + static_cast<unsigned>(c - '0');
      ++i;
    }
    return true;
  }
  // A fraction after '.' or ',': up to 9 digits kept, more read and dropped.
  bool fraction(std::uint32_t& nanos, int& kept) {
    nanos = 0;
    kept = 0;
    const std::size_t start = i;
    while (peek() >= '0' && peek() <= '9') {
      if (kept < 9) {
        nanos = nanos * 10 + static_cast<std::uint32_t>(peek() - '0');
        ++kept;
      }
      ++i;
    }
    for (int k = kept; k < 9; ++k) {
      nanos *= 10;
    }
    return i > start;
  }
};

// Builds the time from local fields and an offset; nullopt when a field is out of range.
std::optional<LogTime> make_time(std::int64_t year, unsigned month, unsigned day, unsigned hour,
                                 unsigned minute, unsigned second, std::uint32_t nanos, int digits,
                                 int offset_minutes, bool utc) {
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60 || offset_minutes <= -24 * 60 || offset_minutes >= 24 * 60) {
    return std::nullopt;
  }
  const std::int64_t local =
      days_from_civil(year, month, day) * kSecondsPerDay + hour * 3600 + minute * 60 + second;
  return LogTime{.unix_seconds = local - std::int64_t{offset_minutes} * 60,
                 .nanos = nanos,
                 .fraction_digits = digits,
                 .offset_minutes = offset_minutes,
                 .utc = utc};
}

// "+hh:mm", "+hhmm" or "+hh" (and '-'), read into minutes east of UTC.
bool offset(Scan& sc, int& minutes) {
  const char sign = sc.peek();
  if (sign != '+' && sign != '-') {
    return false;
  }
  ++sc.i;
  unsigned h = 0;
  unsigned m = 0;
  if (!sc.digits(2, h)) {
    return false;
  }
  if (sc.eat(':')) {
    if (!sc.digits(2, m)) {
      return false;
    }
  } else if (!sc.done()) {
    if (!sc.digits(2, m)) {
      return false;
    }
  }
  if (h > 23 || m > 59) {
    return false;
  }
  minutes = static_cast<int>(h * 60 + m) * (sign == '-' ? -1 : 1);
  return true;
}

std::optional<LogTime> parse_rfc3339(std::string_view text) {
  Scan sc{text};
  unsigned y = 0;
  unsigned mo = 0;
  unsigned d = 0;
  unsigned h = 0;
  unsigned mi = 0;
  unsigned se = 0;
  if (!sc.digits(4, y) || !sc.eat('-') || !sc.digits(2, mo) || !sc.eat('-') || !sc.digits(2, d)) {
    return std::nullopt;
  }
  if (!sc.eat('T') && !sc.eat('t') && !sc.eat(' ')) {
    return std::nullopt;
  }
  if (!sc.digits(2, h) || !sc.eat(':') || !sc.digits(2, mi) || !sc.eat(':') || !sc.digits(2, se)) {
    return std::nullopt;
  }
  std::uint32_t nanos = 0;
  int digits = 0;
  if ((sc.eat('.') || sc.eat(',')) && !sc.fraction(nanos, digits)) {
    return std::nullopt;
  }
  int off = 0;
  bool utc = true;
  if (sc.eat('Z') || sc.eat('z')) {
    off = 0;
  } else if (!sc.done()) {
    if (!offset(sc, off)) {
      return std::nullopt;
    }
    utc = false;
  }
  if (!sc.done()) {
    return std::nullopt;
  }
  return make_time(y, mo, d, h, mi, se, nanos, digits, off, utc);
}

std::optional<LogTime> parse_common(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  Scan sc{text};
  unsigned d = 0;
  unsigned y = 0;
  unsigned h = 0;
  unsigned mi = 0;
  unsigned se = 0;
  if (!sc.digits(2, d) || !sc.eat('/') || sc.i + 3 > text.size()) {
    return std::nullopt;
  }
  unsigned mo = 0;
  for (unsigned k = 0; k < kMonths.size(); ++k) {
    if (text.substr(sc.i, 3) == kMonths[k]) {
      mo = k + 1;
    }
  }
  sc.i += 3;
  if (mo == 0 || !sc.eat('/') || !sc.digits(4, y) || !sc.eat(':') || !sc.digits(2, h) ||
      !sc.eat(':') || !sc.digits(2, mi) || !sc.eat(':') || !sc.digits(2, se)) {
    return std::nullopt;
  }
  std::uint32_t nanos = 0;
  int digits = 0;
  if (sc.eat('.') && !sc.fraction(nanos, digits)) {
    return std::nullopt;
  }
  int off = 0;
  if (!sc.eat(' ') || !offset(sc, off) || !sc.done()) {
    return std::nullopt;
  }
  return make_time(y, mo, d, h, mi, se, nanos, digits, off, false);
}

// A decimal number "1733486400", "1733486400.25" of seconds (or of the unit `format` or, for
// kAuto, the number's magnitude says), in integer arithmetic: the fraction digits the text
// gives are the ones printed.
std::optional<LogTime> parse_unix_text(std::string_view text, TimeFormat format) {
  const std::size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  auto all_digits = [](std::string_view s) {
    for (char c : s) {
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  };
  if (whole.empty() || whole.size() > 19 || !all_digits(whole) || !all_digits(frac) ||
      (dot != std::string_view::npos && frac.empty())) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : whole) {
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  std::size_t scale = 0;  // digits of `whole` below the second
  if (format == TimeFormat::kUnixMs) {
    scale = 3;
  } else if (format == TimeFormat::kAuto) {
    scale = value >= 100'000'000'000'000'000ULL ? 9
            : value >= 100'000'000'000'000ULL   ? 6
            : value >= 100'000'000'000ULL       ? 3
                                                : 0;
  }
  std::string sub(scale > whole.size() ? scale - whole.size() : 0, '0');
  sub += whole.substr(whole.size() > scale ? whole.size() - scale : 0);
  sub += frac;
  std::string_view secs = whole.size() > scale ? whole.substr(0, whole.size() - scale) : "0";
  std::int64_t seconds = 0;
  for (char c : secs) {
    seconds = seconds * 10 + (c - '0');
  }
  constexpr std::int64_t kMaxSeconds = 253'402'300'799;  // 9999-12-31T23:59:59Z
  if (seconds > kMaxSeconds) {
    return std::nullopt;
  }
  const int digits = static_cast<int>(sub.size() > 9 ? 9 : sub.size());
  std::uint32_t nanos = 0;
  for (int k = 0; k < 9; ++k) {
    nanos = nanos * 10 +
            (k < digits ? static_cast<std::uint32_t>(sub[static_cast<std::size_t>(k)] - '0') : 0);
  }
  return LogTime{.unix_seconds = seconds,
                 .nanos = nanos,
                 .fraction_digits = digits,
                 .offset_minutes = 0,
                 .utc = true};
}

}  // namespace

std::optional<TimeFormat> time_format_from(std::string_view name) {
  for (TimeFormat f : {TimeFormat::kAuto, TimeFormat::kRfc3339, TimeFormat::kCommon,
                       TimeFormat::kUnix, TimeFormat::kUnixMs}) {
    if (to_string(f) == name) {
      return f;
    }
  }
  return std::nullopt;
}

std::string_view to_string(TimeFormat format) {
  switch (format) {
    case TimeFormat::kAuto:
      return "auto";
    case TimeFormat::kRfc3339:
      return "rfc3339";
    case TimeFormat::kCommon:
      return "common";
    case TimeFormat::kUnix:
      return "unix";
    case TimeFormat::kUnixMs:
      return "unix_ms";
  }
  return "auto";
}

std::optional<LogTime> parse_log_time(std::string_view text, TimeFormat format) {
  text = trim_ows(text);
  switch (format) {
    case TimeFormat::kRfc3339:
      return parse_rfc3339(text);
    case TimeFormat::kCommon:
      return parse_common(text);
    case TimeFormat::kUnix:
    case TimeFormat::kUnixMs:
      return parse_unix_text(text, format);
    case TimeFormat::kAuto:
      if (auto t = parse_rfc3339(text)) {
        return t;
      }
      if (auto t = parse_common(text)) {
        return t;
      }
      return parse_unix_text(text, format);
  }
  return std::nullopt;
}

std::optional<LogTime> log_time_from_number(double value, TimeFormat format) {
  if (!std::isfinite(value) || value < 0 || value >= 1e19 ||
      (format != TimeFormat::kAuto && format != TimeFormat::kUnix &&
       format != TimeFormat::kUnixMs)) {
    return std::nullopt;
  }
  // Through the text path, so a number and its text give the same time: a double holds about
  // 16 significant digits, so microseconds of a seconds value are kept and the rest dropped.
  char buf[64];
  const bool integral = value == std::floor(value);
  const int n = std::snprintf(buf, sizeof buf, integral ? "%.0f" : "%.6f", value);
  std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  if (!integral) {
    while (text.back() == '0') {
      text.remove_suffix(1);
    }
  }
  return parse_unix_text(text, format);
}

LogTime log_time_from(std::chrono::system_clock::time_point t) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::int64_t secs = us / 1'000'000;
  std::int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  return LogTime{.unix_seconds = secs,
                 .nanos = static_cast<std::uint32_t>(frac * 1000),
                 .fraction_digits = 6,
                 .offset_minutes = 0,
                 .utc = true};
}

void append_rfc3339(std::string& out, const LogTime& t) {
  const std::int64_t local = t.unix_seconds + std::int64_t{t.offset_minutes} * 60;
  std::int64_t days = local / kSecondsPerDay;
  std::int64_t tod = local % kSecondsPerDay;
  if (tod < 0) {
    tod += kSecondsPerDay;
    --days;
  }
  const Civil c = civil_from_days(days);
  char buf[48];
  auto put = [&buf](std::size_t at, std::uint64_t n, int width) {
    for (int k = width - 1; k >= 0; --k) {
      buf[at + static_cast<std::size_t>(k)] = static_cast<char>('0' + n % 10);
      n /= 10;
    }
  };
  std::size_t n = 0;
  buf[n++] = '"';
  put(n, static_cast<std::uint64_t>(c.year < 0 ? 0 : c.year), 4);
  n += 4;
  buf[n++] = '-';
  put(n, c.month, 2);
  n += 2;
  buf[n++] = '-';
  put(n, c.day, 2);
  n += 2;
  buf[n++] = 'T';
  put(n, static_cast<std::uint64_t>(tod / 3600), 2);
  n += 2;
  buf[n++] = ':';
  put(n, static_cast<std::uint64_t>(tod / 60 % 60), 2);
  n += 2;
  buf[n++] = ':';
  put(n, static_cast<std::uint64_t>(tod % 60), 2);
  n += 2;
  if (t.fraction_digits > 0) {
    buf[n++] = '.';
    std::uint64_t f = t.nanos;
    for (int k = t.fraction_digits; k < 9; ++k) {
      f /= 10;
    }
    put(n, f, t.fraction_digits);
    n += static_cast<std::size_t>(t.fraction_digits);
  }
  if (t.utc) {
    buf[n++] = 'Z';
  } else {
    const int off = t.offset_minutes < 0 ? -t.offset_minutes : t.offset_minutes;
    buf[n++] = t.offset_minutes < 0 ? '-' : '+';
    put(n, static_cast<std::uint64_t>(off / 60), 2);
    n += 2;
    buf[n++] = ':';
    put(n, static_cast<std::uint64_t>(off % 60), 2);
    n += 2;
  }
  buf[n++] = '"';
  out.append(buf, n);
}

}  // namespace tender::adapter
