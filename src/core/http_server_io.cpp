// Reading requests, and the answers that go out in pieces.
#include <sys/socket.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>
#include <cstdio>

#include "core/http_server_impl.hpp"

namespace tender {
namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using tcp = asio::ip::tcp;

}  // namespace

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

// --- answers that wait, and answers that stream ------------------------------------------------

asio::awaitable<void> HttpServer::Impl::park(std::shared_ptr<Wakeup> wake) {
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&wake](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        std::function<void()> resume = [h] {
          auto ex = asio::get_associated_executor(*h);
          asio::post(ex, [h] { std::move (*h)(); });
        };
        std::unique_lock lock(wake->mu);
        if (wake->fired) {
          lock.unlock();
          resume();
          return;
        }
        wake->resume = std::move(resume);
      },
      asio::use_awaitable);
  std::lock_guard lock(wake->mu);
  wake->fired = false;
  wake->resume = nullptr;
}

asio::awaitable<bool> HttpServer::Impl::watch_client(Conn& c, const std::function<void()>& gone) {
  const std::size_t limit = opts.limits.max_header_bytes;
  for (;;) {
    if (c.in.data().size() >= limit) {
      co_return false;  // pipelined requests wait; watching more would hold more of them
    }
    auto [ec] = co_await c.socket.async_wait(tcp::socket::wait_read, kTuple);
    if (ec) {
      co_return false;  // cancelled: the answer came first
    }
    auto room = c.in.prepare(4096);
    ssize_t n = ::recv(c.socket.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
    if (n > 0) {
      c.in.commit(static_cast<std::size_t>(n));  // the next request, pipelined
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      continue;
    }
    // End of stream (a client that half-closes is taken to have gone, as proxies take it) or
    // a reset.
    c.eof = n == 0;
    if (gone) {
      gone();
    }
    co_return true;
  }
}

asio::awaitable<bool> HttpServer::Impl::send_stream(Worker& w, Conn& c, const Request& req,
                                                    Response& resp, bool& keep_alive) {
  using asio::experimental::awaitable_operators::operator||;
  const ServerLimits& lim = opts.limits;
  Deadlines& d = *w.deadlines;
  std::shared_ptr<ResponseStream> stream = std::move(resp.stream);
  const bool no_body =
      req.method == "HEAD" || resp.status < 200 || resp.status == 204 || resp.status == 304;
  const bool chunked = req.version >= 11 && !no_body;
  if (!no_body && !chunked) {
    keep_alive = false;  // HTTP/1.0: the body ends with the connection
  }
  std::string out;
  w.serialize_head(out, resp, req.version, req.method == "HEAD", keep_alive, true, chunked);
  if (no_body) {
    stream->close();
    co_return co_await write_all(d, c, asio::buffer(out), SteadyClock::now() + lim.write_timeout) &&
        keep_alive;
  }
  auto append = [chunked](std::string& to, std::string_view data) {
    if (chunked) {
      std::array<char, 24> size{};
      int n = std::snprintf(size.data(), size.size(), "%zx\r\n", data.size());
      to.append(size.data(), static_cast<std::size_t>(n));
      to += data;
      to += "\r\n";
    } else {
      to += data;
    }
  };
  if (!resp.body.empty()) {
    append(out, resp.body);
  }
  w.streams.insert(stream);
  struct Unlist {
    Worker& w;
    const std::shared_ptr<ResponseStream>& stream;
    Unlist(Worker& worker, const std::shared_ptr<ResponseStream>& s) : w(worker), stream(s) {}
    Unlist(const Unlist&) = delete;
    Unlist& operator=(const Unlist&) = delete;
    ~Unlist() { w.streams.erase(stream); }
  } unlist(w, stream);
  auto wake = std::make_shared<Wakeup>();
  const std::function<void()> wake_fn = [wake] { wake->fire(); };
  const std::function<void()> gone = [stream] { stream->close(); };
  std::string data;
  for (;;) {
    data.clear();
    ResponseStream::Taken t = stream->take(data, wake_fn);
    if (!data.empty()) {
      append(out, data);
    }
    if (t.ended && chunked) {
      out += "0\r\n\r\n";
    }
    if (!out.empty()) {
      if (!co_await write_all(d, c, asio::buffer(out), SteadyClock::now() + lim.write_timeout)) {
        stream->close();  // gone, or too slow to take a write in time
        co_return false;
      }
      out.clear();
    }
    if (t.closed) {
      co_return false;  // cut short: the client must not take the body for whole
    }
    if (t.ended) {
      co_return keep_alive;
    }
    if (data.empty()) {
      co_await (park(wake) || watch_client(c, gone));
    }
  }
}

}  // namespace tender
