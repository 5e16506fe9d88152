#pragma once
// The HTTP server's insides, shared by http_server.cpp (connections, dispatch, lifecycle) and
// http_server_io.cpp (reading requests, streaming answers). Not a public header.

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/asio_util.hpp"
#include "core/conn.hpp"
#include "core/http1.hpp"
#include "core/http_server.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/uring.hpp"

namespace tender {
namespace http_internal {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;

inline constexpr std::array<std::string_view, 7> kMethods = {"GET",    "HEAD",    "POST", "PUT",
                                                             "DELETE", "OPTIONS", "PATCH"};

// Header text that cannot split a response: CR and LF become spaces.
inline void append_field_text(std::string& out, std::string_view v) {
  for (char c : v) {
    out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  }
}

}  // namespace http_internal

// Where an asynchronous handler's answer meets the coroutine waiting for it. The handler may
// answer before the coroutine parks (no suspension then), or later from any thread.
struct PendingReply {
  std::mutex mu;
  bool answered = false;
  bool closed = false;  // the worker is gone: late answers are dropped
  Response response;
  std::function<void()> resume;  // set while the coroutine is parked; posts it
  std::function<void()> cancel;  // Reply::canceller(): the client went, or the server drains
  bool watch = false;            // the handler registered on_cancel: watch the client
};

// Wakes a coroutine parked in Impl::park() from any thread; a wake that comes before the
// coroutine parks is kept, so none is lost.
struct Wakeup {
  std::mutex mu;
  bool fired = false;
  std::function<void()> resume;  // set while parked; posts the coroutine
  void fire() {
    std::function<void()> r;
    {
      std::lock_guard lock(mu);
      fired = true;
      r = std::move(resume);
      resume = nullptr;
    }
    if (r) {
      r();
    }
  }
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

  boost::asio::awaitable<void> accept_loop(Worker& w);
  boost::asio::awaitable<void> session(Worker& w, boost::asio::ip::tcp::socket socket);
  // Runs the handler for `req`. Returns null with `out` filled when the answer is ready at once
  // (the common case, with no suspension); otherwise the reply to wait for with wait_reply.
  std::shared_ptr<PendingReply> begin_dispatch(Worker& w, Request& req, Response& out);
  boost::asio::awaitable<Response> wait_reply(Worker& w, Conn& c,
                                              std::shared_ptr<PendingReply> pending);
  // Waits until `wake` fires (at once if it already has since the last park), then rearms it.
  static boost::asio::awaitable<void> park(std::shared_ptr<Wakeup> wake);
  // While an answer is awaited: returns true, having called `gone`, when the client closes
  // its connection (or it fails); false when cancelled, or when the client sent more than
  // the header limit of pipelined requests (they wait in c.in), so watching is over.
  boost::asio::awaitable<bool> watch_client(Conn& c, const std::function<void()>& gone);
  // Sends a streamed answer (resp.stream): the head at once, then what the handler writes,
  // until it ends. Returns whether the connection may serve another request; `keep_alive`
  // turns false for HTTP/1.0, whose body ends with the connection.
  boost::asio::awaitable<bool> send_stream(Worker& w, Conn& c, const Request& req, Response& resp,
                                           bool& keep_alive);
  // What became of reading one request.
  enum class Read { kRequest, kClose, kRefused };
  // Reads the next request of `c` into `req` (head by started + header_timeout, body by
  // body_timeout after it). kClose: the client went or timed out, with nothing to answer;
  // kRefused: it was answered with an error and the connection is done.
  boost::asio::awaitable<Read> read_request(Worker& w, Conn& c, Request& req, bool& keep_alive,
                                            SteadyClock::time_point started);
  // Reads the body the head announced into req.body.
  boost::asio::awaitable<Read> read_body(Worker& w, Conn& c, const http1::Head& head, Request& req);
  boost::asio::awaitable<void> answer_error(Worker& w, Conn& c, int status, std::string reason);
  static boost::asio::awaitable<void> linger_close(Deadlines& d, Conn& c);
};

struct HttpServer::Impl::Worker final : Scheduler {
  explicit Worker(Impl& s) : server(s) {}

  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    auto timer = std::make_shared<boost::asio::steady_timer>(ioc, delay);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code&) {
      try {
        fn();
      } catch (const std::exception& e) {
        log::error("scheduled handler failed", {{"error", e.what()}});
      } catch (...) {
        log::error("scheduled handler failed");
      }
    });
  }

  boost::asio::io_context* loop() override { return &ioc; }
  Deadlines* loop_deadlines() override { return deadlines.get(); }

  // Called after the thread has been joined, while the io_context still exists: parked
  // coroutines are destroyed here and answers that arrive later are dropped; handlers still
  // waiting are told (Reply::on_cancel), streams close.
  void close_pending() {
    std::vector<std::function<void()>> cancels;
    for (const auto& p : parked) {
      std::function<void()> wake;
      {
        std::lock_guard lock(p->mu);
        p->closed = true;
        wake = std::move(p->resume);
        cancels.push_back(p->cancel);
      }
      // The parked coroutine is posted to the stopped loop, never to run: destroying the loop
      // then destroys it, with its connection (its handler, held by the wake-up it waits on,
      // would otherwise keep it alive, and the client waiting).
      if (wake) {
        wake();
      }
    }
    parked.clear();
    for (const auto& cancel : cancels) {
      if (cancel) {
        cancel();
      }
    }
    for (const auto& s : streams) {
      s->close();
    }
    streams.clear();
  }

  // Drain: handlers waiting to answer are told to answer now, and streamed bodies end after
  // what is queued (the connections close then).
  void drain_pending() {
    std::vector<std::function<void()>> cancels;
    for (const auto& p : parked) {
      std::lock_guard lock(p->mu);
      cancels.push_back(p->cancel);
    }
    for (const auto& cancel : cancels) {
      if (cancel) {
        cancel();
      }
    }
    for (const auto& s : streams) {
      s->finish();
    }
  }

  // The status line and header of `resp`; drops its body where the status forbids one. Adds
  // Date, Content-Length and Connection; a handler's own Content-Length is kept only for HEAD.
  // A `streamed` answer (Response::stream) gets no Content-Length, and `Transfer-Encoding:
  // chunked` when `chunked`. Into `out` (replacing what it held; a connection reuses one
  // string).
  void serialize_head(std::string& out, Response& resp, unsigned version, bool head,
                      bool keep_alive, bool streamed = false, bool chunked = false) {
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
        if (streamed || !head || !resp.body.empty()) {
          continue;
        }
        stated_length = true;
      }
      http_internal::append_field_text(out, f.name);
      out += ": ";
      http_internal::append_field_text(out, f.value);
      out += "\r\n";
    }
    if (chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    } else if (!bodiless && !stated_length && !streamed) {
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
    std::string m = method < http_internal::kMethods.size()
                        ? std::string(http_internal::kMethods[method])
                        : "other";
    Counter& c = server.requests->with({std::to_string(status), m});
    counters.emplace(key, &c);
    return c;
  }

  Impl& server;
  // Streamed answers being sent. Before ioc: the coroutines that send them, destroyed with
  // ioc when the server stops, take themselves off it.
  std::unordered_set<std::shared_ptr<ResponseStream>> streams;
  // One thread runs this loop and only it touches its sockets; other threads only post to it.
  boost::asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  boost::asio::ip::tcp::acceptor acceptor{ioc};
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

}  // namespace tender
