#include "core/metrics.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#ifndef TENDER_TESTDATA_DIR
#error "TENDER_TESTDATA_DIR must be the absolute path of src/core/testdata"
#endif

extern char** environ;

namespace tender {
namespace {

using metrics_internal::format_double;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares `actual` with testdata/`name`. With TENDER_UPDATE_GOLDEN=1 in the environment, writes
// the file instead (review the diff before committing it).
void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(TENDER_TESTDATA_DIR) + "/" + name;
  if (const char* update = std::getenv("TENDER_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path, std::ios::binary) << actual;
  }
  std::ifstream probe(path);
  ASSERT_TRUE(probe.good()) << "missing golden file " << path;
  EXPECT_EQ(read_file(path), actual) << "golden file " << path;
}

// A registry with one of everything, including values that need escaping.
void fill_golden(Registry& r) {
  r.counter("tender_test_requests_total", "Requests served.").inc(3);
  CounterFamily& http = r.counter_family(
      "tender_test_http_requests_total",
      "HTTP requests by \"code\" and method.\nA backslash: \\ ends here.", {"code", "method"});
  http.with({"200", "GET"}).inc(7);
  http.with({"500", "P\"O\\S\nT"}).inc();
  http.with({"200", "DELETE"}).add(0.5);
  r.counter_family("tender_test_unused_total", "Never incremented, so never shown.", {"x"});
  r.gauge("tender_test_connections", "Open connections.").set(-2.5);
  r.gauge("tender_test_queue_bytes", "Bytes queued.").set(1234567);
  r.gauge("tender_test_tiny_ratio", "A small value.").set(1e-7);
  r.gauge_callback("tender_test_limit_ratio", "", [] { return kInf; });
  r.counter_callback("tender_test_callback_seconds_total", "Seconds counted by a callback.",
                     [] { return 2.0; });
  Histogram& h = r.histogram("tender_test_request_duration_seconds", "Time to serve a request.",
                             {0.005, 0.1, 1, 10});
  for (double v : {0.00390625, 0.0625, 0.5, 2.0, 100.0, 0.1}) {
    h.observe(v);
  }
  HistogramFamily& upstream = r.histogram_family("tender_test_upstream_latency_seconds",
                                                 "Latency by upstream.", {"upstream"}, {0.5});
  upstream.with({"b"}).observe(1);
  upstream.with({"a"}).observe(0.25);
}

TEST(MetricsGolden, Prometheus) {
  Registry r;
  fill_golden(r);
  expect_golden("metrics_golden.prom", r.render(Format::kPrometheus));
}

TEST(MetricsGolden, OpenMetrics) {
  Registry r;
  fill_golden(r);
  expect_golden("metrics_golden.om", r.render(Format::kOpenMetrics));
}

TEST(MetricsFormat, FloatsMatchGoAndRoundTrip) {
  struct Case {
    double v;
    const char* prometheus;
    const char* openmetrics;
  };
  const Case cases[] = {
      {0, "0", "0.0"},
      {1, "1", "1.0"},
      {-1, "-1", "-1.0"},
      {0.1, "0.1", "0.1"},
      {0.005, "0.005", "0.005"},
      {0.0001, "0.0001", "0.0001"},
      {1e-5, "1e-05", "1e-05"},
      {2.5, "2.5", "2.5"},
      {100000, "100000", "100000.0"},
      {1e6, "1e+06", "1e+06"},
      {1234567, "1.234567e+06", "1.234567e+06"},
      {123456.5, "123456.5", "123456.5"},
      {1e23, "1e+23", "1e+23"},
      {1.1e23, "1.1e+23", "1.1e+23"},
      {-0.25, "-0.25", "-0.25"},
      {5e-324, "5e-324", "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308"},
      {kInf, "+Inf", "+Inf"},
      {-kInf, "-Inf", "-Inf"},
      {kNaN, "NaN", "NaN"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(format_double(c.v, Format::kPrometheus), c.prometheus) << c.v;
    EXPECT_EQ(format_double(c.v, Format::kOpenMetrics), c.openmetrics) << c.v;
  }
  for (double v : {0.1 + 0.2, 1.0 / 3, 12345.678901234567, 6.02214076e23, 299792.458}) {
    EXPECT_EQ(std::strtod(format_double(v, Format::kPrometheus).c_str(), nullptr), v);
    EXPECT_EQ(std::strtod(format_double(v, Format::kOpenMetrics).c_str(), nullptr), v);
  }
}

TEST(MetricsNegotiate, PicksOpenMetricsOnlyWhenPreferred) {
  const auto om = Format::kOpenMetrics;
  const auto prom = Format::kPrometheus;
  EXPECT_EQ(Registry::negotiate("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"), om);
  EXPECT_EQ(Registry::negotiate("application/openmetrics-text;version=1.0.0,"
                                "application/openmetrics-text;version=0.0.1;q=0.75,"
                                "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            om);  // what Prometheus 2.x sends
  EXPECT_EQ(Registry::negotiate("application/openmetrics-text"), om);
  EXPECT_EQ(Registry::negotiate(" Application/OpenMetrics-Text ; Version=1.0.0 "), om);
  EXPECT_EQ(Registry::negotiate("text/plain;q=0.5, application/openmetrics-text"), om);
  EXPECT_EQ(Registry::negotiate("*/*, application/openmetrics-text"), om);  // more specific

  EXPECT_EQ(Registry::negotiate(""), prom);
  EXPECT_EQ(Registry::negotiate("*/*"), prom);
  EXPECT_EQ(Registry::negotiate("text/plain"), prom);
  EXPECT_EQ(Registry::negotiate("text/plain;version=0.0.4"), prom);
  EXPECT_EQ(Registry::negotiate("application/json"), prom);
  EXPECT_EQ(Registry::negotiate("application/openmetrics-text;q=0.2, text/plain"), prom);
  EXPECT_EQ(Registry::negotiate("application/openmetrics-text;q=0"), prom);
  EXPECT_EQ(Registry::negotiate("application/openmetrics-text;version=2.0.0"), prom);
  EXPECT_EQ(Registry::negotiate("application/openmetrics-text;q=bogus"), prom);
  EXPECT_EQ(Registry::negotiate("text/plain, application/openmetrics-text"), prom);  // tie: first
  EXPECT_EQ(Registry::negotiate(",,;;=,garbage"), prom);
}

TEST(MetricsNegotiate, ContentTypes) {
  EXPECT_EQ(Registry::content_type(Format::kPrometheus),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(Registry::content_type(Format::kOpenMetrics),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST(MetricsNames, Validation) {
  for (const char* good : {"a", "_a", ":a", "a:b_c9", "tender_echo_requests", "A"}) {
    EXPECT_TRUE(is_valid_metric_name(good)) << good;
  }
  for (const char* bad : {"", "1a", "a-b", "a b", "a.b", "é", "a\n"}) {
    EXPECT_FALSE(is_valid_metric_name(bad)) << bad;
  }
  for (const char* good : {"a", "_a", "code", "le", "A9_"}) {
    EXPECT_TRUE(is_valid_label_name(good)) << good;
  }
  for (const char* bad : {"", "__a", "__", "a:b", "9a", "a-b"}) {
    EXPECT_FALSE(is_valid_label_name(bad)) << bad;
  }

  Registry r;
  EXPECT_THROW(r.gauge("bad-name", "h"), std::invalid_argument);
  EXPECT_THROW(r.gauge("", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter("tender_requests", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter("_total", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter_callback("tender_seconds", "h", [] { return 1.0; }),
               std::invalid_argument);
  EXPECT_THROW(r.counter_family("tender_a_total", "h", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.counter_family("tender_b_total", "h", {"a:b"}), std::invalid_argument);
  EXPECT_THROW(r.counter_family("tender_c_total", "h", {"x", "y", "x"}), std::invalid_argument);
  EXPECT_THROW(r.histogram_family("tender_d_seconds", "h", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("tender_e_seconds", "h", {1, 0.5}), std::invalid_argument);
  EXPECT_THROW(r.histogram("tender_f_seconds", "h", {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("tender_g_seconds", "h", {kNaN}), std::invalid_argument);
  EXPECT_THROW(r.gauge_callback("tender_h", "h", nullptr), std::invalid_argument);
  EXPECT_NO_THROW(r.gauge_family("tender_le", "h", {"le"}));  // "le" is only reserved there
  EXPECT_EQ(r.render(), "");  // nothing failed half-way into the registry
}

TEST(MetricsRegistry, SameRegistrationReturnsTheSameMetric) {
  Registry r;
  Counter& a = r.counter("tender_x_total", "first help");
  Counter& b = r.counter("tender_x_total", "other help is ignored");
  EXPECT_EQ(&a, &b);
  CounterFamily& f = r.counter_family("tender_y_total", "h", {"code", "method"});
  EXPECT_EQ(&f, &r.counter_family("tender_y_total", "h", {"code", "method"}));
  EXPECT_EQ(&f.with({"200", "GET"}), &f.with({"200", "GET"}));
  const std::vector<std::string> values = {"200", "GET"};
  EXPECT_EQ(&f.with({"200", "GET"}), &f.with(values));
  EXPECT_NE(&f.with({"200", "GET"}), &f.with({"GET", "200"}));
  Histogram& h = r.histogram("tender_z_seconds", "h");
  EXPECT_EQ(&h, &r.histogram("tender_z_seconds", "h", kLatencyBuckets));
  std::vector<double> with_inf(kLatencyBuckets.begin(), kLatencyBuckets.end());
  with_inf.push_back(kInf);
  EXPECT_EQ(&h, &r.histogram("tender_z_seconds", "h", with_inf));
  EXPECT_EQ(&r.gauge("tender_g", "h"), &r.gauge("tender_g", "h"));
}

TEST(MetricsRegistry, ConflictingRegistrationThrows) {
  Registry r;
  r.counter_family("tender_y_total", "h", {"code"});
  EXPECT_THROW(r.counter_family("tender_y_total", "h", {"method"}), std::invalid_argument);
  EXPECT_THROW(r.counter("tender_y_total", "h"), std::invalid_argument);
  EXPECT_THROW(r.gauge("tender_y_total", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter_callback("tender_y_total", "h", [] { return 1.0; }),
               std::invalid_argument);
  r.histogram("tender_h_seconds", "h", {1, 2});
  EXPECT_THROW(r.histogram("tender_h_seconds", "h", {1, 3}), std::invalid_argument);
  // Samples that would collide in the output.
  EXPECT_THROW(r.gauge("tender_h_seconds_count", "h"), std::invalid_argument);
  EXPECT_THROW(r.gauge("tender_h_seconds_bucket", "h"), std::invalid_argument);
  EXPECT_THROW(r.gauge("tender_y", "h"), std::invalid_argument);  // OpenMetrics family name
  r.gauge("tender_w_sum", "h");
  EXPECT_THROW(r.histogram("tender_w", "h"), std::invalid_argument);
  // Wrong number of label values.
  CounterFamily& f = r.counter_family("tender_y_total", "h", {"code"});
  EXPECT_THROW(f.with({}), std::invalid_argument);
  EXPECT_THROW(f.with({"200", "GET"}), std::invalid_argument);
}

TEST(MetricsRegistry, CallbacksAreReadAtRenderAndReplaceable) {
  Registry r;
  double v = 1;
  r.gauge_callback("tender_cb", "h", [&v] { return v; });
  EXPECT_NE(r.render().find("tender_cb 1\n"), std::string::npos);
  v = 2;
  EXPECT_NE(r.render().find("tender_cb 2\n"), std::string::npos);
  r.gauge_callback("tender_cb", "h", [] { return 7.0; });
  EXPECT_NE(r.render().find("tender_cb 7\n"), std::string::npos);
  EXPECT_THROW(r.counter_callback("tender_cb", "h", [] { return 1.0; }), std::invalid_argument);
  EXPECT_THROW(r.gauge("tender_cb", "h"), std::invalid_argument);
}

TEST(MetricsTypes, CounterGaugeHistogramSemantics) {
  Counter c;
  c.inc();
  c.inc(3);
  c.add(0.25);
  c.add(-5);
  c.add(kNaN);
  EXPECT_EQ(c.value(), 4.25);

  Gauge g;
  g.set(5);
  g.inc();
  g.dec(2.5);
  EXPECT_EQ(g.value(), 3.5);

  const double bounds[] = {0.1, 1};
  Histogram h(bounds);
  h.observe(0.1);  // bounds are inclusive
  h.observe(0.05);
  h.observe(1.5);
  h.observe(kNaN);
  EXPECT_EQ(h.cumulative_counts(), (std::vector<std::uint64_t>{2, 2, 4}));
  EXPECT_EQ(h.count(), 4u);
  EXPECT_TRUE(std::isnan(h.sum()));
}

TEST(MetricsConcurrency, TotalsAreExact) {
  Registry r;
  Counter& counter = r.counter("tender_c_total", "h");
  CounterFamily& family = r.counter_family("tender_f_total", "h", {"thread"});
  Gauge& gauge = r.gauge("tender_g", "h");
  Histogram& histogram = r.histogram("tender_h_seconds", "h", {0.5});
  constexpr int kThreads = 12;  // more than metrics_internal::kShards: some share one
  constexpr int kWaves = 2;
  constexpr int kIterations = 50000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      (void)r.render(Format::kOpenMetrics);
    }
  });
  // Two waves: the second's threads take the shards the first's gave back at their exit,
  // and go on from the counts left there.
  for (int wave = 0; wave < kWaves; ++wave) {
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const std::string mine = std::to_string(t % 4);
        for (int i = 0; i < kIterations; ++i) {
          counter.inc();
          counter.add(0.5);
          family.with({mine}).inc();  // lookup every time: exercises the family lock
          gauge.inc(2);
          gauge.dec();
          histogram.observe(i % 2 == 0 ? 0.25 : 1.0);
        }
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
  }
  done = true;
  scraper.join();

  constexpr double kTotal = static_cast<double>(kWaves) * kThreads * kIterations;
  EXPECT_EQ(counter.value(), kTotal * 1.5);
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(family.with({std::to_string(t)}).value(), kTotal / 4);
  }
  EXPECT_EQ(gauge.value(), kTotal);
  constexpr std::uint64_t kObservations = std::uint64_t{kWaves} * kThreads * kIterations;
  EXPECT_EQ(histogram.cumulative_counts(),
            (std::vector<std::uint64_t>{kObservations / 2, kObservations}));
  EXPECT_EQ(histogram.sum(), kTotal / 2 * 1.25);
}

TEST(MetricsProcess, ReadsProc) {
  Registry r;
  add_process_metrics(r);
  add_process_metrics(r);  // harmless twice
  const std::string out = r.render();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ", "process_open_fds ", "process_max_fds ",
                           "process_start_time_seconds "}) {
    const auto pos = out.find(std::string("\n") + name);
    ASSERT_NE(pos, std::string::npos) << name << " missing in\n" << out;
    const double v = std::strtod(out.c_str() + pos + 1 + std::strlen(name), nullptr);
    EXPECT_TRUE(std::isfinite(v)) << name;
    EXPECT_GE(v, 0) << name;
  }
  const std::string om = r.render(Format::kOpenMetrics);
  EXPECT_NE(om.find("# TYPE process_cpu_seconds counter\n"), std::string::npos);
  EXPECT_NE(om.find("\nprocess_cpu_seconds_total "), std::string::npos);
  // The start time is within a day of now (a sanity check on the boot-time arithmetic).
  const auto pos = out.find("\nprocess_start_time_seconds ");
  const double start = std::strtod(out.c_str() + pos + 28, nullptr);
  EXPECT_NEAR(start, static_cast<double>(std::time(nullptr)), 86400);
}

// Runs `promtool check metrics` with `input` on stdin; returns its exit status and output.
std::pair<int, std::string> run_promtool(const std::string& input) {
  char in_path[] = "/tmp/metrics_test_in_XXXXXX";
  char out_path[] = "/tmp/metrics_test_out_XXXXXX";
  const int in_fd = mkstemp(in_path);
  const int out_fd = mkstemp(out_path);
  if (in_fd < 0 || out_fd < 0) {
    return {-1, std::string("mkstemp: ") + std::strerror(errno)};
  }
  const bool written =
      write(in_fd, input.data(), input.size()) == static_cast<ssize_t>(input.size());
  close(in_fd);
  close(out_fd);
  if (!written) {
    return {-1, "cannot write the input file"};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, in_path, O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_TRUNC, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  char arg0[] = "promtool";
  char arg1[] = "check";
  char arg2[] = "metrics";
  char* argv[] = {arg0, arg1, arg2, nullptr};
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, "promtool", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  std::pair<int, std::string> result{-1, ""};
  if (err != 0) {
    result.second = std::string("cannot run promtool: ") + std::strerror(err);
  } else {
    int status = 0;
    waitpid(pid, &status, 0);
    result.first = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.second = read_file(out_path);
  }
  unlink(in_path);
  unlink(out_path);
  return result;
}

TEST(MetricsPromtool, RealisticRegistryPassesCheckMetrics) {
  Registry r;
  add_process_metrics(r);
  r.counter("tender_echo_requests_total", "Requests served.").inc(42);
  CounterFamily& http =
      r.counter_family("tender_echo_http_requests_total",
                       "HTTP requests answered, by status code and method.", {"code", "method"});
  http.with({"200", "GET"}).inc(40);
  http.with({"404", "GET"}).inc();
  http.with({"400", "weird \"method\"\\\n"}).inc();
  Histogram& latency = r.histogram("tender_echo_http_request_duration_seconds",
                                   "Time from the first byte of a request to its answer written.");
  for (double v : {0.0003, 0.002, 0.04, 0.7, 12.0}) {
    latency.observe(v);
  }
  HistogramFamily& upstream = r.histogram_family("tender_proxy_upstream_duration_seconds",
                                                 "Upstream latency.", {"upstream"}, {0.01, 0.1});
  upstream.with({"10.0.0.1:6379"}).observe(0.05);
  r.gauge("tender_echo_http_connections", "Open client connections.").set(3);
  r.gauge_family("tender_build_info", "Version and commit of the running binary (always 1).",
                 {"role", "version", "commit"})
      .with({"echo", "0.1.0", "abc123"})
      .set(1);

  const std::string text = r.render(Format::kPrometheus);
  const auto [status, output] = run_promtool(text);
  EXPECT_EQ(status, 0) << output << "\ninput:\n" << text;
  EXPECT_EQ(output, "") << "input:\n" << text;
}

}  // namespace
}  // namespace tender
