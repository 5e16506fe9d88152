// ProbeTracker with a fake clock; check() against tiny servers on 127.0.0.1 and real commands.
#include "core/probe.hpp"
#include "core/asio_util.hpp"
#include "core/grpc_health.hpp"
#include "core/hpack.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <functional>
#include <optional>
#include <tuple>

namespace tender {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

// --- ProbeTracker ----------------------------------------------------------------------------

TEST(ProbeTracker, ReadinessStartsFailingAndNeedsSuccessThresholdInARow) {
  FakeClock clock;
  const auto created = clock.now();
  ProbeTracker t(ProbeTracker::kStartFailing, 2, 3, clock);
  EXPECT_FALSE(t.passing());
  EXPECT_FALSE(t.last_passed().has_value());
  EXPECT_EQ(t.changed_at(), created);

  clock.advance(1s);
  EXPECT_FALSE(t.record(true, "HTTP 200"));
  EXPECT_FALSE(t.record(false, "HTTP 503"));  // the run of successes starts over
  EXPECT_FALSE(t.record(true, "HTTP 200"));
  EXPECT_FALSE(t.passing());
  EXPECT_EQ(t.changed_at(), created);
  clock.advance(1s);
  EXPECT_TRUE(t.record(true, "HTTP 200"));
  EXPECT_TRUE(t.passing());
  EXPECT_EQ(t.changed_at(), created + 2s);
  EXPECT_EQ(t.consecutive_successes(), 2);
  EXPECT_EQ(t.last_message(), "HTTP 200");
  EXPECT_EQ(t.last_passed(), std::optional<bool>(true));
}

TEST(ProbeTracker, FailureThresholdFailuresInARowTurnItFailing) {
  FakeClock clock;
  ProbeTracker t(ProbeTracker::kStartPassing, 1, 3, clock);
  EXPECT_TRUE(t.passing());
  EXPECT_FALSE(t.record(false, "connect timed out"));
  EXPECT_FALSE(t.record(false, "connect timed out"));
  EXPECT_FALSE(t.record(true, "connected"));  // the run of failures starts over
  EXPECT_EQ(t.consecutive_failures(), 0);
  EXPECT_FALSE(t.record(false, "a"));
  EXPECT_FALSE(t.record(false, "b"));
  clock.advance(5s);
  EXPECT_TRUE(t.record(false, "Connection refused"));
  EXPECT_FALSE(t.passing());
  EXPECT_EQ(t.consecutive_failures(), 3);
  EXPECT_EQ(t.total_failures(), 5u);
  EXPECT_EQ(t.last_message(), "Connection refused");
  EXPECT_EQ(t.last_passed(), std::optional<bool>(false));
  EXPECT_EQ(t.changed_at(), clock.now());
  // More failures change nothing; one success (threshold 1) turns it back.
  EXPECT_FALSE(t.record(false, "c"));
  EXPECT_TRUE(t.record(true, "connected"));
  EXPECT_TRUE(t.passing());
}

TEST(ProbeTracker, ThresholdsBelowOneCountAsOne) {
  FakeClock clock;
  ProbeTracker t(ProbeTracker::kStartFailing, 0, -2, clock);
  EXPECT_EQ(t.success_threshold(), 1);
  EXPECT_EQ(t.failure_threshold(), 1);
  EXPECT_TRUE(t.record(true, "ok"));
  EXPECT_TRUE(t.record(false, "no"));
}

TEST(ProbeTracker, ResetGoesBackToTheStartKeepingTotals) {
  FakeClock clock;
  ProbeTracker t(ProbeTracker::kStartPassing, 1, 2, clock);
  (void)t.record(false, "x");
  (void)t.record(false, "y");
  ASSERT_FALSE(t.passing());
  clock.advance(3s);
  t.reset();
  EXPECT_TRUE(t.passing());
  EXPECT_EQ(t.changed_at(), clock.now());
  EXPECT_EQ(t.consecutive_failures(), 0);
  EXPECT_EQ(t.total_failures(), 2u);
  EXPECT_EQ(t.last_message(), "y");
  // It takes the whole threshold again.
  EXPECT_FALSE(t.record(false, "z"));
  EXPECT_TRUE(t.record(false, "z"));
}

// --- check() -----------------------------------------------------------------------------------

// A server for one connection on 127.0.0.1: reads until `complete(received)` holds (or the peer
// closes), then writes `reply` (nothing if empty: it then waits for the client to give up).
class OneShot {
 public:
  OneShot(asio::io_context& ioc, std::string reply,
          std::function<bool(const std::string&)> complete)
      : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(ioc, serve(std::move(reply), std::move(complete)), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  const std::string& received() const { return received_; }

 private:
  asio::awaitable<void> serve(std::string reply, std::function<bool(const std::string&)> done) {
    auto [aec, s] = co_await acceptor_.async_accept(kTuple);
    if (aec) {
      co_return;
    }
    std::array<char, 1024> buf{};
    while (!done(received_)) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kTuple);
      received_.append(buf.data(), n);
      if (ec) {
        co_return;
      }
    }
    if (reply.empty()) {
      (void)co_await s.async_read_some(asio::buffer(buf), kTuple);  // until the client leaves
      co_return;
    }
    (void)co_await asio::async_write(s, asio::buffer(reply), kTuple);
  }

