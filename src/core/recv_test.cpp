#include "core/recv.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <string>
#include <tuple>

namespace tender {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A connected pair of TCP sockets on 127.0.0.1, and a loop to run a test's coroutine on.
class RecvTest : public ::testing::Test {
 protected:
  RecvTest() : a(ioc), b(ioc) {
    tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.connect(acc.local_endpoint());
    b = acc.accept();
    enable_recv_hint(b);
  }
  // Runs `body` to its end; fails the test if it has not ended within 10 s (a read that missed
  // its data never completes).
  template <typename F>
  void run(F body) {
    bool ended = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await body();
          ended = true;
        },
        asio::detached);
    ioc.run_for(10s);
    EXPECT_TRUE(ended) << "the test's reads did not complete";
  }
  asio::awaitable<std::string> recv(std::size_t size = 64) {
    std::string buf(size, '\0');
    auto [ec, n] = co_await async_recv(b, asio::buffer(buf), kTuple);
    EXPECT_FALSE(ec) << ec.message();
    buf.resize(n);
    co_return buf;
  }
  void send(std::string_view s) { asio::write(a, asio::buffer(s)); }

  asio::io_context ioc;
  tcp::socket a;
  tcp::socket b;
};

TEST_F(RecvTest, ReadsWhatArrivesWhileItWaits) {
  run([&]() -> asio::awaitable<void> {
    asio::steady_timer t(ioc);
    for (std::string part : {"one", "two", "three"}) {
      // Every read finds the socket empty first and has to wait for the bytes.
      t.expires_after(5ms);
      t.async_wait([&, part](auto) { send(part); });
      EXPECT_EQ(co_await recv(), part);
    }
  });
}

TEST_F(RecvTest, DataThatCameBeforeTheNextReadIsNotMissed) {
  run([&]() -> asio::awaitable<void> {
    send("first");
    EXPECT_EQ(co_await recv(), "first");  // a short read: the socket was left empty
    // Bytes arrive before the next read is started, with no read pending for the edge...
    send("second");
    EXPECT_EQ(co_await recv(), "second");
    // ... and also after the loop has seen that edge with no read pending.
    send("third");
    co_await asio::post(ioc, asio::use_awaitable);
    asio::steady_timer t(ioc, 2ms);
    co_await t.async_wait(asio::use_awaitable);
    EXPECT_EQ(co_await recv(), "third");
  });
}

TEST_F(RecvTest, AReadThatFillsItsBufferLeavesTheRestForTheNext) {
  run([&]() -> asio::awaitable<void> {
    send("abcdefghij");
    EXPECT_EQ(co_await recv(4), "abcd");
    EXPECT_EQ(co_await recv(4), "efgh");
    EXPECT_EQ(co_await recv(4), "ij");
  });
}

TEST_F(RecvTest, TheEndOfTheStreamIsEof) {
  run([&]() -> asio::awaitable<void> {
    send("last");
    a.shutdown(tcp::socket::shutdown_send);
    EXPECT_EQ(co_await recv(), "last");
    std::array<char, 16> buf{};
    auto [ec, n] = co_await async_recv(b, asio::buffer(buf), kTuple);
    EXPECT_EQ(ec, asio::error::eof);
    EXPECT_EQ(n, 0U);
  });
}

TEST_F(RecvTest, AFinThatCameWithTheLastBytesIsSeen) {
  // Bytes and the end of the stream arrive together, before any read: one edge for both. A
  // read that took the bytes as "the socket is empty" would wait for an edge that never comes.
  run([&]() -> asio::awaitable<void> {
    send("bye");
    a.shutdown(tcp::socket::shutdown_send);
    asio::steady_timer t(ioc, 5ms);  // let the loop see the edge first, as a busy proxy would
    co_await t.async_wait(asio::use_awaitable);
    EXPECT_EQ(co_await recv(), "bye");
    std::array<char, 16> buf{};
    auto [ec, n] = co_await async_recv(b, asio::buffer(buf), kTuple);
    EXPECT_EQ(ec, asio::error::eof);
  });
}

TEST_F(RecvTest, AFinAfterAReadThatWaitsIsSeen) {
  run([&]() -> asio::awaitable<void> {
    send("one");
    EXPECT_EQ(co_await recv(), "one");
    asio::steady_timer t(ioc, 5ms);
    t.async_wait([&](auto) { a.shutdown(tcp::socket::shutdown_send); });
    std::array<char, 16> buf{};
    auto [ec, n] = co_await async_recv(b, asio::buffer(buf), kTuple);
    EXPECT_EQ(ec, asio::error::eof);
  });
}

TEST_F(RecvTest, WithoutTheHintItStillSeesEverything) {
  tcp::socket plain(ioc);
  {
    tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.close();
    a.connect(acc.local_endpoint());
    plain = acc.accept();  // no enable_recv_hint
  }
  run([&]() -> asio::awaitable<void> {
    send("x");
    a.shutdown(tcp::socket::shutdown_send);
    std::array<char, 16> buf{};
    auto [ec, n] = co_await async_recv(plain, asio::buffer(buf), kTuple);
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 1U);
    std::tie(ec, n) = co_await async_recv(plain, asio::buffer(buf), kTuple);
    EXPECT_EQ(ec, asio::error::eof);
  });
}

TEST_F(RecvTest, ClosingTheSocketAbortsAPendingRead) {
  run([&]() -> asio::awaitable<void> {
    asio::steady_timer t(ioc, 5ms);
    t.async_wait([&](auto) { b.close(); });
    std::array<char, 16> buf{};
    auto [ec, n] = co_await async_recv(b, asio::buffer(buf), kTuple);
    EXPECT_EQ(ec, asio::error::operation_aborted);
  });
}

TEST_F(RecvTest, ReadOfAClosedSocketFailsAtOnce) {
  run([&]() -> asio::awaitable<void> {
    b.close();
    std::array<char, 16> buf{};
    auto [ec, n] = co_await async_recv(b, asio::buffer(buf), kTuple);
    EXPECT_EQ(ec, asio::error::bad_descriptor);
  });
}

TEST_F(RecvTest, AwaitableOperatorsCancelAPendingRead) {
  run([&]() -> asio::awaitable<void> {
    using asio::experimental::awaitable_operators::operator||;
    std::array<char, 16> buf{};
    asio::steady_timer t(ioc, 5ms);
    // The timer wins; the read must then be cancelled, or the || never completes.
    auto r = co_await (async_recv(b, asio::buffer(buf), kTuple) || t.async_wait(kTuple));
    EXPECT_EQ(r.index(), 1U);
    // The socket still reads normally afterwards.
    send("after");
    EXPECT_EQ(co_await recv(), "after");
  });
}

}  // namespace
}  // namespace tender
