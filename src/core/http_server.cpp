#include "core/http_server.hpp"

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/conn.hpp"
#include "core/http1.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/process.hpp"
#include "core/uring.hpp"

namespace tender {
namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A connection keeps its request's body memory for the next request up to this size.
constexpr std::size_t kKeptBodyBytes = 64 * 1024;

constexpr std::array<std::string_view, 7> kMethods = {"GET",    "HEAD",    "POST", "PUT",
                                                      "DELETE", "OPTIONS", "PATCH"};

std::size_t method_index(std::string_view m) {
  for (std::size_t i = 0; i < kMethods.size(); ++i) {
    if (kMethods[i] == m) {
      return i;
    }
  }
  return kMethods.size();
}

// Header text that cannot split a response: CR and LF become spaces.
void append_field_text(std::string& out, std::string_view v) {
  for (char c : v) {
    out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  }
}

std::string peer_of(const tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) {
    return "";
  }
  return HostPort{ep.address().to_string(), ep.port()}.str();
}

}  // namespace

// Where an asynchronous handler's answer meets the coroutine waiting for it. The handler may
// answer before the coroutine parks (no suspension then), or later from any thread.
struct PendingReply {
  std::mutex mu;
  bool answered = false;
  bool closed = false;  // the worker is gone: late answers are dropped
  Response response;
  std::function<void()> resume;  // set while the coroutine is parked; posts it
};

struct HttpServer::Impl {
  struct Worker;

  Impl(Router r, ServerOptions o) : router(std::move(r)), opts(std::move(o)) {}

  Router router;
  ServerOptions opts;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> served{0};
  std::atomic<bool> draining{false};
  bool started = false;
  bool stopped = false;

  CounterFamily* requests = nullptr;
  Histogram* duration = nullptr;
  Gauge* open_connections = nullptr;
  Gauge* in_flight_gauge = nullptr;
  Counter* rejected = nullptr;

  asio::awaitable<void> accept_loop(Worker& w);
  asio::awaitable<void> session(Worker& w, tcp::socket socket);
  // Runs the handler for `req`. Returns null with `out` filled when the answer is ready at once
  // (the common case, with no suspension); otherwise the reply to wait for with wait_reply.
  std::shared_ptr<PendingReply> begin_dispatch(Worker& w, Request& req, Response& out);
  asio::awaitable<Response> wait_reply(Worker& w, std::shared_ptr<PendingReply> pending);
  // What became of reading one request.
  enum class Read { kRequest, kClose, kRefused };
  // Reads the next request of `c` into `req` (head by started + header_timeout, body by
  // body_timeout after it). kClose: the client went or timed out, with nothing to answer;
  // kRefused: it was answered with an error and the connection is done.
  asio::awaitable<Read> read_request(Worker& w, Conn& c, Request& req, bool& keep_alive,
                                     SteadyClock::time_point started);
  // Reads the body the head announced into req.body.
  asio::awaitable<Read> read_body(Worker& w, Conn& c, const http1::Head& head, Request& req);
  asio::awaitable<void> answer_error(Worker& w, Conn& c, int status, std::string reason);
  static asio::awaitable<void> linger_close(Deadlines& d, Conn& c);
};

