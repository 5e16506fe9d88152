#include "workqueue/work_progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/units.hpp"

namespace tender::workqueue {

RateMeter::RateMeter(const Clock& clock, std::chrono::steady_clock::duration window)
    : clock_(&clock), window_(window) {}

void RateMeter::record(std::uint64_t total) {
  const auto now = clock_->now();
  if (!samples_.empty()) {
    total = std::max(total, samples_.back().second);
  }
  samples_.emplace_back(now, total);
  // Keep one sample at or before the window's start, so the rate spans the whole window.
  while (samples_.size() > 2 && samples_[1].first <= now - window_) {
    samples_.pop_front();
  }
}

double RateMeter::rate() const {
  if (samples_.size() < 2) {
    return 0;
  }
  const auto& [t0, n0] = samples_.front();
  const auto& [t1, n1] = samples_.back();
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  const double least = std::min(1.0, std::chrono::duration<double>(window_).count());
  if (seconds <= 0 || seconds < least) {
    return 0;
  }
  return static_cast<double>(n1 - n0) / seconds;
}

std::string format_progress(const ProgressView& v) {
  std::string out = "done " + std::to_string(v.done) + "  failed " + std::to_string(v.failed) +
                    "  remaining " + (v.remaining ? std::to_string(*v.remaining) : "?");
  char rate[32];
  std::snprintf(rate, sizeof rate, "  %.1f/s", v.rate);
  out += rate;
  if (v.remaining && *v.remaining == 0) {
    out += "  ETA 0s";
  } else if (v.remaining && v.rate > 0) {
    const double seconds = static_cast<double>(*v.remaining) / v.rate;
    // Past a year the estimate says nothing; whole seconds beyond a minute.
    const double capped = std::min(seconds, 365.0 * 24 * 3600);
    auto ms = std::chrono::milliseconds(static_cast<std::int64_t>(
        capped >= 60 ? std::round(capped) * 1000 : std::ceil(capped) * 1000));
    out += "  ETA " + format_duration(ms);
  }
  return out;
}

std::string format_bar(std::uint64_t done, std::uint64_t total, std::uint64_t items, int width) {
  const double fraction =
      total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int filled = static_cast<int>(fraction * width);
  std::string out = "[";
  out.append(static_cast<std::size_t>(filled), '#');
  out.append(static_cast<std::size_t>(width - filled), '.');
  char tail[64];
  std::snprintf(tail, sizeof tail, "] %3d%%  %llu items", static_cast<int>(fraction * 100),
                static_cast<unsigned long long>(items));
  out += tail;
  return out;
}

}  // namespace tender::workqueue
