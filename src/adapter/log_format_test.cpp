#include "adapter/log_format.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "adapter/log_lines.hpp"

namespace tender::adapter {
namespace {

namespace json = boost::json;

// 2024-01-01T00:00:00Z: the time lines without one were "read".
const LogTime kReadAt{.unix_seconds = 1'704'067'200, .nanos = 0, .fraction_digits = 6};

LogSettings settings_of(const std::string& yaml) {
  return parse_log_settings(parse_config(yaml, "adapt.yaml"));
}

struct Out {
  std::string text;
  LineResult result;
};

Out format(const LogSettings& s, std::string_view line, bool cut = false) {
  auto f = LineFormatter::create(s);
  EXPECT_TRUE(f) << f.error().message();
  Out o;
  o.result = f->format(line, cut, kReadAt, o.text);
  return o;
}

Out format(const std::string& yaml, std::string_view line, bool cut = false) {
  return format(settings_of(yaml), line, cut);
}

TEST(AccessLog, CombinedLineBecomesFields) {
  Out o = format(
      "{name: a, format: combined}",
      R"x(127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)")x");
  EXPECT_EQ(o.result, LineResult::kOk);
  EXPECT_EQ(
      o.text,
      R"x({"time":"2000-10-10T13:55:36-07:00","level":"info","message":"GET /apache_pb.gif HTTP/1.0","remote_addr":"127.0.0.1","user":"frank","method":"GET","path":"/apache_pb.gif","protocol":"HTTP/1.0","status":200,"bytes":2326,"referer":"http://www.example.com/start.html","user_agent":"Mozilla/4.08 [en] (Win98; I ;Nav)"})x"
      "\n");
}

TEST(AccessLog, StatusGivesTheLevelAndDashesAreNone) {
  auto level = [](int status) {
    auto r = parse_access_line("1.2.3.4 - - [06/Dec/2026:12:00:00 +0000] \"GET / HTTP/1.1\" " +
                                   std::to_string(status) + " -",
                               false);
    EXPECT_TRUE(r);
    Out o = format("{name: a, format: common}",
                   "1.2.3.4 - - [06/Dec/2026:12:00:00 +0000] \"GET / HTTP/1.1\" " +
                       std::to_string(status) + " -");
    return json::parse(o.text).at("level").as_string();
  };
  EXPECT_EQ(level(200), "info");
  EXPECT_EQ(level(304), "info");
  EXPECT_EQ(level(404), "warn");
  EXPECT_EQ(level(503), "error");
  auto r =
      parse_access_line("1.2.3.4 - - [06/Dec/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 -", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(json::value(r->fields), json::parse(R"({"remote_addr":"1.2.3.4","method":"GET",
      "path":"/","protocol":"HTTP/1.1","status":200,"bytes":0})"));
}

TEST(AccessLog, EscapedQuotesJunkRequestsAndExtraFields) {
  auto r = parse_access_line(
      R"(::1 - - [06/Dec/2026:12:00:00 +0000] "GET /a\"b HTTP/1.1" 400 12 "-" "say \"hi\" \\o/" "10.0.0.9")",
      true);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->request, R"(GET /a"b HTTP/1.1)");
  EXPECT_EQ(json::value(r->fields), json::parse(R"({"remote_addr":"::1","method":"GET",
      "path":"/a\"b","protocol":"HTTP/1.1","status":400,"bytes":12,
      "user_agent":"say \"hi\" \\o/","extra":"\"10.0.0.9\""})"));
  // A TLS handshake sent to a plain port: the request is kept, not split.
  auto junk = parse_access_line(
      "10.0.0.1 - - [06/Dec/2026:12:00:00 +0000] \"\\x16\\x03\\x01\" 400 157", false);
  ASSERT_TRUE(junk);
  EXPECT_EQ(junk->request, "\\x16\\x03\\x01");
  EXPECT_FALSE(junk->fields.contains("method"));
}

TEST(AccessLog, MalformedLinesSayWhere) {
  auto error = [](std::string_view line, bool combined = false) {
    auto r = parse_access_line(line, combined);
    return r ? std::string("parsed") : r.error().message();
  };
  EXPECT_EQ(error(""), "expected the remote address at byte 0");
  EXPECT_EQ(error("1.2.3.4 - - 06/Dec/2026"), "expected '[' at byte 12");
  EXPECT_EQ(error("1.2.3.4 - - [06/Dec/2026:12:00:00 +0000"), "expected ']' at byte 12");
  EXPECT_EQ(error("1.2.3.4 - - [yesterday] \"GET /\" 200 1"), "bad time at byte 13");
  EXPECT_EQ(error("1.2.3.4 - - [06/Dec/2026:12:00:00 +0000] \"GET /"),
            "unterminated quoted string at byte 41");
  EXPECT_EQ(error("1.2.3.4 - - [06/Dec/2026:12:00:00 +0000] \"GET /\" 2000 1"),
            "expected a 3-digit status at byte 49");
  EXPECT_EQ(error("1.2.3.4 - - [06/Dec/2026:12:00:00 +0000] \"GET /\" 200 x"),
            "expected the size in bytes ('-' for none) at byte 53");
  EXPECT_EQ(error("1.2.3.4 - - [06/Dec/2026:12:00:00 +0000] \"GET /\" 200 1", true),
            "expected ' ' at byte 54");
}

TEST(LevelNames, NormalisedOrKeptLowercased) {
  EXPECT_EQ(normalize_level("WARNING"), "warn");
  EXPECT_EQ(normalize_level("Err"), "error");
  EXPECT_EQ(normalize_level("trace"), "debug");
  EXPECT_EQ(normalize_level("CRITICAL"), "fatal");
  EXPECT_EQ(normalize_level("notice"), "info");
  EXPECT_EQ(normalize_level("30"), "info");  // pino and bunyan's numbers
  EXPECT_EQ(normalize_level("50"), "error");
  EXPECT_EQ(normalize_level(" I "), "info");
  EXPECT_EQ(normalize_level("AUDIT"), "audit");
}

TEST(LineFormatter, LogfmtTakesTimeLevelAndMessage) {
  Out o = format("{name: a, format: logfmt}",
                 R"(ts=2026-12-06T12:00:00.5+01:00 level=WARN msg="disk \"almost\" full" free=3%)");
  EXPECT_EQ(o.result, LineResult::kOk);
  EXPECT_EQ(
      o.text,
      R"({"time":"2026-12-06T12:00:00.5+01:00","level":"warn","message":"disk \"almost\" full","free":"3%"})"
      "\n");
}

