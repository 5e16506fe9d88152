// `tender adapt`'s json and text sources against real HTTP apps: tests/adapt_app.py serving
// JSON and Prometheus text from files the tests rewrite, and `tender echo`'s own /metrics.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "support.hpp"

namespace tender::testing {
namespace {

// tests/adapt_app.py serving `dir`, on `port` (0: any).
std::unique_ptr<Tender> start_app(const std::string& dir, std::uint16_t port = 0) {
  return std::make_unique<Tender>(
      std::vector<std::string>{std::string(TENDER_TESTS_DIR) + "/adapt_app.py", "--port",
                               std::to_string(port), "--dir", dir},
      std::vector<std::string>{"python3", "-u"});
}

std::string url(const Tender& app, const std::string& name) {
  return "http://127.0.0.1:" + std::to_string(app.port("listen")) + "/" + name;
}

int app_requests(const Tender& app) {
  return std::stoi(http(app.port("listen"), "GET", "/_requests").body);
}

std::string metrics(const Tender& t) { return http(t.port("admin"), "GET", "/metrics").body; }

double up(const Tender& t, const std::string& source) {
  return admin_metric(t, {"tender_adapt_source_up", {{"source", source}}});
}

// Writes `name` in `dir` all at once (the app never serves half a file).
void put(const TempDir& dir, const std::string& name, const std::string& content) {
  dir.write("." + name, content);
  std::rename((dir.path() + "/." + name).c_str(), (dir.path() + "/" + name).c_str());
}

constexpr const char* kStats = R"({
  "uptime": 12.5,
  "requests": {"total": 7},
  "version": "1.2.3",
  "ok": true,
  "servers": [{"name": "a", "load": 0.25, "state": "up"},
              {"name": "b", "load": 0.75, "state": "down"}]
})";

constexpr const char* kMap =
    "metrics:\n"
    "  - {name: app_uptime_seconds, help: Seconds up., path: $.uptime}\n"
    "  - {name: app_requests, type: counter, path: $.requests.total,\n"
    "     labels: {version: '{$.version}'}}\n"
    "  - {name: app_ok, path: $.ok}\n"
    "  - name: app_server\n"
    "    type: object\n"
    "    path: $.servers\n"
    "    labels: {server: '{.name}'}\n"
    "    values: {load: .load, up: .state}\n"
    "    value_converter: {up: {up: 1, down: 0}}\n";

TEST(AdaptJson, OneLinerMapsAnAppsJson) {
  TempDir dir;
  put(dir, "stats.json", kStats);
  auto app = start_app(dir.path());
  std::string map = dir.write("stats.yaml", std::string(kMap) + "cache: 0\n");
  Tender t({"adapt", "--json", url(*app, "stats.json"), "--map", map, "--admin", "127.0.0.1:0"});
  std::string m = metrics(t);
  EXPECT_EQ(metric_sum(m, {"app_uptime_seconds", {}}), 12.5) << m;
  EXPECT_EQ(metric_sum(m, {"app_requests_total", {{"version", "1.2.3"}}}), 7) << m;
  EXPECT_EQ(metric_sum(m, {"app_ok", {}}), 1) << m;
  EXPECT_EQ(metric_sum(m, {"app_server_load", {{"server", "a"}}}), 0.25) << m;
  EXPECT_EQ(metric_sum(m, {"app_server_load", {{"server", "b"}}}), 0.75) << m;
  EXPECT_EQ(metric_sum(m, {"app_server_up", {{"server", "a"}}}), 1) << m;
  EXPECT_EQ(metric_sum(m, {"app_server_up", {{"server", "b"}}}), 0) << m;
  EXPECT_EQ(metric_sum(m, {"tender_adapt_source_up", {{"source", "json"}}}), 1) << m;
  EXPECT_NE(m.find("# TYPE app_requests_total counter"), std::string::npos) << m;
  EXPECT_NE(m.find("# HELP app_uptime_seconds Seconds up."), std::string::npos) << m;
  auto check = run_command({"promtool", "check", "metrics"}, m);
  EXPECT_EQ(check.status.code, 0) << check.out << check.err << m;
}

