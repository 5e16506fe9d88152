#include "core/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/clock.hpp"

namespace tender {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

BackoffPolicy no_jitter(BackoffPolicy::Duration initial, BackoffPolicy::Duration max) {
  BackoffPolicy policy;
  policy.initial = initial;
  policy.max = max;
  return policy;
}

TEST(BackoffPolicyTest, ValidateAcceptsDefaultsAndKubernetes) {
  EXPECT_EQ(BackoffPolicy{}.validate(), "");
  EXPECT_EQ(BackoffPolicy::kubernetes_restart().validate(), "");
}

TEST(BackoffPolicyTest, ValidateRejectsNonsense) {
  BackoffPolicy p;
  p.initial = seconds(0);
  EXPECT_NE(p.validate(), "");
  p.initial = seconds(-1);
  EXPECT_NE(p.validate(), "");

  p = BackoffPolicy{};
  p.initial = seconds(10);
  p.max = seconds(5);
  EXPECT_NE(p.validate(), "");

  p = BackoffPolicy{};
  p.multiplier = 0.5;
  EXPECT_NE(p.validate(), "");
  p.multiplier = std::numeric_limits<double>::infinity();
  EXPECT_NE(p.validate(), "");
  p.multiplier = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(p.validate(), "");

  p = BackoffPolicy{};
  p.jitter = -0.1;
  EXPECT_NE(p.validate(), "");
  p.jitter = 1.5;
  EXPECT_NE(p.validate(), "");
  p.jitter = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(p.validate(), "");
  p.jitter = 1.0;
  EXPECT_EQ(p.validate(), "");

  p = BackoffPolicy{};
  p.reset_after = seconds(0);
  EXPECT_NE(p.validate(), "");
}

TEST(BackoffTest, ConstructorThrowsOnInvalidPolicy) {
  FakeClock clock;
  BackoffPolicy p;
  p.multiplier = 0.0;
  EXPECT_THROW(Backoff(p, clock, 1), std::invalid_argument);
}

TEST(BackoffTest, KubernetesSequenceIsExact) {
  FakeClock clock;
  Backoff backoff(BackoffPolicy::kubernetes_restart(), clock, 1);
  const std::vector<seconds> expected = {seconds(10),  seconds(20),  seconds(40),  seconds(80),
                                         seconds(160), seconds(300), seconds(300), seconds(300)};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(backoff.next(), expected[i]) << "attempt " << i;
    EXPECT_EQ(backoff.attempts(), static_cast<int>(i + 1));
    clock.advance(seconds(1));
  }
}

TEST(BackoffTest, CapAppliesEvenWhenNotAPowerOfTheMultiplier) {
  FakeClock clock;
  BackoffPolicy p = no_jitter(milliseconds(100), milliseconds(250));
  p.multiplier = 3.0;
  Backoff backoff(p, clock, 1);
  EXPECT_EQ(backoff.next(), milliseconds(100));
  EXPECT_EQ(backoff.next(), milliseconds(250));
  EXPECT_EQ(backoff.next(), milliseconds(250));
}

TEST(BackoffTest, MultiplierOneIsConstant) {
  FakeClock clock;
  BackoffPolicy p = no_jitter(seconds(2), seconds(60));
  p.multiplier = 1.0;
  Backoff backoff(p, clock, 1);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(backoff.next(), seconds(2));
  }
}

TEST(BackoffTest, ResetStartsOver) {
  FakeClock clock;
  Backoff backoff(no_jitter(seconds(1), seconds(60)), clock, 1);
  EXPECT_EQ(backoff.next(), seconds(1));
  EXPECT_EQ(backoff.next(), seconds(2));
  EXPECT_EQ(backoff.next(), seconds(4));
  backoff.reset();
  EXPECT_EQ(backoff.attempts(), 0);
  EXPECT_EQ(backoff.next(), seconds(1));
  EXPECT_EQ(backoff.attempts(), 1);
}

TEST(BackoffTest, ResetAfterQuietPeriod) {
  FakeClock clock;
  Backoff backoff(BackoffPolicy::kubernetes_restart(), clock, 1);
  EXPECT_EQ(backoff.next(), seconds(10));
  clock.advance(seconds(10));
  EXPECT_EQ(backoff.next(), seconds(20));
  clock.advance(seconds(20));
  EXPECT_EQ(backoff.next(), seconds(40));

  // Exactly 10 minutes is not "older than": still backing off.
  clock.advance(minutes(10));
  EXPECT_EQ(backoff.next(), seconds(80));
  EXPECT_EQ(backoff.attempts(), 4);

  // Ran fine for longer than 10 minutes: back to the initial delay.
  clock.advance(minutes(10) + milliseconds(1));
  EXPECT_EQ(backoff.next(), seconds(10));
  EXPECT_EQ(backoff.attempts(), 1);
  EXPECT_EQ(backoff.next(), seconds(20));
}

