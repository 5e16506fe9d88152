// `tender echo` as a user runs it: the real binary on 127.0.0.1 with free ports.
#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <csignal>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

TEST(Echo, PrintsBoundAddressesAndEchoesTheRequest) {
  Tender t(echo_args({"--id", "backend-a"}));
  ASSERT_NE(t.port("listen"), 0);
  ASSERT_NE(t.port("admin"), 0);
  auto r = http(t.port("listen"), "POST", "/some/path?x=1&y=two%20words",
                {{"X-Test", "yes"}, {"X-Multi", "1"}, {"X-Multi", "2"}}, "hello body");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto v = json::parse(r.body).as_object();
  EXPECT_EQ(v.at("id").as_string(), "backend-a");
  EXPECT_EQ(v.at("method").as_string(), "POST");
  EXPECT_EQ(v.at("path").as_string(), "/some/path");
  EXPECT_EQ(v.at("query").at("y").as_string(), "two words");
  EXPECT_EQ(v.at("headers").at("x-test").as_string(), "yes");
  EXPECT_EQ(v.at("headers").at("x-multi").as_string(), "1, 2");
  EXPECT_EQ(v.at("body").as_string(), "hello body");
  EXPECT_EQ(std::string(v.at("remote").as_string()).substr(0, 10), "127.0.0.1:");
}

