// The sinks against real files, pipes and an HTTP server in this process, on 127.0.0.1.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/http_server.hpp"
#include "sidecar/sink.hpp"
#include "sidecar/sink_internal.hpp"

namespace tender::sidecar {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::shared_ptr<const Source> source() {
  return std::make_shared<const Source>(
      Source{"0123456789abcdef", "/var/log/app/a.log", "default", {{"app", "web"}}});
}

// Records "line-<first>" ... "line-<first+n-1>", each `width` bytes of text.
std::vector<Record> batch(int first, int n, std::size_t width = 9) {
  std::vector<Record> out;
  auto src = source();
  for (int i = first; i < first + n; ++i) {
    Record r;
    r.source = src;
    r.text = "line-" + std::to_string(i);
    r.text.resize(std::max(width, r.text.size()), '.');
    r.offset = static_cast<std::uint64_t>(i) * (width + 1);
    r.end = r.offset + width + 1;
    r.time_ns = 1'700'000'000'000'000'000;
    out.push_back(std::move(r));
  }
  return out;
}

Result<> write(asio::io_context& ioc, Sink& sink, const std::vector<Record>& records) {
  std::optional<Result<>> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out = co_await sink.write(records); }, asio::detached);
  ioc.restart();
  ioc.run();
  return std::move(*out);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tender-sink-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// --- file ----------------------------------------------------------------------------------

TEST(FileSink, AppendsRawLines) {
  TempDir dir;
  auto file = dir.path() / "out.log";
  std::ofstream(file) << "already here\n";
  asio::io_context ioc;
  auto sink = make_sink(parse_sink_url("file:" + file.string()), ioc.get_executor());
  ASSERT_TRUE(write(ioc, *sink, batch(0, 2)));
  ASSERT_TRUE(write(ioc, *sink, batch(2, 1)));
  EXPECT_EQ(slurp(file), "already here\nline-0...\nline-1...\nline-2...\n");
  auto status = sink->status();
  EXPECT_EQ(status.at("records").as_uint64(), 3u);
  EXPECT_EQ(status.at("bytes").as_uint64(), 30u);
  EXPECT_EQ(status.at("file_bytes").as_uint64(), 43u);
}

TEST(FileSink, AFileLeftEndingMidLineByACrashIsEndedBeforeNewRecords) {
  TempDir dir;
  auto file = dir.path() / "out.log";
  std::ofstream(file) << "whole\nhalf a li";
  asio::io_context ioc;
  auto sink = make_sink(parse_sink_url("file:" + file.string()), ioc.get_executor());
  ASSERT_TRUE(write(ioc, *sink, batch(0, 1)));
  EXPECT_EQ(slurp(file), "whole\nhalf a li\nline-0...\n");
}

TEST(FileSink, JsonLinesWhenAsked) {
  TempDir dir;
  auto cfg = parse_sink_url("file:" + (dir.path() / "out.json").string());
  cfg.format = RecordFormat::kJson;
  asio::io_context ioc;
  auto sink = make_sink(cfg, ioc.get_executor());
  ASSERT_TRUE(write(ioc, *sink, batch(0, 2)));
  std::istringstream lines(slurp(dir.path() / "out.json"));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto v = boost::json::parse(line);
    EXPECT_EQ(v.at("offset").as_int64(), n * 10);
    EXPECT_EQ(v.at("key").as_string(), "0123456789abcdef");
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST(FileSink, CannotOpenIsAConfigErrorNamingTheFile) {
  asio::io_context ioc;
  try {
    (void)make_sink(parse_sink_url("file:/nonexistent-dir/out.log"), ioc.get_executor());
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open /nonexistent-dir/out.log for appending"),
              std::string::npos)
        << e.what();
  }
}

