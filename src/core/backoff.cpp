#include "core/backoff.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>

namespace tender {

namespace {

std::uint64_t random_seed() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

// A uniform double in [0, 1) from 53 random bits; identical on every standard library, unlike
// std::uniform_real_distribution.
double unit_interval(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

std::string BackoffPolicy::validate() const {
  if (initial.count() <= 0) {
    return "backoff: initial delay must be positive";
  }
  if (max < initial) {
    return "backoff: max delay must be at least the initial delay";
  }
  if (!std::isfinite(multiplier) || multiplier < 1.0) {
    return "backoff: multiplier must be a finite number >= 1";
  }
  if (!(jitter >= 0.0 && jitter <= 1.0)) {  // also rejects NaN
    return "backoff: jitter must be a fraction between 0 and 1";
  }
  if (reset_after && reset_after->count() <= 0) {
    return "backoff: reset_after must be positive";
  }
  return {};
}

BackoffPolicy BackoffPolicy::kubernetes_restart() {
  BackoffPolicy policy;
  policy.initial = std::chrono::seconds(10);
  policy.max = std::chrono::seconds(300);
  policy.multiplier = 2.0;
  policy.jitter = 0.0;
  policy.reset_after = std::chrono::minutes(10);
  return policy;
}

Backoff::Backoff(BackoffPolicy policy, const Clock& clock)
    : Backoff(policy, clock, random_seed()) {}

Backoff::Backoff(BackoffPolicy policy, const Clock& clock, std::uint64_t seed)
    : policy_(policy), clock_(&clock), rng_(seed) {
  if (std::string error = policy_.validate(); !error.empty()) {
    throw std::invalid_argument(error);
  }
}

Backoff::Duration Backoff::next() {
  const auto now = clock_->now();
  if (policy_.reset_after && last_failure_ && now - *last_failure_ > *policy_.reset_after) {
    reset();
  }
  last_failure_ = now;

  if (attempts_ == 0) {
    current_ = policy_.initial;
  } else if (current_ < policy_.max) {
    // In double: current_ <= max, so the product is far from overflowing a double, and it is
    // compared with max before converting back.
    // Rounded up so that a tiny delay with a multiplier just above 1 still grows.
    const double grown = std::ceil(static_cast<double>(current_.count()) * policy_.multiplier);
    current_ = grown >= static_cast<double>(policy_.max.count())
                   ? policy_.max
                   : Duration(static_cast<Duration::rep>(grown));
  }
  if (attempts_ < INT_MAX) {
    ++attempts_;
  }

  if (policy_.jitter == 0.0) {
    return current_;
  }
  // Uniform in [d*(1-j), d]: the shortest wait is `low`, the longest `current_`.
  const double d = static_cast<double>(current_.count());
  const double low = d * (1.0 - policy_.jitter);
  const double drawn = low + unit_interval(rng_) * (d - low);
  // Compared in double first: near Duration::max() the cast back would otherwise overflow.
  if (drawn >= d) {
    return current_;
  }
  return Duration(std::max<Duration::rep>(static_cast<Duration::rep>(drawn), 0));
}

void Backoff::reset() {
  attempts_ = 0;
  current_ = Duration(0);
  last_failure_.reset();
}

}  // namespace tender