struct HttpServer::Impl::Worker final : Scheduler {
  explicit Worker(Impl& s) : server(s) {}

  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    auto timer = std::make_shared<asio::steady_timer>(ioc, delay);
    timer->async_wait([timer, fn = std::move(fn)](const error_code&) {
      try {
        fn();
      } catch (const std::exception& e) {
        log::error("scheduled handler failed", {{"error", e.what()}});
      } catch (...) {
        log::error("scheduled handler failed");
      }
    });
  }

  // Called after the thread has been joined, while the io_context still exists: parked
  // coroutines are destroyed here and answers that arrive later are dropped.
  void close_pending() {
    for (const auto& p : parked) {
      std::function<void()> doomed;
      {
        std::lock_guard lock(p->mu);
        p->closed = true;
        doomed = std::move(p->resume);
      }
    }
    parked.clear();
  }

  // The status line and header of `resp`; drops its body where the status forbids one. Adds
  // Date, Content-Length and Connection; a handler's own Content-Length is kept only for HEAD.
  // Into `out` (replacing what it held; a connection reuses one string).
  void serialize_head(std::string& out, Response& resp, unsigned version, bool head,
                      bool keep_alive) {
    int st = resp.status;
    bool bodiless = st < 200 || st == 204 || st == 304;
    if (bodiless) {
      resp.body.clear();
    }
    out.clear();
    out.reserve(160);
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(st);
    out.push_back(' ');
    out += reason_phrase(st);
    out += "\r\nDate: ";
    out += http_date();
    out += "\r\n";
    bool stated_length = false;
    for (const auto& f : resp.headers.fields()) {
      if (iequals(f.name, "Connection") || iequals(f.name, "Transfer-Encoding") ||
          iequals(f.name, "Date")) {
        continue;
      }
      if (iequals(f.name, "Content-Length")) {
        if (!head || !resp.body.empty()) {
          continue;
        }
        stated_length = true;
      }
      append_field_text(out, f.name);
      out += ": ";
      append_field_text(out, f.value);
      out += "\r\n";
    }
    if (!bodiless && !stated_length) {
      out += "Content-Length: ";
      out += std::to_string(resp.body.size());
      out += "\r\n";
    }
    if (!keep_alive) {
      out += "Connection: close\r\n";
    } else if (version == 10) {
      out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    if (head) {
      resp.body.clear();
    }
  }

  // The current time in IMF-fixdate form, formatted at most once a second.
  std::string_view http_date() {
    std::time_t now = std::time(nullptr);
    if (now != date_time) {
      date_time = now;
      std::tm tm{};
      gmtime_r(&now, &tm);
      std::size_t n =
          std::strftime(date_text.data(), date_text.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
      date_len = n;
    }
    return {date_text.data(), date_len};
  }

  Counter& requests_counter(int status, std::size_t method) {
    int key = status * 8 + static_cast<int>(method);
    auto it = counters.find(key);
    if (it != counters.end()) {
      return *it->second;
    }
    std::string m = method < kMethods.size() ? std::string(kMethods[method]) : "other";
    Counter& c = server.requests->with({std::to_string(status), m});
    counters.emplace(key, &c);
    return c;
  }

  Impl& server;
  // One thread runs this loop and only it touches its sockets; other threads only post to it.
  asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  tcp::acceptor acceptor{ioc};
  // The connections' reads and writes go through it where the kernel allows (else epoll).
  std::unique_ptr<Ring> ring;
  // Every open connection, with the time its current wait must end; drain ends the reads of
  // those waiting for their next request (Conn::idle).
  std::unique_ptr<Deadlines> deadlines;
  std::thread thread;
  std::unordered_map<int, Counter*> counters;  // this thread's cache of labelled children
  std::time_t date_time = 0;
  std::array<char, 64> date_text{};
  std::size_t date_len = 0;
  // Requests whose asynchronous handler has not answered yet.
  std::unordered_set<std::shared_ptr<PendingReply>> parked;
  std::shared_ptr<PendingReply> spare_reply;  // see begin_dispatch
  std::uint64_t accept_failures = 0;          // since the last "accept failed" log
  SteadyClock::time_point next_accept_log{};
};

asio::awaitable<void> HttpServer::Impl::accept_loop(Worker& w) {
  for (;;) {
    auto [ec, socket] = co_await w.acceptor.async_accept(kTuple);
    if (ec) {
      if (!w.acceptor.is_open() || ec == asio::error::operation_aborted) {
        co_return;
      }
      // Out of descriptors or similar: back off briefly instead of spinning, and say so once
      // every 10 s, not at every try.
      ++w.accept_failures;
      if (auto now = SteadyClock::now(); now >= w.next_accept_log) {
        log::warn("accept failed", {{"error", ec.message()},
                                    {"failures", static_cast<std::int64_t>(w.accept_failures)}});
        w.next_accept_log = now + std::chrono::seconds(10);
        w.accept_failures = 0;
      }
      asio::steady_timer t(w.ioc, std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(w.ioc, session(w, std::move(socket)), [](const std::exception_ptr& e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("connection failed", {{"error", ex.what()}});
        } catch (...) {
          log::error("connection failed");
        }
      }
    });
  }
}

asio::awaitable<HttpServer::Impl::Read> HttpServer::Impl::read_request(
    Worker& w, Conn& c, Request& req, bool& keep_alive, SteadyClock::time_point started) {
  const ServerLimits& lim = opts.limits;
  Deadlines& d = *w.deadlines;
  http1::Head head;
  http1::Error err;
  http1::Parse p = http1::parse_request(c.in.data(), lim.max_header_bytes, head, err);
  while (p == http1::Parse::kIncomplete) {
    if (!co_await read_more(d, c, started + lim.header_timeout)) {
      co_return Read::kClose;  // a slow, silent or departed client: nobody to answer
    }
    p = http1::parse_request(c.in.data(), lim.max_header_bytes, head, err);
  }
  if (p == http1::Parse::kError) {
    if (err.status == 400 && !err.reason.starts_with("malformed")) {
      err.reason.insert(0, "malformed request: ");
    }
    co_await answer_error(w, c, err.status, std::move(err.reason));
    co_return Read::kRefused;
  }
  // One Request per connection, refilled: its strings and header list keep their memory. The
  // head's views point into c.in: copied before it moves on.
  std::string_view target = head.target;
  auto q = target.find('?');
  req.method.assign(head.method);
  req.target.assign(target);
  req.path.assign(target.substr(0, q));
  req.query.assign(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  req.version = 10 + static_cast<unsigned>(head.minor);
  req.headers.clear();
  for (const auto& f : head.fields) {
    req.headers.add(std::string(f.name), std::string(f.value));
  }
  req.params.clear();
  req.scheduler = &w;
  keep_alive = head.keep_alive;
  c.in.consume(head.size);
  req.body.clear();
  if (head.framing == http1::Framing::kNone) {
    co_return Read::kRequest;
  }
  co_return co_await read_body(w, c, head, req);
}

asio::awaitable<HttpServer::Impl::Read> HttpServer::Impl::read_body(Worker& w, Conn& c,
                                                                    const http1::Head& head,
                                                                    Request& req) {
  const ServerLimits& lim = opts.limits;
  Deadlines& d = *w.deadlines;
  std::string too_large = "request body exceeds " + std::to_string(lim.max_body_bytes) + " bytes";
  bool chunked = head.framing == http1::Framing::kChunked;
  if (!chunked && head.length > lim.max_body_bytes) {
    co_await answer_error(w, c, 413, std::move(too_large));
    co_return Read::kRefused;
  }
  if (head.expect_continue && head.minor == 1 && c.in.data().empty()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    if (!co_await write_all(d, c, asio::buffer(kContinue.data(), kContinue.size()),
                            SteadyClock::now() + lim.write_timeout)) {
      co_return Read::kClose;
    }
  }
  auto until = SteadyClock::now() + lim.body_timeout;
  // Trailer fields count against the header limit and are not kept: no handler reads them.
  http1::Chunked decoder(true, lim.max_header_bytes);
  for (;;) {
    std::string_view in = c.in.data();
    if (chunked) {
      c.in.consume(decoder.feed(in, &req.body));
      if (decoder.failed()) {
        if (decoder.trailers_too_large()) {
          co_await answer_error(
              w, c, 431,
              "request trailers exceed " + std::to_string(lim.max_header_bytes) + " bytes");
        } else {
          co_await answer_error(w, c, 400, "malformed chunked request body");
        }
        co_return Read::kRefused;
      }
      if (decoder.data_bytes() > lim.max_body_bytes) {
        co_await answer_error(w, c, 413, std::move(too_large));
        co_return Read::kRefused;
      }
      if (decoder.done()) {
        co_return Read::kRequest;
      }
    } else {
      std::size_t n = std::min<std::uint64_t>(in.size(), head.length - req.body.size());
      req.body.append(in.substr(0, n));
      c.in.consume(n);
      if (req.body.size() == head.length) {
        co_return Read::kRequest;
      }
    }
    if (!co_await read_more(d, c, until)) {
      co_return Read::kClose;  // the body never came whole: there is no request to answer
    }
  }
}

asio::awaitable<void> HttpServer::Impl::answer_error(Worker& w, Conn& c, int status,
                                                     std::string reason) {
  Response resp = Response::text(status, std::move(reason) + "\n");
  std::string head;
  w.serialize_head(head, resp, 11, false, false);
  std::array<asio::const_buffer, 2> out = {asio::buffer(head), asio::buffer(resp.body)};
  co_await write_all(*w.deadlines, c, out, SteadyClock::now() + opts.limits.write_timeout);
  if (rejected != nullptr) {
    rejected->inc();
  }
  co_await linger_close(*w.deadlines, c);
}

asio::awaitable<void> HttpServer::Impl::linger_close(Deadlines& d, Conn& c) {
  // Stop sending, then read (and discard) what the client still sends for a moment, so the
  // kernel does not reset the connection before the client has read our last answer.
  error_code ec;
  c.socket.shutdown(tcp::socket::shutdown_send, ec);
  auto until = SteadyClock::now() + std::chrono::seconds(1);
  for (int i = 0; i < 64; ++i) {
    c.in.clear();
    if (!co_await read_more(d, c, until, 4096)) {
      break;
    }
  }
}

std::shared_ptr<PendingReply> HttpServer::Impl::begin_dispatch(Worker& w, Request& req,
                                                               Response& out) {
  Router::Match m = router.match(req);
  if (m.route == nullptr || m.route->sync) {
    out = router.respond(req, m);
    return nullptr;
  }
  // The last request's meeting point, when nothing else holds it any more (its handler
  // answered at once and kept no copy of the Reply): most requests allocate none.
  std::shared_ptr<PendingReply> pending = std::move(w.spare_reply);
  if (pending && pending.use_count() == 1) {
    pending->answered = false;
    pending->response = Response{};
  } else {
    pending = std::make_shared<PendingReply>();
  }
  router.dispatch(req, m, Reply([pending](Response r) {
                    std::lock_guard lock(pending->mu);
                    if (pending->closed) {
                      return;
                    }
                    pending->response = std::move(r);
                    pending->answered = true;
                    if (pending->resume) {
                      pending->resume();
                    }
                  }));
  std::lock_guard lock(pending->mu);
  if (pending->answered) {
    out = std::move(pending->response);
    w.spare_reply = std::move(pending);
    return nullptr;
  }
  return pending;
}

asio::awaitable<Response> HttpServer::Impl::wait_reply(Worker& w,
                                                       std::shared_ptr<PendingReply> pending) {
  w.parked.insert(pending);
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&pending](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        std::lock_guard lock(pending->mu);
        pending->resume = [h] {
          auto ex = asio::get_associated_executor(*h);
          asio::post(ex, [h] { std::move (*h)(); });
        };
        if (pending->answered) {
          pending->resume();  // answered from another thread in the meantime
        }
      },
      asio::use_awaitable);
  w.parked.erase(pending);
  std::lock_guard lock(pending->mu);
  pending->resume = nullptr;
  co_return std::move(pending->response);
}