TEST(AdaptJson, CacheTtlDecidesWhenTheAppIsAskedAgain) {
  TempDir dir;
  put(dir, "stats.json", R"({"n": 1})");
  auto app = start_app(dir.path());
  std::string cfg = dir.write("adapt.yaml",
                              "metrics:\n  sources:\n"
                              "    - name: slow\n"
                              "      json: {url: '" +
                                  url(*app, "stats.json") +
                                  "', cache: 1h, metrics: [{name: slow_n, path: $.n}]}\n"
                                  "    - name: fast\n"
                                  "      json: {url: '" +
                                  url(*app, "stats.json") +
                                  "', cache: 100ms, metrics: [{name: fast_n, path: $.n}]}\n");
  Tender t({"adapt", "--config", cfg, "--admin", "127.0.0.1:0"});
  EXPECT_EQ(admin_metric(t, {"slow_n", {}}), 1);
  EXPECT_EQ(admin_metric(t, {"fast_n", {}}), 1);
  put(dir, "stats.json", R"({"n": 2})");
  // After its TTL the fast source shows the new number; the slow one, within its own, the old.
  EXPECT_TRUE(eventually([&] { return admin_metric(t, {"fast_n", {}}) == 2; }));
  EXPECT_EQ(admin_metric(t, {"slow_n", {}}), 1);
}

TEST(AdaptJson, ConcurrentScrapesAreOneRequestToTheApp) {
  TempDir dir;
  put(dir, "stats.json", R"({"n": 5})");
  put(dir, "stats.json.delay", "0.5");  // the fetch is in flight while the scrapes come
  auto app = start_app(dir.path());
  std::string map = dir.write("m.yaml", "cache: 1h\nmetrics: [{name: n, path: $.n}]\n");
  Tender t({"adapt", "--json", url(*app, "stats.json"), "--map", map, "--admin", "127.0.0.1:0"});
  std::atomic<int> good{0};
  std::vector<std::thread> scrapes;
  for (int i = 0; i < 50; ++i) {
    scrapes.emplace_back([&] {
      if (metric_sum(metrics(t), {"n", {}}) == 5) {
        ++good;
      }
    });
  }
  for (auto& s : scrapes) {
    s.join();
  }
  EXPECT_EQ(good.load(), 50);
  EXPECT_EQ(app_requests(*app), 1);
}

