// Http1Pool against a scripted server on 127.0.0.1, on the pool's own loop: each case chooses
// the exact bytes of every answer and what the server does after it. Every case runs through
// Asio's sockets (epoll) and through io_uring where the kernel allows a ring.
#include "core/upstream/http1_pool.hpp"
#include "core/asio_util.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/uring.hpp"
#include "free_port.hpp"

namespace tender::upstream {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using boost::system::errc::errc_t;

constexpr std::string_view kGet = "GET /leaf HTTP/1.1\r\nHost: leaf\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// What the server does once an answer has gone.
enum class After {
  kKeep,   // waits for the next request on the connection
  kClose,  // closes the connection (whatever the answer said)
  kHang,   // sends nothing at all and waits for the client to close
};

struct Reply {
  std::string bytes;
  After after = After::kKeep;
  std::function<void()> on_request;  // runs when the request has come, before anything goes
};

// Answers each request it reads (a head up to its empty line; the tests send no bodies) with
// the next scripted reply, on any connection. Counts what it saw.
class Server {
 public:
  explicit Server(asio::io_context& ioc)
      : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    spawn(accept_loop());
  }
  ~Server() { stop(); }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void answer(std::string bytes, After after = After::kKeep, std::function<void()> hook = {}) {
    replies_.push_back({std::move(bytes), after, std::move(hook)});
  }
  [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  // Ends the acceptor and every connection; done() once their coroutines have returned.
  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& s : sockets_) {
      s->close(ignored);
    }
  }
  [[nodiscard]] bool done() const { return live_ == 0; }
  [[nodiscard]] int live() const { return live_; }  // the acceptor's loop and each connection's
  // Sends `bytes` on the connection accepted last, unasked, and closes it: what a server may do
  // to an idle keep-alive connection (a 408 before it closes).
  void send_and_close_last(std::string_view bytes) {
    auto& s = *sockets_.back();
    boost::system::error_code ignored;
    asio::write(s, asio::buffer(bytes), ignored);
    s.close(ignored);
  }

  int accepts = 0;
  int requests = 0;
  int client_closed = 0;  // connections the client closed (or reset) while the server waited
  std::size_t replies_left() const { return replies_.size(); }

 private:
  void spawn(asio::awaitable<void> a) {
    ++live_;
    asio::co_spawn(acceptor_.get_executor(), std::move(a),
                   [this](const std::exception_ptr&) { --live_; });
  }
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, s] = co_await acceptor_.async_accept(kTuple);
      if (ec) {
        co_return;
      }
      ++accepts;
      sockets_.push_back(std::make_shared<tcp::socket>(std::move(s)));
      spawn(serve(sockets_.back()));
    }
  }
  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> s) {
    std::string in;
    std::array<char, 4096> buf{};
    for (;;) {
      std::size_t end = 0;
      while ((end = in.find("\r\n\r\n")) == std::string::npos) {
        auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kTuple);
        if (ec) {
          if (ec != asio::error::operation_aborted) {
            ++client_closed;
          }
          co_return;
        }
        in.append(buf.data(), n);
      }
      in.erase(0, end + 4);
      ++requests;
      if (replies_.empty()) {
        ADD_FAILURE() << "a request the test did not script";
        s->close();
        co_return;
      }
      Reply r = std::move(replies_.front());
      replies_.pop_front();
      if (r.on_request) {
        r.on_request();
      }
      if (r.after == After::kHang) {
        for (;;) {
          auto [ec, n] = co_await s->async_read_some(asio::buffer(buf), kTuple);
          if (ec) {
            if (ec != asio::error::operation_aborted) {
              ++client_closed;
            }
            co_return;
          }
        }
      }
      auto [ec, n] = co_await asio::async_write(*s, asio::buffer(r.bytes), kTuple);
      if (ec) {
        co_return;
      }
      if (r.after == After::kClose) {
        s->close();
        co_return;
      }
    }
  }

  tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::deque<Reply> replies_;
  int live_ = 0;
};

bool is(const Error& e, errc_t code) {
  return e.code() == boost::system::errc::make_error_condition(code);
}

