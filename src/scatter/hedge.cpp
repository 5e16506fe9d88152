#include "scatter/hedge.hpp"

#include <algorithm>
#include <cmath>

namespace tender::scatter {

LatencyWindow::LatencyWindow(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {
  ring_.reserve(capacity_);
}

void LatencyWindow::add(microseconds latency) {
  std::int64_t v = std::max<std::int64_t>(0, latency.count());
  if (ring_.size() < capacity_) {
    ring_.push_back(v);
  } else {
    ring_[next_] = v;
    next_ = (next_ + 1) % ring_.size();
  }
  ++total_;
}

std::optional<microseconds> LatencyWindow::quantile(double q, std::size_t min_samples) {
  if (ring_.empty() || ring_.size() < min_samples) {
    return std::nullopt;
  }
  // Sorting 1024 samples per request would cost more than the request; a window that has moved
  // by a sixteenth has not changed its quantiles by much.
  std::uint64_t resort_every = std::max<std::size_t>(1, capacity_ / 16);
  if (sorted_.empty() || total_ - sorted_at_ >= resort_every) {
    sorted_ = ring_;
    std::sort(sorted_.begin(), sorted_.end());
    sorted_at_ = total_;
  }
  // Nearest rank: the smallest sample with at least q of the samples at or below it. The
  // epsilon keeps 0.95 x 100 at rank 95 whatever the rounding of 0.95.
  auto n = static_cast<double>(sorted_.size());
  double rank = std::ceil(std::clamp(q, 0.0, 1.0) * n - 1e-9);
  auto index = static_cast<std::size_t>(std::clamp(rank, 1.0, n)) - 1;
  return microseconds(sorted_[index]);
}

std::size_t LatencyWindow::size() const { return ring_.size(); }

HedgeBudget::HedgeBudget(double ratio, double burst)
    : ratio_(std::max(0.0, ratio)), burst_(std::max(0.0, burst)), tokens_(burst_) {}

void HedgeBudget::on_request() { tokens_ = std::min(burst_, tokens_ + ratio_); }

bool HedgeBudget::try_hedge() {
  if (tokens_ < 1.0) {
    return false;
  }
  tokens_ -= 1.0;
  return true;
}

SlowShards::SlowShards(const Clock& clock, SlowOptions options)
    : clock_(clock), options_(options) {}

void SlowShards::update(const std::vector<std::optional<microseconds>>& p95) {
  state_.resize(p95.size());
  std::vector<microseconds> known;
  for (const auto& p : p95) {
    if (p) {
      known.push_back(*p);
    }
  }
  if (known.empty()) {
    std::fill(state_.begin(), state_.end(), State{});
    return;
  }
  // The lower median: of two shards, one slow, the slow one is measured against the fast one.
  auto mid = known.begin() + static_cast<std::ptrdiff_t>((known.size() - 1) / 2);
  std::nth_element(known.begin(), mid, known.end());
  double line = options_.factor * static_cast<double>(mid->count());
  auto now = clock_.now();
  for (std::size_t i = 0; i < p95.size(); ++i) {
    State& s = state_[i];
    if (!p95[i]) {
      s = State{};
      continue;
    }
    bool above = *p95[i] >= options_.floor && static_cast<double>(p95[i]->count()) > line;
    if (above == s.slow) {
      s.since.reset();
      continue;
    }
    if (!s.since) {
      s.since = now;
    }
    if (now - *s.since >= options_.hold) {
      s.slow = above;
      s.since.reset();
    }
  }
}

bool SlowShards::slow(std::size_t shard) const {
  return shard < state_.size() && state_[shard].slow;
}

std::vector<std::size_t> SlowShards::slow_shards() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    if (state_[i].slow) {
      out.push_back(i);
    }
  }
  return out;
}

}  // namespace tender::scatter
