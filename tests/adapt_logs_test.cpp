// `tender adapt`'s log adapter as a whole: access log lines piped in on stdin come out as exact
// JSON lines on stdout and the process exits 0 at their end; a followed file (appended to,
// rotated by rename), a FIFO written by one writer after another, a regex format from
// --config, a bad pattern (exit 2 naming file and line), and the line counters.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "support.hpp"

namespace tender::testing {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    out.push_back(l);
  }
  return out;
}

void append(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::app | std::ios::binary) << text;
}

// The `message` of every JSON line of the file at `path`.
std::vector<std::string> messages(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& l : lines_of(slurp(path))) {
    out.emplace_back(boost::json::parse(l).at("message").as_string());
  }
  return out;
}

TEST(AdaptLogs, StdinCombinedToStdoutExitsAtItsEnd) {
  const std::string input =
      "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 "
      "\"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n"
      "10.0.0.2 - - [06/Dec/2026:12:00:01 +0100] \"POST /a\\\"b HTTP/1.1\" 503 - \"-\" "
      "\"ua \\\\ \xff\"\n"
      "garbage\n";
  RunResult r =
      run_command({TENDER_BINARY, "adapt", "--logs", "combined", "--admin", "127.0.0.1:0"}, input);
  EXPECT_EQ(r.status.code, 0) << r.err;
  auto got = lines_of(r.out);
  ASSERT_EQ(got.size(), 3U) << r.out;  // nothing else on stdout: the listening line is on stderr
  EXPECT_EQ(
      got[0],
      R"x({"time":"2000-10-10T13:55:36-07:00","level":"info","message":"GET /apache_pb.gif HTTP/1.0","remote_addr":"127.0.0.1","user":"frank","method":"GET","path":"/apache_pb.gif","protocol":"HTTP/1.0","status":200,"bytes":2326,"referer":"http://www.example.com/start.html","user_agent":"Mozilla/4.08 [en] (Win98; I ;Nav)"})x");
  EXPECT_EQ(
      got[1],
      "{\"time\":\"2026-12-06T12:00:01+01:00\",\"level\":\"error\",\"message\":\"POST "
      "/a\\\"b HTTP/1.1\",\"remote_addr\":\"10.0.0.2\",\"method\":\"POST\",\"path\":\"/a\\\"b\","
      "\"protocol\":\"HTTP/1.1\",\"status\":503,\"bytes\":0,\"user_agent\":\"ua \\\\ "
      "\xef\xbf\xbd\"}");
  auto bad = boost::json::parse(got[2]);
  EXPECT_EQ(bad.at("level"), "unknown");
  EXPECT_EQ(bad.at("message"), "garbage");
  EXPECT_EQ(bad.at("parse_error"), "combined: expected ' ' at byte 7");
  EXPECT_NE(r.err.find("listening admin="), std::string::npos) << r.err;
}

TEST(AdaptLogs, FollowedFileAppendedAndRotatedGivesEveryLineOnce) {
  TempDir dir;
  const std::string log = dir.path() + "/app.log";
  const std::string out = dir.path() + "/out.jsonl";
  append(log, "msg=before\n");
  std::string cfg = dir.write("adapt.yaml",
                              "logs:\n"
                              "  - name: app\n"
                              "    input: " +
                                  log +
                                  "\n"
                                  "    format: logfmt\n"
                                  "    read_from: head\n"
                                  "    output: " +
                                  out + "\n");
  Tender t({"adapt", "--config", cfg, "--admin", "127.0.0.1:0"});
  ASSERT_TRUE(eventually([&] { return messages(out).size() == 1; })) << slurp(out);
  append(log, "msg=one\nmsg=two\n");
  ASSERT_TRUE(eventually([&] { return messages(out).size() == 3; })) << slurp(out);
  append(log, "msg=three\n");
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  append(log, "msg=four\nmsg=fi");
  append(log, "ve\n");
  ASSERT_TRUE(eventually([&] { return messages(out).size() == 6; })) << slurp(out);
  // Truncated in place: read again from its start.
  { std::ofstream(log, std::ios::trunc) << "msg=six\n"; }
  ASSERT_TRUE(eventually([&] { return messages(out).size() == 7; })) << slurp(out);
  EXPECT_EQ(messages(out),
            (std::vector<std::string>{"before", "one", "two", "three", "four", "five", "six"}));
  EXPECT_EQ(admin_metric(t, {"tender_adapt_log_lines_total", {{"log", "app"}, {"result", "ok"}}}),
            7);
}

TEST(AdaptLogs, FifoReadFromOneWriterAfterAnother) {
  TempDir dir;
  const std::string fifo = dir.path() + "/app.fifo";
  const std::string out = dir.path() + "/out.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string cfg = dir.write("adapt.yaml",
                              "logs:\n"
                              "  - name: app\n"
                              "    input: " +
                                  fifo +
                                  "\n"
                                  "    format: regex\n"
                                  "    pattern: '^(?<level>[A-Z]+) (?<msg>.*)$'\n"
                                  "    static_fields: {service: web}\n"
                                  "    output: " +
                                  out + "\n");
  Tender t({"adapt", "--config", cfg, "--admin", "127.0.0.1:0"});
  auto write_all = [&](const std::string& text) {
    const int fd = ::open(fifo.c_str(), O_WRONLY);  // waits for the adapter, which is there
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
  };
  write_all("INFO first\nWARN second\nERROR no newline at the end");
  ASSERT_TRUE(eventually([&] { return messages(out).size() == 3; })) << slurp(out);
  write_all("DEBUG from the second writer\nnot matching\n");
  ASSERT_TRUE(eventually([&] { return messages(out).size() == 5; })) << slurp(out);
  auto got = lines_of(slurp(out));
  EXPECT_EQ(got[0], R"({"time":)" +
                        std::string(boost::json::serialize(boost::json::parse(got[0]).at("time"))) +
                        R"(,"level":"info","message":"first","service":"web"})");
  EXPECT_EQ(messages(out), (std::vector<std::string>{"first", "second", "no newline at the end",
                                                     "from the second writer", "not matching"}));
  EXPECT_EQ(boost::json::parse(got[2]).at("level"), "error");
  EXPECT_EQ(boost::json::parse(got[4]).at("parse_error"), "regex: no match");
  EXPECT_EQ(admin_metric(t, {"tender_adapt_log_lines_total", {{"log", "app"}, {"result", "ok"}}}),
            4);
  EXPECT_EQ(
      admin_metric(t, {"tender_adapt_log_lines_total", {{"log", "app"}, {"result", "unparsed"}}}),
      1);
  EXPECT_EQ(admin_metric(t, {"tender_adapt_log_lines_total", {{"log", "app"}, {"result", "cut"}}}),
            0);
  auto status = boost::json::parse(http(t.port("admin"), "GET", "/statusz").body);
  const auto& app = status.at("status").at("logs").at("adapters").at("app");
  EXPECT_EQ(app.at("input_kind"), "fifo");
  EXPECT_EQ(app.at("lines").at("ok"), 4);
  EXPECT_EQ(status.at("status").at("logs").at("finished"), false);
  // Still waiting for writers: it does not end.
  EXPECT_FALSE(t.wait_exit(std::chrono::milliseconds(200)));
}