// The parameter: through io_uring (true) or Asio's sockets (false).
class Http1PoolTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      auto opened = Ring::open(ioc);
      if (!opened) {
        GTEST_SKIP() << "io_uring unavailable here: " << opened.error().message();
      }
      ring = std::move(*opened);
    }
    deadlines = std::make_unique<Deadlines>(ioc, ring.get());
    deadlines_running = true;
    asio::co_spawn(ioc, deadlines->run(),
                   [this](const std::exception_ptr&) { deadlines_running = false; });
    pool = std::make_unique<Http1Pool>(ioc, *deadlines);
    server = std::make_unique<Server>(ioc);
    use_cluster(1024);
  }

  void TearDown() override {
    pool.reset();
    if (server) {
      server->stop();
    }
    if (deadlines) {
      deadlines->stop();
    }
    run_until([&] { return !deadlines_running && (!server || server->done()); });
    if (server) {
      EXPECT_EQ(server->replies_left(), 0U) << "scripted answers nobody asked for";
    }
  }

  // A cluster with the server as its one endpoint.
  void use_cluster(std::uint32_t max_connections) {
    ClusterConfig c;
    c.name = "leaves";
    c.limits.max_connections = max_connections;
    cluster = std::make_shared<Cluster>(c, registry, "tender_test");
    cluster->set_endpoints({{"leaf", {"127.0.0.1", server->port()}}});
    endpoint = cluster->endpoints()->at(0);
  }

  // Runs the loop until `done` holds; gives up (failing the test) after 10 s, which only a
  // hang takes.
  template <typename Pred>
  void run_until(Pred done) {
    auto limit = SteadyClock::now() + 10s;
    while (!done() && SteadyClock::now() < limit) {
      ioc.run_one_for(100ms);
    }
    EXPECT_TRUE(done()) << "the loop did not get there in 10 s";
  }

  // Starts an exchange; its result lands in `out`.
  void start(std::optional<Result<Http1Answer>>& out, ExchangeOptions o,
             const Endpoint* e = nullptr, std::string_view request = kGet) {
    asio::co_spawn(
        ioc,
        [this, &out, o, e, request]() -> asio::awaitable<void> {
          out = co_await pool->exchange(cluster, e != nullptr ? *e : endpoint, request, o);
        },
        asio::detached);
  }

  Result<Http1Answer> exchange(ExchangeOptions o = {}) {
    std::optional<Result<Http1Answer>> out;
    start(out, o);
    run_until([&] { return out.has_value(); });
    if (!out) {
      return Error("no result");
    }
    return std::move(*out);
  }

  static ExchangeOptions opts() { return {.deadline = SteadyClock::now() + 5s}; }

  asio::io_context ioc;
  std::unique_ptr<Ring> ring;
  std::unique_ptr<Deadlines> deadlines;
  bool deadlines_running = false;
  Registry registry;
  std::shared_ptr<Cluster> cluster;
  Endpoint endpoint;
  std::unique_ptr<Server> server;
  std::unique_ptr<Http1Pool> pool;
};

TEST_P(Http1PoolTest, ReadsAContentLengthAnswer) {
  server->answer("HTTP/1.1 201 Created\r\nX-Leaf: a\r\nContent-Length: 5\r\n\r\nhello");
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->status, 201);
  EXPECT_EQ(a->headers.get("x-leaf").value_or(""), "a");
  EXPECT_EQ(a->body, "hello");
  EXPECT_EQ(pool->idle(), 1U);
}

TEST_P(Http1PoolTest, ReadsABodyThatTakesManyReads) {
  std::string body(1 << 20, 'x');
  for (std::size_t i = 0; i < body.size(); i += 4093) {
    body[i] = static_cast<char>('a' + i % 26);
  }
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                 body);
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->body.size(), body.size());
  EXPECT_TRUE(a->body == body);
  EXPECT_EQ(pool->idle(), 1U);
}

TEST_P(Http1PoolTest, DecodesAChunkedAnswer) {
  server->answer(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->body, "hello world");
  EXPECT_EQ(pool->idle(), 1U);  // the body ended where the chunks said: the connection goes on
}

TEST_P(Http1PoolTest, ReadsAnAnswerUntilTheServerCloses) {
  server->answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, until the end",
                 After::kClose);
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->body, "all of it, until the end");
  EXPECT_EQ(pool->idle(), 0U);
}

TEST_P(Http1PoolTest, SkipsInterimAnswers) {
  server->answer(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast");
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "last");
  EXPECT_FALSE(a->headers.get("link"));  // the fields are the final answer's
  EXPECT_EQ(pool->idle(), 1U);
}