TEST(LineFormatter, JsonKeepsTypesAndNumbersAsTimes) {
  Out o = format(
      "{name: a, format: json, static_fields: {env: prod}}",
      R"({"time":1733486400123,"severity":"error","message":"boom","n":3,"ok":true,"nested":{"a":[1]}})");
  EXPECT_EQ(
      o.text,
      R"({"time":"2024-12-06T12:00:00.123Z","level":"error","message":"boom","n":3,"ok":true,"nested":{"a":[1]},"env":"prod"})"
      "\n");
}

TEST(LineFormatter, NoTimeLevelOrMessageFields) {
  // The read time, level info, the whole line as the message.
  Out o = format("{name: a, format: logfmt}", "a=1 b=2");
  EXPECT_EQ(
      o.text,
      R"({"time":"2024-01-01T00:00:00.000000Z","level":"info","message":"a=1 b=2","a":"1","b":"2"})"
      "\n");
  // A time that is not one: the read time, and the value kept.
  Out bad = format("{name: a, format: logfmt}", "time=soon msg=x");
  EXPECT_EQ(
      bad.text,
      R"({"time":"2024-01-01T00:00:00.000000Z","level":"info","message":"x","fields":{"time":"soon"}})"
      "\n");
}

TEST(LineFormatter, TakenNamesGoUnderFields) {
  Out o = format("{name: a, format: json, time_field: at, static_fields: {host: h1}}",
                 R"({"at":"2026-12-06T12:00:00Z","time":"x","host":"h2","cut":1,"msg":"m"})");
  EXPECT_EQ(
      o.text,
      R"({"time":"2026-12-06T12:00:00Z","level":"info","message":"m","fields":{"time":"x","host":"h2","cut":1},"host":"h1"})"
      "\n");
}

TEST(LineFormatter, RegexGroupsAreFields) {
  Out o = format(
      "{name: a, format: regex, pattern: '^(?<time>\\S+) \\[(?<lvl>\\w+)\\] (?<msg>.*)$', "
      "time_format: rfc3339}",
      "2026-12-06T12:00:00Z [E] it \\ broke \"badly\"");
  EXPECT_EQ(o.text,
            R"({"time":"2026-12-06T12:00:00Z","level":"error","message":"it \\ broke \"badly\""})"
            "\n");
}

TEST(LineFormatter, UnparsedLinesAreWrittenWithTheirError) {
  Out o = format("{name: a, format: json}", "{\"a\":");
  EXPECT_EQ(o.result, LineResult::kUnparsed);
  json::value v = json::parse(o.text);
  EXPECT_EQ(v.at("level"), "unknown");
  EXPECT_EQ(v.at("message"), "{\"a\":");
  EXPECT_TRUE(v.at("parse_error").as_string().starts_with("json: ")) << o.text;
  Out logfmt = format("{name: a, format: logfmt}", "a=\"x");
  EXPECT_EQ(json::parse(logfmt.text).at("parse_error"),
            "logfmt: unterminated quoted value at byte 2");
  Out regex = format("{name: a, format: regex, pattern: '^(?<d>\\d+)$'}", "zzz");
  EXPECT_EQ(json::parse(regex.text).at("parse_error"), "regex: no match");
  Out common = format("{name: a, format: common}", "nope");
  EXPECT_EQ(json::parse(common.text).at("parse_error"), "common: expected ' ' at byte 4");
}

