// The clock seam: every role reads time through a `Clock`, so that probes, backoff, election
// timing and queue leases can be unit-tested with a `FakeClock` instead of real waiting.
//
// Usage:
//
//   class Prober {
//    public:
//     explicit Prober(const tender::Clock& clock = tender::system_clock()) : clock_(clock) {}
//     bool due() const { return clock_.now() >= next_; }
//     ...
//   };
//
//   // In a test:
//   tender::FakeClock clock;
//   Prober prober(clock);
//   clock.advance(std::chrono::seconds(10));
//   EXPECT_TRUE(prober.due());
#pragma once

#include <chrono>
#include <mutex>

namespace tender {

// An abstract source of time. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  // Monotonic time: use it for every interval, deadline and timeout.
  virtual std::chrono::steady_clock::time_point now() const = 0;

  // Calendar time: use it only for what humans or other machines read (timestamps in logs,
  // JSON, lease expiry shared with another host). It may jump.
  virtual std::chrono::system_clock::time_point wall() const = 0;
};

// The real clocks of the machine. Stateless and thread-safe.
class SystemClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() const override;
  std::chrono::system_clock::time_point wall() const override;
};

// The process-wide `SystemClock`; the default for production code. Never destroyed.
Clock& system_clock();

// A clock that moves only when told to. Thread-safe: one thread may advance it while others
// read it.
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary steady time (not the epoch, so that code which subtracts durations
  // from `now()` does not underflow) and at wall time 2024-01-01T00:00:00Z.
  FakeClock();

  // Starts at the given times.
  FakeClock(std::chrono::steady_clock::time_point now, std::chrono::system_clock::time_point wall);

  std::chrono::steady_clock::time_point now() const override;
  std::chrono::system_clock::time_point wall() const override;

  // Moves both clocks forward by `d`. Precondition: `d >= 0` (steady time never goes back).
  void advance(std::chrono::steady_clock::duration d);

  // Sets the steady time. Precondition: `t >= now()`. The wall clock moves by the same amount.
  void set(std::chrono::steady_clock::time_point t);

  // Sets the wall time alone, e.g. to simulate an NTP step. Steady time is unaffected.
  void set(std::chrono::system_clock::time_point t);

 private:
  mutable std::mutex mutex_;
  std::chrono::steady_clock::time_point now_;
  std::chrono::system_clock::time_point wall_;
};

}  // namespace tender