// Everything `argv` printed on its stdout and stderr (one pipe, as a pod's log or `2>&1 | less`
// gets them) up to and including its plain "listening" line.
std::string output_until_listening(const std::vector<std::string>& argv) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "exec \"$@\" 2>&1", "sh"};
  o.argv.insert(o.argv.end(), argv.begin(), argv.end());
  o.stdout_ = Stdio::pipe();
  auto p = Process::spawn(o);
  if (!p) {
    return "cannot start: " + p.error().message();
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (out.rfind("\nlistening ") == std::string::npos && out.rfind("listening ", 0) != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{p->stdout_fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 50) > 0) {
      char buf[4096];
      ssize_t n = ::read(p->stdout_fd(), buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  (void)p->kill_group(SIGTERM);
  (void)p->wait();
  return out;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(Echo, StdoutAndStderrToOnePipeSeeTheListeningLineOnce) {
  std::string out = output_until_listening(
      {TENDER_BINARY, "echo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(count(out, "listening admin="), 1u) << out;
  // The structured log still carries it, for whoever reads the JSON lines.
  std::string json_out = output_until_listening({TENDER_BINARY, "echo", "--listen", "127.0.0.1:0",
                                                 "--admin", "127.0.0.1:0", "--log-format", "json"});
  EXPECT_EQ(count(json_out, "\"msg\":\"listening admin="), 1u) << json_out;
  EXPECT_EQ(count(json_out, "\nlistening admin="), 1u) << json_out;
}

TEST(Echo, StatusParameterAndItsValidation) {
  Tender t(echo_args());
  EXPECT_EQ(http(t.port("listen"), "GET", "/?status=503").status, 503);
  EXPECT_EQ(http(t.port("listen"), "GET", "/?status=201").status, 201);
  auto bad = http(t.port("listen"), "GET", "/?status=abc");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("status must be an integer"), std::string::npos);
  EXPECT_EQ(http(t.port("listen"), "GET", "/?status=99").status, 400);
  EXPECT_EQ(http(t.port("listen"), "GET", "/?delay_ms=-5").status, 400);
}

TEST(Echo, BodilessStatusesKeepTheConnectionUsable) {
  Tender t(echo_args());
  Connection c(t.port("listen"));
  for (const char* st : {"204", "304"}) {
    ASSERT_TRUE(c.send(request_bytes("GET", std::string("/?status=") + st)));
    auto r = c.read_response();
    EXPECT_EQ(r.status, std::stoi(st));
    EXPECT_EQ(r.body, "");
  }
  ASSERT_TRUE(c.send(request_bytes("GET", "/after")));
  EXPECT_EQ(c.read_response().status, 200);
}

TEST(Echo, MalformedQueryEncodingIsNotAServerError) {
  Tender t(echo_args());
  auto r = http(t.port("listen"), "GET", "/?a=%zz&status=%2");
  EXPECT_EQ(r.status, 200);
}

TEST(Echo, DelayedRequestDoesNotBlockOthers) {
  Tender t(echo_args());
  Connection slow(t.port("listen"));
  ASSERT_TRUE(slow.send(request_bytes("GET", "/?delay_ms=1500")));
  // While the delayed request waits, another is answered on the same single thread.
  auto quick = http(t.port("listen"), "GET", "/quick");
  EXPECT_EQ(quick.status, 200);
  EXPECT_FALSE(slow.readable_now());
  EXPECT_EQ(slow.read_response().status, 200);
}

// tender_echo_delayed_requests_total from the admin /metrics of `t` (-1 if absent).
long delayed_requests(const Tender& t) {
  const std::string name = "tender_echo_delayed_requests_total ";
  auto body = http(t.port("admin"), "GET", "/metrics").body;
  auto at = body.find("\n" + name);
  return at == std::string::npos ? -1 : std::stol(body.substr(at + 1 + name.size()));
}

TEST(Echo, DelayFractionZeroNeverDelaysAndOneAlwaysDoes) {
  {
    Tender never(echo_args({"--delay", "10m", "--delay-fraction", "0"}));
    for (int i = 0; i < 50; ++i) {
      ASSERT_EQ(http(never.port("listen"), "GET", "/n").status, 200) << i;
    }
    EXPECT_EQ(delayed_requests(never), 0);
  }
  Tender always(echo_args({"--delay", "1ms", "--delay-fraction", "1"}));
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(http(always.port("listen"), "GET", "/a").status, 200) << i;
  }
  EXPECT_EQ(delayed_requests(always), 50);
  auto status = json::parse(http(always.port("admin"), "GET", "/statusz").body);
  EXPECT_EQ(status.at("status").at("delayed_requests").as_int64(), 50);
  // ?delay_ms= decides when present, even as 0: those are not held back by --delay.
  EXPECT_EQ(http(always.port("listen"), "GET", "/?delay_ms=0").status, 200);
  EXPECT_EQ(delayed_requests(always), 50);
}

TEST(Echo, DelayHoldsBackOnlyThatRequest) {
  Tender t(echo_args({"--delay", "10m"}));  // --delay-fraction defaults to 1
  Connection slow(t.port("listen"));
  ASSERT_TRUE(slow.send(request_bytes("GET", "/slow")));
  ASSERT_TRUE(wait_in_flight(t, 1));
  auto quick = http(t.port("listen"), "GET", "/quick?delay_ms=0");
  EXPECT_EQ(quick.status, 200);
  EXPECT_FALSE(slow.readable_now());
  EXPECT_EQ(delayed_requests(t), 1);
}

TEST(Echo, DelayFractionDelaysAboutThatShareOfRequests) {
  Tender t(echo_args({"--delay", "1ms", "--delay-fraction", "50%"}));
  for (int i = 0; i < 400; ++i) {
    ASSERT_EQ(http(t.port("listen"), "GET", "/").status, 200) << i;
  }
  // 200 expected; 100 is ten standard deviations away.
  long n = delayed_requests(t);
  EXPECT_GT(n, 100);
  EXPECT_LT(n, 300);
}

TEST(Echo, DelayFromTheConfigFileAndItsValidation) {
  TempDir dir;
  auto cfg = dir.write("echo.yaml",
                       "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndelay: 1ms\n"
                       "delay_fraction: 100%\n");
  {
    Tender t({"echo", "--config", cfg});
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(http(t.port("listen"), "GET", "/").status, 200);
    }
    EXPECT_EQ(delayed_requests(t), 5);
    auto configz = json::parse(http(t.port("admin"), "GET", "/configz").body);
    EXPECT_EQ(configz.at("config").at("delay").as_string(), "1ms");
    EXPECT_EQ(configz.at("config").at("delay_fraction").as_double(), 1.0);
  }
  // The flag beats the file.
  Tender t({"echo", "--config", cfg, "--delay-fraction", "0"});
  ASSERT_EQ(http(t.port("listen"), "GET", "/").status, 200);
  EXPECT_EQ(delayed_requests(t), 0);

  auto bad = dir.write("bad.yaml", "listen: 127.0.0.1:0\ndelay: 5ms\ndelay_fraction: 2\n");
  auto r = run_tender({"echo", "--config", bad});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(bad + ":3: delay_fraction: must be from 0 to 1"), std::string::npos)
      << r.err;
  auto slow = dir.write("slow.yaml", "delay: 1h\n");
  r = run_tender({"echo", "--config", slow});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(slow + ":1: delay: must be at most 10m"), std::string::npos) << r.err;
}

