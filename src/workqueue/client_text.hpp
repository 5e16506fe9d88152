#pragma once
// The text of `tender queue push` and `tender queue stats`, without I/O: push's batches (the
// JSON arrays POST /v1/queues/Q/items:batch takes) and stats' tables.
//
//   BatchBuilder batch({.max_items = 1000, .max_bytes = 1 << 20, .priority = 5});
//   for (line : lines) {
//     if (!batch.add(line)) { send(batch.take()); batch.add(line); }   // full: send it first
//   }
//   if (batch.items() > 0) { send(batch.take()); }
//
//   std::cout << format_queues_table(queues);    // one line per queue, with a header

#include <boost/json/fwd.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workqueue/client_api.hpp"

namespace tender::workqueue {

struct BatchOptions {
  std::size_t max_items = 1000;
  std::size_t max_bytes = std::size_t{1} << 20;  // of the JSON body
  std::optional<int> priority;
  std::optional<long long> delay_ms;
  std::optional<int> max_attempts;
};

// Builds the JSON array of one batch: each payload a string when it is valid UTF-8, else an
// object with payload_base64; an object too when an option is set. Not thread-safe.
class BatchBuilder {
 public:
  explicit BatchBuilder(BatchOptions options) : options_(options) {}
  // Adds `payload` if it fits: false when the batch is full (max_items, or max_bytes would be
  // passed). A payload alone larger than max_bytes is always added to an empty batch (the
  // server then says whether it takes it).
  [[nodiscard]] bool add(std::string_view payload);
  [[nodiscard]] std::size_t items() const { return items_; }
  // The batch's JSON body; the builder starts an empty batch.
  [[nodiscard]] std::string take();

 private:
  BatchOptions options_;
  std::string body_;
  std::size_t items_ = 0;
};

// Splits input into the lines push sends: on '\n', a trailing '\r' removed (CRLF files), empty
// lines skipped. Keeps the unfinished last line in `pending` until `last` says the input ended.
// Appends the lines to `out`.
void split_lines(std::string& pending, std::string_view chunk, bool last,
                 std::vector<std::string>& out);

// "QUEUE  READY  DELAYED  LEASED  DONE  DEAD  OLDEST  PAUSED" and a line per queue, columns
// aligned (OLDEST, the oldest ready item's age, is "-" with none ready); "no queues" when
// there are none.
[[nodiscard]] std::string format_queues_table(const std::vector<QueueSummary>& queues);
// One queue in detail from GET /v1/queues/Q's JSON: counts, oldest ready age, settings and
// rates, one "key  value" per line. Fields the answer lacks are left out, and the oldest ready
// age when nothing is ready.
[[nodiscard]] std::string format_queue_detail(const boost::json::value& queue);

}  // namespace tender::workqueue