  tcp::acceptor acceptor_;
  std::string received_;
};

bool http_head_done(const std::string& r) { return r.find("\r\n\r\n") != std::string::npos; }

ProbeVerdict run_check(asio::io_context& ioc, ProbeAction action,
                       std::chrono::milliseconds timeout = 2s) {
  std::optional<ProbeVerdict> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out = co_await check(action, timeout); },
      asio::detached);
  ioc.restart();
  ioc.run();
  return *out;
}

std::string http_reply(int status) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
}

TEST(ProbeCheck, HttpPassesFrom200To399AsKubernetes) {
  for (int status : {200, 204, 302, 399}) {
    asio::io_context ioc;
    OneShot server(ioc, http_reply(status), http_head_done);
    auto v = run_check(ioc, HttpProbe{"127.0.0.1", server.port(), "/healthz", {{"X-Probe", "1"}}});
    EXPECT_TRUE(v.passed) << status;
    EXPECT_EQ(v.message, "HTTP " + std::to_string(status));
    EXPECT_EQ(server.received().rfind("GET /healthz HTTP/1.1\r\n", 0), 0u) << server.received();
    EXPECT_NE(server.received().find("X-Probe: 1\r\n"), std::string::npos) << server.received();
  }
  for (int status : {400, 404, 500, 503}) {
    asio::io_context ioc;
    OneShot server(ioc, http_reply(status), http_head_done);
    auto v = run_check(ioc, HttpProbe{"127.0.0.1", server.port(), "/", {}});
    EXPECT_FALSE(v.passed) << status;
    EXPECT_EQ(v.message, "HTTP " + std::to_string(status));
  }
}

TEST(ProbeCheck, HttpExpectedStatusesAndBodyPattern) {
  auto probe = [](std::uint16_t port, std::vector<std::pair<int, int>> statuses,
                  const std::string& pattern) {
    HttpProbe p{"127.0.0.1", port, "/", {}};
    p.statuses = std::move(statuses);
    if (!pattern.empty()) {
      p.body = *compile_regex("body", pattern, /*need_groups=*/false);
      p.body_pattern = pattern;
    }
    return p;
  };
  const std::string ok_body = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"status\":\"up\"}";
  {
    asio::io_context ioc;
    OneShot server(ioc, ok_body, http_head_done);
    auto v = run_check(ioc, probe(server.port(), {{200, 200}}, "\"status\":\"up\""));
    EXPECT_TRUE(v.passed) << v.message;
    EXPECT_EQ(v.message, "HTTP 200");
  }
  {
    asio::io_context ioc;
    OneShot server(ioc, ok_body, http_head_done);
    auto v = run_check(ioc, probe(server.port(), {}, "down"));
    EXPECT_FALSE(v.passed);
    EXPECT_EQ(v.message, "HTTP 200, body does not match /down/");
  }
  {
    asio::io_context ioc;
    OneShot server(ioc, http_reply(302), http_head_done);  // passes by default; not in [200, 204]
    auto v = run_check(ioc, probe(server.port(), {{200, 200}, {204, 204}}, ""));
    EXPECT_FALSE(v.passed);
    EXPECT_EQ(v.message, "HTTP 302");
  }
  {
    asio::io_context ioc;
    OneShot server(ioc, http_reply(503), http_head_done);  // fails by default; asked for
    auto v = run_check(ioc, probe(server.port(), {{500, 599}}, ""));
    EXPECT_TRUE(v.passed);
  }
}