TEST_P(Http1PoolTest, AnswerToHeadHasNoBodyAndKeepsTheConnection) {
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
  server->answer(std::string(kOk));
  auto o = opts();
  o.head = true;
  auto a = exchange(o);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "");
  EXPECT_EQ(a->headers.get("content-length").value_or(""), "1000");
  ASSERT_EQ(pool->idle(), 1U);
  auto b = exchange(opts());  // the next answer on the same connection reads as it should
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "ok");
  EXPECT_EQ(server->accepts, 1);
}

TEST_P(Http1PoolTest, ReusesAKeptAliveConnection) {
  server->answer(std::string(kOk));
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(pool->idle(), 1U);
  EXPECT_EQ(endpoint.stats->connections.load(), 1U);
  auto b = exchange(opts());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "two");
  EXPECT_EQ(server->accepts, 1);
  EXPECT_EQ(server->requests, 2);
  EXPECT_EQ(pool->idle(), 1U);
}

TEST_P(Http1PoolTest, DoesNotPoolAConnectionTheAnswerCloses) {
  server->answer("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
                 After::kClose);
  server->answer(std::string(kOk));
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->body, "ok");
  EXPECT_EQ(pool->idle(), 0U);
  EXPECT_EQ(endpoint.stats->connections.load(), 0U);  // its slot was given back
  auto b = exchange(opts());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(server->accepts, 2);
}

TEST_P(Http1PoolTest, DoesNotPoolAConnectionWithBytesPastTheAnswer) {
  // Bytes after the answer belong to nothing asked: a next exchange must not read them.
  server->answer(std::string(kOk) + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray");
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->body, "ok");
  EXPECT_EQ(pool->idle(), 0U);
  auto b = exchange(opts());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "fresh");
  EXPECT_EQ(server->accepts, 2);
}

TEST_P(Http1PoolTest, DoesNotUseAPooledConnectionTheServerClosedWhileIdle) {
  server->answer(std::string(kOk), After::kClose);  // says keep-alive, then closes while idle
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfresh",
                 After::kClose);
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(pool->idle(), 1U);
  run_until([&] { return server->live() == 1; });  // the server closed it (its acceptor is left)
  auto o = opts();
  o.replayable = false;  // nothing is sent on the closed connection: no need to send it again
  auto b = exchange(o);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "fresh");
  EXPECT_EQ(server->accepts, 2);
  EXPECT_EQ(server->requests, 2);
}

TEST_P(Http1PoolTest, DoesNotTakeWhatCameUnaskedOnAnIdleConnectionForTheAnswer) {
  server->answer(std::string(kOk));
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(pool->idle(), 1U);
  server->send_and_close_last(
      "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  auto b = exchange(opts());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->status, 200);
  EXPECT_EQ(b->body, "fresh");
  EXPECT_EQ(server->accepts, 2);
}

TEST_P(Http1PoolTest, SendsAgainWhenAPooledConnectionClosesWithNoAnswer) {
  server->answer(std::string(kOk));
  server->answer("", After::kClose);  // the request came as the server closed: no answer
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain");
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(pool->idle(), 1U);
  auto b = exchange(opts());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "again");
  EXPECT_EQ(server->accepts, 2);
  EXPECT_EQ(server->requests, 3);
  EXPECT_EQ(pool->idle(), 1U);
  EXPECT_EQ(endpoint.stats->connections.load(), 1U);
}

TEST_P(Http1PoolTest, DoesNotSendAgainWhatIsNotReplayable) {
  server->answer(std::string(kOk));
  server->answer("", After::kClose);
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(pool->idle(), 1U);
  auto o = opts();
  o.replayable = false;
  auto b = exchange(o);
  ASSERT_FALSE(b);
  EXPECT_TRUE(b.error().code() == asio::error::eof ||
              b.error().code() == asio::error::connection_reset)
      << b.error().message();
  EXPECT_EQ(server->accepts, 1);
  EXPECT_EQ(server->requests, 2);
  EXPECT_EQ(pool->idle(), 0U);
  EXPECT_EQ(endpoint.stats->connections.load(), 0U);
}