TEST(BackoffTest, NoResetAfterWithoutPolicy) {
  FakeClock clock;
  Backoff backoff(no_jitter(seconds(1), seconds(60)), clock, 1);
  EXPECT_EQ(backoff.next(), seconds(1));
  clock.advance(std::chrono::hours(24));
  EXPECT_EQ(backoff.next(), seconds(2));
}

TEST(BackoffTest, JitterStaysWithinBoundsAndSpreads) {
  FakeClock clock;
  BackoffPolicy p = no_jitter(seconds(1), seconds(8));
  p.jitter = 0.25;
  Backoff backoff(p, clock, 42);
  const std::vector<BackoffPolicy::Duration> caps = {seconds(1), seconds(2), seconds(4),
                                                     seconds(8)};
  for (int round = 0; round < 2500; ++round) {
    backoff.reset();
    for (auto cap : caps) {
      const auto d = backoff.next();
      const auto low = std::chrono::duration_cast<BackoffPolicy::Duration>(cap * 0.75);
      ASSERT_GE(d, low);
      ASSERT_LE(d, cap);
    }
  }
  // Spread: over many draws of the 8 s delay, both ends of [6 s, 8 s] are reached.
  BackoffPolicy::Duration lowest = seconds(8);
  BackoffPolicy::Duration highest = seconds(0);
  for (int i = 0; i < 10000; ++i) {
    const auto d = backoff.next();  // stays at the cap
    lowest = std::min(lowest, d);
    highest = std::max(highest, d);
  }
  EXPECT_LT(lowest, milliseconds(6050));
  EXPECT_GT(highest, milliseconds(7950));
}

TEST(BackoffTest, JitterIsReproducibleWithSeed) {
  FakeClock clock;
  BackoffPolicy p = no_jitter(seconds(1), seconds(30));
  p.jitter = 0.5;
  Backoff a(p, clock, 7);
  Backoff b(p, clock, 7);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(a.next(), b.next());
  }
}

TEST(BackoffTest, FullJitterNeverNegative) {
  FakeClock clock;
  BackoffPolicy p = no_jitter(milliseconds(1), seconds(1));
  p.jitter = 1.0;
  Backoff backoff(p, clock, 3);
  for (int i = 0; i < 1000; ++i) {
    const auto d = backoff.next();
    ASSERT_GE(d.count(), 0);
    ASSERT_LE(d, seconds(1));
  }
}

TEST(BackoffTest, NoOverflowAfterManyAttempts) {
  FakeClock clock;
  BackoffPolicy p = no_jitter(std::chrono::nanoseconds(1), std::chrono::hours(24 * 365 * 100));
  p.multiplier = 10.0;
  Backoff backoff(p, clock, 1);
  BackoffPolicy::Duration previous{0};
  for (int i = 0; i < 1000; ++i) {
    const auto d = backoff.next();
    ASSERT_GT(d.count(), 0) << "attempt " << i;
    ASSERT_LE(d, p.max) << "attempt " << i;
    ASSERT_GE(d, previous) << "attempt " << i;
    previous = d;
  }
  EXPECT_EQ(previous, p.max);
  EXPECT_EQ(backoff.attempts(), 1000);

  // The largest representable cap too.
  BackoffPolicy huge = no_jitter(seconds(1), BackoffPolicy::Duration::max());
  huge.jitter = 0.1;
  Backoff big(huge, clock, 1);
  for (int i = 0; i < 1000; ++i) {
    const auto d = big.next();
    ASSERT_GT(d.count(), 0) << "attempt " << i;
  }
}

TEST(BackoffTest, MultiplierJustAboveOneStillGrows) {
  FakeClock clock;
  BackoffPolicy p = no_jitter(std::chrono::nanoseconds(1), std::chrono::nanoseconds(100));
  p.multiplier = 1.01;
  Backoff backoff(p, clock, 1);
  BackoffPolicy::Duration d{0};
  for (int i = 0; i < 200; ++i) {
    d = backoff.next();
  }
  EXPECT_EQ(d, std::chrono::nanoseconds(100));
}

TEST(FakeClockTest, AdvanceAndSet) {
  FakeClock clock;
  const auto start = clock.now();
  const auto wall_start = clock.wall();
  clock.advance(seconds(5));
  EXPECT_EQ(clock.now() - start, seconds(5));
  EXPECT_EQ(clock.wall() - wall_start, seconds(5));
  clock.set(start + seconds(7));
  EXPECT_EQ(clock.now() - start, seconds(7));
  EXPECT_EQ(clock.wall() - wall_start, seconds(7));
  clock.set(wall_start - std::chrono::hours(1));  // NTP step back: steady unaffected
  EXPECT_EQ(clock.now() - start, seconds(7));
  EXPECT_EQ(clock.wall(), wall_start - std::chrono::hours(1));
}

TEST(SystemClockTest, IsMonotonic) {
  const Clock& clock = system_clock();
  const auto a = clock.now();
  const auto b = clock.now();
  EXPECT_LE(a, b);
  EXPECT_GT(clock.wall().time_since_epoch().count(), 0);
}

}  // namespace
}  // namespace tender