TEST(FileSink, RotatesBySizeKeepingWholeLinesAndKeepFiles) {
  TempDir dir;
  auto file = dir.path() / "out.log";
  auto cfg = parse_sink_url("file:" + file.string());
  cfg.max_file_bytes = 35;  // three 10-byte lines fit, a fourth would pass it
  cfg.keep_files = 2;
  asio::io_context ioc;
  auto sink = make_sink(cfg, ioc.get_executor());
  ASSERT_TRUE(write(ioc, *sink, batch(0, 5)));  // 0 1 2 | 3 4
  EXPECT_EQ(slurp(dir.path() / "out.log.1"), "line-0...\nline-1...\nline-2...\n");
  EXPECT_EQ(slurp(file), "line-3...\nline-4...\n");
  ASSERT_TRUE(write(ioc, *sink, batch(5, 5)));  // 3 4 5 | 6 7 8 | 9
  EXPECT_EQ(slurp(file), "line-9...\n");
  EXPECT_EQ(slurp(dir.path() / "out.log.1"), "line-6...\nline-7...\nline-8...\n");
  EXPECT_EQ(slurp(dir.path() / "out.log.2"), "line-3...\nline-4...\nline-5...\n");
  EXPECT_FALSE(fs::exists(dir.path() / "out.log.3"));  // 0 1 2 went beyond keep_files
  EXPECT_EQ(sink->status().at("rotations").as_uint64(), 3u);
  EXPECT_EQ(sink->status().at("file_bytes").as_uint64(), 10u);
}

TEST(FileSink, RotatesAFileThatWasAlreadyFullAndKeepsALongRecordWhole) {
  TempDir dir;
  auto file = dir.path() / "out.log";
  std::ofstream(file) << std::string(30, 'x') << "\n";
  auto cfg = parse_sink_url("file:" + file.string());
  cfg.max_file_bytes = 20;
  cfg.keep_files = 1;
  cfg.fsync = true;
  asio::io_context ioc;
  auto sink = make_sink(cfg, ioc.get_executor());
  ASSERT_TRUE(write(ioc, *sink, batch(0, 1, 49)));  // 50 bytes: alone in a file of its own
  EXPECT_EQ(slurp(dir.path() / "out.log.1"), std::string(30, 'x') + "\n");
  EXPECT_EQ(slurp(file).size(), 50u);
  ASSERT_TRUE(write(ioc, *sink, batch(1, 1)));
  EXPECT_EQ(slurp(file), "line-1...\n");
  EXPECT_EQ(slurp(dir.path() / "out.log.1").size(), 50u);
  EXPECT_FALSE(fs::exists(dir.path() / "out.log.2"));
}

TEST(FileSink, KeepZeroRemovesTheFullFile) {
  TempDir dir;
  auto file = dir.path() / "out.log";
  auto cfg = parse_sink_url("file:" + file.string());
  cfg.max_file_bytes = 10;
  cfg.keep_files = 0;
  asio::io_context ioc;
  auto sink = make_sink(cfg, ioc.get_executor());
  ASSERT_TRUE(write(ioc, *sink, batch(0, 3)));
  EXPECT_EQ(slurp(file), "line-2...\n");
  EXPECT_FALSE(fs::exists(dir.path() / "out.log.1"));
}

TEST(FileSink, ReopensThePathWhenAnotherProgramMovedTheFileAway) {
  TempDir dir;
  auto file = dir.path() / "out.log";
  asio::io_context ioc;
  auto sink = make_sink(parse_sink_url("file:" + file.string()), ioc.get_executor());
  ASSERT_TRUE(write(ioc, *sink, batch(0, 1)));
  fs::rename(file, dir.path() / "out.log.old");  // logrotate's way
  ASSERT_TRUE(write(ioc, *sink, batch(1, 1)));
  EXPECT_EQ(slurp(dir.path() / "out.log.old"), "line-0...\n");
  EXPECT_EQ(slurp(file), "line-1...\n");
  fs::remove(file);
  ASSERT_TRUE(write(ioc, *sink, batch(2, 1)));
  EXPECT_EQ(slurp(file), "line-2...\n");
}

