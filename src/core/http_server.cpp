#include "core/http_server.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "core/http_server_impl.hpp"
#include "core/process.hpp"

namespace tender {
namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;
using http_internal::kMethods;

// A connection keeps its request's body memory for the next request up to this size.
constexpr std::size_t kKeptBodyBytes = 64 * 1024;

std::size_t method_index(std::string_view m) {
  for (std::size_t i = 0; i < kMethods.size(); ++i) {
    if (kMethods[i] == m) {
      return i;
    }
  }
  return kMethods.size();
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
  std::function<void()> cancel;
  bool watch = false;
  {
    // Not kept past the dispatch: the handler's copies decide when the Reply is dropped.
    Reply reply([pending](Response r) {
      std::lock_guard lock(pending->mu);
      if (pending->closed) {
        return;
      }
      pending->response = std::move(r);
      pending->answered = true;
      if (pending->resume) {
        pending->resume();
      }
    });
    cancel = reply.canceller();
    router.dispatch(req, m, reply);
    watch = reply.awaits_cancel();
  }
  std::lock_guard lock(pending->mu);
  if (pending->answered) {
    out = std::move(pending->response);
    w.spare_reply = std::move(pending);
    return nullptr;
  }
  pending->cancel = std::move(cancel);
  pending->watch = watch;
  return pending;
}

asio::awaitable<Response> HttpServer::Impl::wait_reply(Worker& w, Conn& c,
                                                       std::shared_ptr<PendingReply> pending) {
  using asio::experimental::awaitable_operators::operator||;
  w.parked.insert(pending);
  auto wake = std::make_shared<Wakeup>();
  {
    std::lock_guard lock(pending->mu);
    if (pending->answered) {
      wake->fired = true;  // answered from another thread in the meantime
    } else {
      pending->resume = [wake] { wake->fire(); };
    }
  }
  // Watching the client meanwhile, when the handler asked to hear of it (Reply::on_cancel): if
  // it leaves, the handler is told. The answer is still awaited: the handler's answer (or its
  // dropping the Reply) ends the wait.
  if (pending->watch) {
    co_await (park(wake) || watch_client(c, pending->cancel));
  } else {
    co_await park(wake);
  }
  w.parked.erase(pending);
  std::lock_guard lock(pending->mu);
  pending->resume = nullptr;
  pending->cancel = nullptr;
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
      resp = co_await wait_reply(w, c, std::move(pending));
    }

    keep_alive = keep_alive && !draining.load(std::memory_order_relaxed);
    // Counted before the write, so a client that has read the answer also sees it counted.
    served.fetch_add(1, std::memory_order_relaxed);
    auto answered = SteadyClock::now();
    if (requests != nullptr) {
      w.requests_counter(resp.status, method_index(req.method)).inc();
      duration->observe(std::chrono::duration<double>(answered - started).count());
    }
    if (resp.stream) {
      if (!co_await send_stream(w, c, req, resp, keep_alive)) {
        break;
      }
      keep_alive = keep_alive && !draining.load(std::memory_order_relaxed);
    } else {
      w.serialize_head(head_text, resp, req.version, req.method == "HEAD", keep_alive);
      std::array<asio::const_buffer, 2> out = {asio::buffer(head_text), asio::buffer(resp.body)};
      if (!co_await write_all(d, c, out, answered + lim.write_timeout)) {
        break;
      }
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
    if (auto ring = Ring::open(w->ioc)) {
      w->ring = std::move(*ring);
    } else if (i == 0) {
      log::debug("http server without io_uring", {{"why", ring.error().message()}});
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
      wp->drain_pending();
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