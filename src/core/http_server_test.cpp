// The server's answers that wait (long-poll) and that stream (server-sent events), through real
// sockets on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "core/http.hpp"
#include "core/http_server.hpp"

namespace tender {
namespace {

using namespace std::chrono_literals;

// A blocking client socket whose reads give up after 10 s (a hang fails the test, it does not
// time it).
class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  void set_receive_buffer(int bytes) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Reads until `marker` has arrived; returns everything up to and including it, keeping the
  // rest. Empty if the connection ended (or nothing came for 10 s) first.
  std::string read_until(const std::string& marker) {
    for (;;) {
      auto at = buffer_.find(marker);
      if (at != std::string::npos) {
        std::string out = buffer_.substr(0, at + marker.size());
        buffer_.erase(0, at + marker.size());
        return out;
      }
      if (!fill()) {
        return "";
      }
    }
  }
  // Everything until the server closes the connection.
  std::string read_to_end() {
    while (fill()) {
    }
    return std::exchange(buffer_, {});
  }
  // True when the server closes the connection within 10 s.
  bool closed_by_server() {
    while (fill()) {
    }
    return eof_;
  }

 private:
  bool fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) {
      return false;
    }
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

// Polls `done` until it holds (true) or 10 s pass (false).
template <typename Pred>
bool eventually(Pred done) {
  for (int i = 0; i < 10'000; ++i) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

// Something a test waits for, set from a server thread.
class Flag {
 public:
  void set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [this] { return set_; });
  }
  bool is_set() {
    std::lock_guard lock(mu_);
    return set_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

// The handler's side of a test: the stream or the reply it was given, for the test to drive.
struct Held {
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<ResponseStream> stream;
  std::optional<Reply> reply;
  int requests = 0;

  void keep_stream(std::shared_ptr<ResponseStream> s) {
    std::lock_guard lock(mu);
    stream = std::move(s);
    ++requests;
    cv.notify_all();
  }
  void keep_reply(Reply r) {
    std::lock_guard lock(mu);
    reply = std::move(r);
    ++requests;
    cv.notify_all();
  }
  // Waits for the n-th request to reach its handler.
  bool wait_requests(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return requests >= n; });
  }
};

const std::string kGet = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";

class StreamingServer : public ::testing::Test {
 protected:
  void start(std::size_t max_queued = ResponseStream::kDefaultMaxQueued) {
    Router router;
    router.add_async("GET", "/events", [this, max_queued](Request&, Reply reply) {
      Response head;
      head.headers.set("Content-Type", "text/event-stream");
      head.body = "retry: 1000\n\n";
      auto stream = reply.stream(std::move(head), max_queued);
      stream->on_close([this] { stream_closed.set(); });
      held.keep_stream(std::move(stream));
    });
    router.add_async("GET", "/poll", [this](Request&, Reply reply) {
      reply.on_cancel([this, reply] {
        poll_cancelled.set();
        reply(Response::text(200, "nothing new\n"));
      });
      held.keep_reply(std::move(reply));
    });
    router.get("/plain", [](Request&) { return Response::text(200, "plain\n"); });
    server = std::make_unique<HttpServer>(std::move(router), ServerOptions{});
    port = server->bind().port;
    server->start();
  }
  void TearDown() override {
    if (server) {
      server->stop();
    }
  }
  // A stream on `events` and a long poll on `poll`, both at their handlers.
  void open_stream_and_poll(Client& events, Client& poll) {
    ASSERT_TRUE(events.send(kGet));
    ASSERT_TRUE(held.wait_requests(1));
    ASSERT_TRUE(poll.send("GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(held.wait_requests(2));
  }
  std::shared_ptr<ResponseStream> stream() {
    std::lock_guard lock(held.mu);
    return held.stream;
  }

  std::unique_ptr<HttpServer> server;
  std::uint16_t port = 0;
  Held held;
  Flag stream_closed;
  Flag poll_cancelled;
};

TEST_F(StreamingServer, AStreamedBodyArrivesAsItIsWrittenThenTheConnectionServesTheNext) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send(kGet));
  std::string head = c.read_until("\r\n\r\n");
  EXPECT_NE(head.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  EXPECT_EQ(c.read_until("retry: 1000\n\n\r\n"), "d\r\nretry: 1000\n\n\r\n");
  ASSERT_TRUE(held.wait_requests(1));

  // Each write reaches the client while the stream stays open.
  ASSERT_TRUE(stream()->write(sse_event("one")));
  EXPECT_EQ(c.read_until("\n\n\r\n"), "b\r\ndata: one\n\n\r\n");
  ASSERT_TRUE(stream()->write(sse_event("two", "tick", "2")));
  EXPECT_EQ(c.read_until("\n\n\r\n"), "1d\r\nevent: tick\nid: 2\ndata: two\n\n\r\n");

  stream()->end();
  EXPECT_EQ(c.read_until("0\r\n\r\n"), "0\r\n\r\n");
  EXPECT_FALSE(stream()->write("late")) << "an ended stream takes no more";
  EXPECT_FALSE(stream_closed.is_set()) << "a stream that ended was not closed";

  ASSERT_TRUE(c.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(c.read_until("plain\n").find("HTTP/1.1 200 OK"), std::string::npos);
}

TEST_F(StreamingServer, AClientThatLeavesClosesItsStream) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send(kGet));
  ASSERT_FALSE(c.read_until("\r\n\r\n").empty());
  ASSERT_TRUE(held.wait_requests(1));
  c.close();
  ASSERT_TRUE(stream_closed.wait()) << "the producer is told its client went";
  EXPECT_TRUE(stream()->closed());
  EXPECT_FALSE(stream()->write(sse_event("nobody reads this")));
  EXPECT_TRUE(eventually([&] { return server->in_flight() == 0; }));
}

TEST_F(StreamingServer, AClientTooSlowForTheStreamIsCutOffNotBuffered) {
  start(64 * 1024);
  Client c(port);
  c.set_receive_buffer(4096);
  ASSERT_TRUE(c.send(kGet));
  ASSERT_TRUE(held.wait_requests(1));
  // The client reads nothing: the socket buffers fill, then the stream's queue, then writes
  // are refused and the stream closes.
  const std::string event = sse_event(std::string(1000, 'x'));
  std::uint64_t accepted = 0;
  auto s = stream();
  while (s->write(event)) {
    ++accepted;
    ASSERT_LT(accepted, 1'000'000u) << "the queue never filled";
    if (accepted % 64 == 0) {
      std::this_thread::yield();
    }
  }
  EXPECT_TRUE(s->closed());
  EXPECT_TRUE(stream_closed.wait());
  EXPECT_LE(s->queued(), 64u * 1024) << "what waits for a client is bounded";
  // The client sees the body cut short: no last chunk before the connection ends.
  std::string got = c.read_to_end();
  EXPECT_EQ(got.find("\r\n0\r\n\r\n"), std::string::npos);
}

TEST_F(StreamingServer, ALongPollLearnsThatItsClientLeft) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send("GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(held.wait_requests(1));
  EXPECT_FALSE(poll_cancelled.is_set());
  c.close();
  ASSERT_TRUE(poll_cancelled.wait());
  std::lock_guard lock(held.mu);
  EXPECT_TRUE(held.reply->cancelled());
}

TEST_F(StreamingServer, APipelinedRequestWaitsForTheLongPollBeforeIt) {
  start();
  Client c(port);
  ASSERT_TRUE(
      c.send("GET /poll HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(held.wait_requests(1));
  {
    std::lock_guard lock(held.mu);
    EXPECT_FALSE(held.reply->cancelled()) << "more requests are not a departure";
    (*held.reply)(Response::text(200, "news\n"));
  }
  std::string first = c.read_until("news\n");
  EXPECT_NE(first.find("200 OK"), std::string::npos);
  EXPECT_NE(c.read_until("plain\n").find("200 OK"), std::string::npos);
  EXPECT_FALSE(poll_cancelled.is_set());
}

TEST_F(StreamingServer, DrainEndsStreamsAndAnswersLongPolls) {
  start();
  Client events(port);
  Client poll(port);
  ASSERT_NO_FATAL_FAILURE(open_stream_and_poll(events, poll));
  ASSERT_TRUE(stream()->write(sse_event("last")));

  server->drain();
  // The long poll is answered now, and the stream ends after what was written, cleanly.
  EXPECT_TRUE(poll_cancelled.wait());
  std::string answer = poll.read_to_end();
  EXPECT_NE(answer.find("nothing new"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  std::string body = events.read_to_end();
  EXPECT_NE(body.find("data: last\n\n\r\n0\r\n\r\n"), std::string::npos) << body;
  EXPECT_TRUE(stream_closed.wait()) << "the producer is told to stop";
  EXPECT_TRUE(eventually([&] { return server->in_flight() == 0; }));
}

TEST_F(StreamingServer, StopClosesStreamsAndLongPollsWithTheirConnections) {
  start();
  Client events(port);
  Client poll(port);
  ASSERT_NO_FATAL_FAILURE(open_stream_and_poll(events, poll));
  server->stop();
  EXPECT_TRUE(stream_closed.wait());
  EXPECT_TRUE(poll_cancelled.wait());
  // Nothing keeps their connections open: both clients see them end.
  EXPECT_TRUE(events.closed_by_server());
  EXPECT_TRUE(poll.closed_by_server());
}

TEST_F(StreamingServer, AnHttp10StreamEndsWithTheConnection) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send("GET /events HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(held.wait_requests(1));
  ASSERT_TRUE(stream()->write("raw bytes"));
  stream()->end();
  std::string got = c.read_to_end();
  EXPECT_NE(got.find("HTTP/1.0 200 OK\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("Transfer-Encoding"), std::string::npos) << got;
  EXPECT_NE(got.find("Connection: close\r\n"), std::string::npos) << got;
  EXPECT_TRUE(got.ends_with("\r\n\r\nretry: 1000\n\nraw bytes")) << got;
}

TEST_F(StreamingServer, AHeadRequestGetsTheHeadAndTheStreamCloses) {
  start();
  Client c(port);
  ASSERT_TRUE(c.send("HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string head = c.read_until("\r\n\r\n");
  EXPECT_NE(head.find("200 OK"), std::string::npos) << head;
  EXPECT_TRUE(stream_closed.wait());
  ASSERT_TRUE(c.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(c.read_until("plain\n").find("HTTP/1.1 200 OK"), std::string::npos)
      << "no body followed the head";
}

TEST(SseEvent, FramesEveryLineOfTheData) {
  EXPECT_EQ(sse_event("a"), "data: a\n\n");
  EXPECT_EQ(sse_event("a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(sse_event("x", "leader", "7"), "event: leader\nid: 7\ndata: x\n\n");
  EXPECT_EQ(sse_event("x", "ev\nil", "1\r2"), "event: ev il\nid: 1 2\ndata: x\n\n");
  EXPECT_EQ(sse_event(""), "data: \n\n");
  EXPECT_EQ(sse_event("end\n"), "data: end\n\n");
}

TEST(ReplyStream, TheFirstAnswerWinsAndAStreamCountsAsOne) {
  int answers = 0;
  Response got;
  Reply reply([&](Response r) {
    ++answers;
    got = std::move(r);
  });
  auto stream = reply.stream(Response::text(200, "first"));
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(got.stream, stream);
  EXPECT_EQ(reply.stream(Response{}), nullptr);
  reply(Response::text(500, "late"));
  EXPECT_EQ(answers, 1);
}

TEST(ReplyCancel, IsCalledOnceAndNotAfterAnAnswer) {
  int cancels = 0;
  {
    Reply reply([](Response) {});
    auto cancel = reply.canceller();
    reply.on_cancel([&] { ++cancels; });
    cancel();
    cancel();
    EXPECT_TRUE(reply.cancelled());
    reply.on_cancel([&] { ++cancels; });  // registered late: called at once
  }
  EXPECT_EQ(cancels, 2);

  int after_answer = 0;
  Reply answered([](Response) {});
  answered.on_cancel([&] { ++after_answer; });
  answered(Response::text(200, "done"));
  answered.canceller()();
  EXPECT_EQ(after_answer, 0);
}

TEST(ReplyCancel, ACancellerDoesNotKeepTheReplyAlive) {
  int status = 0;
  std::function<void()> cancel;
  {
    Reply reply([&](Response r) { status = r.status; });
    cancel = reply.canceller();
  }
  EXPECT_EQ(status, 500) << "dropping every Reply still answers";
  cancel();  // harmless
}

}  // namespace
}  // namespace tender
