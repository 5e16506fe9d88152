#include "core/webhook.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <stdexcept>
#include <utility>

#include "core/asio_util.hpp"
#include "core/http_client.hpp"
#include "core/log.hpp"

namespace tender {

namespace asio = boost::asio;

struct Webhook::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, HttpUrl u, WebhookOptions o, std::function<void(bool)> cb)
      : ioc(io),
        url(std::move(u)),
        options(std::move(o)),
        on_result(std::move(cb)),
        client(io.get_executor()),
        backoff(options.backoff, options.clock != nullptr ? *options.clock : system_clock()) {}

  asio::io_context& ioc;
  HttpUrl url;
  WebhookOptions options;
  std::function<void(bool)> on_result;
  HttpClient client;
  Backoff backoff;
  std::deque<std::string> queue;
  bool sending = false;
  bool closed = false;

  asio::awaitable<void> drain();
  asio::awaitable<bool> deliver(const std::string& body);
};

asio::awaitable<bool> Webhook::Impl::deliver(const std::string& body) {
  backoff.reset();
  for (int attempt = 0; attempt < options.attempts && !closed; ++attempt) {
    if (attempt > 0) {
      co_await sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(backoff.next()));
      if (closed) {
        break;
      }
    }
    ClientRequest req;
    req.method = "POST";
    req.host = url.host;
    req.port = url.port;
    req.target = url.target;
    req.headers.set("Content-Type", "application/json");
    req.body = body;
    req.timeout = options.timeout;
    auto res = co_await client.request(std::move(req));
    if (res && res->status / 100 == 2) {
      co_return true;
    }
    log::warn("webhook not delivered",
              {{"attempt", attempt + 1},
               {"error", res ? "HTTP " + std::to_string(res->status) : res.error().message()}});
  }
  co_return false;
}

asio::awaitable<void> Webhook::Impl::drain() {
  auto self = shared_from_this();
  while (!queue.empty() && !closed) {
    std::string body = queue.front();
    bool ok = co_await deliver(body);
    if (!queue.empty()) {
      queue.pop_front();
    }
    if (on_result && !closed) {
      on_result(ok);
    }
  }
  sending = false;
}

Webhook::Webhook(asio::io_context& ioc, HttpUrl url, WebhookOptions options,
                 std::function<void(bool)> on_result) {
  if (options.attempts < 1) {
    throw std::invalid_argument("webhook: attempts must be at least 1");
  }
  if (options.max_pending < 1) {
    throw std::invalid_argument("webhook: max_pending must be at least 1");
  }
  if (std::string why = options.backoff.validate(); !why.empty()) {
    throw std::invalid_argument("webhook: " + why);
  }
  impl_ = std::make_shared<Impl>(ioc, std::move(url), std::move(options), std::move(on_result));
}

Webhook::~Webhook() { impl_->closed = true; }

void Webhook::send(std::string body) {
  Impl& m = *impl_;
  if (m.queue.size() >= m.options.max_pending) {
    // The one in flight (the front) stays; the oldest waiting one goes.
    std::size_t victim = m.sending ? 1 : 0;
    if (victim < m.queue.size()) {
      m.queue.erase(m.queue.begin() + static_cast<std::ptrdiff_t>(victim));
      if (m.on_result) {
        m.on_result(false);
      }
    }
  }
  m.queue.push_back(std::move(body));
  if (!m.sending) {
    m.sending = true;
    asio::co_spawn(m.ioc, m.drain(), asio::detached);
  }
}

std::size_t Webhook::pending() const { return impl_->queue.size(); }

}  // namespace tender
