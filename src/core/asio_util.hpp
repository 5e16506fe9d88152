#pragma once
// Small Asio coroutine helpers shared by the roles.
//
//   co_await tender::sleep_for(std::chrono::milliseconds(500));
//   co_await (tender::relay(a, b, count) && tender::relay(b, a, count));   // a TCP splice

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <cstddef>

namespace tender {

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
  constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);
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

}  // namespace tender