TEST_P(Http1PoolTest, SendsAgainOnANewConnectionNotAnotherPooledOne) {
  // Two connections pooled; the server drops whatever comes on either without an answer (it is
  // going away): the request is sent again on a new connection, not on the other pooled one.
  server->answer(std::string(kOk));
  server->answer(std::string(kOk));
  std::optional<Result<Http1Answer>> one;
  std::optional<Result<Http1Answer>> two;
  start(one, opts());
  start(two, opts());
  run_until([&] { return one && two; });
  ASSERT_TRUE(one && *one);
  ASSERT_TRUE(two && *two);
  ASSERT_EQ(pool->idle(), 2U);
  server->answer("", After::kClose);
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
  auto b = exchange(opts());
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "fresh");
  EXPECT_EQ(server->accepts, 3);
  EXPECT_EQ(pool->idle(), 2U);  // the other pooled one, and the new one
}

TEST_P(Http1PoolTest, KeepsAtMostMaxIdleConnectionsPerEndpoint) {
  pool = std::make_unique<Http1Pool>(ioc, *deadlines, 1);
  server->answer(std::string(kOk));
  server->answer(std::string(kOk));
  std::optional<Result<Http1Answer>> one;
  std::optional<Result<Http1Answer>> two;
  start(one, opts());
  start(two, opts());
  run_until([&] { return one && two; });
  ASSERT_TRUE(one && *one);
  ASSERT_TRUE(two && *two);
  EXPECT_EQ(server->accepts, 2);
  EXPECT_EQ(pool->idle(), 1U);
  EXPECT_EQ(endpoint.stats->connections.load(), 1U);
}

TEST_P(Http1PoolTest, RefusesABodyOverMaxBody) {
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
  auto o = opts();
  o.max_body = 10;
  auto a = exchange(o);
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::message_size)) << a.error().message();
  EXPECT_EQ(pool->idle(), 0U);
}

TEST_P(Http1PoolTest, RefusesAChunkedBodyOverMaxBody) {
  server->answer(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello "
      "\r\n5\r\nworld\r\n0\r\n\r\n");
  auto o = opts();
  o.max_body = 10;
  auto a = exchange(o);
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::message_size)) << a.error().message();
}

TEST_P(Http1PoolTest, RefusesAnUntilCloseBodyOverMaxBody) {
  server->answer("HTTP/1.1 200 OK\r\n\r\nhello world", After::kClose);
  auto o = opts();
  o.max_body = 10;
  auto a = exchange(o);
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::message_size)) << a.error().message();
}

TEST_P(Http1PoolTest, RefusesAHeadOver16KiB) {
  server->answer("HTTP/1.1 200 OK\r\nX-Big: " + std::string(20 * 1024, 'b') +
                 "\r\nContent-Length: 0\r\n\r\n");
  auto a = exchange(opts());
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::message_size)) << a.error().message();
}

TEST_P(Http1PoolTest, RefusesAMalformedAnswer) {
  server->answer("HTTP/1.1 two hundred OK\r\nContent-Length: 2\r\n\r\nok");
  auto a = exchange(opts());
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::bad_message)) << a.error().message();
  EXPECT_EQ(pool->idle(), 0U);
}

TEST_P(Http1PoolTest, RefusesMalformedChunks) {
  server->answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
  auto a = exchange(opts());
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::bad_message)) << a.error().message();
  EXPECT_EQ(pool->idle(), 0U);
}

TEST_P(Http1PoolTest, AnAnswerCutShortIsAnError) {
  server->answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", After::kClose);
  auto a = exchange(opts());
  ASSERT_FALSE(a);
  EXPECT_TRUE(a.error().code() == asio::error::eof ||
              a.error().code() == asio::error::connection_reset)
      << a.error().message();
  EXPECT_EQ(server->accepts, 1);  // part of the answer came: not sent again
  EXPECT_EQ(pool->idle(), 0U);
}

TEST_P(Http1PoolTest, TimesOutWithNoAnswer) {
  server->answer("", After::kHang);
  auto a = exchange({.deadline = SteadyClock::now() + 200ms});
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::timed_out)) << a.error().message();
  EXPECT_EQ(pool->idle(), 0U);
  run_until([&] { return server->client_closed == 1; });  // the connection was closed
  EXPECT_EQ(endpoint.stats->connections.load(), 0U);
}

