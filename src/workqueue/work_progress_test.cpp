#include "workqueue/work_progress.hpp"

#include <gtest/gtest.h>

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;

TEST(RateMeter, ItemsPerSecondOverTheWindow) {
  FakeClock clock;
  RateMeter meter(clock, 10s);
  EXPECT_EQ(meter.rate(), 0);
  meter.record(0);
  clock.advance(500ms);
  meter.record(5);
  EXPECT_EQ(meter.rate(), 0);  // less than a second seen
  clock.advance(1500ms);
  meter.record(20);
  EXPECT_DOUBLE_EQ(meter.rate(), 10.0);
  // Past the window only its last 10 s count.
  for (int i = 0; i < 20; ++i) {
    clock.advance(1s);
    meter.record(20 + 2 * (i + 1));
  }
  EXPECT_DOUBLE_EQ(meter.rate(), 2.0);
  // Idle for the whole window: 0.
  clock.advance(11s);
  meter.record(60);
  clock.advance(1s);
  meter.record(60);
  EXPECT_DOUBLE_EQ(meter.rate(), 0.0);
}

TEST(FormatProgress, CountsRateAndEta) {
  EXPECT_EQ(format_progress({.done = 120, .failed = 3, .remaining = 877, .rate = 4.2}),
            "done 120  failed 3  remaining 877  4.2/s  ETA 3m29s");
  EXPECT_EQ(format_progress({.done = 0, .failed = 0, .remaining = std::nullopt, .rate = 0}),
            "done 0  failed 0  remaining ?  0.0/s");
  EXPECT_EQ(format_progress({.done = 5, .failed = 0, .remaining = 10, .rate = 0}),
            "done 5  failed 0  remaining 10  0.0/s");
  EXPECT_EQ(format_progress({.done = 5, .failed = 0, .remaining = 0, .rate = 3}),
            "done 5  failed 0  remaining 0  3.0/s  ETA 0s");
  EXPECT_EQ(format_progress({.done = 5, .failed = 0, .remaining = 3, .rate = 2}),
            "done 5  failed 0  remaining 3  2.0/s  ETA 2s");
}

TEST(FormatBar, FillsWithTheFraction) {
  EXPECT_EQ(format_bar(40, 100, 12000, 10), "[####......]  40%  12000 items");
  EXPECT_EQ(format_bar(0, 0, 0, 4), "[####] 100%  0 items");
  EXPECT_EQ(format_bar(200, 100, 1, 4), "[####] 100%  1 items");
}

}  // namespace
}  // namespace tender::workqueue
