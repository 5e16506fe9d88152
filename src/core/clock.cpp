#include "core/clock.hpp"

#include <cassert>

namespace tender {

std::chrono::steady_clock::time_point SystemClock::now() const {
  return std::chrono::steady_clock::now();
}

std::chrono::system_clock::time_point SystemClock::wall() const {
  return std::chrono::system_clock::now();
}

Clock& system_clock() {
  // Leaked on purpose: usable from static destructors and detached threads.
  static SystemClock* const clock = new SystemClock();
  return *clock;
}

namespace {

// 2024-01-01T00:00:00Z.
constexpr std::chrono::seconds kFakeWallStart{1704067200};
// A steady start far from zero, so `now() - 1h` stays positive.
constexpr std::chrono::hours kFakeSteadyStart{24 * 365};

}  // namespace

FakeClock::FakeClock()
    : FakeClock(std::chrono::steady_clock::time_point(kFakeSteadyStart),
                std::chrono::system_clock::time_point(kFakeWallStart)) {}

FakeClock::FakeClock(std::chrono::steady_clock::time_point now,
                     std::chrono::system_clock::time_point wall)
    : now_(now), wall_(wall) {}

std::chrono::steady_clock::time_point FakeClock::now() const {
  std::lock_guard lock(mutex_);
  return now_;
}

std::chrono::system_clock::time_point FakeClock::wall() const {
  std::lock_guard lock(mutex_);
  return wall_;
}

void FakeClock::advance(std::chrono::steady_clock::duration d) {
  assert(d.count() >= 0 && "steady time never goes back");
  std::lock_guard lock(mutex_);
  now_ += d;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
}

void FakeClock::set(std::chrono::steady_clock::time_point t) {
  std::lock_guard lock(mutex_);
  assert(t >= now_ && "steady time never goes back");
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(t - now_);
  now_ = t;
}

void FakeClock::set(std::chrono::system_clock::time_point t) {
  std::lock_guard lock(mutex_);
  wall_ = t;
}

}  // namespace tender
