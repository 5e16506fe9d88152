#include "adapter/log_time.hpp"

#include <gtest/gtest.h>

namespace tender::adapter {
namespace {

// The RFC 3339 text `text` normalises to ("" when it does not parse).
std::string normal(std::string_view text, TimeFormat format = TimeFormat::kAuto) {
  auto t = parse_log_time(text, format);
  if (!t) {
    return "";
  }
  std::string out;
  append_rfc3339(out, *t);
  return out.substr(1, out.size() - 2);  // unquoted
}

TEST(LogTime, AccessLogTimeKeepsItsOffset) {
  EXPECT_EQ(normal("10/Oct/2000:13:55:36 -0700"), "2000-10-10T13:55:36-07:00");
  EXPECT_EQ(normal("[10/Oct/2000:13:55:36 -0700]"), "2000-10-10T13:55:36-07:00");
  EXPECT_EQ(normal("01/Jan/2026:00:00:00 +0530", TimeFormat::kCommon), "2026-01-01T00:00:00+05:30");
  EXPECT_EQ(normal("06/Dec/2026:12:00:00 +0000"), "2026-12-06T12:00:00+00:00");
  // The instant is right too: 13:55:36 at -07:00 is 20:55:36 UTC.
  auto t = parse_log_time("10/Oct/2000:13:55:36 -0700", TimeFormat::kCommon);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->unix_seconds, 971'211'336);
}

TEST(LogTime, Rfc3339KeepsOffsetAndFractionDigits) {
  EXPECT_EQ(normal("2026-12-06T12:00:00Z"), "2026-12-06T12:00:00Z");
  EXPECT_EQ(normal("2026-12-06t12:00:00.5z"), "2026-12-06T12:00:00.5Z");
  EXPECT_EQ(normal("2026-12-06 12:00:00.123456+02:00"), "2026-12-06T12:00:00.123456+02:00");
  EXPECT_EQ(normal("2026-12-06T12:00:00.1234567891234-0130"),
            "2026-12-06T12:00:00.123456789-01:30");
  EXPECT_EQ(normal("2026-12-06T12:00:00"), "2026-12-06T12:00:00Z");   // no offset: UTC
  EXPECT_EQ(normal("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00Z");  // a leap second
}

TEST(LogTime, UnixSecondsAndMillisecondsByMagnitude) {
  EXPECT_EQ(normal("1733486400"), "2024-12-06T12:00:00Z");
  EXPECT_EQ(normal("1733486400.25"), "2024-12-06T12:00:00.25Z");
  EXPECT_EQ(normal("1733486400123"), "2024-12-06T12:00:00.123Z");
  EXPECT_EQ(normal("1733486400123456"), "2024-12-06T12:00:00.123456Z");
  EXPECT_EQ(normal("1733486400123456789"), "2024-12-06T12:00:00.123456789Z");
  EXPECT_EQ(normal("1733486400123", TimeFormat::kUnixMs), "2024-12-06T12:00:00.123Z");
  EXPECT_EQ(normal("1733486400", TimeFormat::kUnixMs), "1970-01-21T01:31:26.400Z");
  EXPECT_EQ(normal("0", TimeFormat::kUnix), "1970-01-01T00:00:00Z");
}

TEST(LogTime, NumbersGiveTheSameTimesAsTheirText) {
  auto t = log_time_from_number(1733486400.25, TimeFormat::kAuto);
  ASSERT_TRUE(t);
  std::string out;
  append_rfc3339(out, *t);
  EXPECT_EQ(out, "\"2024-12-06T12:00:00.25Z\"");
  EXPECT_FALSE(log_time_from_number(-1, TimeFormat::kAuto));
  EXPECT_FALSE(log_time_from_number(1.0 / 0.0, TimeFormat::kUnix));
  EXPECT_FALSE(log_time_from_number(1, TimeFormat::kRfc3339));
}

TEST(LogTime, WhatIsNotATimeIsRefused) {
  for (std::string_view bad :
       {"", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-12-06T24:00:00Z",
        "2026-12-06T12:60:00Z", "2026-12-06T12:00:00+25:00", "2026-12-06T12:00:00Zjunk",
        "2026-12-06", "10/Foo/2000:13:55:36 -0700", "10/Oct/2000:13:55:36", "1.2.3", "12a", "-5",
        "99999999999999999999", "2026-12-06T12:00:00.Z", "\xff\xfe"}) {
    EXPECT_EQ(normal(bad), "") << bad;
  }
  EXPECT_EQ(normal("1733486400", TimeFormat::kRfc3339), "");
  EXPECT_EQ(normal("2026-12-06T12:00:00Z", TimeFormat::kUnix), "");
}

TEST(LogTime, ReadTimesAreUtcWithMicroseconds) {
  const auto t =
      std::chrono::system_clock::time_point(std::chrono::microseconds(1'733'486'400'000'001));
  std::string out;
  append_rfc3339(out, log_time_from(t));
  EXPECT_EQ(out, "\"2024-12-06T12:00:00.000001Z\"");
}

TEST(LogTime, FormatNames) {
  for (TimeFormat f : {TimeFormat::kAuto, TimeFormat::kRfc3339, TimeFormat::kCommon,
                       TimeFormat::kUnix, TimeFormat::kUnixMs}) {
    EXPECT_EQ(time_format_from(to_string(f)), f);
  }
  EXPECT_FALSE(time_format_from("iso"));
}

}  // namespace
}  // namespace tender::adapter
