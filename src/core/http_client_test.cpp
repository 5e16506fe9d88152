// The client against the real server, in one process, on 127.0.0.1 with free ports.
#include "core/http_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core/error.hpp>

#include "core/http_server.hpp"

namespace tender {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Polls `cond` until it holds or a generous deadline passes.
template <typename F>
bool eventually(F cond) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

template <typename T>
T run(asio::io_context& ioc, asio::awaitable<T> aw) {
  std::optional<T> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out = co_await std::move(aw); }, asio::detached);
  ioc.restart();
  ioc.run();
  return std::move(*out);
}

class ClientTest : public ::testing::Test {
 protected:
  void start(ServerLimits limits = {}) {
    Router r;
    r.get("/hello", [](Request& req) {
      return Response::text(200, "hello " + req.query_param("who").value_or("world"));
    });
    r.add("POST", "/echo", [](Request& req) { return Response::text(200, req.body); });
    r.add_async("GET", "/slow", [](Request& req, Reply reply) {
      req.scheduler->after(2s, [reply] { reply(Response::text(200, "late")); });
    });
    // Three lines 10 ms apart, then the end; with ?forever, lines every 10 ms until closed.
    r.add_async("GET", "/lines", [this](Request& req, Reply reply) {
      auto stream = reply.stream(Response::text(200, ""));
      bool forever = req.query_param("forever").has_value();
      auto tick = std::make_shared<std::function<void(int)>>();
      *tick = [stream, forever, tick, s = req.scheduler, this](int i) {
        if (stream->closed()) {
          stream_closed_ = true;
          *tick = nullptr;  // breaks the cycle
          return;
        }
        if (!forever && i == 3) {
          stream->end();
          *tick = nullptr;
          return;
        }
        (void)stream->write("line " + std::to_string(i) + "\n");
        s->after(10ms, [tick, i] { (*tick)(i + 1); });
      };
      (*tick)(0);
    });
    r.get("/missing", [](Request&) { return Response::text(404, "no such thing\n"); });
    ServerOptions opts;
    opts.limits = limits;
    server_ = std::make_unique<HttpServer>(std::move(r), opts);
    addr_ = server_->bind();
    server_->start();
  }
  ClientRequest req(std::string target) {
    ClientRequest r;
    r.host = addr_.host;
    r.port = addr_.port;
    r.target = std::move(target);
    return r;
  }

  asio::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
  HostPort addr_;
  std::atomic<bool> stream_closed_{false};
};

TEST_F(ClientTest, GetAndPost) {
  start();
  HttpClient client(ioc_.get_executor());
  auto r = run(ioc_, client.request(req("/hello?who=tender")));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello tender");
  auto post = req("/echo");
  post.method = "POST";
  post.body = std::string(100'000, 'x');
  auto p = run(ioc_, client.request(post));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->body.size(), 100'000u);
}

TEST_F(ClientTest, ReusesPooledConnections) {
  start();
  HttpClient client(ioc_.get_executor());
  for (int i = 0; i < 5; ++i) {
    auto r = run(ioc_, client.request(req("/hello")));
    ASSERT_TRUE(r);
  }
  EXPECT_EQ(client.idle_connections(), 1u);
  EXPECT_EQ(server_->connections(), 1u);
  // The server counts a request once its answer is written, which may be after the client read it.
  EXPECT_TRUE(eventually([&] { return server_->requests_served() == 5u; }));
}

TEST_F(ClientTest, RetriesOnceWhenThePooledConnectionWentStale) {
  ServerLimits limits;
  limits.idle_timeout = 100ms;
  start(limits);
  HttpClient client(ioc_.get_executor());
  ASSERT_TRUE(run(ioc_, client.request(req("/hello"))));
  ASSERT_EQ(client.idle_connections(), 1u);
  ASSERT_TRUE(eventually([&] { return server_->connections() == 0; }));
  auto r = run(ioc_, client.request(req("/hello")));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
}

TEST_F(ClientTest, ConnectionRefused) {
  start();
  std::uint16_t port = addr_.port;
  server_->stop();
  HttpClient client(ioc_.get_executor());
  auto rq = req("/hello");
  rq.port = port;
  auto r = run(ioc_, client.request(rq));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), asio::error::connection_refused);
}

