#include "election/etcd_client.hpp"

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <variant>

#include "core/log.hpp"

namespace tender::election {

namespace asio = boost::asio;
using asio::experimental::awaitable_operators::operator||;

void etcd_log(int level, std::string_view msg, std::string_view key1, std::string_view value1,
              std::string_view key2, std::string_view value2) {
  auto lv = static_cast<log::Level>(level);
  if (!log::enabled(lv)) {
    return;
  }
  if (key2.empty()) {
    log::write(lv, msg, {{key1, value1}});
  } else {
    log::write(lv, msg, {{key1, value1}, {key2, value2}});
  }
}

EtcdClient::EtcdClient(const asio::any_io_executor& executor, std::vector<HostPort> endpoints,
                       Options options)
    : endpoints_(std::move(endpoints)),
      options_(options),
      unary_(executor, ClientOptions{.connect_timeout = options.timeout,
                                     .request_timeout = options.timeout,
                                     .max_idle_per_host = 4}),
      streams_(executor, ClientOptions{.connect_timeout = options.timeout,
                                       .request_timeout = options.timeout,
                                       .max_idle_per_host = 0}),
      moved_(executor, asio::steady_timer::time_point::max()) {}

ClientRequest EtcdClient::request(const HostPort& to, const etcd::Call& call,
                                  std::optional<std::chrono::milliseconds> timeout) const {
  ClientRequest req;
  req.method = "POST";
  req.host = to.host;
  req.port = to.port;
  req.target = call.path;
  req.headers.set("Content-Type", "application/json");
  req.body = call.body;
  req.timeout = timeout;
  return req;
}

void EtcdClient::report(bool ok, std::string_view why) {
  if (ok && contact_ == true) {
    return;
  }
  contact_ = ok;
  if (sink_ != nullptr) {
    sink_->contact(ok, why);
  }
}

asio::awaitable<Result<EtcdClient::Answer>> EtcdClient::send(const etcd::Call& call) {
  Error last;
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    std::size_t at = current_;
    const HostPort& to = endpoints_[at];
    auto got = co_await unary_.request(request(to, call, options_.timeout));
    if (got) {
      auto usable = etcd::member_answered(got->status, got->body);
      if (usable) {
        report(true, "");
        co_return Answer{got->status, std::move(got->body)};
      }
      last = usable.error().with_context(to.str() + call.path);
    } else if (got.error() == asio::error::operation_aborted) {
      co_return Error(got.error());
    } else {
      last = Error(got.error()).with_context(to.str() + call.path);
    }
    if (current_ == at && endpoints_.size() > 1) {
      current_ = (at + 1) % endpoints_.size();
      etcd_log(1, "etcd: moving to another member: " + last.message(), "from", to.str(), "to",
               endpoints_[current_].str());
      moved_.cancel();
    }
  }
  report(false, last.message());
  co_return last;
}

asio::awaitable<void> EtcdClient::moved_from(std::size_t at) {
  while (current_ == at) {
    co_await moved_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<Result<>> EtcdClient::watch(
    const etcd::Call& call, std::function<Result<>(const etcd::WatchMessage&)> on_message) {
  std::size_t at = current_;
  const HostPort to = endpoints_[at];
  etcd::LineSplitter lines;
  auto on_line = [&](std::string_view line) -> Result<> {
    auto message = etcd::parse_watch(line);
    if (!message) {
      return message.error();
    }
    if (message->canceled) {
      return Error(std::errc::operation_canceled, "etcd: watch canceled (compact_revision " +
                                                      std::to_string(message->compact_revision) +
                                                      ") " + message->cancel_reason);
    }
    return on_message(*message);
  };
  auto exchange = streams_.stream(request(to, call, options_.timeout), [&](std::string_view bytes) {
    return lines.feed(bytes, on_line);
  });
  auto ended = co_await (std::move(exchange) || moved_from(at));
  if (ended.index() == 1) {
    co_return Error(std::errc::operation_canceled, "etcd: watching through another member now");
  }
  auto& head = std::get<0>(ended);
  if (!head) {
    co_return head.error().with_context("etcd watch on " + to.str());
  }
  co_return Error(std::errc::connection_reset, "etcd watch on " + to.str() + ": ended (HTTP " +
                                                   std::to_string(head->status) + ")");
}

}  // namespace tender::election