asio::awaitable<void> HttpServer::Impl::session(Worker& w, tcp::socket socket) {
  // Counts what is open while it lives: the server's own count and, with metrics, a gauge.
  struct Tally {
    std::atomic<std::size_t>& n;
    Gauge* gauge;
    Tally(std::atomic<std::size_t>& count, Gauge* g) : n(count), gauge(g) {
      n.fetch_add(1, std::memory_order_relaxed);
      if (gauge != nullptr) {
        gauge->inc();
      }
    }
    Tally(const Tally&) = delete;
    Tally& operator=(const Tally&) = delete;
    ~Tally() {
      n.fetch_sub(1, std::memory_order_relaxed);
      if (gauge != nullptr) {
        gauge->dec();
      }
    }
  };
  Tally open(connections, open_connections);

  const ServerLimits& lim = opts.limits;
  std::string remote = peer_of(socket);
  Deadlines& d = *w.deadlines;
  Conn c(std::move(socket));
  c.client = true;
  d.add(c);
  std::string head_text;  // each answer's status line and header, reusing one allocation
  Request req;
  req.remote = std::move(remote);

  for (;;) {
    if (c.in.data().empty()) {
      if (draining.load(std::memory_order_relaxed)) {
        break;
      }
      // Drain shuts the read side of idle connections: this read then ends, after whatever
      // request had already arrived.
      c.idle = true;
      bool more = co_await read_more(d, c, SteadyClock::now() + lim.idle_timeout, 8192);
      c.idle = false;
      if (!more) {
        break;
      }
    }
    Tally request(in_flight, in_flight_gauge);  // in flight until the answer is written
    auto started = SteadyClock::now();
    bool keep_alive = true;
    if (co_await read_request(w, c, req, keep_alive, started) != Read::kRequest) {
      break;
    }

    Response resp;
    if (auto pending = begin_dispatch(w, req, resp)) {
      resp = co_await wait_reply(w, std::move(pending));
    }

    keep_alive = keep_alive && !draining.load(std::memory_order_relaxed);
    w.serialize_head(head_text, resp, req.version, req.method == "HEAD", keep_alive);
    // Counted before the write, so a client that has read the answer also sees it counted.
    served.fetch_add(1, std::memory_order_relaxed);
    auto answered = SteadyClock::now();
    if (requests != nullptr) {
      w.requests_counter(resp.status, method_index(req.method)).inc();
      duration->observe(std::chrono::duration<double>(answered - started).count());
    }
    std::array<asio::const_buffer, 2> out = {asio::buffer(head_text), asio::buffer(resp.body)};
    if (!co_await write_all(d, c, out, answered + lim.write_timeout)) {
      break;
    }
    if (req.body.capacity() > kKeptBodyBytes) {
      std::string().swap(req.body);  // a large body's memory is not kept for the next request
    }
    if (!keep_alive) {
      error_code aec;
      if (!c.in.data().empty() || c.socket.available(aec) > 0) {
        co_await linger_close(d, c);  // unread pipelined bytes would turn close into a reset
      }
      break;
    }
  }
  error_code ec;
  c.socket.shutdown(tcp::socket::shutdown_send, ec);
}