TEST_F(ClientTest, RequestTimeout) {
  start();
  HttpClient client(ioc_.get_executor());
  auto rq = req("/slow");
  rq.timeout = 100ms;
  auto r = run(ioc_, client.request(rq));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), boost::beast::error::timeout);
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST_F(ClientTest, CancellationAbortsTheExchangeAndClosesItsConnection) {
  start();
  HttpClient client(ioc_.get_executor());
  auto raced = [&]() -> asio::awaitable<int> {
    asio::steady_timer t(ioc_, 50ms);
    using asio::experimental::awaitable_operators::operator||;
    auto v = co_await (client.request(req("/slow")) || t.async_wait(asio::use_awaitable));
    co_return static_cast<int>(v.index());
  };
  EXPECT_EQ(run(ioc_, raced()), 1);  // the timer won
  EXPECT_EQ(client.idle_connections(), 0u);
  EXPECT_TRUE(eventually([&] { return server_->in_flight() == 0 || server_->connections() == 0; }));
  auto r = run(ioc_, client.request(req("/hello")));  // the client is still usable
  ASSERT_TRUE(r);
}

TEST_F(ClientTest, StreamHandsTheBodyOverAsItArrives) {
  start();
  HttpClient client(ioc_.get_executor());
  std::vector<std::string> pieces;
  auto head = run(ioc_, client.stream(req("/lines"), [&](std::string_view bytes) -> Result<> {
    pieces.emplace_back(bytes);
    return {};
  }));
  ASSERT_TRUE(head) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  std::string all;
  for (const auto& p : pieces) {
    all += p;
  }
  EXPECT_EQ(all, "line 0\nline 1\nline 2\n");
  EXPECT_GE(pieces.size(), 2u);              // written 10 ms apart, so not one piece
  EXPECT_EQ(client.idle_connections(), 1u);  // a body that ended leaves its connection pooled
}

TEST_F(ClientTest, StreamReadsAContentLengthBodyAndANon200Head) {
  start();
  HttpClient client(ioc_.get_executor());
  std::string body;
  auto sink = [&](std::string_view bytes) -> Result<> {
    body += bytes;
    return {};
  };
  auto head = run(ioc_, client.stream(req("/missing"), sink));
  ASSERT_TRUE(head) << head.error().message();
  EXPECT_EQ(head->status, 404);
  EXPECT_EQ(body, "no such thing\n");
}

TEST_F(ClientTest, StreamEndsWhenTheCallbackFails) {
  start();
  HttpClient client(ioc_.get_executor());
  int calls = 0;
  auto head = run(ioc_, client.stream(req("/lines?forever"), [&](std::string_view) -> Result<> {
    ++calls;
    return Error(std::errc::bad_message, "enough");
  }));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().message(), "enough");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(client.idle_connections(), 0u);
  EXPECT_TRUE(eventually([&] { return stream_closed_.load(); }));  // the server saw it go
}

TEST_F(ClientTest, StreamCancellationClosesTheConnection) {
  start();
  HttpClient client(ioc_.get_executor());
  std::size_t bytes = 0;
  auto raced = [&]() -> asio::awaitable<int> {
    asio::steady_timer t(ioc_, 100ms);
    using asio::experimental::awaitable_operators::operator||;
    auto v = co_await (client.stream(req("/lines?forever"), [&](std::string_view b) -> Result<> {
      bytes += b.size();
      return {};
    }) || t.async_wait(asio::use_awaitable));
    co_return static_cast<int>(v.index());
  };
  EXPECT_EQ(run(ioc_, raced()), 1);  // the timer won: the body never ends by itself
  EXPECT_GT(bytes, 0u);
  EXPECT_EQ(client.idle_connections(), 0u);
  EXPECT_TRUE(eventually([&] { return stream_closed_.load(); }));
}

TEST_F(ClientTest, StreamTimeoutAppliesUntilTheHead) {
  start();
  HttpClient client(ioc_.get_executor());
  auto slow = req("/slow");
  slow.timeout = 100ms;
  auto r = run(ioc_, client.stream(slow, [](std::string_view) -> Result<> { return {}; }));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), boost::beast::error::timeout);
  // A body slower than the timeout is fine once the head is there.
  auto lines = req("/lines");
  lines.timeout = 15ms;
  std::string body;
  auto ok = run(ioc_, client.stream(lines, [&](std::string_view b) -> Result<> {
    body += b;
    return {};
  }));
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(body, "line 0\nline 1\nline 2\n");
}

TEST_F(ClientTest, StreamConnectionRefused) {
  start();
  std::uint16_t port = addr_.port;
  server_->stop();
  HttpClient client(ioc_.get_executor());
  auto rq = req("/lines");
  rq.port = port;
  auto r = run(ioc_, client.stream(rq, [](std::string_view) -> Result<> { return {}; }));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), asio::error::connection_refused);
}

