// `tender adapt` as a whole: its command line, --check and bad configuration (exit 2 naming the
// file and line). The sources, health checks and log adapters have tests of their own
// (adapt_*_test.cpp).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "proxy_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

TEST(AdaptCli, NothingToAdaptIsAUsageError) {
  RunResult r = run_tender({"adapt"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("nothing to adapt"), std::string::npos) << r.err;
}

TEST(AdaptCli, BadConfigurationNamesFileAndLine) {
  TempDir dir;
  std::string path = dir.write("adapt.yaml",
                               "metrics:\n"
                               "  sources:\n"
                               "    - name: app\n"
                               "      jsn: {url: http://127.0.0.1:1/}\n");
  RunResult r = run_tender({"adapt", "--config", path, "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(path + ":4: metrics.sources[0].jsn: not a source kind"), std::string::npos)
      << r.err;
}

TEST(AdaptCli, OneLinerFlagsAreChecked) {
  RunResult map_alone = run_tender({"adapt", "--map", "/nonexistent.yaml"});
  EXPECT_EQ(map_alone.status.code, 2);
  EXPECT_NE(map_alone.err.find("--map: goes with --json or --statsd"), std::string::npos)
      << map_alone.err;
  RunResult json_alone = run_tender({"adapt", "--json", "http://127.0.0.1:1/stats"});
  EXPECT_EQ(json_alone.status.code, 2);
  EXPECT_NE(json_alone.err.find("--json: needs --map"), std::string::npos) << json_alone.err;
  RunResult bad_url = run_tender({"adapt", "--text", "ftp://x/"});
  EXPECT_EQ(bad_url.status.code, 2);
  EXPECT_NE(bad_url.err.find("--text:"), std::string::npos) << bad_url.err;
}

TEST(AdaptCli, TwoSourcesOfOneNameAreRefused) {
  TempDir dir;
  std::string path = dir.write("adapt.yaml",
                               "metrics:\n"
                               "  sources:\n"
                               "    - {name: a, text: {url: 'http://127.0.0.1:1/metrics'}}\n"
                               "    - {name: a, text: {url: 'http://127.0.0.1:2/metrics'}}\n");
  RunResult r = run_tender({"adapt", "--config", path, "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(":4:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("two sources are named a"), std::string::npos) << r.err;
}

// The expected expositions of the golden cases (src/adapter/exposition_golden_test.cpp) are
// what Prometheus' own checker accepts, lint included.
TEST(AdaptCli, GoldenExpositionsPassPromtool) {
  for (const char* name : {"escaping"}) {
    std::string path = std::string(TENDER_TESTS_DIR) + "/golden/adapt/" + name + ".prom";
    RunResult r = run_command({"promtool", "check", "metrics"}, slurp(path));
    EXPECT_TRUE(r.status.success()) << path << ": " << r.out << r.err;
  }
}

boost::json::object source_status(const Tender& adapt, const std::string& name) {
  auto statusz = boost::json::parse(http(adapt.port("admin"), "GET", "/statusz").body);
  for (const auto& s : statusz.at("status").at("sources").as_array()) {
    if (s.at("name").as_string() == name) {
      return s.as_object();
    }
  }
  return {};
}

// --metrics-listen: the adapted series on a port of their own, tender's own on the admin one.
TEST(AdaptRole, MetricsListenServesTheAdaptedSeriesApart) {
  Tender echo(echo_args());
  Tender adapt({"adapt", "--admin", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--text",
                "http://127.0.0.1:" + std::to_string(echo.port("admin")) + "/metrics"});
  HttpResult adapted = http(adapt.port("metrics"), "GET", "/metrics");
  ASSERT_EQ(adapted.status, 200);
  EXPECT_GE(metric_sum(adapted.body, {"tender_echo_delayed_requests_total", {}}), 0)
      << adapted.body;
  EXPECT_EQ(metric_sum(adapted.body, {"tender_adapt_source_up", {{"source", "text"}}}), 1);
  // Here the app's process metrics do not meet tender's own: they are served as they came.
  EXPECT_GE(metric_sum(adapted.body, {"process_open_fds", {}}), 0) << adapted.body;
  HttpResult own = http(adapt.port("admin"), "GET", "/metrics");
  EXPECT_EQ(metric_sum(own.body, {"tender_echo_delayed_requests_total", {}}), -1) << own.body;
  EXPECT_EQ(metric_sum(own.body, {"tender_adapt_source_up", {{"source", "text"}}}), 1);
  HttpResult om = http(adapt.port("metrics"), "GET", "/metrics",
                       {{"Accept", "application/openmetrics-text;version=1.0.0"}});
  EXPECT_EQ(om.body.substr(om.body.size() - 6), "# EOF\n");
}

// A source that is down is 0 with its reason; the scrape still answers.
TEST(AdaptRole, ASourceDownIsZeroWithItsReason) {
  std::uint16_t closed = free_port();
  Tender adapt({"adapt", "--admin", "127.0.0.1:0", "--text",
                "http://127.0.0.1:" + std::to_string(closed) + "/metrics"});
  HttpResult m = http(adapt.port("admin"), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(metric_sum(m.body, {"tender_adapt_source_up", {{"source", "text"}}}), 0) << m.body;
  EXPECT_EQ(metric_sum(m.body, {"tender_adapt_collect_failures_total", {{"source", "text"}}}), 1);
  boost::json::object st = source_status(adapt, "text");
  EXPECT_EQ(st.at("up"), false);
  std::string reason(st.at("reason").as_string());
  EXPECT_NE(reason.find("refused"), std::string::npos) << reason;
}

// A source that does not answer holds a scrape 10 s at most, whatever its own timeout.
TEST(AdaptRole, AScrapeWaitsForASourceTenSecondsAtMost) {
  // A listener nobody accepts from: connects complete, requests are never answered.
  sockaddr_in addr{};
  int silent = listen_loopback(0, addr);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{silent};
  std::uint16_t port = ntohs(addr.sin_port);
  TempDir dir;
  std::string path = dir.write("adapt.yaml",
                               "metrics:\n"
                               "  sources:\n"
                               "    - name: stuck\n"
                               "      text: {url: 'http://127.0.0.1:" +
                                   std::to_string(port) + "/metrics', timeout: 60s}\n");
  Tender adapt({"adapt", "--admin", "127.0.0.1:0", "--config", path});
  HttpResult m = http(adapt.port("admin"), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(metric_sum(m.body, {"tender_adapt_source_up", {{"source", "stuck"}}}), 0) << m.body;
  boost::json::object st = source_status(adapt, "stuck");
  EXPECT_EQ(std::string(st.at("reason").as_string()), "no answer within 10s");
}

// SIGHUP: a check added to the file is served, a source removed is gone; a file with a
// mistake is refused and the running configuration kept.
TEST(AdaptRole, SighupAppliesTheFileOrKeepsTheRunningOne) {
  Tender echo(echo_args());
  TempDir dir;
  const std::string echo_url =
      "http://127.0.0.1:" + std::to_string(echo.port("admin")) + "/metrics";
  std::string path = dir.write("adapt.yaml",
                               "metrics:\n"
                               "  sources:\n"
                               "    - {name: one, text: {url: '" +
                                   echo_url +
                                   "'}}\n"
                                   "    - {name: two, text: {url: '" +
                                   echo_url + "'}}\n");
  Tender adapt({"adapt", "--admin", "127.0.0.1:0", "--config", path});
  const std::uint16_t admin = adapt.port("admin");
  HttpResult before = http(admin, "GET", "/metrics");
  EXPECT_EQ(metric_sum(before.body, {"tender_adapt_source_up", {{"source", "two"}}}), 1);
  EXPECT_EQ(http(admin, "GET", "/healthz/echo").status, 404);

  dir.write("adapt.yaml",
            "metrics:\n"
            "  sources:\n"
            "    - {name: one, text: {url: '" +
                echo_url +
                "'}}\n"
                "health:\n"
                "  checks:\n"
                "    - {name: echo, tcp: 127.0.0.1:" +
                std::to_string(echo.port("admin")) + "}\n");
  adapt.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return http(admin, "GET", "/healthz/echo").status == 200; }));
  auto sources =
      boost::json::parse(http(admin, "GET", "/statusz").body).at("status").at("sources").as_array();
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].at("name"), "one");
  EXPECT_EQ(admin_metric(adapt, {"tender_adapt_config_reloads_total", {{"result", "ok"}}}), 1);

  dir.write("adapt.yaml", "metrics:\n  sources:\n    - {name: one, jsn: {}}\n");
  adapt.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return admin_metric(adapt, {"tender_adapt_config_reloads_total", {{"result", "error"}}}) == 1;
  }));
  EXPECT_EQ(http(admin, "GET", "/healthz/echo").status, 200);  // still the running checks
  HttpResult after = http(admin, "GET", "/metrics");
  EXPECT_EQ(metric_sum(after.body, {"tender_adapt_source_up", {{"source", "one"}}}), 1);
}

}  // namespace
}  // namespace tender::testing
