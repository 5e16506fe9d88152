// The one backoff policy every role uses: container restarts, work-item retries, reconnects to
// etcd or Redis, proxy upstream ejection.
//
// Delays grow geometrically from `initial` by `multiplier` up to `max`. With `jitter` j > 0 each
// delay is drawn uniformly from [d*(1-j), d], where d is the un-jittered delay (so jitter only
// ever shortens a wait and `max` stays a true cap). With `reset_after`, a failure that comes
// longer than that after the previous one starts again from `initial`, as Kubernetes does for a
// container that ran fine for 10 minutes.
//
// Usage:
//
//   tender::Backoff backoff(tender::BackoffPolicy::kubernetes_restart(), tender::system_clock());
//   for (;;) {
//     auto status = run_container();
//     auto delay = backoff.next();  // 10s, 20s, 40s, ... 300s; 10s again after 10 min up
//     sleep_for(delay);
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "core/clock.hpp"

namespace tender {

struct BackoffPolicy {
  using Duration = std::chrono::steady_clock::duration;

  Duration initial = std::chrono::seconds(1);  // first delay; > 0
  Duration max = std::chrono::seconds(30);     // cap on every delay; >= initial
  double multiplier = 2.0;                     // growth per failure; >= 1 (1 = constant)
  double jitter = 0.0;                         // fraction in [0, 1]; 0 = deterministic
  // If set, a failure more than this long after the previous one restarts from `initial`.
  std::optional<Duration> reset_after;

  // Returns an empty string if the policy is usable, otherwise a one-line message naming the
  // offending field (for configuration errors at start-up).
  [[nodiscard]] std::string validate() const;

  // Kubernetes' container restart backoff (kubelet): 10 s doubling to 300 s, no jitter, reset
  // after 10 minutes without a failure.
  static BackoffPolicy kubernetes_restart();
};

// Computes successive delays under a `BackoffPolicy`. Not thread-safe: one owner calls it.
// The clock must outlive the Backoff.
class Backoff {
 public:
  using Duration = BackoffPolicy::Duration;

  // Throws std::invalid_argument if `policy.validate()` is not empty. Jitter is seeded from
  // std::random_device.
  Backoff(BackoffPolicy policy, const Clock& clock);

  // As above, with a fixed seed so that jittered sequences are reproducible in tests.
  Backoff(BackoffPolicy policy, const Clock& clock, std::uint64_t seed);

  // Records a failure at `clock.now()` and returns how long to wait before the next attempt.
  // The first call (and the first after `reset()` or after `reset_after` elapsed) returns
  // `initial` (jittered). Never overflows: after any number of calls the delay is <= `max`.
  Duration next();

  // Forgets all failures: the next delay is `initial` again. Call it after a success that
  // should count as recovery.
  void reset();

  // Failures recorded since construction or the last reset (explicit or by `reset_after`).
  // Saturates at INT_MAX.
  int attempts() const { return attempts_; }

  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  const Clock* clock_;
  std::mt19937_64 rng_;
  int attempts_ = 0;
  Duration current_{0};  // the un-jittered delay last returned
  std::optional<std::chrono::steady_clock::time_point> last_failure_;
};

}  // namespace tender
