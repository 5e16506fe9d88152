#include "workqueue/queue_client.hpp"

#include <boost/asio.hpp>
#include <cctype>

namespace tender::workqueue {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// Calls other than a lease's long poll get this long to be answered (an ack waits for the
// server's fsync).
constexpr std::chrono::milliseconds kCallTimeout = 30s;

// `s` with every byte but letters, digits and -._~ percent-encoded, for a query parameter.
std::string query_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string item_target(std::uint64_t id, std::string_view verb, std::string_view lease_id) {
  return "/v1/items/" + std::to_string(id) + "/" + std::string(verb) +
         "?lease_id=" + query_escape(lease_id);
}

}  // namespace

QueueClient::QueueClient(const asio::any_io_executor& executor, QueueUrl url, std::string queue)
    : http_(executor, ClientOptions{.connect_timeout = 2s, .request_timeout = kCallTimeout}),
      url_(std::move(url)),
      queue_(std::move(queue)) {}

asio::awaitable<Result<Response>> QueueClient::call(std::string method, std::string target,
                                                    std::string body,
                                                    std::chrono::milliseconds timeout) {
  ClientRequest req;
  req.method = std::move(method);
  req.host = url_.host;
  req.port = url_.port;
  req.target = std::move(target);
  req.body = std::move(body);
  req.timeout = timeout;
  if (!req.body.empty()) {
    req.headers.add("Content-Type", "application/octet-stream");
  }
  auto r = co_await http_.request(std::move(req));
  if (!r) {
    co_return Error(r.error(),
                    "cannot reach the queue server at " + url_.str() + ": " + r.error().message());
  }
  if (r->status < 200 || r->status >= 300) {
    co_return http_status_error(r->status, r->body);
  }
  co_return std::move(*r);
}

asio::awaitable<Result<std::vector<LeasedItem>>> QueueClient::lease(std::size_t n,
                                                                    std::chrono::milliseconds wait,
                                                                    std::chrono::milliseconds ttl) {
  auto r = co_await call("POST",
                         "/v1/queues/" + queue_ + "/lease?n=" + std::to_string(n) +
                             "&wait_ms=" + std::to_string(wait.count()) +
                             "&ttl_ms=" + std::to_string(ttl.count()),
                         "", wait + kCallTimeout);
  if (!r) {
    co_return r.error();
  }
  if (r->status == 204) {
    co_return std::vector<LeasedItem>();
  }
  co_return parse_lease_answer(r->body);
}

asio::awaitable<Result<>> QueueClient::ack(std::uint64_t id, const std::string& lease_id,
                                           std::string result) {
  auto r = co_await call("POST", item_target(id, "ack", lease_id), std::move(result), kCallTimeout);
  if (!r) {
    co_return r.error();
  }
  co_return Result<>();
}

asio::awaitable<Result<std::string>> QueueClient::nack(
    std::uint64_t id, const std::string& lease_id, std::string error,
    std::optional<std::chrono::milliseconds> delay) {
  std::string target = item_target(id, "nack", lease_id);
  if (delay) {
    target += "&delay_ms=" + std::to_string(delay->count());
  }
  auto r = co_await call("POST", std::move(target), std::move(error), kCallTimeout);
  if (!r) {
    co_return r.error();
  }
  co_return parse_nack_answer(r->body);
}

asio::awaitable<Result<>> QueueClient::bury(std::uint64_t id, const std::string& lease_id,
                                            std::string error) {
  auto r = co_await call("POST", item_target(id, "bury", lease_id), std::move(error), kCallTimeout);
  if (!r) {
    co_return r.error();
  }
  co_return Result<>();
}

asio::awaitable<Result<>> QueueClient::release(std::uint64_t id, const std::string& lease_id) {
  auto r = co_await call("POST", item_target(id, "release", lease_id), "", kCallTimeout);
  if (!r) {
    co_return r.error();
  }
  co_return Result<>();
}

asio::awaitable<Result<>> QueueClient::extend(std::uint64_t id, const std::string& lease_id,
                                              std::chrono::milliseconds ttl) {
  auto r = co_await call(
      "POST", item_target(id, "extend", lease_id) + "&ttl_ms=" + std::to_string(ttl.count()), "",
      kCallTimeout);
  if (!r) {
    co_return r.error();
  }
  co_return Result<>();
}

asio::awaitable<Result<QueueSummary>> QueueClient::summary() {
  auto r = co_await call("GET", "/v1/queues/" + queue_, "", kCallTimeout);
  if (!r) {
    co_return r.error();
  }
  co_return parse_queue_answer(r->body);
}

}  // namespace tender::workqueue