TEST(AdaptLogs, LongLinesAreCutAndCounted) {
  std::string input = "msg=short\nmsg=" + std::string(5000, 'x') + "\nmsg=after\n";
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "logs:\n"
                              "  - {name: app, format: logfmt, max_line_bytes: 1KiB}\n");
  RunResult r =
      run_command({TENDER_BINARY, "adapt", "--config", cfg, "--admin", "127.0.0.1:0"}, input);
  EXPECT_EQ(r.status.code, 0) << r.err;
  auto got = lines_of(r.out);
  ASSERT_EQ(got.size(), 3U) << r.out;
  auto cut = boost::json::parse(got[1]);
  EXPECT_EQ(cut.at("cut"), true);
  EXPECT_EQ(cut.at("message").as_string().size(), 1024U - 4U);
  EXPECT_EQ(boost::json::parse(got[2]).at("message"), "after");
}

TEST(AdaptLogs, ABadPatternIsExit2WithFileAndLine) {
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "logs:\n"
                              "  - name: app\n"
                              "    format: regex\n"
                              "    pattern: '^(?<level>[A-Z+ (?<msg>.*)$'\n");
  RunResult r = run_tender({"adapt", "--config", cfg, "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(cfg + ":4: logs[0].pattern: pattern: "), std::string::npos) << r.err;
  RunResult fmt = run_tender({"adapt", "--logs", "xml"});
  EXPECT_EQ(fmt.status.code, 2);
  EXPECT_NE(fmt.err.find("not a log format"), std::string::npos) << fmt.err;
  RunResult missing = run_tender({"adapt", "--logs", "json", "--logs-input", dir.path()});
  EXPECT_EQ(missing.status.code, 2);
  EXPECT_NE(missing.err.find("neither a regular file nor a FIFO"), std::string::npos)
      << missing.err;
}

}  // namespace
}  // namespace tender::testing
