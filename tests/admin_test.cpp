// The management interface and lifecycle every role keeps, checked on `tender echo`.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <csignal>
#include <thread>

#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

TEST(Admin, HealthAndReadiness) {
  Tender t(echo_args());
  auto h = http(t.port("admin"), "GET", "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  auto r = http(t.port("admin"), "GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST(Admin, UnknownPathsAndWrongMethodsGetClearErrors) {
  Tender t(echo_args());
  auto nf = http(t.port("admin"), "GET", "/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_NE(nf.body.find("/nope"), std::string::npos);
  auto wm = http(t.port("admin"), "POST", "/healthz");
  EXPECT_EQ(wm.status, 405);
  EXPECT_EQ(wm.header("allow"), "GET, HEAD");
  EXPECT_EQ(http(t.port("admin"), "GET", "/drain").status, 405);
}

TEST(Admin, MetricsInBothFormatsPassPromtool) {
  Tender t(echo_args());
  ASSERT_EQ(http(t.port("listen"), "GET", "/x").status, 200);
  ASSERT_EQ(http(t.port("listen"), "GET", "/x?status=500").status, 500);

  auto text = http(t.port("admin"), "GET", "/metrics");
  ASSERT_EQ(text.status, 200);
  EXPECT_EQ(text.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(text.body.find("tender_echo_http_requests_total{code=\"200\",method=\"GET\"} 1"),
            std::string::npos)
      << text.body;
  EXPECT_NE(text.body.find("tender_echo_http_requests_total{code=\"500\",method=\"GET\"} 1"),
            std::string::npos);
  EXPECT_NE(text.body.find("tender_echo_http_request_duration_seconds_count 2"), std::string::npos);
  EXPECT_NE(text.body.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(text.body.find("tender_build_info{"), std::string::npos);
  auto check = run_command({"promtool", "check", "metrics"}, text.body);
  EXPECT_EQ(check.status.code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "") << "promtool reported lint problems";

  auto om = http(t.port("admin"), "GET", "/metrics",
                 {{"Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}});
  ASSERT_EQ(om.status, 200);
  EXPECT_EQ(om.header("content-type"),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
  ASSERT_GE(om.body.size(), 6u);
  EXPECT_EQ(om.body.substr(om.body.size() - 6), "# EOF\n");
  EXPECT_NE(om.body.find("# TYPE tender_echo_http_requests counter"), std::string::npos);
}

TEST(Admin, ConfigzAndStatusz) {
  Tender t(echo_args({"--id", "s1", "--grace", "7s"}));
  auto c = http(t.port("admin"), "GET", "/configz");
  ASSERT_EQ(c.status, 200);
  auto cfg = json::parse(c.body);
  EXPECT_EQ(cfg.at("role").as_string(), "echo");
  EXPECT_EQ(cfg.at("common").at("grace").as_string(), "7s");
  EXPECT_EQ(cfg.at("config").at("id").as_string(), "s1");
  EXPECT_EQ(cfg.at("config").at("listen").as_string(), "127.0.0.1:0");

  ASSERT_EQ(http(t.port("listen"), "GET", "/").status, 200);
  auto s = http(t.port("admin"), "GET", "/statusz");
  ASSERT_EQ(s.status, 200);
  auto st = json::parse(s.body);
  EXPECT_EQ(st.at("role").as_string(), "echo");
  EXPECT_EQ(st.at("state").as_string(), "running");
  EXPECT_FALSE(st.at("version").as_string().empty());
  EXPECT_GE(st.at("uptime_seconds").as_double(), 0.0);
  EXPECT_EQ(st.at("pid").as_int64(), t.pid());
  EXPECT_EQ(st.at("addresses").at("listen").as_string(),
            "127.0.0.1:" + std::to_string(t.port("listen")));
  EXPECT_EQ(st.at("status").at("requests_served").as_int64(), 1);
}

TEST(Admin, SigtermDrainsInFlightRequestThenExitsZero) {
  Tender t(echo_args({"--grace", "30s"}));
  Connection slow(t.port("listen"));
  ASSERT_TRUE(slow.send(request_bytes("GET", "/?delay_ms=2000")));
  ASSERT_TRUE(wait_in_flight(t, 1));
  t.signal(SIGTERM);
  // Readiness goes 503 while the request is still in flight, and no new connection is taken.
  bool saw_not_ready = eventually([&] {
    auto r = http(t.port("admin"), "GET", "/readyz");
    return r.status == 503 && r.body == "draining\n";
  });
  EXPECT_TRUE(saw_not_ready);
  EXPECT_FALSE(slow.readable_now()) << "the delayed request was answered before the check";
  EXPECT_TRUE(eventually([&] { return connect_refused(t.port("listen")); }));
  auto r = slow.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("connection"), "close");
  auto st = t.wait_exit(15s);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->exited);
  EXPECT_EQ(st->code, 0);
}

TEST(Admin, SecondSignalExitsAtOnce) {
  Tender t(echo_args({"--grace", "60s"}));
  Connection slow(t.port("listen"));
  ASSERT_TRUE(slow.send(request_bytes("GET", "/?delay_ms=60000")));
  ASSERT_TRUE(wait_in_flight(t, 1));
  t.signal(SIGINT);
  ASSERT_TRUE(eventually([&] { return http(t.port("admin"), "GET", "/readyz").status == 503; }));
  t.signal(SIGINT);
  auto st = t.wait_exit(10s);
  ASSERT_TRUE(st.has_value()) << "a second signal did not end the process";
  EXPECT_EQ(st->code, 128 + SIGINT);
}

TEST(Admin, GracePeriodBoundsTheDrain) {
  Tender t(echo_args({"--grace", "300ms"}));
  Connection slow(t.port("listen"));
  ASSERT_TRUE(slow.send(request_bytes("GET", "/?delay_ms=60000")));
  ASSERT_TRUE(wait_in_flight(t, 1));
  t.signal(SIGTERM);
  auto st = t.wait_exit(15s);
  ASSERT_TRUE(st.has_value()) << "the process outlived its grace period";
  EXPECT_EQ(st->code, 0);
  EXPECT_NE(t.stderr_text().find("grace period over"), std::string::npos);
}

TEST(Admin, DrainEndpointStopsNewWorkButKeepsRunning) {
  Tender t(echo_args());
  Connection idle(t.port("listen"));
  ASSERT_TRUE(idle.send(request_bytes("GET", "/")));
  ASSERT_EQ(idle.read_response().status, 200);
  auto d = http(t.port("admin"), "POST", "/drain");
  EXPECT_EQ(d.status, 200);
  EXPECT_TRUE(eventually([&] { return http(t.port("admin"), "GET", "/readyz").status == 503; }));
  EXPECT_TRUE(eventually([&] { return connect_refused(t.port("listen")); }));
  EXPECT_TRUE(idle.closed_by_peer(10s)) << "idle keep-alive connection not closed on drain";
  // Still alive and reporting.
  EXPECT_EQ(http(t.port("admin"), "GET", "/healthz").status, 200);
  auto st = json::parse(http(t.port("admin"), "GET", "/statusz").body);
  EXPECT_EQ(st.at("state").as_string(), "draining");
  EXPECT_FALSE(t.wait_exit(200ms).has_value());
}

TEST(Admin, QuitQuitQuitExitsGracefully) {
  Tender t(echo_args());
  auto r = http(t.port("admin"), "POST", "/quitquitquit");
  EXPECT_EQ(r.status, 200);
  auto st = t.wait_exit(15s);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->code, 0);
}

TEST(Admin, SighupWithoutReloadSupportKeepsRunning) {
  Tender t(echo_args());
  t.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return http(t.port("admin"), "GET", "/metrics")
               .body.find("tender_echo_config_reloads_total{result=\"error\"} 1") !=
           std::string::npos;
  }));
  EXPECT_EQ(http(t.port("listen"), "GET", "/").status, 200);
}

TEST(Admin, AdminListenerBoundsRequestBodies) {
  Tender t(echo_args());
  auto r = http(t.port("admin"), "POST", "/drain", {}, std::string(100 * 1024, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(http(t.port("admin"), "GET", "/readyz").status, 200);
}

// A web page the operator visits may send a "simple" cross-site POST (a form, or fetch with
// text/plain) that no preflight stops: it must not stop or drain the process.
TEST(Admin, CrossSiteRequestsCannotDriveIt) {
  Tender t(echo_args());
  std::uint16_t admin = t.port("admin");
  auto quit = http(admin, "POST", "/quitquitquit",
                   {{"Origin", "http://evil.example"}, {"Content-Type", "text/plain"}}, "x");
  EXPECT_EQ(quit.status, 403);
  EXPECT_NE(quit.body.find("cross-origin"), std::string::npos) << quit.body;
  EXPECT_EQ(http(admin, "POST", "/drain", {{"Sec-Fetch-Site", "cross-site"}}).status, 403);
  EXPECT_EQ(http(admin, "POST", "/drain", {{"Origin", "null"}}).status, 403);
  EXPECT_FALSE(t.wait_exit(300ms).has_value());
  EXPECT_EQ(http(admin, "GET", "/readyz").status, 200);  // not draining either
  // Its own origin, and tools that send none, are served.
  std::string host = "127.0.0.1:" + std::to_string(admin);
  EXPECT_EQ(http(admin, "POST", "/drain", {{"Host", host}, {"Origin", "http://" + host}}).status,
            200);
  // A drain begins on the control thread, just after its answer.
  EXPECT_TRUE(eventually([&] { return http(admin, "GET", "/readyz").status == 503; }));
}

// DNS rebinding: a page whose name now points at 127.0.0.1 reads what it asks for, but its
// requests carry its name in Host.
TEST(Admin, AnswersOnlyToItsAddressesLocalhostAndAllowedNames) {
  Tender t(echo_args({"--admin-allow-host", "tender.test"}));
  std::uint16_t admin = t.port("admin");
  std::string port = ":" + std::to_string(admin);
  auto evil = http(admin, "GET", "/configz", {{"Host", "evil.example" + port}});
  EXPECT_EQ(evil.status, 421);
  EXPECT_EQ(evil.body.find("\"role\""), std::string::npos);
  EXPECT_EQ(http(admin, "GET", "/configz", {{"Host", "localhost" + port}}).status, 200);
  EXPECT_EQ(http(admin, "GET", "/configz", {{"Host", "127.0.0.1" + port}}).status, 200);
  EXPECT_EQ(http(admin, "GET", "/configz", {{"Host", "tender.test" + port}}).status, 200);
  // The traffic listener is not an admin listener: any name reaches it.
  EXPECT_EQ(http(t.port("listen"), "GET", "/x", {{"Host", "evil.example"}}).status, 200);
}

TEST(Admin, EmptyHostMeansLoopbackAndOtherAddressesAreWarnedAbout) {
  Tender local({"echo", "--listen", ":0", "--admin", ":0"});
  auto st = json::parse(http(local.port("admin"), "GET", "/statusz").body);
  EXPECT_TRUE(st.at("addresses").at("admin").as_string().starts_with("127.0.0.1:")) << st;
  EXPECT_TRUE(st.at("addresses").at("listen").as_string().starts_with("127.0.0.1:")) << st;
  EXPECT_EQ(local.stderr_text().find("reachable beyond loopback"), std::string::npos);
  Tender wide({"echo", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"});
  EXPECT_TRUE(eventually([&] {
    return wide.stderr_text().find("reachable beyond loopback") != std::string::npos;
  })) << wide.stderr_text();
}

}  // namespace
}  // namespace tender::testing