TEST(LineFormatter, InvalidUtf8BecomesReplacementCharacters) {
  Out o = format("{name: a, format: logfmt}", "msg=caf\xe9 k\xff=v\xc3");
  EXPECT_EQ(o.result, LineResult::kOk);
  EXPECT_EQ(o.text,
            "{\"time\":\"2024-01-01T00:00:00.000000Z\",\"level\":\"info\",\"message\":"
            "\"caf\xef\xbf\xbd\","
            "\"k\xef\xbf\xbd\":\"v\xef\xbf\xbd\"}\n");
  // JSON lines with invalid UTF-8 do not parse; the raw line is written valid.
  Out j = format("{name: a, format: json}", "{\"a\":\"\xff\"}");
  EXPECT_EQ(j.result, LineResult::kUnparsed);
  EXPECT_TRUE(json::parse(j.text).is_object());
}

TEST(LineFormatter, CutLinesAreFlaggedAndCounted) {
  Out o = format("{name: a, format: logfmt, max_line_bytes: 256B}", "a=1 b=\"unterminated", true);
  EXPECT_EQ(o.result, LineResult::kCut);
  json::value v = json::parse(o.text);
  EXPECT_EQ(v.at("cut"), true);
  EXPECT_TRUE(v.as_object().contains("parse_error"));
}

TEST(LogSettings, BadSettingsNameTheirLine) {
  auto error = [](const std::string& yaml) {
    try {
      (void)settings_of(yaml);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("parsed");
  };
  EXPECT_NE(
      error("name: a\nformat: regex\npattern: '(?<x>a'\n").find("adapt.yaml:3: pattern: pattern: "),
      std::string::npos)
      << error("name: a\nformat: regex\npattern: '(?<x>a'\n");
  EXPECT_NE(error("name: a\nformat: regex\n").find("needs a pattern"), std::string::npos);
  EXPECT_NE(error("name: a\nformat: regex\npattern: '(a)'\n").find("no named group"),
            std::string::npos);
  EXPECT_NE(error("name: a\nformat: xml\n").find("adapt.yaml:2: format: not a log format"),
            std::string::npos);
  EXPECT_NE(error("format: json\n").find("needs a name"), std::string::npos);
  EXPECT_NE(error("name: a\nformat: json\npattern: x\n").find("goes with format: regex"),
            std::string::npos);
  EXPECT_NE(error("name: a\nformat: json\nmax_line_bytes: 10\n").find("between 256B and 64MiB"),
            std::string::npos);
  EXPECT_NE(error("name: a\nformat: json\nread_from: middle\n").find("head or tail"),
            std::string::npos);
  EXPECT_NE(error("name: a\nformat: combined\ntime_field: t\n").find("goes with formats"),
            std::string::npos);
  EXPECT_NE(error("name: a\nformat: json\nstatic_fields: {level: x}\n").find("output key"),
            std::string::npos);
  EXPECT_NE(error("name: a\nformat: json\ntime_format: iso\n").find("auto, rfc3339"),
            std::string::npos);
}

// --- golden files: tests/golden/adapt_logs/<case>/{settings.yaml,input.log,expected.jsonl} ---

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(LogGolden, EveryCase) {
  const std::filesystem::path dir = TENDER_ADAPT_LOGS_GOLDEN_DIR;
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_directory()) {
      continue;
    }
    ++cases;
    SCOPED_TRACE(entry.path().filename().string());
    LogSettings s = parse_log_settings(
        parse_config(read_file(entry.path() / "settings.yaml"), "settings.yaml"));
    auto f = LineFormatter::create(s);
    ASSERT_TRUE(f);
    LineSplitter lines(s.max_line_bytes);
    std::string out;
    auto on_line = [&](std::string_view line, bool cut) {
      (void)f->format(line, cut, kReadAt, out);
    };
    lines.feed(read_file(entry.path() / "input.log"), on_line);
    lines.finish(on_line);
    const std::string expected = read_file(entry.path() / "expected.jsonl");
    EXPECT_EQ(out, expected);
    if (out != expected) {
      const std::string actual =
          ::testing::TempDir() + entry.path().filename().string() + ".actual.jsonl";
      std::ofstream(actual, std::ios::binary) << out;
      ADD_FAILURE() << "what came out is in " << actual;
    }
    // Every line is valid JSON.
    std::istringstream each(out);
    for (std::string l; std::getline(each, l);) {
      EXPECT_NO_THROW((void)json::parse(l)) << l;
    }
  }
  EXPECT_GE(cases, 5);
}

}  // namespace
}  // namespace tender::adapter
