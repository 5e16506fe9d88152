#include <gtest/gtest.h>

#include "adapter/health_check.hpp"

namespace tender::adapter {
namespace {

using namespace std::chrono_literals;

std::vector<CheckSpec> parse(const std::string& yaml) {
  return parse_checks(parse_config(yaml, "adapt.yaml").child("health"));
}

// The ConfigError's "file:line: field: message", or "" when the text parses.
std::string error_of(const std::string& yaml) {
  try {
    (void)parse(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(HealthConfig, EachKindBecomesItsProbeWithDefaultsAndOverrides) {
  auto specs = parse(
      "health:\n"
      "  timeout: 2s\n"
      "  checks:\n"
      "    - {name: db, tcp: '127.0.0.1:5432'}\n"
      "    - {name: q, redis: 'localhost:6379', password: pw, timeout: 300ms, cache: 5s}\n"
      "    - {name: disk, exec: [/bin/check, --min, '10%']}\n"
      "    - name: web\n"
      "      http: {url: 'http://127.0.0.1:8080/healthz', status: ['2xx', 404], body: 'ok$',\n"
      "             headers: {Host: app}}\n");
  ASSERT_EQ(specs.size(), 4U);
  const auto& tcp = std::get<TcpProbe>(specs[0].action);
  EXPECT_EQ(tcp.host, "127.0.0.1");
  EXPECT_EQ(tcp.port, 5432);
  EXPECT_EQ(specs[0].timeout, 2s);
  EXPECT_EQ(specs[0].cache, 1s);
  const auto& redis = std::get<RedisProbe>(specs[1].action);
  EXPECT_EQ(redis.host, "127.0.0.1");
  EXPECT_EQ(redis.password, "pw");
  EXPECT_EQ(specs[1].timeout, 300ms);
  EXPECT_EQ(specs[1].cache, 5s);
  EXPECT_EQ(std::get<ExecProbe>(specs[2].action).spawn.argv,
            (std::vector<std::string>{"/bin/check", "--min", "10%"}));
  const auto& http = std::get<HttpProbe>(specs[3].action);
  EXPECT_EQ(http.port, 8080);
  EXPECT_EQ(http.path, "/healthz");
  EXPECT_EQ(http.statuses, (std::vector<std::pair<int, int>>{{200, 299}, {404, 404}}));
  ASSERT_TRUE(http.body);
  EXPECT_TRUE(regex_search(*http.body, "all ok"));
  EXPECT_FALSE(regex_search(*http.body, "ok?"));
  EXPECT_EQ(http.headers, (std::vector<std::pair<std::string, std::string>>{{"Host", "app"}}));
}

TEST(HealthConfig, NoSectionIsNoChecks) { EXPECT_TRUE(parse("metrics: {}\n").empty()); }

TEST(HealthConfig, ABadCheckIsAConfigErrorAtItsLine) {
  const std::string head = "health:\n  checks:\n    - {name: ok, tcp: '127.0.0.1:1'}\n";
  struct Case {
    std::string check;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"    - {tcp: '127.0.0.1:1'}\n", "every check needs a name"},
           {"    - {name: all, tcp: '127.0.0.1:1'}\n", "not \"all\""},
           {"    - {name: 'a/b', tcp: '127.0.0.1:1'}\n", "[A-Za-z0-9_.-]+"},
           {"    - {name: ok, tcp: '127.0.0.1:2'}\n", "two checks are named ok"},
           {"    - {name: x}\n", "exactly one of tcp, exec, redis, http"},
           {"    - {name: x, tcp: '127.0.0.1:1', exec: [true]}\n", "exactly one of"},
           {"    - {name: x, tcp: 'db.internal:5432'}\n", "no name lookup"},
           {"    - {name: x, tcp: '127.0.0.1'}\n", "not HOST:PORT"},
           {"    - {name: x, tcp: '127.0.0.1:1', password: p}\n", "only a redis check"},
           {"    - {name: x, exec: []}\n", "non-empty list"},
           {"    - {name: x, http: 'ftp://h/'}\n", "http"},
           {"    - {name: x, http: {url: 'http://127.0.0.1/', status: 99}}\n", "HTTP status"},
           {"    - {name: x, http: {url: 'http://127.0.0.1/', status: '6xx'}}\n", "HTTP status"},
           {"    - {name: x, http: {url: 'http://127.0.0.1/', body: '(('}}\n",
            "not a regular expression"},
           {"    - {name: x, tcp: '127.0.0.1:1', timeout: 0s}\n", "more than 0"},
           {"    - {name: x, tcp: '127.0.0.1:1', cache: soon}\n", "duration"},
       }) {
    std::string err = error_of(head + c.check);
    EXPECT_NE(err.find("adapt.yaml:4:"), std::string::npos) << c.check << " -> " << err;
    EXPECT_NE(err.find(c.want), std::string::npos) << c.check << " -> " << err;
  }
}

TEST(VerdictCacheTest, AStormDuringARunIsOneRunAndAllHearItsVerdict) {
  FakeClock clock;
  VerdictCache cache(clock, 5s);
  std::vector<std::string> heard;
  int runs = 0;
  for (int i = 0; i < 100; ++i) {
    if (cache.request([&](const Verdict& v) { heard.push_back(v.message); })) {
      ++runs;
    }
  }
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(heard.empty());
  cache.finish(Verdict{.passed = true, .message = "exited 0", .checked_at = clock.wall()});
  ASSERT_EQ(heard.size(), 100U);
  EXPECT_EQ(heard.front(), "exited 0");
}

TEST(VerdictCacheTest, AVerdictIsReusedForItsTtlThenCheckedAgain) {
  FakeClock clock;
  VerdictCache cache(clock, 2s);
  ASSERT_TRUE(cache.request([](const Verdict&) {}));
  cache.finish(Verdict{.passed = false, .message = "Connection refused", .checked_at = {}});
  clock.advance(1999ms);
  std::string got;
  EXPECT_FALSE(cache.request([&](const Verdict& v) { got = v.message; }));
  EXPECT_EQ(got, "Connection refused");  // answered at once, from the cache
  clock.advance(1ms);
  got.clear();
  EXPECT_TRUE(cache.request([&](const Verdict& v) { got = v.message; }));
  EXPECT_TRUE(got.empty());  // waits for the new run
  cache.finish(Verdict{.passed = true, .message = "connected", .checked_at = {}});
  EXPECT_EQ(got, "connected");
}

TEST(VerdictCacheTest, ZeroTtlRunsEveryTimeButStillCoalesces) {
  FakeClock clock;
  VerdictCache cache(clock, 0ms);
  ASSERT_TRUE(cache.request([](const Verdict&) {}));
  EXPECT_FALSE(cache.request([](const Verdict&) {}));
  cache.finish(Verdict{.passed = true, .message = "PONG", .checked_at = {}});
  EXPECT_TRUE(cache.request([](const Verdict&) {}));
}

TEST(VerdictCacheTest, AbandonAnswersTheWaitingWithoutRecording) {
  FakeClock clock;
  VerdictCache cache(clock, 5s);
  std::string got;
  ASSERT_TRUE(cache.request([&](const Verdict& v) { got = v.message; }));
  cache.abandon(Verdict{.passed = false, .message = "stopping", .checked_at = {}});
  EXPECT_EQ(got, "stopping");
  EXPECT_FALSE(cache.last());
}

}  // namespace
}  // namespace tender::adapter