TEST(ProbeCheck, HttpWithoutAnswerTimesOut) {
  asio::io_context ioc;
  OneShot server(ioc, "", http_head_done);
  auto v = run_check(ioc, HttpProbe{"127.0.0.1", server.port(), "/", {}}, 200ms);
  EXPECT_FALSE(v.passed);
  EXPECT_FALSE(v.message.empty());
}

// A port with nothing listening: bound, then closed.
std::uint16_t closed_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

TEST(ProbeCheck, TcpConnects) {
  asio::io_context ioc;
  OneShot server(ioc, "", [](const std::string&) { return true; });
  auto v = run_check(ioc, TcpProbe{"127.0.0.1", server.port()});
  EXPECT_TRUE(v.passed);
  EXPECT_EQ(v.message, "connected");

  asio::io_context ioc2;
  v = run_check(ioc2, TcpProbe{"127.0.0.1", closed_port()});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "Connection refused");

  asio::io_context ioc3;
  v = run_check(ioc3, TcpProbe{"not-an-address", 80});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "bad host not-an-address");
}

TEST(ProbeCheck, ExecPassesOnExitZero) {
  asio::io_context ioc;
  ExecProbe exec;
  exec.spawn.argv = {"/bin/sh", "-c", "echo chatter; exit 0"};
  auto v = run_check(ioc, exec);
  EXPECT_TRUE(v.passed);
  EXPECT_EQ(v.message, "exited 0");

  exec.spawn.argv = {"/bin/sh", "-c", "exit 4"};
  v = run_check(ioc, exec);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "exited 4");

  exec.spawn.argv = {"sleep", "100"};
  v = run_check(ioc, exec, 100ms);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "timed out after 100ms");

  exec.spawn.argv = {"tender-no-such-probe"};
  v = run_check(ioc, exec);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message.rfind("tender-no-such-probe: ", 0), 0u) << v.message;
}

// Complete once `n` RESP commands (arrays) have come.
std::function<bool(const std::string&)> commands(int n) {
  return [n](const std::string& r) {
    int seen = 0;
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (r[i] == '*' && (i == 0 || r[i - 1] == '\n')) {
        ++seen;
      }
    }
    return seen >= n && r.size() >= 2 && r.substr(r.size() - 2) == "\r\n" &&
           r.find("PING\r\n") != std::string::npos;
  };
}

TEST(ProbeCheck, RedisPingPassesOnPong) {
  asio::io_context ioc;
  OneShot server(ioc, "+PONG\r\n", commands(1));
  auto v = run_check(ioc, RedisProbe{"127.0.0.1", server.port(), "", ""});
  EXPECT_TRUE(v.passed) << v.message;
  EXPECT_EQ(v.message, "PONG");
  EXPECT_EQ(server.received(), "*1\r\n$4\r\nPING\r\n");
}

