// `tender adapt` as a statsd server: real UDP datagrams and TCP lines to the binary, read back
// from its admin /metrics (docs/adapt.md).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>

#include "support.hpp"

namespace tender::testing {
namespace {

// Sends one datagram to 127.0.0.1:port.
void send_udp(std::uint16_t port, const std::string& payload) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  ssize_t n =
      ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::close(fd);
  ASSERT_EQ(n, static_cast<ssize_t>(payload.size()));
}

// Sends `bytes` on a new TCP connection and closes it.
void send_tcp(std::uint16_t port, const std::string& bytes) {
  int fd = connect_loopback(port, std::chrono::seconds(5));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

// Polls the admin /metrics until `ref` reads `want`.
::testing::AssertionResult shows(const Tender& t, const MetricRef& ref, double want) {
  double got = -1;
  bool ok = eventually([&] {
    got = admin_metric(t, ref);
    return got == want;
  });
  if (ok) {
    return ::testing::AssertionSuccess();
  }
  std::string labels;
  for (const auto& [k, v] : ref.labels) {
    labels += k + "=" + v + " ";
  }
  return ::testing::AssertionFailure()
         << ref.name << "{" << labels << "} is " << got << ", not " << want << "\n"
         << http(t.port("admin"), "GET", "/metrics").body;
}

MetricRef lines(const std::string& source, const std::string& result) {
  return {"tender_adapt_statsd_lines_total", {{"source", source}, {"result", result}}};
}

TEST(AdaptStatsd, UdpAndTcpLinesBecomeMetrics) {
  TempDir dir;
  std::string map = dir.write("map.yaml",
                              "defaults:\n"
                              "  observer_type: histogram\n"
                              "  buckets: [0.1, 1]\n");
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--statsd", "127.0.0.1:0", "--map", map});
  const std::uint16_t udp = t.port("statsd_udp");
  EXPECT_EQ(t.port("statsd_tcp"), udp);  // port 0: one port for both
  send_udp(udp,
           "app.hits:1|c\n"
           "app.hits:1|c|@0.1\n"
           "queue.depth:7|g\n"
           "queue.depth:+3|g\n"
           "req.latency:50|ms|#route:/api,code:200\n"
           "req.latency:0.5|h|#route:/api,code:200\n"
           "req.latency:3|h|@0.5|#route:/api,code:200\n"
           "not a line\n"
           "x:1|zz\n");
  send_tcp(udp, "app.hits:2|c\nweb,env=prod:1|c\nvisitors:u1|s\nvisitors:u2|s\nvisitors:u1|s");
  EXPECT_TRUE(shows(t, {"app_hits_total", {}}, 13));
  EXPECT_TRUE(shows(t, {"queue_depth", {}}, 10));
  const std::map<std::string, std::string> api{{"route", "/api"}, {"code", "200"}};
  auto bucket = [&](const std::string& le) {
    auto l = api;
    l["le"] = le;
    return MetricRef{"req_latency_bucket", l};
  };
  EXPECT_TRUE(shows(t, bucket("0.1"), 1));
  EXPECT_TRUE(shows(t, bucket("1"), 2));
  EXPECT_TRUE(shows(t, bucket("+Inf"), 4));
  EXPECT_TRUE(shows(t, {"req_latency_count", api}, 4));
  EXPECT_TRUE(shows(t, {"web_total", {{"env", "prod"}}}, 1));
  EXPECT_TRUE(shows(t, {"visitors", {}}, 2));
  EXPECT_TRUE(shows(t, lines("statsd", "malformed"), 2));
  EXPECT_TRUE(shows(t, lines("statsd", "ok"), 12));
  EXPECT_TRUE(shows(t, {"tender_adapt_statsd_packets_total", {{"transport", "udp"}}}, 1));
  EXPECT_TRUE(shows(t, {"tender_adapt_statsd_series", {{"source", "statsd"}}}, 5));

  auto body = http(t.port("admin"), "GET", "/metrics").body;
  auto check = run_command({"promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.status.code, 0) << check.out << check.err << body;

  auto status = http(t.port("admin"), "GET", "/statusz");
  EXPECT_NE(status.body.find("\"malformed\":2"), std::string::npos) << status.body;
}

TEST(AdaptStatsd, MappingsFromTheConfigFile) {
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "metrics:\n"
                              "  sources:\n"
                              "    - name: app\n"
                              "      statsd:\n"
                              "        udp: 127.0.0.1:0\n"
                              "        tcp: 127.0.0.1:0\n"
                              "        mappings:\n"
                              "          - match: 'api.*.*.requests'\n"
                              "            name: api_requests\n"
                              "            labels: {service: $1, method: $2}\n"
                              "            help: API requests by service and method.\n"
                              "          - match: '^debug\\.'\n"
                              "            match_type: regex\n"
                              "            action: drop\n"
                              "          - match: 'api.*.*.duration'\n"
                              "            name: api_duration_seconds\n"
                              "            labels: {service: $1, method: $2}\n"
                              "            observer_type: summary\n");
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--config", cfg});
  const std::uint16_t udp = t.port("app_udp");
  send_udp(udp,
           "api.users.get.requests:3|c\n"
           "api.users.get.requests:1|c\n"
           "api.users.post.requests:1|c\n"
           "debug.noise:1|c\n"
           "api.users.get.duration:100|ms\n"
           "api.users.get.duration:300|ms\n");
  EXPECT_TRUE(shows(t, {"api_requests_total", {{"service", "users"}, {"method", "get"}}}, 4));
  EXPECT_TRUE(shows(t, {"api_requests_total", {{"method", "post"}}}, 1));
  EXPECT_TRUE(shows(t, lines("app", "dropped"), 1));
  EXPECT_TRUE(shows(t, {"api_duration_seconds_count", {{"service", "users"}}}, 2));
  EXPECT_TRUE(shows(t, {"api_duration_seconds_sum", {{"service", "users"}}}, 0.4));
  EXPECT_TRUE(shows(t, {"api_duration_seconds", {{"quantile", "0.99"}}}, 0.3));
  auto body = http(t.port("admin"), "GET", "/metrics").body;
  EXPECT_NE(body.find("# HELP api_requests_total API requests by service and method."),
            std::string::npos)
      << body;
  EXPECT_EQ(body.find("debug"), std::string::npos);
  auto check = run_command({"promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.status.code, 0) << check.out << check.err << body;
}

TEST(AdaptStatsd, ATooLongTcpLineClosesItsConnection) {
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "metrics:\n"
                              "  sources:\n"
                              "    - name: s\n"
                              "      statsd: {tcp: 127.0.0.1:0, max_line_bytes: 100}\n");
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--config", cfg});
  int fd = connect_loopback(t.port("s_tcp"), std::chrono::seconds(10));
  ASSERT_GE(fd, 0);
  std::string bytes = "ok:1|c\n" + std::string(300, 'a');
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  char c = 0;
  ssize_t r = ::recv(fd, &c, 1, 0);
  EXPECT_TRUE(r == 0 || (r < 0 && errno == ECONNRESET))  // closed (reset: bytes left unread)
      << r << " " << errno;
  ::close(fd);
  EXPECT_TRUE(shows(t, lines("s", "malformed"), 1));
  EXPECT_TRUE(shows(t, {"ok_total", {}}, 1));
  send_tcp(t.port("s_tcp"), "ok:1|c\n");  // other connections go on
  EXPECT_TRUE(shows(t, {"ok_total", {}}, 2));
}

TEST(AdaptStatsd, ConnectionsPastMaxConnectionsAreClosed) {
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "metrics:\n"
                              "  sources:\n"
                              "    - name: s\n"
                              "      statsd: {tcp: 127.0.0.1:0, max_connections: 1}\n");
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--config", cfg});
  const std::uint16_t port = t.port("s_tcp");
  int first = connect_loopback(port, std::chrono::seconds(10));
  ASSERT_GE(first, 0);
  ASSERT_EQ(::send(first, "a:1|c\n", 6, MSG_NOSIGNAL), 6);
  EXPECT_TRUE(shows(t, {"a_total", {}}, 1));  // the first is being served
  int second = connect_loopback(port, std::chrono::seconds(10));
  ASSERT_GE(second, 0);
  char c = 0;
  EXPECT_EQ(::recv(second, &c, 1, 0), 0);  // closed at accept
  ::close(second);
  ::close(first);
  // Once the first is gone, a new connection is served.
  EXPECT_TRUE(eventually([&] {
    int fd = connect_loopback(port, std::chrono::seconds(10));
    bool sent = fd >= 0 && ::send(fd, "b:1|c\n", 6, MSG_NOSIGNAL) == 6;
    if (fd >= 0) {
      ::close(fd);
    }
    return sent && eventually([&] { return admin_metric(t, {"b_total", {}}) >= 1; }, 200ms);
  }));
}

TEST(AdaptStatsd, ATypeChangeIsCountedAsAConflict) {
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--statsd", "127.0.0.1:0"});
  send_udp(t.port("statsd_udp"), "m:1|c\nm:5|g\nm:2|c\n");
  EXPECT_TRUE(shows(t, {"m_total", {}}, 3));
  EXPECT_TRUE(shows(t, lines("statsd", "conflict"), 1));
}

TEST(AdaptStatsd, NewSeriesPastMaxSeriesPerMetricAreRefusedAtIngest) {
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--statsd", "127.0.0.1:0", "--max-series", "2"});
  send_udp(t.port("statsd_udp"), "m:1|c|#k:a\nm:1|c|#k:b\nm:1|c|#k:c\nm:1|c|#k:a\n");
  EXPECT_TRUE(shows(t, {"m_total", {{"k", "a"}}}, 2));
  EXPECT_TRUE(shows(t, {"tender_adapt_series_dropped_total", {{"reason", "over_cap"}}}, 1));
  EXPECT_TRUE(shows(t, {"tender_adapt_statsd_series", {}}, 2));
  EXPECT_EQ(admin_metric(t, {"m_total", {{"k", "c"}}}), -1);
}

TEST(AdaptStatsd, SighupWithUnchangedSettingsKeepsTheSeries) {
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "metrics:\n"
                              "  sources:\n"
                              "    - name: s\n"
                              "      statsd: {udp: 127.0.0.1:0}\n");
  Tender t({"adapt", "--admin", "127.0.0.1:0", "--config", cfg});
  send_udp(t.port("s_udp"), "kept:5|c");
  EXPECT_TRUE(shows(t, {"kept_total", {}}, 5));
  t.signal(SIGHUP);
  EXPECT_TRUE(shows(t, {"tender_adapt_config_reloads_total", {{"result", "ok"}}}, 1));
  send_udp(t.port("s_udp"), "kept:1|c");  // the same socket still listens
  EXPECT_TRUE(shows(t, {"kept_total", {}}, 6));
}

TEST(AdaptStatsd, ABadMappingExitsTwoNamingTheLine) {
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "metrics:\n"
                              "  sources:\n"
                              "    - name: s\n"
                              "      statsd:\n"
                              "        udp: 127.0.0.1:0\n"
                              "        mappings:\n"
                              "          - match: '(oops'\n"
                              "            match_type: regex\n"
                              "            name: x\n");
  RunResult r = run_tender({"adapt", "--config", cfg, "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(cfg + ":7: metrics.sources[0].statsd.mappings[0].match"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace tender::testing
