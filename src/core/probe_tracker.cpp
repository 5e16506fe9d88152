#include "core/probe_tracker.hpp"

#include <algorithm>

namespace tender {

ProbeTracker::ProbeTracker(Start start, int success_threshold, int failure_threshold,
                           const Clock& clock)
    : clock_(&clock),
      start_(start),
      success_threshold_(std::max(1, success_threshold)),
      failure_threshold_(std::max(1, failure_threshold)),
      passing_(start == kStartPassing),
      changed_at_(clock.now()) {}

bool ProbeTracker::record(bool passed, std::string message) {
  last_passed_ = passed;
  last_message_ = std::move(message);
  const bool was = passing_;
  if (passed) {
    ++successes_;
    failures_ = 0;
    if (successes_ >= success_threshold_) {
      passing_ = true;
    }
  } else {
    ++failures_;
    successes_ = 0;
    ++total_failures_;
    if (failures_ >= failure_threshold_) {
      passing_ = false;
    }
  }
  if (passing_ != was) {
    changed_at_ = clock_->now();
    return true;
  }
  return false;
}

void ProbeTracker::reset() {
  successes_ = 0;
  failures_ = 0;
  const bool was = passing_;
  passing_ = start_ == kStartPassing;
  if (passing_ != was) {
    changed_at_ = clock_->now();
  }
}

}  // namespace tender