TEST(AdaptJson, AppDownMalformedOrFailingIsSourceDownWithAReason) {
  TempDir dir;
  put(dir, "stats.json", R"({"n": 1})");
  auto app = start_app(dir.path());
  const std::uint16_t port = app->port("listen");
  std::string map = dir.write("m.yaml", "cache: 0\ntimeout: 1s\nmetrics: [{name: n, path: $.n}]\n");
  Tender t({"adapt", "--json", url(*app, "stats.json"), "--map", map, "--admin", "127.0.0.1:0"});
  EXPECT_EQ(up(t, "json"), 1);
  auto statusz = [&] {  // after a scrape: a source is collected when /metrics is
    (void)metrics(t);
    return http(t.port("admin"), "GET", "/statusz").body;
  };

  app->signal(SIGKILL);
  ASSERT_TRUE(app->wait_exit());
  EXPECT_TRUE(eventually([&] { return up(t, "json") == 0; }));
  EXPECT_EQ(admin_metric(t, {"n", {}}), -1);  // a source that is down gives no series
  EXPECT_NE(statusz().find("connect: Connection refused"), std::string::npos) << statusz();

  app = start_app(dir.path(), port);
  EXPECT_TRUE(eventually([&] { return up(t, "json") == 1; }));
  EXPECT_EQ(admin_metric(t, {"n", {}}), 1);

  put(dir, "stats.json", "{\"n\": 1,\n \"m\": oops}");
  EXPECT_TRUE(eventually([&] { return up(t, "json") == 0; }));
  EXPECT_NE(statusz().find("json: line 2, column"), std::string::npos) << statusz();

  put(dir, "stats.json", std::string(100'000, '['));  // deeper than anyone nests
  EXPECT_TRUE(eventually([&] { return statusz().find("too deep") != std::string::npos; }))
      << statusz();
  EXPECT_EQ(up(t, "json"), 0);

  put(dir, "stats.json", R"({"n": 3})");
  put(dir, "stats.json.status", "500");
  EXPECT_TRUE(eventually([&] { return statusz().find("HTTP 500") != std::string::npos; }))
      << statusz();
  EXPECT_EQ(up(t, "json"), 0);

  std::remove((dir.path() + "/stats.json.status").c_str());
  EXPECT_TRUE(eventually([&] { return admin_metric(t, {"n", {}}) == 3; }));
  EXPECT_EQ(up(t, "json"), 1);
  EXPECT_GE(admin_metric(t, {"tender_adapt_collect_failures_total", {{"source", "json"}}}), 3);
}

TEST(AdaptJson, ASlowAppTimesOut) {
  TempDir dir;
  auto app = start_app(dir.path());
  std::string map = dir.write("m.yaml", "timeout: 200ms\nmetrics: [{name: n, path: $.n}]\n");
  Tender t({"adapt", "--json", url(*app, "hang"), "--map", map, "--admin", "127.0.0.1:0"});
  EXPECT_EQ(up(t, "json"), 0);
  std::string s = http(t.port("admin"), "GET", "/statusz").body;
  EXPECT_NE(s.find("timed out after 200ms"), std::string::npos) << s;
}

TEST(AdaptJson, BadMappingIsExit2WithFileAndLine) {
  TempDir dir;
  std::string map = dir.write("m.yaml",
                              "metrics:\n"
                              "  - name: n\n"
                              "    path: $.servers[\n");
  RunResult r =
      run_tender({"adapt", "--json", "http://127.0.0.1:1/stats", "--map", map, "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(map + ":3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a path"), std::string::npos) << r.err;
  std::string type = dir.write("t.yaml", "metrics:\n  - {name: n, type: summary, path: $.n}\n");
  RunResult t =
      run_tender({"adapt", "--json", "http://127.0.0.1:1/stats", "--map", type, "--check"});
  EXPECT_EQ(t.status.code, 2);
  EXPECT_NE(t.err.find(type + ":2:"), std::string::npos) << t.err;
  std::string https = dir.write("h.yaml", "metrics: [{name: n, path: $.n}]\n");
  RunResult h =
      run_tender({"adapt", "--json", "https://127.0.0.1:1/stats", "--map", https, "--check"});
  EXPECT_EQ(h.status.code, 2);
}

TEST(AdaptText, RelabelledExpositionsMergeWithJsonInOneValidBody) {
  TempDir dir;
  put(dir, "stats.json", kStats);
  put(dir, "metrics",
      "# HELP http_latency_seconds Request latency.\n"
      "# TYPE http_latency_seconds histogram\n"
      "http_latency_seconds_bucket{path=\"/a\",le=\"0.1\"} 3\n"
      "http_latency_seconds_bucket{path=\"/a\",le=\"+Inf\"} 5\n"
      "http_latency_seconds_sum{path=\"/a\"} 0.9\n"
      "http_latency_seconds_count{path=\"/a\"} 5\n"
      "# TYPE jobs_done_total counter\n"
      "jobs_done_total{queue=\"q \\\"1\\\"\"} 42\n"
      "# TYPE go_goroutines gauge\n"
      "go_goroutines 12\n");
  auto app = start_app(dir.path());
  Tender echo(echo_args());
  std::string cfg =
      dir.write("adapt.yaml",
                "metrics:\n  sources:\n"
                "    - name: app\n"
                "      json:\n"
                "        url: '" +
                    url(*app, "stats.json") + "'\n" +
                    "        metrics:\n"
                    "          - {name: app_uptime_seconds, path: $.uptime}\n"
                    "    - name: worker\n"
                    "      text:\n"
                    "        url: '" +
                    url(*app, "metrics") + "'\n" +
                    "        labels: {app: worker}\n"
                    "        relabel:\n"
                    "          - {source_labels: [__name__], regex: 'go_.*', action: drop}\n"
                    "          - source_labels: [__name__]\n"
                    "            regex: 'http_(.*)'\n"
                    "            target_label: __name__\n"
                    "            replacement: 'worker_http_$1'\n"
                    "    - name: echo\n"
                    "      text:\n"
                    "        url: 'http://127.0.0.1:" +
                    std::to_string(echo.port("admin")) + "/metrics'\n" +
                    "        labels: {app: echo}\n"
                    "        relabel:\n"
                    "          - {source_labels: [__name__], regex: 'tender_echo_.*|process_.*', "
                    "action: keep}\n"
                    "          - {source_labels: [__name__], regex: '(tender_)?(.*)', "
                    "target_label: __name__,\n"
                    "             replacement: 'echo_$2'}\n");
  Tender t({"adapt", "--config", cfg, "--admin", "127.0.0.1:0"});
  std::string m = metrics(t);
  EXPECT_EQ(metric_sum(m, {"app_uptime_seconds", {}}), 12.5) << m;
  // Renamed whole: buckets, sum and count under the new name, with the static label.
  EXPECT_EQ(metric_sum(m, {"worker_http_latency_seconds_bucket",
                           {{"app", "worker"}, {"path", "/a"}, {"le", "0.1"}}}),
            3)
      << m;
  EXPECT_EQ(metric_sum(m, {"worker_http_latency_seconds_count", {{"app", "worker"}}}), 5) << m;
  EXPECT_NE(m.find("# TYPE worker_http_latency_seconds histogram"), std::string::npos) << m;
  EXPECT_NE(m.find("# HELP worker_http_latency_seconds Request latency."), std::string::npos);
  EXPECT_NE(m.find("jobs_done_total{app=\"worker\",queue=\"q \\\"1\\\"\"} 42"), std::string::npos)
      << m;
  EXPECT_EQ(metric_sum(m, {"go_goroutines", {}}), -1) << m;             // dropped
  EXPECT_EQ(m.find("\nhttp_latency_seconds"), std::string::npos) << m;  // only the new name
  // tender echo's own metrics, renamed, beside tender adapt's own.
  EXPECT_GE(metric_sum(m, {"echo_echo_http_connections", {{"app", "echo"}}}), 0) << m;
  EXPECT_GT(metric_sum(m, {"echo_process_start_time_seconds", {{"app", "echo"}}}), 0) << m;
  for (const char* s : {"app", "worker", "echo"}) {
    EXPECT_EQ(metric_sum(m, {"tender_adapt_source_up", {{"source", s}}}), 1) << s << "\n" << m;
  }
  auto check = run_command({"promtool", "check", "metrics"}, m);
  EXPECT_EQ(check.status.code, 0) << check.out << check.err << m;
}

TEST(AdaptText, OneLinerAndABadExposition) {
  TempDir dir;
  put(dir, "metrics", "ok 1\nbad{x=1} 2\n");
  auto app = start_app(dir.path());
  Tender t({"adapt", "--text", url(*app, "metrics"), "--admin", "127.0.0.1:0"});
  EXPECT_EQ(up(t, "text"), 0);
  std::string s = http(t.port("admin"), "GET", "/statusz").body;
  EXPECT_NE(s.find("text: line 2: malformed label"), std::string::npos) << s;
  put(dir, "metrics", "# TYPE ok gauge\nok 1\n");
  EXPECT_TRUE(eventually([&] { return admin_metric(t, {"ok", {}}) == 1; }));
}

TEST(AdaptText, BadRelabelRegexIsExit2AtItsLine) {
  TempDir dir;
  std::string cfg = dir.write("adapt.yaml",
                              "metrics:\n  sources:\n"
                              "    - name: t\n"
                              "      text:\n"
                              "        url: http://127.0.0.1:1/metrics\n"
                              "        relabel:\n"
                              "          - source_labels: [__name__]\n"
                              "            regex: '(unclosed'\n"
                              "            action: drop\n");
  RunResult r = run_tender({"adapt", "--config", cfg, "--check"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find(cfg + ":8:"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tender::testing
