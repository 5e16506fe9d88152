#pragma once
// The work runner's side of the queue server's API (docs/queue.md), as coroutines over one
// pooled HttpClient: lease, ack, nack, bury, extend, and the queue's counts.
//
//   QueueClient client(co_await asio::this_coro::executor, url, "images");
//   auto items = co_await client.lease(1, 30s, 60s);     // Result<std::vector<LeasedItem>>
//   auto acked = co_await client.ack(item.id, item.lease_id, result);
//   if (!acked && http_status_of(acked.error()) == 409) { /* the lease was lost */ }
//
// Every call fails with an Error: the server not reached or not answering in time (its
// transport error, "cannot reach the queue server at ...: ..."), a status other than 2xx
// (http_status_error: "HTTP 409: ..."), or an answer that is not what the API promises
// (errc::bad_message). is_transient() tells which are worth retrying. Cancel a call through the
// awaiting coroutine's cancellation slot. Not thread-safe: one executor thread.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/http_client.hpp"
#include "workqueue/client_api.hpp"

namespace tender::workqueue {

class QueueClient {
 public:
  QueueClient(const boost::asio::any_io_executor& executor, QueueUrl url, std::string queue);

  // Up to `n` items, waiting up to `wait` for a first one (an empty vector when none came).
  boost::asio::awaitable<Result<std::vector<LeasedItem>>> lease(std::size_t n,
                                                                std::chrono::milliseconds wait,
                                                                std::chrono::milliseconds ttl);
  boost::asio::awaitable<Result<>> ack(std::uint64_t id, const std::string& lease_id,
                                       std::string result);
  // Answers the item's state after the nack: "ready", "delayed" or "dead". No `delay`: the
  // queue's backoff.
  boost::asio::awaitable<Result<std::string>> nack(std::uint64_t id, const std::string& lease_id,
                                                   std::string error,
                                                   std::optional<std::chrono::milliseconds> delay);
  // Gives the item back unfinished, without counting the attempt.
  boost::asio::awaitable<Result<>> release(std::uint64_t id, const std::string& lease_id);
  boost::asio::awaitable<Result<>> bury(std::uint64_t id, const std::string& lease_id,
                                        std::string error);
  boost::asio::awaitable<Result<>> extend(std::uint64_t id, const std::string& lease_id,
                                          std::chrono::milliseconds ttl);
  // GET /v1/queues/Q. A queue that does not exist (yet) is HTTP 404.
  boost::asio::awaitable<Result<QueueSummary>> summary();

  [[nodiscard]] const QueueUrl& url() const { return url_; }

 private:
  boost::asio::awaitable<Result<Response>> call(std::string method, std::string target,
                                                std::string body,
                                                std::chrono::milliseconds timeout);

  HttpClient http_;
  QueueUrl url_;
  std::string queue_;
};

}  // namespace tender::workqueue
