#pragma once
// The progress the clients show on a terminal, as text, without I/O: `tender work`'s line
// (done, failed, remaining, rate, ETA) and `tender queue push`'s bar.
//
//   RateMeter meter(clock);                  // items per second over the last 30 s
//   meter.record(finished_so_far);           // at every refresh
//   std::string line = format_progress({.done = 120, .failed = 3, .remaining = 877,
//                                       .rate = meter.rate()});
//   // "done 120  failed 3  remaining 877  4.2/s  ETA 3m29s"

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "core/clock.hpp"

namespace tender::workqueue {

// A rate from a growing total sampled over time: (newest - oldest) / elapsed over the samples
// of the last `window`. Not thread-safe. The clock must outlive it.
class RateMeter {
 public:
  explicit RateMeter(const Clock& clock,
                     std::chrono::steady_clock::duration window = std::chrono::seconds(30));
  // Records the total at clock.now(). A total lower than the last is taken as the last.
  void record(std::uint64_t total);
  // Per second; 0 until two samples at least 1 s apart (or ever more than 0 apart when the
  // window is shorter) were recorded.
  [[nodiscard]] double rate() const;

 private:
  const Clock* clock_;
  std::chrono::steady_clock::duration window_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> samples_;
};

struct ProgressView {
  std::uint64_t done = 0;                  // acked by this runner
  std::uint64_t failed = 0;                // nacked or buried by this runner
  std::optional<std::uint64_t> remaining;  // the queue's ready + delayed + leased, if known
  double rate = 0;                         // items finished per second
};
// "done 120  failed 3  remaining 877  4.2/s  ETA 3m29s"; "remaining ?" when unknown; no ETA
// without a rate or a remaining count, "ETA 0s" with nothing remaining.
[[nodiscard]] std::string format_progress(const ProgressView& view);

// "[########............]  40%  12000 items" for `done` bytes of `total`, in `width` cells.
[[nodiscard]] std::string format_bar(std::uint64_t done, std::uint64_t total, std::uint64_t items,
                                     int width = 30);

}  // namespace tender::workqueue