TEST_F(ClientTest, DrainFinishesInFlightAndRefusesNewConnections) {
  start();
  std::optional<boost::system::result<Response>> slow;
  HttpClient client(ioc_.get_executor());
  asio::co_spawn(
      ioc_, [&]() -> asio::awaitable<void> { slow = co_await client.request(req("/slow")); },
      asio::detached);
  std::thread t([&] { ioc_.run(); });
  ASSERT_TRUE(eventually([&] { return server_->in_flight() == 1; }));
  server_->drain();
  t.join();
  ASSERT_TRUE(slow.has_value());
  ASSERT_TRUE(*slow) << slow->error().message();
  EXPECT_EQ((*slow)->body, "late");
  EXPECT_EQ((*slow)->headers.get("Connection").value_or(""), "close");
  HttpClient fresh(ioc_.get_executor());
  auto r = run(ioc_, fresh.request(req("/hello")));
  ASSERT_FALSE(r);
}

// A hand-written server that sends an interim 100 before each real answer.
TEST(HttpUrl, TakesAnHttpUrlApartForARequest) {
  auto u = parse_http_url("http://127.0.0.1:8080/leader?x=1");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/leader?x=1");
  auto bare = parse_http_url("http://localhost");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, 80);
  EXPECT_EQ(bare->target, "/");
}

TEST(HttpUrl, RefusesWhatItCannotRequestSayingWhy) {
  for (const char* bad : {"", "https://x/", "ftp://x/", "http:///path", "http://x:0/", "x y"}) {
    auto u = parse_http_url(bad);
    ASSERT_FALSE(u) << bad;
    EXPECT_EQ(u.error().code(), std::errc::invalid_argument) << bad;
    EXPECT_NE(u.error().message().find("is not http://"), std::string::npos) << bad;
  }
}

TEST(Client, SkipsInterimResponses) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  std::uint16_t port = acceptor.local_endpoint().port();
  std::thread server([&] {
    asio::io_context sioc;
    asio::ip::tcp::socket sock(sioc);
    acceptor.accept(sock);
    std::string buf;
    for (int i = 0; i < 2; ++i) {
      char data[4096];
      std::size_t n = sock.read_some(asio::buffer(data));
      buf.assign(data, n);
      std::string body = "resp" + std::to_string(i);
      std::string out = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
      asio::write(sock, asio::buffer(out));
    }
  });
  HttpClient client(ioc.get_executor());
  ClientRequest rq;
  rq.host = "127.0.0.1";
  rq.port = port;
  auto a = run(ioc, client.request(rq));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "resp0");
  auto b = run(ioc, client.request(rq));
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "resp1");
  server.join();
}

// A server that sends endless trailer fields cannot make the client hold them: the request
// fails once they pass the header limit.
TEST(Client, ResponseTrailersAreBoundedByTheHeaderLimit) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  std::uint16_t port = acceptor.local_endpoint().port();
  std::atomic<std::size_t> sent{0};
  std::thread server([&] {
    asio::io_context sioc;
    asio::ip::tcp::socket sock(sioc);
    acceptor.accept(sock);
    char data[4096];
    (void)sock.read_some(asio::buffer(data));
    asio::write(sock, asio::buffer(std::string_view(
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n")));
    std::string line = "X-Trailer: " + std::string(1000, 't') + "\r\n";
    boost::system::error_code ec;
    while (!ec && sent < (std::size_t{64} << 20)) {  // 64 MiB at most, if never refused
      asio::write(sock, asio::buffer(line), ec);
      sent += line.size();
    }
  });
  HttpClient client(ioc.get_executor(), {.max_response_header_bytes = 16 * 1024});
  ClientRequest rq;
  rq.host = "127.0.0.1";
  rq.port = port;
  auto r = run(ioc, client.request(rq));
  EXPECT_FALSE(r) << "answered " << r->status;
  server.join();
  EXPECT_LT(sent.load(), std::size_t{16} << 20) << "the client read on";
}

TEST(Server, LateReplyAfterStopIsDropped) {
  std::optional<Reply> kept;
  std::mutex mu;
  Router r;
  r.add_async("GET", "/park", [&](Request&, Reply reply) {
    std::lock_guard lock(mu);
    kept.emplace(std::move(reply));
  });
  HttpServer server(std::move(r), ServerOptions{});
  HostPort addr = server.bind();
  server.start();
  asio::io_context ioc;
  HttpClient client(ioc.get_executor());
  ClientRequest rq;
  rq.host = addr.host;
  rq.port = addr.port;
  rq.target = "/park";
  rq.timeout = 20s;
  std::thread t([&] { (void)run(ioc, client.request(rq)); });
  ASSERT_TRUE(eventually([&] { return server.in_flight() == 1; }));
  server.stop();
  t.join();  // the client sees its connection closed
  std::lock_guard lock(mu);
  ASSERT_TRUE(kept.has_value());
  (*kept)(Response::text(200, "too late"));  // must not touch the stopped worker
  kept.reset();
}

TEST(Fetch, RejectsNonHttpUrls) {
  EXPECT_FALSE(fetch("ftp://127.0.0.1/"));
  EXPECT_FALSE(fetch("not a url"));
}

}  // namespace
}  // namespace tender