TEST(FileSink, NoSpaceIsAnErrorAndTheBatchCanBeWrittenAgain) {
  if (!fs::exists("/dev/full")) {
    GTEST_SKIP() << "no /dev/full";
  }
  asio::io_context ioc;
  auto sink = make_sink(parse_sink_url("file:/dev/full"), ioc.get_executor());
  auto records = batch(0, 2);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = write(ioc, *sink, records);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(),
              boost::system::error_code(ENOSPC, boost::system::system_category()));
    EXPECT_NE(r.error().message().find("sink file:/dev/full: cannot write /dev/full"),
              std::string::npos)
        << r.error().message();
  }
  EXPECT_EQ(sink->status().at("errors").as_uint64(), 2u);
  EXPECT_NE(std::string(sink->status().at("last_error").as_string()).find("No space left"),
            std::string::npos);
}

// --- stdout (any descriptor) ---------------------------------------------------------------

TEST(FdSink, WaitsWhileANonBlockingPipeIsFull) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  (void)::fcntl(fds[1], F_SETPIPE_SZ, 4096);
  auto records = batch(0, 20'000, 10);  // 220 kB: many times what the pipe holds
  std::string got;
  std::thread reader([&] {
    int flags = ::fcntl(fds[0], F_GETFL);
    (void)::fcntl(fds[0], F_SETFL, flags & ~O_NONBLOCK);
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  asio::io_context ioc;
  auto sink = make_fd_sink(parse_sink_url("stdout"), ioc.get_executor(), fds[1]);
  auto r = write(ioc, *sink, records);
  sink.reset();  // it holds a duplicate of the write end, which would keep the reader waiting
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(got.size(), 220'000u);
  EXPECT_EQ(got.substr(0, 22), "line-0....\nline-1....\n");
  EXPECT_EQ(got.substr(got.size() - 11), "line-19999\n");
}

TEST(FdSink, AClosedReaderIsAnError) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[0]);
  auto old = ::signal(SIGPIPE, SIG_IGN);
  asio::io_context ioc;
  auto sink = make_fd_sink(parse_sink_url("stdout"), ioc.get_executor(), fds[1]);
  auto r = write(ioc, *sink, batch(0, 1));
  ::signal(SIGPIPE, old);
  ::close(fds[1]);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("sink stdout: write: Broken pipe"), std::string::npos)
      << r.error().message();
}

// --- http and loki -------------------------------------------------------------------------

// A receiver: answers `status` (and `body`) to each POST, or nothing for `hang`, and keeps what
// it was sent.
class Receiver {
 public:
  Receiver() {
    Router r;
    auto handle = [this](Request& req, const Reply& reply) {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
      if (hang_) {
        req.scheduler->after(60s, [reply] { reply(Response::text(200, "late")); });
        return;
      }
      reply(Response::text(status_, body_));
    };
    r.add_async("POST", "/ingest", handle);
    r.add_async("POST", "/loki/api/v1/push", handle);
    server_ = std::make_unique<HttpServer>(std::move(r), ServerOptions{});
    addr_ = server_->bind();
    server_->start();
  }
  void answer(int status, std::string body = "", bool hang = false) {
    std::lock_guard lock(mu_);
    status_ = status;
    body_ = std::move(body);
    hang_ = hang;
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  [[nodiscard]] std::string url(const std::string& scheme, const std::string& path) const {
    return scheme + "://127.0.0.1:" + std::to_string(addr_.port) + path;
  }

 private:
  std::mutex mu_;
  int status_ = 200;
  std::string body_;
  bool hang_ = false;
  std::vector<Request> requests_;
  std::unique_ptr<HttpServer> server_;
  HostPort addr_;
};

TEST(HttpSink, PostsJsonLinesWithHeadersAndIsAckedBy2xx) {
  Receiver rx;
  auto cfg = parse_sink_url(rx.url("http", "/ingest?pipeline=logs"));
  cfg.headers = {{"Authorization", "Bearer abc"}};
  asio::io_context ioc;
  auto sink = make_sink(cfg, ioc.get_executor());
  auto r = write(ioc, *sink, batch(0, 3));
  ASSERT_TRUE(r) << r.error().message();
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/ingest?pipeline=logs");
  EXPECT_EQ(reqs[0].headers.get("Content-Type"), "application/x-ndjson");
  EXPECT_EQ(reqs[0].headers.get("Authorization"), "Bearer abc");
  std::string expected;
  for (const auto& rec : batch(0, 3)) {
    encode_record(rec, RecordFormat::kJson, expected);
  }
  EXPECT_EQ(reqs[0].body, expected);
  rx.answer(204);
  ASSERT_TRUE(write(ioc, *sink, batch(3, 1)));
  EXPECT_EQ(sink->status().at("records").as_uint64(), 4u);
  ASSERT_TRUE(write(ioc, *sink, {}));  // an empty batch sends nothing
  EXPECT_EQ(rx.requests().size(), 2u);
}

TEST(HttpSink, ErrorStatusFailsWithItsBodyAndTheBatchGoesAgain) {
  Receiver rx;
  rx.answer(503, "overloaded,\ntry later");
  asio::io_context ioc;
  auto sink = make_sink(parse_sink_url(rx.url("http", "/ingest")), ioc.get_executor());
  auto records = batch(0, 2);
  auto r = write(ioc, *sink, records);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("HTTP 503: overloaded, try later"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("sink http://127.0.0.1:"), std::string::npos);
  rx.answer(200);
  ASSERT_TRUE(write(ioc, *sink, records));
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].body, reqs[1].body);
}