TEST(Echo, BadDelayAndThreadFlagsExit2) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--delay", "soon"},
                                             {"--delay", "11m"},
                                             {"--delay-fraction", "1.5"},
                                             {"--delay-fraction", "-0.1"},
                                             {"--delay-fraction", "half"},
                                             {"--delay-fraction", "%"},
                                             {"--threads", "0"},
                                             {"--threads", "257"}}) {
    auto argv = echo_args(args);
    auto r = run_tender(argv);
    EXPECT_EQ(r.status.code, 2) << args[0] << " " << args[1];
    EXPECT_NE(r.err.find(args[0]), std::string::npos) << r.err;
  }
}

TEST(Echo, KeepAliveServesManyRequestsOnOneConnection) {
  Tender t(echo_args());
  Connection c(t.port("listen"));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.send(request_bytes("GET", "/n/" + std::to_string(i))));
    auto r = c.read_response();
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(json::parse(r.body).at("path").as_string(), "/n/" + std::to_string(i));
  }
  // Pipelined requests are answered in order.
  ASSERT_TRUE(c.send(request_bytes("GET", "/p/1") + request_bytes("GET", "/p/2")));
  EXPECT_EQ(json::parse(c.read_response().body).at("path").as_string(), "/p/1");
  EXPECT_EQ(json::parse(c.read_response().body).at("path").as_string(), "/p/2");
  // HEAD gets headers only.
  ASSERT_TRUE(c.send(request_bytes("HEAD", "/h")));
  auto h = c.read_response(true);
  EXPECT_EQ(h.status, 200);
  EXPECT_NE(h.header("content-length"), "0");
  ASSERT_TRUE(c.send(request_bytes("GET", "/after-head")));
  EXPECT_EQ(json::parse(c.read_response().body).at("path").as_string(), "/after-head");
}