TEST(ProbeCheck, RedisFailuresCarryTheServersWords) {
  asio::io_context ioc;
  OneShot noauth(ioc, "-NOAUTH Authentication required.\r\n", commands(1));
  auto v = run_check(ioc, RedisProbe{"127.0.0.1", noauth.port(), "", ""});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "PING answered -NOAUTH Authentication required.");

  asio::io_context ioc2;
  OneShot wrong(ioc2, "-ERR invalid password\r\n-NOAUTH Authentication required.\r\n", commands(2));
  v = run_check(ioc2, RedisProbe{"127.0.0.1", wrong.port(), "hunter2", ""});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "AUTH answered -ERR invalid password");
  EXPECT_EQ(wrong.received(), "*2\r\n$4\r\nAUTH\r\n$7\r\nhunter2\r\n*1\r\n$4\r\nPING\r\n");

  asio::io_context ioc3;
  OneShot ok(ioc3, "+OK\r\n+PONG\r\n", commands(2));
  v = run_check(ioc3, RedisProbe{"127.0.0.1", ok.port(), "hunter2", ""});
  EXPECT_TRUE(v.passed) << v.message;

  asio::io_context ioc_user;
  OneShot acl(ioc_user, "+OK\r\n+PONG\r\n", commands(2));
  v = run_check(ioc_user, RedisProbe{"127.0.0.1", acl.port(), "hunter2", "checker"});
  EXPECT_TRUE(v.passed) << v.message;
  EXPECT_EQ(acl.received(),
            "*3\r\n$4\r\nAUTH\r\n$7\r\nchecker\r\n$7\r\nhunter2\r\n*1\r\n$4\r\nPING\r\n")
      << "an ACL user logs in with AUTH user password";

  asio::io_context ioc4;
  OneShot silent(ioc4, "", commands(1));
  v = run_check(ioc4, RedisProbe{"127.0.0.1", silent.port(), "", ""}, 200ms);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "PING timed out");

  asio::io_context ioc5;
  v = run_check(ioc5, RedisProbe{"127.0.0.1", closed_port(), "", ""});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "Connection refused");
}

// An HTTP/2 frame, for the gRPC server's answers (core/grpc_health_test.cpp tests them at
// length; these check the check's I/O).
std::string h2_frame(int type, int flags, const std::string& payload) {
  const auto n = payload.size();
  std::string out{static_cast<char>(n >> 16), static_cast<char>((n >> 8) & 0xff),
                  static_cast<char>(n & 0xff), static_cast<char>(type), static_cast<char>(flags)};
  out += std::string("\0\0\0", 3) + (type == 4 ? '\0' : '\1');  // SETTINGS on 0, others on 1
  return out + payload;
}

// SETTINGS, :status 200, HealthCheckResponse{status}, grpc-status 0.
std::string grpc_answer(char status) {
  std::string trailers;
  hpack::encode_literal(trailers, "grpc-status", "0");
  return h2_frame(4, 0, "") + h2_frame(1, 4, "\x88") +
         h2_frame(0, 0, std::string("\0\0\0\0\2\x08", 6) + status) + h2_frame(1, 5, trailers);
}

TEST(ProbeCheck, GrpcHealthCheckPassesOnServing) {
  for (auto [status, passed, message] :
       {std::tuple{'\1', true, "SERVING"}, std::tuple{'\2', false, "health status NOT_SERVING"}}) {
    asio::io_context ioc;
    std::size_t request_size = 0;
    OneShot server(ioc, grpc_answer(status), [&](const std::string& r) {
      return request_size > 0 && r.size() >= request_size;
    });
    request_size =
        grpc::health_check_request("127.0.0.1:" + std::to_string(server.port()), "cart", 2s)
            ->size();
    auto v = run_check(ioc, GrpcProbe{"127.0.0.1", server.port(), "cart"});
    EXPECT_EQ(v.passed, passed) << v.message;
    EXPECT_EQ(v.message, message);
    EXPECT_EQ(server.received().rfind("PRI * HTTP/2.0\r\n", 0), 0u);
    EXPECT_NE(server.received().find("\x0a\x04"
                                     "cart"),
              std::string::npos);
  }
}

TEST(ProbeCheck, GrpcFailuresSayWhy) {
  asio::io_context ioc;
  OneShot silent(ioc, "", [](const std::string& r) { return !r.empty(); });
  auto v = run_check(ioc, GrpcProbe{"127.0.0.1", silent.port(), ""}, 200ms);
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "Check timed out");

  asio::io_context ioc2;
  OneShot http1(ioc2, http_reply(400), [](const std::string& r) { return !r.empty(); });
  v = run_check(ioc2, GrpcProbe{"127.0.0.1", http1.port(), ""});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "HTTP/2: the server answered HTTP/1, not HTTP/2 without TLS (h2c)");

  asio::io_context ioc3;
  v = run_check(ioc3, GrpcProbe{"127.0.0.1", closed_port(), ""});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "Connection refused");
}

}  // namespace
}  // namespace tender
