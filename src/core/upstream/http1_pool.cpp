#include "core/upstream/http1_pool.hpp"

#include <sys/socket.h>

#include <boost/asio.hpp>
#include <cerrno>
#include <mutex>

#include "core/asio_util.hpp"
#include "core/http1.hpp"

namespace tender::upstream {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kMaxHead = 16 * 1024;

Error error(boost::system::errc::errc_t code, std::string what) {
  return Error(std::make_error_code(static_cast<std::errc>(code)), std::move(what));
}

// Whether nothing came on an idle connection, not even its end: a peek that would block. An
// endpoint that closed it, or sent something unasked before closing (a 408), makes it unusable:
// those bytes are no answer to the next request.
bool quiet(tcp::socket& s) {
  char b = 0;
  ssize_t n = ::recv(s.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

void ExchangeCancel::fire() {
  fired_ = true;
  if (conn_ != nullptr) {
    shut_down(conn_->socket);
  }
}

// The pools of one io_context, told when it goes: their idle sockets are closed while its
// reactor still exists (services shut down in the reverse order of their making, and this one
// is made after the loop's first socket), so a pool may outlive its loop.
class Http1Pool::LoopWatch : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;  // NOLINT: Asio's service identity
  explicit LoopWatch(asio::execution_context& ctx) : service(ctx) {}
  void add(Http1Pool* p) {
    std::lock_guard lock(mu_);
    pools_.push_back(p);
  }
  void remove(Http1Pool* p) {
    std::lock_guard lock(mu_);
    std::erase(pools_, p);
  }

 private:
  void shutdown() override {
    std::lock_guard lock(mu_);
    for (auto* p : pools_) {
      p->idle_.clear();
      p->watch_ = nullptr;
    }
    pools_.clear();
  }
  std::mutex mu_;
  std::vector<Http1Pool*> pools_;  // guarded by mu_
};

Http1Pool::Http1Pool(asio::io_context& ioc, Deadlines& deadlines, std::size_t max_idle)
    : ioc_(ioc), deadlines_(deadlines), max_idle_(max_idle) {
  watch_ = &asio::use_service<LoopWatch>(ioc);
  watch_->add(this);
}

Http1Pool::~Http1Pool() {
  if (watch_ != nullptr) {
    watch_->remove(this);
  }
}

std::size_t Http1Pool::idle() const {
  std::size_t n = 0;
  for (const auto& [_, conns] : idle_) {
    n += conns.size();
  }
  return n;
}

void Http1Pool::close_idle() { idle_.clear(); }

std::unique_ptr<Http1Pool::Pooled> Http1Pool::take_idle(const EndpointStats* id) {
  auto it = idle_.find(id);
  if (it == idle_.end()) {
    return nullptr;
  }
  auto& list = it->second;
  while (!list.empty()) {
    auto p = std::move(list.back());
    list.pop_back();
    if (quiet(p->conn.socket)) {
      return p;
    }
  }
  return nullptr;
}

asio::awaitable<Result<std::unique_ptr<Http1Pool::Pooled>>> Http1Pool::connect(
    const std::shared_ptr<Cluster>& cluster, const Endpoint& e, const ExchangeOptions& o) {
  auto left = std::chrono::duration_cast<milliseconds>(o.deadline - SteadyClock::now());
  if (left.count() <= 0) {
    co_return Error(std::make_error_code(std::errc::timed_out), "no time left to connect");
  }
  tcp::socket s(ioc_);
  UpstreamLease lease;
  auto ec = co_await connect_upstream(s, cluster, e, std::min(left, o.connect_timeout), lease);
  if (ec) {
    co_return Error(ec, "connect to " + e.name + ": " + ec.message());
  }
  auto p = std::make_unique<Pooled>(std::move(s), std::move(lease));
  deadlines_.add(p->conn);
  co_return p;
}

asio::awaitable<Result<Http1Answer>> Http1Pool::exchange(const std::shared_ptr<Cluster>& cluster,
                                                         const Endpoint& e,
                                                         std::string_view request,
                                                         ExchangeOptions options) {
  ExchangeCancel* cancel = options.cancel;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (cancel != nullptr && cancel->fired()) {
      co_return Error(asio::error::operation_aborted, "cancelled");
    }
    std::unique_ptr<Pooled> p;
    bool pooled = false;
    // Once more after a stale pooled connection: on a new one, not another idle one (an endpoint
    // that dropped a request on one is likely dropping the others too).
    if (attempt == 0) {
      p = take_idle(e.stats.get());
      pooled = p != nullptr;
    }
    if (!pooled) {
      auto c = co_await connect(cluster, e, options);
      if (!c) {
        co_return c.error();
      }
      p = std::move(*c);
    }
    if (cancel != nullptr) {
      if (cancel->fired()) {
        co_return Error(asio::error::operation_aborted, "cancelled");
      }
      cancel->conn_ = &p->conn;
    }
    bool stale = false;
    bool reusable = false;
    auto answer = co_await send_and_read(*p, request, options, stale, reusable);
    if (cancel != nullptr) {
      cancel->conn_ = nullptr;
      if (cancel->fired()) {
        co_return Error(asio::error::operation_aborted, "cancelled");
      }
    }
    if (answer) {
      if (reusable) {
        auto& list = idle_[e.stats.get()];
        if (list.size() < max_idle_) {
          p->conn.in.shrink(64 * 1024);
          list.push_back(std::move(p));
        }
      }
      co_return answer;
    }
    if (!(pooled && stale && options.replayable)) {
      co_return answer;
    }
    // The endpoint had closed the pooled connection while it idled: once more on a new one.
  }
  co_return Error(asio::error::connection_reset, "connection closed");
}

asio::awaitable<Result<Http1Answer>> Http1Pool::send_and_read(Pooled& p, std::string_view request,
                                                              const ExchangeOptions& o, bool& stale,
                                                              bool& reusable) {
  Conn& c = p.conn;
  c.in.clear();
  c.timed_out = false;
  auto failed = [&](std::string what) -> Error {
    if (c.timed_out) {
      return Error(std::make_error_code(std::errc::timed_out), "no answer in time");
    }
    if (c.error) {
      return Error(c.error, std::move(what));
    }
    return Error(asio::error::eof, std::move(what));
  };
  if (!co_await write_all(deadlines_, c, asio::buffer(request.data(), request.size()),
                          o.deadline)) {
    stale = !c.timed_out;
    co_return failed("sending the request");
  }
  http1::Head head;
  http1::Error perr;
  for (;;) {  // the head, skipping interim answers
    auto parsed = http1::parse_response(c.in.data(), kMaxHead, o.head, head, perr);
    if (parsed == http1::Parse::kError) {
      co_return error(
          perr.too_large ? boost::system::errc::message_size : boost::system::errc::bad_message,
          "malformed answer: " + perr.reason);
    }
    if (parsed == http1::Parse::kDone) {
      if (head.status >= 100 && head.status < 200 && head.status != 101) {
        c.in.consume(head.size);
        continue;
      }
      break;
    }
    bool nothing_yet = c.in.data().empty();
    if (!co_await read_more(deadlines_, c, o.deadline)) {
      stale = nothing_yet && !c.timed_out;
      co_return failed("reading the answer");
    }
  }
  Http1Answer a;
  a.status = head.status;
  for (const auto& f : head.fields) {
    a.headers.add(std::string(f.name), std::string(f.value));
  }
  bool keep = head.keep_alive;
  std::size_t head_size = head.size;
  switch (head.framing) {
    case http1::Framing::kNone:
      c.in.consume(head_size);
      break;
    case http1::Framing::kLength: {
      if (head.length > o.max_body) {
        co_return error(boost::system::errc::message_size,
                        "answer body of " + std::to_string(head.length) + " bytes is over " +
                            std::to_string(o.max_body));
      }
      c.in.consume(head_size);
      auto want = static_cast<std::size_t>(head.length);
      while (c.in.data().size() < want) {
        if (!co_await read_more(deadlines_, c, o.deadline,
                                std::max<std::size_t>(16 * 1024, want - c.in.data().size()))) {
          co_return failed("reading the answer's body");
        }
      }
      a.body.assign(c.in.data().substr(0, want));
      c.in.consume(want);
      break;
    }
    case http1::Framing::kChunked: {
      c.in.consume(head_size);
      http1::Chunked chunked;
      for (;;) {
        std::size_t used = chunked.feed(c.in.data(), &a.body);
        c.in.consume(used);
        if (chunked.failed()) {
          co_return error(boost::system::errc::bad_message, "malformed chunked answer");
        }
        if (a.body.size() > o.max_body) {
          co_return error(boost::system::errc::message_size,
                          "answer body over " + std::to_string(o.max_body) + " bytes");
        }
        if (chunked.done()) {
          break;
        }
        if (!co_await read_more(deadlines_, c, o.deadline)) {
          co_return failed("reading the answer's body");
        }
      }
      break;
    }
    case http1::Framing::kUntilClose: {
      c.in.consume(head_size);
      keep = false;
      for (;;) {
        if (c.in.data().size() > o.max_body) {
          co_return error(boost::system::errc::message_size,
                          "answer body over " + std::to_string(o.max_body) + " bytes");
        }
        if (!co_await read_more(deadlines_, c, o.deadline)) {
          if (c.timed_out || !c.eof) {
            co_return failed("reading the answer's body");
          }
          break;
        }
      }
      a.body.assign(c.in.data());
      c.in.clear();
      break;
    }
  }
  reusable = keep && c.in.data().empty();
  co_return a;
}

}  // namespace tender::upstream
