// `tender adapt` as a whole: its command line, --check and bad configuration (exit 2 naming the
// file and line). The sources, health checks and log adapters have tests of their own
// (adapt_*_test.cpp).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tender::testing