TEST_P(Http1PoolTest, CancelEndsTheWaitAndDropsTheConnection) {
  ExchangeCancel cancel;
  server->answer("", After::kHang, [&] { cancel.fire(); });
  auto o = opts();
  o.cancel = &cancel;
  auto a = exchange(o);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), asio::error::operation_aborted) << a.error().message();
  EXPECT_EQ(pool->idle(), 0U);
  run_until([&] { return server->client_closed == 1; });
  EXPECT_EQ(endpoint.stats->connections.load(), 0U);
}

TEST_P(Http1PoolTest, CancelFiredBeforehandSendsNothing) {
  ExchangeCancel cancel;
  cancel.fire();
  auto o = opts();
  o.cancel = &cancel;
  auto a = exchange(o);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), asio::error::operation_aborted);
  EXPECT_EQ(server->accepts, 0);
}

TEST_P(Http1PoolTest, ConnectionRefusedIsAConnectError) {
  std::uint16_t port = tender::testing::free_port();
  ASSERT_NE(port, 0);
  cluster->set_endpoints({{"gone", {"127.0.0.1", port}}});
  Endpoint gone = cluster->endpoints()->at(0);
  std::optional<Result<Http1Answer>> out;
  start(out, opts(), &gone);
  run_until([&] { return out.has_value(); });
  ASSERT_TRUE(out && !*out);
  EXPECT_EQ(out->error().code(), asio::error::connection_refused) << out->error().message();
  EXPECT_EQ(gone.stats->connections.load(), 0U);
}

TEST_P(Http1PoolTest, FullConnectionBreakerRefusesAndFreesItsSlotAfter) {
  use_cluster(1);
  ExchangeCancel cancel;
  std::optional<Result<Http1Answer>> second;
  // The first exchange holds the cluster's one connection; a second finds the breaker full.
  server->answer("", After::kHang, [&] {
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          second = co_await pool->exchange(cluster, endpoint, kGet, opts());
          cancel.fire();
        },
        asio::detached);
  });
  server->answer(std::string(kOk));
  auto o = opts();
  o.cancel = &cancel;
  auto first = exchange(o);
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code(), asio::error::operation_aborted);
  ASSERT_TRUE(second && !*second);
  EXPECT_TRUE(is(second->error(), errc_t::no_buffer_space)) << second->error().message();
  auto third = exchange(opts());  // the cancelled exchange gave its connection's slot back
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(third->body, "ok");
}

TEST_P(Http1PoolTest, CloseIdleEmptiesThePool) {
  server->answer(std::string(kOk));
  auto a = exchange(opts());
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(pool->idle(), 1U);
  pool->close_idle();
  EXPECT_EQ(pool->idle(), 0U);
  EXPECT_EQ(endpoint.stats->connections.load(), 0U);
  run_until([&] { return server->client_closed == 1; });  // the server saw it close
}

TEST_P(Http1PoolTest, TheDeadlineBoundsConnecting) {
  // A listener whose backlog is full and which never accepts: the kernel drops further
  // handshakes, so a connect waits (and should the kernel take it after all, no answer comes).
  tcp::acceptor full(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  full.listen(0);
  tcp::socket filler(ioc);
  filler.connect(full.local_endpoint());
  cluster->set_endpoints({{"full", {"127.0.0.1", full.local_endpoint().port()}}});
  Endpoint stuck = cluster->endpoints()->at(0);
  std::optional<Result<Http1Answer>> out;
  start(out, {.deadline = SteadyClock::now() + 200ms}, &stuck);
  run_until([&] { return out.has_value(); });
  ASSERT_TRUE(out && !*out);
  EXPECT_TRUE(is(out->error(), errc_t::timed_out)) << out->error().message();
  EXPECT_EQ(stuck.stats->connections.load(), 0U);
}

TEST_P(Http1PoolTest, NoTimeLeftFailsBeforeConnecting) {
  auto a = exchange({.deadline = SteadyClock::now() - 1ms});
  ASSERT_FALSE(a);
  EXPECT_TRUE(is(a.error(), errc_t::timed_out)) << a.error().message();
  EXPECT_EQ(server->accepts, 0);
}

INSTANTIATE_TEST_SUITE_P(Io, Http1PoolTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "IoUring" : "Epoll";
                         });

}  // namespace
}  // namespace tender::upstream
