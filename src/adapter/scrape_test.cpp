#include "adapter/scrape.hpp"

#include <gtest/gtest.h>

namespace tender::adapter {
namespace {

using std::chrono::milliseconds;

std::vector<Family> one(double v) {
  return {Family{.name = "x",
                 .type = MetricType::kGauge,
                 .help = "",
                 .samples = {Sample{.name = "x", .labels = {}, .value = v}}}};
}

// What a collect was answered with: the value of x, or the error's message.
struct Answers {
  std::vector<std::string> got;
  FetchCache::Done done() {
    return [this](Result<std::vector<Family>> r) {
      got.push_back(r ? std::to_string(static_cast<int>(r->front().samples.front().value))
                      : r.error().message());
    };
  }
};

TEST(FetchCache, ConcurrentCollectsShareOneFetch) {
  FakeClock clock;
  FetchCache cache(clock, milliseconds(1'000));
  Answers a;
  EXPECT_TRUE(cache.collect(a.done()));  // the first starts a fetch
  for (int i = 0; i < 49; ++i) {
    EXPECT_FALSE(cache.collect(a.done()));  // the others wait for it
  }
  EXPECT_TRUE(a.got.empty());
  cache.finish(one(7));
  ASSERT_EQ(a.got.size(), 50u);
  EXPECT_EQ(a.got.back(), "7");
  EXPECT_FALSE(cache.in_flight());
}

TEST(FetchCache, AnswersFromTheLastFetchWithinTheTtl) {
  FakeClock clock;
  FetchCache cache(clock, milliseconds(1'000));
  Answers a;
  ASSERT_TRUE(cache.collect(a.done()));
  cache.finish(one(1));
  clock.advance(milliseconds(999));
  EXPECT_FALSE(cache.collect(a.done()));  // answered at once
  EXPECT_EQ(a.got, (std::vector<std::string>{"1", "1"}));
  clock.advance(milliseconds(1));
  EXPECT_TRUE(cache.collect(a.done()));  // as old as the TTL: fetch again
  cache.finish(one(2));
  EXPECT_EQ(a.got.back(), "2");
}

TEST(FetchCache, FailuresAreCachedTooAndZeroTtlFetchesEveryTime) {
  FakeClock clock;
  FetchCache cached(clock, milliseconds(1'000));
  Answers a;
  ASSERT_TRUE(cached.collect(a.done()));
  cached.finish(Error(std::errc::connection_refused, "connect: Connection refused"));
  EXPECT_FALSE(cached.collect(a.done()));
  EXPECT_EQ(a.got, (std::vector<std::string>{"connect: Connection refused",
                                             "connect: Connection refused"}));
  FetchCache uncached(clock, milliseconds(0));
  ASSERT_TRUE(uncached.collect(a.done()));
  EXPECT_FALSE(uncached.collect(a.done()));  // in flight: still shared
  uncached.finish(one(3));
  EXPECT_TRUE(uncached.collect(a.done()));
}

TEST(FetchCache, AbortAnswersEveryWaiter) {
  FakeClock clock;
  FetchCache cache(clock, milliseconds(1'000));
  Answers a;
  ASSERT_TRUE(cache.collect(a.done()));
  EXPECT_FALSE(cache.collect(a.done()));
  cache.abort(Error(std::errc::operation_canceled, "stopped"));
  EXPECT_EQ(a.got, (std::vector<std::string>{"stopped", "stopped"}));
  EXPECT_FALSE(cache.in_flight());
}

// The ConfigError `yaml` gives, as "line: message".
std::string settings_error(const std::string& yaml) {
  try {
    (void)parse_scrape_settings(parse_config(yaml, "s.yaml"));
  } catch (const ConfigError& e) {
    return std::to_string(e.line()) + ": " + e.what();
  }
  return "no error";
}

TEST(ScrapeSettings, DefaultsAndValues) {
  auto s = parse_scrape_settings(parse_config(
      "url: http://127.0.0.1:8080/stats?x=1\ntimeout: 250ms\ncache: 0\nmax_body_bytes: 1KiB\n"
      "headers: {X-Token: abc}\nlabels: {app: web}\n",
      "s.yaml"));
  EXPECT_EQ(s.target.port, 8080);
  EXPECT_EQ(s.target.target, "/stats?x=1");
  EXPECT_EQ(s.timeout, milliseconds(250));
  EXPECT_EQ(s.cache, milliseconds(0));
  EXPECT_EQ(s.max_body_bytes, 1024u);
  ASSERT_EQ(s.headers.size(), 1u);
  EXPECT_EQ(s.headers[0].second, "abc");
  ASSERT_EQ(s.labels.size(), 1u);
  auto d = parse_scrape_settings(parse_config("url: http://localhost/\n", "s.yaml"));
  EXPECT_EQ(d.timeout, milliseconds(2'000));
  EXPECT_EQ(d.cache, milliseconds(1'000));
  EXPECT_EQ(d.max_body_bytes, std::uint64_t{8} << 20);
}

TEST(ScrapeSettings, BadSettingsNameTheirLine) {
  EXPECT_NE(settings_error("timeout: 1s\n").find("needs a url"), std::string::npos);
  std::string https = settings_error("url: https://example.com/\n");
  EXPECT_NE(https.find("https is not supported"), std::string::npos) << https;
  EXPECT_EQ(settings_error("url: http://x/\ntimeout: 0\n").substr(0, 2), "2:");
  EXPECT_EQ(settings_error("url: http://x/\ncache: soon\n").substr(0, 2), "2:");
  EXPECT_EQ(settings_error("url: http://x/\nlabels:\n  __bad: x\n").substr(0, 2), "3:");
  EXPECT_EQ(settings_error("url: http://x/\nheaders: [a]\n").substr(0, 2), "2:");
}

}  // namespace
}  // namespace tender::adapter