HttpServer::HttpServer(Router router, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(router), std::move(options))) {
  if (impl_->opts.threads < 1) {
    impl_->opts.threads = 1;
  }
  if (impl_->opts.metrics != nullptr) {
    Registry& r = *impl_->opts.metrics;
    const std::string& p = impl_->opts.metrics_prefix;
    impl_->requests =
        &r.counter_family(p + "_http_requests_total",
                          "HTTP requests answered, by status code and method.", {"code", "method"});
    impl_->duration = &r.histogram(p + "_http_request_duration_seconds",
                                   "Time from the first byte of a request to its answer written.",
                                   kLatencyBuckets);
    impl_->open_connections = &r.gauge(p + "_http_connections", "Open client connections.");
    impl_->in_flight_gauge =
        &r.gauge(p + "_http_requests_in_flight", "Requests read but not yet answered.");
    impl_->rejected =
        &r.counter(p + "_http_rejected_total", "Requests rejected before routing (400, 413, 431).");
  }
}

HttpServer::~HttpServer() { stop(); }

HostPort HttpServer::bind() {
  Impl& s = *impl_;
  asio::ip::address addr;
  error_code ec;
  addr = asio::ip::make_address(s.opts.listen.host, ec);
  if (ec) {
    asio::io_context tmp;
    tcp::resolver resolver(tmp);
    auto results = resolver.resolve(s.opts.listen.host, "", ec);
    if (ec || results.empty()) {
      throw std::system_error(ec ? ec : asio::error::host_not_found,
                              "cannot resolve " + s.opts.listen.host);
    }
    addr = results.begin()->endpoint().address();
  }
  std::uint16_t port = s.opts.listen.port;
  if (port != 0) {
    // SO_REUSEPORT would let us silently share a port another process already listens on;
    // a plain bind first makes "address in use" an error, as users expect.
    asio::io_context tmp;
    tcp::acceptor probe(tmp);
    tcp::endpoint ep(addr, port);
    probe.open(ep.protocol(), ec);
    if (!ec) {
      probe.set_option(tcp::acceptor::reuse_address(true), ec);
      probe.bind(ep, ec);
    }
    if (ec) {
      throw std::system_error(ec, "cannot listen on " + HostPort{addr.to_string(), port}.str());
    }
  }
  for (int i = 0; i < s.opts.threads; ++i) {
    auto w = std::make_unique<Impl::Worker>(s);
    tcp::endpoint ep(addr, port);
    try {
      w->acceptor.open(ep.protocol());
      w->acceptor.set_option(tcp::acceptor::reuse_address(true));
      w->acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
      w->acceptor.bind(ep);
      w->acceptor.listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(),
                              "cannot listen on " + HostPort{addr.to_string(), port}.str());
    }
    port = w->acceptor.local_endpoint().port();
    std::string why;
    w->ring = Ring::open(w->ioc, why);
    if (!w->ring && i == 0) {
      log::debug("http server without io_uring", {{"why", why}});
    }
    w->deadlines = std::make_unique<Deadlines>(w->ioc, w->ring.get());
    s.workers.push_back(std::move(w));
  }
  return HostPort{addr.to_string(), port};
}

