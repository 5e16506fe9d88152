#pragma once
// Small Asio coroutine helpers shared by the roles.
//
//   co_await tender::sleep_for(std::chrono::milliseconds(500));
//   co_await (tender::relay(a, b, count) && tender::relay(b, a, count));   // a TCP splice

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "core/tcp_info.hpp"

namespace tender {

// The completion token for `auto [ec, ...] = co_await op(..., kTuple)`: errors come back as
// values instead of exceptions.
inline constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// Waits `d` on the calling coroutine's executor.
inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

// Copies what `from` sends to `to` until `from` ends. The end of `from`'s stream is passed on as
// a half-close (`to` stops sending; the other direction goes on); an error on either side
// closes both. `on_bytes(n)` is called for each chunk read, before it is written.
template <typename OnBytes>
boost::asio::awaitable<void> relay(boost::asio::ip::tcp::socket& from,
                                   boost::asio::ip::tcp::socket& to, OnBytes on_bytes) {
  std::array<char, 16384> buf{};
  boost::system::error_code ignored;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(boost::asio::buffer(buf), kTuple);
    if (n > 0) {
      on_bytes(n);
      auto [wec, w] =
          co_await boost::asio::async_write(to, boost::asio::buffer(buf.data(), n), kTuple);
      if (wec) {
        from.close(ignored);
        to.close(ignored);
        co_return;
      }
    }
    if (ec == boost::asio::error::eof) {
      to.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (ec) {
      from.close(ignored);
      to.close(ignored);
      co_return;
    }
  }
}

// Shuts a socket down both ways: what is pending on it ends (an io_uring operation too), and
// what comes after fails at once. Its owner closes it.
inline void shut_down(boost::asio::ip::tcp::socket& s) {
  boost::system::error_code ignored;
  s.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
}

// Ends when nothing moved on `a` or `b` for `idle`, shutting both down (what is pending on them
// fails). `last` is when the caller last read or wrote a byte on either; a peer taking bytes
// that waited in a socket's send queue counts too (the kernel's count of bytes it acknowledged
// grew), so a slow reader draining a full buffer, with the caller's write blocked meanwhile, is
// not idle. Cancellation ends it without a shutdown.
inline boost::asio::awaitable<void> shut_down_when_idle(
    boost::asio::ip::tcp::socket& a, boost::asio::ip::tcp::socket& b,
    const std::chrono::steady_clock::time_point& last, std::chrono::milliseconds idle) {
  using SteadyClock = std::chrono::steady_clock;
  boost::asio::ip::tcp::socket* sockets[] = {&a, &b};
  std::uint64_t acked[2] = {0, 0};
  auto moved = last;  // when a peer was last seen taking bytes
  // Moves `moved` to the last acknowledgement of either peer if it acknowledged more bytes since
  // the last look.
  auto look = [&](SteadyClock::time_point now) {
    for (int i = 0; i < 2; ++i) {
      if (auto p = tcp_send_progress(sockets[i]->native_handle())) {
        if (p->acked != acked[i]) {
          acked[i] = p->acked;
          moved = std::max(moved, now - p->since_ack);
        }
      }
    }
  };
  look(SteadyClock::now());
  boost::asio::steady_timer timer(a.get_executor());
  for (;;) {
    timer.expires_at(std::max(last, moved) + idle);
    auto [ec] = co_await timer.async_wait(kTuple);
    if (ec) {
      co_return;
    }
    auto now = SteadyClock::now();
    look(now);
    if (now - std::max(last, moved) >= idle) {
      shut_down(a);
      shut_down(b);
      co_return;
    }
  }
}

}  // namespace tender