TEST(Echo, AnswersCarryDateAndLengthAndHonourHttp10) {
  Tender t(echo_args());
  auto r = http(t.port("listen"), "GET", "/");
  EXPECT_NE(r.header("date").find(" GMT"), std::string::npos) << r.header("date");
  EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));

  Connection c10(t.port("listen"));
  ASSERT_TRUE(c10.send("GET /old HTTP/1.0\r\n\r\n"));
  auto old = c10.read_response();
  EXPECT_EQ(old.status, 200);
  EXPECT_EQ(old.header("connection"), "close");
  EXPECT_TRUE(c10.closed_by_peer(10s));

  Connection ka(t.port("listen"));
  ASSERT_TRUE(ka.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_EQ(ka.read_response().header("connection"), "keep-alive");
  ASSERT_TRUE(ka.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_EQ(ka.read_response().status, 200);
}

TEST(Echo, ExpectContinueIsHonoured) {
  Tender t(echo_args());
  Connection c(t.port("listen"));
  ASSERT_TRUE(
      c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n"));
  auto cont = c.read_response(true);
  EXPECT_EQ(cont.status, 100);
  ASSERT_TRUE(c.send("abcde"));
  auto r = c.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("body").as_string(), "abcde");
}

TEST(Echo, OversizedBodyIs413AndServerKeepsServing) {
  Tender t(echo_args({"--max-body", "1KiB"}));
  auto r = http(t.port("listen"), "POST", "/", {}, std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("1024 bytes"), std::string::npos);
  // A declared length over the limit is refused before the body is sent.
  Connection c(t.port("listen"));
  ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"));
  EXPECT_EQ(c.read_response().status, 413);
  EXPECT_EQ(http(t.port("listen"), "POST", "/", {}, std::string(1000, 'y')).status, 200);
}

TEST(Echo, OversizedHeadersAre431AndServerKeepsServing) {
  Tender t(echo_args());
  auto r = http(t.port("listen"), "GET", "/", {{"X-Big", std::string(20 * 1024, 'h')}});
  EXPECT_EQ(r.status, 431);
  EXPECT_NE(r.body.find("16384"), std::string::npos);
  EXPECT_EQ(http(t.port("listen"), "GET", "/", {{"X-Ok", std::string(8 * 1024, 'h')}}).status, 200);
}

TEST(Echo, MalformedRequestsAre400AndServerKeepsServing) {
  Tender t(echo_args());
  for (const std::string& bad : std::vector<std::string>{
           "HELLO\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           std::string("GET /\x01 HTTP/1.1\r\n\r\n")}) {
    Connection c(t.port("listen"));
    ASSERT_TRUE(c.send(bad));
    auto r = c.read_response();
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.body.find("malformed"), std::string::npos) << r.body;
    EXPECT_EQ(r.header("connection"), "close");
  }
  EXPECT_EQ(http(t.port("listen"), "GET", "/still-here").status, 200);
  auto metrics = http(t.port("admin"), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("tender_echo_http_rejected_total 5"), std::string::npos)
      << metrics.body;
  Connection v(t.port("listen"));
  ASSERT_TRUE(v.send("GET / HTTP/9.9\r\n\r\n"));
  EXPECT_EQ(v.read_response().status, 505);
}

// RFC 9112 6.3: a request's body is framed by one chunked coding, applied last, or by one
// Content-Length; anything else is refused and the connection closed, so that what follows
// can never be read as a request of its own.
TEST(Echo, TransferCodingsOtherThanAFinalChunkedAreRefused) {
  Tender t(echo_args());
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  struct Case {
    std::string coding;
    int status;
  };
  for (const Case& k : std::vector<Case>{{"chunked, chunked", 400},
                                         {"\"chunked\"", 400},
                                         {"chunked, gzip", 400},
                                         {"gzip", 501},
                                         {"identity", 501},
                                         {"xchunked", 501}}) {
    Connection c(t.port("listen"));
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + k.coding +
                       "\r\n\r\n" + smuggled));
    auto r = c.read_response();
    EXPECT_EQ(r.status, k.status) << k.coding;
    EXPECT_EQ(r.header("connection"), "close") << k.coding;
    EXPECT_EQ(r.body.find("/smuggled"), std::string::npos) << k.coding;
    EXPECT_TRUE(c.closed_by_peer(5s)) << k.coding;  // nothing more: no answer to /smuggled
  }
  // Two Transfer-Encoding fields are one list: chunked twice.
  Connection c(t.port("listen"));
  ASSERT_TRUE(
      c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
             "chunked\r\n\r\n" +
             smuggled));
  EXPECT_EQ(c.read_response().status, 400);
  EXPECT_TRUE(c.closed_by_peer(5s));
}

TEST(Echo, ChunkSizeLineEndingInABareLineFeedIsRefusedAtOnce) {
  Tender t(echo_args());
  Connection c(t.port("listen"));
  // The client waits for the answer; the server must not wait for a CR that never comes.
  ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc"));
  auto r = c.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("chunked"), std::string::npos) << r.body;
}

// Trailer fields count against the header limit: a client cannot make the server hold more
// than max_header bytes of them (once, 300 MB of trailer lines took it past 1 GB).
TEST(Echo, ChunkedTrailersCountAgainstTheHeaderLimit) {
  Tender t(echo_args({"--max-header", "4KiB"}));
  Connection c(t.port("listen"));
  std::string req =
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n";
  for (int i = 0; i < 400; ++i) {
    req += "X-Trailer-" + std::to_string(i) + ": " + std::string(40, 't') + "\r\n";
  }
  c.send(req);  // the server may answer and close before it has all of it
  auto r = c.read_response();
  EXPECT_EQ(r.status, 431);
  EXPECT_NE(r.body.find("trailers exceed 4096 bytes"), std::string::npos) << r.body;
  // Within the limit they are accepted, and not taken for the body.
  auto ok = Connection(t.port("listen"));
  ASSERT_TRUE(ok.send(
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: "
      "1\r\n\r\n"));
  auto good = ok.read_response();
  ASSERT_EQ(good.status, 200);
  EXPECT_EQ(json::parse(good.body).at("body").as_string(), "abc");
}