TEST(HttpSink, ConnectionRefusedIsAnError) {
  std::uint16_t port = 0;
  {
    asio::io_context tmp;
    asio::ip::tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  asio::io_context ioc;
  auto sink = make_sink(parse_sink_url("http://127.0.0.1:" + std::to_string(port) + "/x"),
                        ioc.get_executor());
  auto r = write(ioc, *sink, batch(0, 1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), boost::system::error_code(asio::error::connection_refused));
  EXPECT_NE(r.error().message().find("refused"), std::string::npos) << r.error().message();
}

TEST(HttpSink, NoAnswerWithinTheTimeoutIsAnErrorThenItRecovers) {
  Receiver rx;
  rx.answer(200, "", /*hang=*/true);
  auto cfg = parse_sink_url(rx.url("http", "/ingest"));
  cfg.timeout = 200ms;
  asio::io_context ioc;
  auto sink = make_sink(cfg, ioc.get_executor());
  auto records = batch(0, 2);
  auto r = write(ioc, *sink, records);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::timed_out);
  EXPECT_NE(r.error().message().find("no answer within 200ms"), std::string::npos)
      << r.error().message();
  rx.answer(200);
  auto again = write(ioc, *sink, records);
  ASSERT_TRUE(again) << again.error().message();
}

TEST(LokiSink, PostsThePushApiJson) {
  Receiver rx;
  rx.answer(204);
  auto cfg = parse_sink_url(rx.url("loki", ""));
  cfg.labels = {{"job", "tender"}};
  cfg.headers = {{"X-Scope-OrgID", "tenant-1"}};
  asio::io_context ioc;
  auto sink = make_sink(cfg, ioc.get_executor());
  auto records = batch(0, 2);
  auto r = write(ioc, *sink, records);
  ASSERT_TRUE(r) << r.error().message();
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/loki/api/v1/push");
  EXPECT_EQ(reqs[0].headers.get("Content-Type"), "application/json");
  EXPECT_EQ(reqs[0].headers.get("X-Scope-OrgID"), "tenant-1");
  EXPECT_EQ(reqs[0].body, encode_loki(records, cfg.labels));
  auto v = boost::json::parse(reqs[0].body);
  EXPECT_EQ(v.at("streams").at(0).at("stream").at("job").as_string(), "tender");
  EXPECT_EQ(v.at("streams").at(0).at("values").as_array().size(), 2u);
}

TEST(LokiSink, A400IsAnError) {
  Receiver rx;
  rx.answer(400, "entry too far behind");
  asio::io_context ioc;
  auto sink = make_sink(parse_sink_url(rx.url("loki", "")), ioc.get_executor());
  auto r = write(ioc, *sink, batch(0, 1));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("HTTP 400: entry too far behind"), std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace tender::sidecar
