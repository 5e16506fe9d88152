// HTTP/1.x bodies streamed between connections, for the http listener.
#include "ambassador/http_stream.hpp"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <charconv>

#include "core/asio_util.hpp"

namespace tender::ambassador {

using std::chrono::milliseconds;

asio::awaitable<BodyEnd> stream_request_body(Deadlines& deadlines, Conn& client, Conn& up,
                                             http1::Framing framing, std::uint64_t length,
                                             std::uint64_t max_bytes, milliseconds idle) {
  std::uint64_t left = length;
  http1::Chunked chunked(true);
  std::string data;
  std::string out;
  std::string trailers;
  for (;;) {
    std::string_view avail = client.in.data();
    std::size_t n = 0;
    std::string_view send;
    if (framing == http1::Framing::kLength) {
      n = static_cast<std::size_t>(std::min<std::uint64_t>(avail.size(), left));
      left -= n;
      send = avail.substr(0, n);
    } else {
      data.clear();
      n = chunked.feed(avail, &data, &trailers);
      if (chunked.failed()) {
        co_return BodyEnd::kMalformed;
      }
      if (chunked.data_bytes() > max_bytes) {
        co_return BodyEnd::kTooLarge;
      }
      out.clear();
      if (!data.empty()) {
        std::array<char, 16> hex{};
        auto [end, ec] = std::to_chars(hex.data(), hex.data() + hex.size(), data.size(), 16);
        out.append(hex.data(), end);
        out.append("\r\n").append(data).append("\r\n");
      }
      if (chunked.done()) {
        out.append("0\r\n");
        std::string fields;
        if (!http1::forward_trailers(trailers, fields)) {
          co_return BodyEnd::kMalformed;
        }
        out.append(fields).append("\r\n");
      }
      send = out;
    }
    if (!send.empty()) {
      if (!co_await write_all(deadlines, up, asio::buffer(send), SteadyClock::now() + idle)) {
        co_return BodyEnd::kUpstreamGone;
      }
    }
    client.in.consume(n);
    if (framing == http1::Framing::kLength ? left == 0 : chunked.done()) {
      co_return BodyEnd::kDone;
    }
    if (!co_await read_more(deadlines, client, SteadyClock::now() + idle)) {
      co_return BodyEnd::kClientGone;
    }
  }
}

asio::awaitable<BodyEnd> stream_response(Deadlines& deadlines, Conn& client, Conn& up,
                                         std::string_view head, http1::Framing framing,
                                         std::uint64_t length, bool dechunk, milliseconds idle,
                                         Counter& received, std::string& scratch) {
  std::uint64_t left = length;
  http1::Chunked chunked;
  bool first = true;
  for (;;) {
    std::string_view avail = up.in.data();
    std::size_t n = 0;
    std::string_view body;
    bool end = false;
    switch (framing) {
      case http1::Framing::kNone:
        end = true;
        break;
      case http1::Framing::kLength:
        n = static_cast<std::size_t>(std::min<std::uint64_t>(avail.size(), left));
        left -= n;
        body = avail.substr(0, n);
        end = left == 0;
        break;
      case http1::Framing::kChunked:
        if (dechunk) {
          scratch.clear();
          n = chunked.feed(avail, &scratch);
          body = scratch;
        } else {
          n = chunked.feed(avail, nullptr);
          body = avail.substr(0, n);
        }
        if (chunked.failed()) {
          co_return BodyEnd::kUpstreamGone;
        }
        end = chunked.done();
        break;
      case http1::Framing::kUntilClose:
        n = avail.size();
        body = avail;
        break;
    }
    if (first || !body.empty()) {
      std::array<asio::const_buffer, 2> out{asio::buffer(first ? head : std::string_view()),
                                            asio::buffer(body)};
      first = false;
      if (!co_await write_all(deadlines, client, out, SteadyClock::now() + idle)) {
        co_return BodyEnd::kClientGone;
      }
    }
    up.in.consume(n);
    if (end) {
      co_return BodyEnd::kDone;
    }
    auto before = up.in.data().size();
    bool more = co_await read_more(deadlines, up, SteadyClock::now() + idle);
    received.inc(up.in.data().size() - before);
    if (!more) {
      // A body read until close ends here; any other ends early.
      co_return framing == http1::Framing::kUntilClose && !up.timed_out ? BodyEnd::kDone
                                                                        : BodyEnd::kUpstreamGone;
    }
  }
}

namespace {

// One direction of a tunnel: what `from` has buffered and sends, written to `to`. `bytes`
// counts what is written, less the bytes buffered at the start unless `count_buffered` (they
// were counted when read). The end of `from`'s stream half-closes `to`; an error on either side
// shuts both down.
asio::awaitable<void> pump(Deadlines& d, Conn& from, Conn& to, Counter& bytes, bool count_buffered,
                           SteadyClock::time_point& last) {
  constexpr auto kNoDeadline = SteadyClock::time_point::max();  // the tunnel's watch keeps the time
  bool failed = false;
  for (;;) {
    if (auto data = from.in.data(); !data.empty()) {
      if (!co_await write_all(d, to, asio::buffer(data), kNoDeadline)) {
        failed = true;
        break;
      }
      if (count_buffered) {
        bytes.inc(data.size());
      }
      from.in.consume(data.size());
      last = SteadyClock::now();
    }
    count_buffered = true;  // what is read from here on
    if (!co_await read_more(d, from, kNoDeadline)) {
      failed = !from.eof;  // a reset or another failure
      break;
    }
    last = SteadyClock::now();
  }
  if (failed) {
    shut_down(from.socket);
    shut_down(to.socket);
  } else {
    boost::system::error_code ignored;
    to.socket.shutdown(tcp::socket::shutdown_send, ignored);
  }
}

}  // namespace

asio::awaitable<void> tunnel(Deadlines& deadlines, Conn& client, Conn& up, milliseconds idle,
                             Counter& sent, Counter& received) {
  using asio::experimental::awaitable_operators::operator&&;
  using asio::experimental::awaitable_operators::operator||;
  auto last = SteadyClock::now();
  co_await ((pump(deadlines, client, up, sent, true, last) &&
             pump(deadlines, up, client, received, false, last)) ||
            shut_down_when_idle(client.socket, up.socket, last, idle));
}

}  // namespace tender::ambassador
