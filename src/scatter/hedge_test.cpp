#include "scatter/hedge.hpp"

#include <gtest/gtest.h>

#include <random>

namespace tender::scatter {
namespace {

using namespace std::chrono_literals;

TEST(LatencyWindow, NoQuantileUntilEnoughSamples) {
  LatencyWindow w(1024);
  for (int i = 0; i < 19; ++i) {
    w.add(100us);
  }
  EXPECT_EQ(w.quantile(0.95), std::nullopt);
  w.add(100us);
  EXPECT_EQ(w.quantile(0.95), 100us);
  EXPECT_EQ(w.quantile(0.95, 21), std::nullopt);
}

TEST(LatencyWindow, QuantilesAreNearestRank) {
  LatencyWindow w(1024);
  for (int i = 100; i >= 1; --i) {  // added out of order
    w.add(microseconds(i));
  }
  EXPECT_EQ(w.quantile(0.5), 50us);
  EXPECT_EQ(w.quantile(0.95), 95us);
  EXPECT_EQ(w.quantile(0.99), 99us);
  EXPECT_EQ(w.quantile(0.999), 100us);
  EXPECT_EQ(w.quantile(0.001), 1us);
  EXPECT_EQ(w.size(), 100U);
  EXPECT_EQ(w.total(), 100U);
}

TEST(LatencyWindow, KeepsOnlyTheLastCapacitySamples) {
  LatencyWindow w(16);  // re-sorted at every new sample
  for (int i = 0; i < 16; ++i) {
    w.add(5ms);
  }
  EXPECT_EQ(w.quantile(0.5, 1), 5ms);
  for (int i = 0; i < 15; ++i) {
    w.add(10us);
  }
  EXPECT_EQ(w.quantile(0.5, 1), 10us);
  EXPECT_EQ(w.quantile(0.95, 1), 5ms);  // one old sample left
  w.add(10us);
  EXPECT_EQ(w.quantile(0.95, 1), 10us);  // every old one gone
  EXPECT_EQ(w.size(), 16U);
  EXPECT_EQ(w.total(), 32U);
}

TEST(LatencyWindow, ResortsOncePerSixteenthOfTheWindow) {
  LatencyWindow w(1024);  // at most one sort per 64 samples
  for (int i = 0; i < 100; ++i) {
    w.add(100us);
  }
  EXPECT_EQ(w.quantile(0.95), 100us);
  for (int i = 0; i < 63; ++i) {
    w.add(5ms);
  }
  EXPECT_EQ(w.quantile(0.95), 100us);  // the cached sort
  w.add(5ms);
  EXPECT_EQ(w.quantile(0.95), 5ms);  // 64 of 164 are slow now
}

TEST(LatencyWindow, NegativeLatenciesCountAsZero) {
  LatencyWindow w(4);
  w.add(microseconds(-5));
  EXPECT_EQ(w.quantile(0.5, 1), 0us);
}

TEST(HedgeBudget, StartsWithTheBurst) {
  HedgeBudget b(0.05, 3);
  EXPECT_TRUE(b.try_hedge());
  EXPECT_TRUE(b.try_hedge());
  EXPECT_TRUE(b.try_hedge());
  EXPECT_FALSE(b.try_hedge());
}

TEST(HedgeBudget, EachRequestEarnsItsShareOfAHedge) {
  HedgeBudget b(0.25, 1);
  ASSERT_TRUE(b.try_hedge());
  for (int i = 0; i < 3; ++i) {
    b.on_request();
    EXPECT_FALSE(b.try_hedge()) << "after " << i + 1 << " requests";
  }
  b.on_request();
  EXPECT_TRUE(b.try_hedge());
  EXPECT_FALSE(b.try_hedge());
}

TEST(HedgeBudget, SavesNoMoreThanTheBurst) {
  HedgeBudget b(0.5, 4);
  for (int i = 0; i < 1000; ++i) {
    b.on_request();
  }
  EXPECT_DOUBLE_EQ(b.tokens(), 4);
  int hedges = 0;
  while (b.try_hedge()) {
    ++hedges;
  }
  EXPECT_EQ(hedges, 4);
}

TEST(HedgeBudget, ZeroRatioAllowsOnlyTheBurst) {
  HedgeBudget b(0, 2);
  int hedges = 0;
  for (int i = 0; i < 10'000; ++i) {
    b.on_request();
    hedges += b.try_hedge() ? 1 : 0;
  }
  EXPECT_EQ(hedges, 2);
}

// The property the --hedge-budget flag promises: over a long run of requests, however the wish
// to hedge comes (in storms or rarely), the hedges sent stay within ratio x requests + burst,
// and a steady wish to hedge gets close to that share.
TEST(HedgeBudget, HedgesStayWithinRatioTimesRequestsPlusBurst) {
  constexpr double kRatio = 0.05;
  constexpr double kBurst = 10;
  HedgeBudget b(kRatio, kBurst);
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::uint64_t requests = 0;
  std::uint64_t hedges = 0;
  for (int phase = 0; phase < 200; ++phase) {
    // Alternating calm phases (a hedge wanted for 1% of requests) and storms (for 60%).
    double want = phase % 2 == 0 ? 0.01 : 0.6;
    for (int i = 0; i < 5'000; ++i) {
      b.on_request();
      ++requests;
      if (uniform(rng) < want && b.try_hedge()) {
        ++hedges;
      }
      ASSERT_LE(static_cast<double>(hedges), kRatio * static_cast<double>(requests) + kBurst + 1e-6)
          << "after " << requests << " requests";
    }
  }
  // The budget is used, not only bounded: the storms take what the calm saved up to the burst.
  EXPECT_GT(static_cast<double>(hedges), 0.5 * kRatio * static_cast<double>(requests));
}

TEST(SlowShards, ASlowShardIsReportedAfterTheHold) {
  FakeClock clock;
  SlowShards slow(clock, {.factor = 3, .hold = 10s, .floor = 1ms});
  std::vector<std::optional<microseconds>> p95{2ms, 2ms, 3ms, 20ms};
  slow.update(p95);
  EXPECT_FALSE(slow.slow(3));
  clock.advance(9'999ms);
  slow.update(p95);
  EXPECT_FALSE(slow.slow(3));
  clock.advance(1ms);
  slow.update(p95);
  EXPECT_TRUE(slow.slow(3));
  EXPECT_FALSE(slow.slow(0));
  EXPECT_EQ(slow.slow_shards(), std::vector<std::size_t>{3});
}

TEST(SlowShards, ItStopsBeingSlowOnceFastForTheHold) {
  FakeClock clock;
  SlowShards slow(clock, {.factor = 3, .hold = 5s, .floor = 1ms});
  slow.update({2ms, 2ms, 20ms});
  clock.advance(5s);
  slow.update({2ms, 2ms, 20ms});
  ASSERT_TRUE(slow.slow(2));
  slow.update({2ms, 2ms, 2ms});
  clock.advance(4s);
  slow.update({2ms, 2ms, 2ms});
  EXPECT_TRUE(slow.slow(2));
  clock.advance(1s);
  slow.update({2ms, 2ms, 2ms});
  EXPECT_FALSE(slow.slow(2));
  EXPECT_TRUE(slow.slow_shards().empty());
}

TEST(SlowShards, ABlipShorterThanTheHoldIsForgotten) {
  FakeClock clock;
  SlowShards slow(clock, {.factor = 3, .hold = 10s, .floor = 1ms});
  slow.update({2ms, 2ms, 20ms});
  clock.advance(6s);
  slow.update({2ms, 2ms, 2ms});  // back under the line: the clock starts again
  clock.advance(1s);
  slow.update({2ms, 2ms, 20ms});
  clock.advance(6s);
  slow.update({2ms, 2ms, 20ms});
  EXPECT_FALSE(slow.slow(2));
  clock.advance(4s);
  slow.update({2ms, 2ms, 20ms});
  EXPECT_TRUE(slow.slow(2));
}

TEST(SlowShards, OfTwoShardsTheSlowOneIsFound) {
  FakeClock clock;
  SlowShards slow(clock, {.factor = 3, .hold = 0ms, .floor = 1ms});
  slow.update({20ms, 2ms});
  EXPECT_EQ(slow.slow_shards(), std::vector<std::size_t>{0});
}

TEST(SlowShards, UnderTheFloorNothingIsSlow) {
  FakeClock clock;
  SlowShards slow(clock, {.factor = 3, .hold = 0ms, .floor = 1ms});
  slow.update({100us, 100us, 900us});
  EXPECT_TRUE(slow.slow_shards().empty());
  slow.update({100us, 100us, 1ms});
  EXPECT_EQ(slow.slow_shards(), std::vector<std::size_t>{2});
}

TEST(SlowShards, ShardsWithoutSamplesAreNeverSlowNorCounted) {
  FakeClock clock;
  SlowShards slow(clock, {.factor = 3, .hold = 0ms, .floor = 1ms});
  // Were the unknown shards counted as fast (0), the median would be 2ms and shard 3 slow.
  slow.update({std::nullopt, std::nullopt, 5ms, 10ms, 2ms});
  EXPECT_TRUE(slow.slow_shards().empty());
  slow.update({std::nullopt, std::nullopt, std::nullopt});
  EXPECT_TRUE(slow.slow_shards().empty());
}

TEST(SlowShards, TheShardCountMayChange) {
  FakeClock clock;
  SlowShards slow(clock, {.factor = 3, .hold = 0ms, .floor = 1ms});
  slow.update({2ms, 2ms, 2ms, 20ms});
  ASSERT_TRUE(slow.slow(3));
  slow.update({2ms, 2ms, 2ms});
  EXPECT_FALSE(slow.slow(3));
  EXPECT_FALSE(slow.slow(100));
  slow.update({2ms, 2ms, 2ms, 2ms, 30ms});
  EXPECT_EQ(slow.slow_shards(), std::vector<std::size_t>{4});
}

}  // namespace
}  // namespace tender::scatter
