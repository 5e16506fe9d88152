#pragma once
// What the queue's clients (`tender work`, `tender queue push` and `stats`) need of the HTTP
// API of docs/queue.md, without any I/O: the server's address, the answers' JSON, and the
// errors an answer stands for.
//
//   auto url = parse_queue_url("http://127.0.0.1:7700");     // Result<QueueUrl>
//   auto items = parse_lease_answer(response.body);          // Result<std::vector<LeasedItem>>
//   if (response.status >= 300) {
//     Error e = http_status_error(response.status, response.body);   // "HTTP 409: stale lease"
//     if (is_transient(e)) { /* back off and retry */ }
//   }

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tender::workqueue {

// The queue server's address: http://HOST[:PORT][/]. Port 80 when none is given.
struct QueueUrl {
  std::string host;
  std::uint16_t port = 80;
  // "http://HOST:PORT", with IPv6 literals in brackets.
  [[nodiscard]] std::string str() const;
};
// Errors (errc::invalid_argument, naming the URL): another scheme than http, no host, a bad
// port, a path other than "/", a query or a fragment.
[[nodiscard]] Result<QueueUrl> parse_queue_url(std::string_view url);

// The error an HTTP answer other than 2xx stands for: its code is the status in
// http_status_category(), its message "HTTP 409: " followed by the server's reason (the
// body's first line, at most 300 bytes).
[[nodiscard]] Error http_status_error(int status, std::string_view body);
[[nodiscard]] const boost::system::error_category& http_status_category();
// The HTTP status an error stands for, or 0 when it is not one (the server was not reached,
// or its answer could not be read).
[[nodiscard]] int http_status_of(const Error& error);
// Worth retrying later: the server was not reached or did not answer, or answered 5xx or 429.
[[nodiscard]] bool is_transient(const Error& error);

// One item of a lease's answer.
struct LeasedItem {
  std::uint64_t id = 0;
  std::string lease_id;
  std::string payload;
  int attempt = 0;
  int max_attempts = 0;
};
// The items of a 200 answer to POST /v1/queues/Q/lease. Errors (errc::bad_message, naming the
// field): not JSON, or an item without id, lease_id or a payload, or with a payload_base64
// that is not base64.
[[nodiscard]] Result<std::vector<LeasedItem>> parse_lease_answer(std::string_view body);

// A queue's counts, as GET /v1/queues/Q answers them.
struct QueueSummary {
  std::string name;
  bool paused = false;
  std::uint64_t ready = 0;
  std::uint64_t delayed = 0;
  std::uint64_t leased = 0;
  std::uint64_t done = 0;
  std::uint64_t dead = 0;
  std::optional<std::int64_t> oldest_ready_age_ms;

  // Items still to be finished: ready, delayed and leased.
  [[nodiscard]] std::uint64_t unfinished() const { return ready + delayed + leased; }
};
// Errors (errc::bad_message, naming what is missing): not a QUEUE object with name and counts.
[[nodiscard]] Result<QueueSummary> parse_queue(const boost::json::value& queue);
[[nodiscard]] Result<QueueSummary> parse_queue_answer(std::string_view body);
// GET /v1/queues: {"queues":[QUEUE,...]}.
[[nodiscard]] Result<std::vector<QueueSummary>> parse_queues_answer(std::string_view body);

// The `state` of a nack's answer ("ready", "delayed" or "dead"). Errors: errc::bad_message.
[[nodiscard]] Result<std::string> parse_nack_answer(std::string_view body);

}  // namespace tender::workqueue
