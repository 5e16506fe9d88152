#pragma once
// A probe's verdict from its consecutive results, with success and failure thresholds as
// Kubernetes counts them (core/probe.hpp runs the checks). Pure logic: no I/O, no Asio.
//
//   tender::ProbeTracker live(tender::ProbeTracker::kStartPassing, 1, 3);  // a liveness probe
//   if (live.record(passed, message) && !live.passing()) {
//     restart();  // the third failure in a row
//   }
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/clock.hpp"

namespace tender {

// A verdict from consecutive results: passing turns failing after `failure_threshold` failures
// in a row, failing turns passing after `success_threshold` successes in a row. A Kubernetes
// readiness or startup probe starts failing (not ready until the first success), a liveness
// probe and a proxy's endpoint start passing.
//
// Pure logic, no I/O; time (of the last change) comes from the Clock. Not thread-safe.
class ProbeTracker {
 public:
  enum Start : bool { kStartFailing = false, kStartPassing = true };

  // Thresholds below 1 count as 1.
  ProbeTracker(Start start, int success_threshold, int failure_threshold,
               const Clock& clock = system_clock());

  // Counts one result; returns whether passing() changed.
  bool record(bool passed, std::string message);

  // Back to the starting verdict with no consecutive results, as for a restarted container;
  // the totals and the last result stay. Counts as a change (changed_at) if the verdict moved.
  void reset();

  [[nodiscard]] bool passing() const { return passing_; }
  [[nodiscard]] int consecutive_successes() const { return successes_; }
  [[nodiscard]] int consecutive_failures() const { return failures_; }
  // Failed results in all, also across reset().
  [[nodiscard]] std::uint64_t total_failures() const { return total_failures_; }
  // The last result and its message; nullopt before the first.
  [[nodiscard]] std::optional<bool> last_passed() const { return last_passed_; }
  [[nodiscard]] const std::string& last_message() const { return last_message_; }
  // When passing() last changed (construction counts as one).
  [[nodiscard]] std::chrono::steady_clock::time_point changed_at() const { return changed_at_; }
  [[nodiscard]] int success_threshold() const { return success_threshold_; }
  [[nodiscard]] int failure_threshold() const { return failure_threshold_; }

 private:
  const Clock* clock_;
  Start start_;
  int success_threshold_;
  int failure_threshold_;
  bool passing_;
  int successes_ = 0;
  int failures_ = 0;
  std::uint64_t total_failures_ = 0;
  std::optional<bool> last_passed_;
  std::string last_message_;
  std::chrono::steady_clock::time_point changed_at_;
};

}  // namespace tender