void HttpServer::start() {
  Impl& s = *impl_;
  if (s.started) {
    return;
  }
  s.started = true;
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    auto& w = s.workers[i];
    asio::co_spawn(w->ioc, s.accept_loop(*w), asio::detached);
    asio::co_spawn(w->ioc, w->deadlines->run(), asio::detached);
    w->thread = std::thread([&ioc = w->ioc, name = "http-worker-" + std::to_string(i)] {
      name_this_thread(name);
      ioc.run();
    });
  }
}

void HttpServer::drain() {
  Impl& s = *impl_;
  if (s.draining.exchange(true)) {
    return;
  }
  for (auto& w : s.workers) {
    asio::post(w->ioc, [wp = w.get()] {
      error_code ec;
      wp->acceptor.close(ec);
      for (Conn* c = wp->deadlines->head(); c != nullptr; c = c->next) {
        if (c->idle) {
          c->socket.shutdown(tcp::socket::shutdown_receive, ec);
        }
      }
    });
  }
}

std::size_t HttpServer::in_flight() const { return impl_->in_flight.load(); }

std::size_t HttpServer::connections() const { return impl_->connections.load(); }

std::uint64_t HttpServer::requests_served() const { return impl_->served.load(); }

void HttpServer::stop() {
  Impl& s = *impl_;
  if (s.stopped) {
    return;
  }
  s.stopped = true;
  for (auto& w : s.workers) {
    w->ioc.stop();
  }
  for (auto& w : s.workers) {
    if (w->thread.joinable()) {
      w->thread.join();
    }
    w->close_pending();
  }
  // Destroying each io_context destroys its pending operations and coroutine frames.
  s.workers.clear();
}

}  // namespace tender