TEST(Echo, SlowlorisIsCutOffAfterTheHeaderTimeout) {
  Tender t(echo_args({"--header-timeout", "1s"}));
  Connection c(t.port("listen"));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\n"));
  // Trickle a header line every 100 ms, never finishing the request.
  bool cut = false;
  for (int i = 0; i < 100 && !cut; ++i) {
    if (!c.send("X-" + std::to_string(i) + ": y\r\n")) {
      cut = true;
      break;
    }
    cut = c.closed_by_peer(100ms);
  }
  EXPECT_TRUE(cut) << "the server kept a trickling client past its header timeout";
  EXPECT_EQ(http(t.port("listen"), "GET", "/").status, 200);
}

TEST(Echo, IdleKeepAliveConnectionsAreClosed) {
  Tender t(echo_args({"--idle-timeout", "200ms"}));
  Connection c(t.port("listen"));
  ASSERT_TRUE(c.send(request_bytes("GET", "/")));
  ASSERT_EQ(c.read_response().status, 200);
  EXPECT_TRUE(c.closed_by_peer(10s));
}

TEST(Echo, ManyThreadsShareOnePort) {
  Tender t(echo_args({"--threads", "4"}));
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(http(t.port("listen"), "GET", "/").status, 200);
  }
}

TEST(Echo, ConfigFileSetsOptionsAndFlagsOverrideIt) {
  TempDir dir;
  auto cfg = dir.write("echo.yaml",
                       "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nid: from-file\n"
                       "max_body_bytes: 2KiB\n");
  {
    Tender t({"echo", "--config", cfg});
    auto r = http(t.port("listen"), "GET", "/");
    EXPECT_EQ(json::parse(r.body).at("id").as_string(), "from-file");
    EXPECT_EQ(http(t.port("listen"), "POST", "/", {}, std::string(3000, 'x')).status, 413);
    auto configz = json::parse(http(t.port("admin"), "GET", "/configz").body);
    EXPECT_EQ(configz.at("config").at("max_body_bytes").as_int64(), 2048);
    EXPECT_EQ(configz.at("common").at("config_file").as_string(), cfg);
  }
  Tender t({"echo", "--config", cfg, "--id", "from-flag"});
  EXPECT_EQ(json::parse(http(t.port("listen"), "GET", "/").body).at("id").as_string(), "from-flag");
}

TEST(Echo, BadConfigExits2NamingFileLineAndField) {
  TempDir dir;
  auto cfg = dir.write("bad.yaml", "listen: 127.0.0.1:0\nid: x\nthreads: many\n");
  auto r = run_tender({"echo", "--config", cfg});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(cfg + ":3: threads: not an integer"), std::string::npos) << r.err;

  auto yaml = dir.write("broken.yaml", "listen: [127.0.0.1:0\nid: x\n");
  r = run_tender({"echo", "--config", yaml});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(yaml + ":"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("invalid YAML"), std::string::npos) << r.err;

  r = run_tender({"echo", "--config", dir.path() + "/missing.yaml"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;

  auto listen = dir.write("listen.yaml", "listen: nowhere\n");
  r = run_tender({"echo", "--config", listen});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(listen + ":1: listen: not HOST:PORT"), std::string::npos) << r.err;
}

TEST(Echo, BadFlagsExit2) {
  auto r = run_tender({"echo", "--listen", "nowhere"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("--listen"), std::string::npos) << r.err;
  r = run_tender({"echo", "--grace", "soon"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("--grace"), std::string::npos) << r.err;
  r = run_tender({"echo", "--log-level", "loud"});
  EXPECT_EQ(r.status.code, 2);
  r = run_tender({"echo", "--no-such-flag"});
  EXPECT_EQ(r.status.code, 2);
}

TEST(Echo, AddressInUseFailsWithAClearMessage) {
  Tender first(echo_args());
  auto r = run_tender({"echo", "--listen", "127.0.0.1:" + std::to_string(first.port("listen")),
                       "--admin", "127.0.0.1:0"});
  EXPECT_EQ(r.status.code, 1);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(first.port("listen"))),
            std::string::npos)
      << r.err;
}

TEST(Echo, JsonLogs) {
  Tender t(echo_args({"--log-format", "json"}));
  t.signal(SIGTERM);
  ASSERT_TRUE(t.wait_exit());
  std::istringstream lines(t.stderr_text());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto v = json::parse(line);
    EXPECT_EQ(v.at("role").as_string(), "echo");
    ++n;
  }
  EXPECT_GE(n, 2);
}

}  // namespace
}  // namespace tender::testing
