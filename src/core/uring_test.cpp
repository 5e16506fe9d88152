#include "core/uring.hpp"
#include "core/asio_util.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <string>
#include <vector>

namespace tender {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A connected pair of TCP sockets on 127.0.0.1.
struct Pair {
  explicit Pair(asio::io_context& ioc) : a(ioc), b(ioc) {
    tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    a.connect(acc.local_endpoint());
    b = acc.accept();
  }
  tcp::socket a;
  tcp::socket b;
};

// A ring on its own io_context; the test is skipped, saying why, where the kernel refuses one.
class RingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = Ring::open(ioc);
    if (!opened) {
      GTEST_SKIP() << "io_uring unavailable here: " << opened.error().message();
    }
    ring = std::move(*opened);
  }
  asio::io_context ioc;
  std::unique_ptr<Ring> ring;
};

TEST_F(RingTest, SendsAndReceivesInOrder) {
  Pair p(ioc);
  std::string got;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        std::string one = "hello, ";
        std::string two = "ring";
        std::array<asio::const_buffer, 2> out{asio::buffer(one), asio::buffer(two)};
        auto [sec, sent] = co_await ring->async_send(p.a.native_handle(), out, kTuple);
        EXPECT_FALSE(sec);
        EXPECT_EQ(sent, 11U);
        p.a.shutdown(tcp::socket::shutdown_send);
        std::array<char, 4> buf{};
        for (;;) {
          auto [ec, n] = co_await ring->async_recv(p.b.native_handle(), asio::buffer(buf), kTuple);
          EXPECT_FALSE(ec);
          if (n == 0) {
            break;  // the end of the stream
          }
          got.append(buf.data(), n);
        }
        ioc.stop();  // the ring's own wait would keep run_for() going
      },
      asio::detached);
  ioc.run_for(std::chrono::seconds(5));
  EXPECT_EQ(got, "hello, ring");
}

TEST_F(RingTest, ShutDownEndsAPendingReceive) {
  Pair p(ioc);
  bool ended = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        std::array<char, 16> buf{};
        auto [ec, n] = co_await ring->async_recv(p.b.native_handle(), asio::buffer(buf), kTuple);
        EXPECT_EQ(n, 0U);  // nothing came; the receive ended
        ended = true;
        ioc.stop();
      },
      asio::detached);
  asio::steady_timer later(ioc, std::chrono::milliseconds(50));
  later.async_wait([&](const boost::system::error_code&) { shut_down(p.b); });
  ioc.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(ended);
}

TEST_F(RingTest, MoreOperationsThanItsQueueHoldsInOneTurn) {
  // 300 receives and 300 sends, each batch queued in one turn of the loop (the submission
  // queue has 256 entries).
  constexpr int kPairs = 300;
  std::vector<std::unique_ptr<Pair>> pairs;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(std::make_unique<Pair>(ioc));
  }
  int received = 0;
  for (auto& p : pairs) {
    asio::co_spawn(
        ioc,
        [&, pr = p.get()]() -> asio::awaitable<void> {
          std::array<char, 8> buf{};
          auto [ec, n] =
              co_await ring->async_recv(pr->b.native_handle(), asio::buffer(buf), kTuple);
          if (!ec && n == 1 && buf[0] == 'x') {
            ++received;
          }
          if (received == kPairs) {
            ioc.stop();
          }
        },
        asio::detached);
  }
  for (auto& p : pairs) {
    asio::co_spawn(
        ioc,
        [&, pr = p.get()]() -> asio::awaitable<void> {
          static const char x = 'x';
          std::array<asio::const_buffer, 1> out{asio::buffer(&x, 1)};
          co_await ring->async_send(pr->a.native_handle(), out, kTuple);
        },
        asio::detached);
  }
  ioc.run_for(std::chrono::seconds(10));
  EXPECT_EQ(received, kPairs);
}

// A ring destroyed while a receive is pending (a server stopped with idle connections open):
// the coroutine waiting on it is destroyed with its io_context, never resumed, and its buffer
// is not written to after the ring is gone.
TEST(Ring, DestroyedWithOperationsPendingDestroysTheirCoroutines) {
  bool resumed = false;
  bool destroyed = false;
  struct Flag {
    bool* set;
    ~Flag() { *set = true; }
  };
  auto buf = std::make_unique<std::array<char, 16>>();
  {
    asio::io_context ioc;
    auto opened = Ring::open(ioc);
    if (!opened) {
      GTEST_SKIP() << "io_uring unavailable here: " << opened.error().message();
    }
    auto& ring = *opened;
    Pair p(ioc);
    asio::co_spawn(
        ioc,
        [&, r = ring.get(), fd = p.b.native_handle()]() -> asio::awaitable<void> {
          Flag flag{&destroyed};
          co_await r->async_recv(fd, asio::buffer(*buf), kTuple);
          resumed = true;
        },
        asio::detached);
    ioc.poll();  // the receive is queued and submitted
    ASSERT_FALSE(destroyed);
    ring.reset();
    // What arrives now is for no one: the kernel cancelled the receive with the ring.
    p.a.send(asio::buffer(std::string_view("late")));
    ioc.poll();
    EXPECT_FALSE(resumed);
  }
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(resumed);
  EXPECT_EQ(std::string_view(buf->data(), 4), std::string_view("\0\0\0\0", 4));
}

TEST(Ring, TurnedOffByTheEnvironment) {
  asio::io_context ioc;
  ::setenv("TENDER_IO_URING", "off", 1);
  auto ring = Ring::open(ioc);
  ::unsetenv("TENDER_IO_URING");
  ASSERT_FALSE(ring);
  EXPECT_EQ(ring.error().code(), std::errc::operation_not_supported);
  EXPECT_EQ(ring.error().message(), "turned off (TENDER_IO_URING=off)");
}

}  // namespace
}  // namespace tender
