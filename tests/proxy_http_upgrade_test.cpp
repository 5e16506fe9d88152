// `tender proxy` passing WebSocket upgrades through: tunnels, half-closes, idle timeouts.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <csignal>
#include <map>
#include <mutex>
#include <thread>

#include "proxy_support.hpp"

namespace tender::testing {
namespace {

// A WebSocket echo server of python3-websockets (tests/ws_peer.py) on a free port.
class WebSocketServer {
 public:
  WebSocketServer() {
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_port();
      SpawnOptions o;
      o.argv = {"/usr/bin/python3", TENDER_TESTS_DIR "/ws_peer.py", "serve", std::to_string(port_)};
      o.stdout_ = Stdio::null();
      auto p = Process::spawn(o);
      if (!p) {
        throw std::runtime_error("cannot start ws_peer.py: " + p.error().message());
      }
      process_.emplace(std::move(*p));
      if (!eventually([&] { return !connect_refused(port_); }, 10s)) {
        process_.reset();
      }
    }
    if (!process_) {
      throw std::runtime_error("the WebSocket server did not start");
    }
  }
  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_ = 0;
  std::optional<Process> process_;
};

TEST_F(ProxyTest, HttpWebSocketRoundTripsThroughTheProxy) {
  // python3-websockets at both ends: the real handshake, masked frames, messages from one byte
  // to 300 KB, a message from the server first, and a clean close.
  WebSocketServer server;
  start(one_endpoint_http(server.port()), {"--workers", "1"});
  std::string url = "ws://127.0.0.1:" + std::to_string(proxy_->port("front")) + "/chat";
  RunResult r =
      run_command({"/usr/bin/python3", TENDER_TESTS_DIR "/ws_peer.py", "client", url}, "", 60s);
  EXPECT_TRUE(r.status.success()) << r.out << r.err;
  EXPECT_EQ(r.out, "ok\n") << r.err;
}

TEST_F(ProxyTest, HttpUpgradeTunnelCarriesEarlyBytesAndHalfCloses) {
  // The server answers 101 with its first bytes in the same write, reads until the proxy
  // passes on the client's half-close, then answers with everything it got and closes.
  std::string head_seen;
  RawServer upstream([&](int fd) {
    head_seen = read_head(fd);
    std::string got = head_seen.substr(head_seen.find("\r\n\r\n") + 4);  // bytes after the head
    write_all(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nX-Server: s\r\n\r\nserver-first;");
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
    write_all(fd, "got:" + got);
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  // Bytes for the new protocol right behind the request head, in the same write.
  ASSERT_TRUE(
      c.send("GET /t HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
             "Upgrade: websocket\r\n\r\nearly;"));
  std::string head = c.read_until("\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 101 ", 0), 0U) << head;
  EXPECT_NE(head.find("Upgrade: websocket\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: Upgrade\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Server: s\r\n"), std::string::npos) << head;
  EXPECT_EQ(c.read_until(";"), "server-first;");
  ASSERT_TRUE(c.send("more;"));
  c.shutdown_send();
  EXPECT_EQ(c.read_until("never"), "got:early;more;");
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_NE(head_seen.find("Connection: Upgrade\r\nUpgrade: websocket\r\n"), std::string::npos)
      << head_seen;
  EXPECT_NE(head_seen.find("X-Forwarded-For: 127.0.0.1\r\n"), std::string::npos) << head_seen;
  // Every byte to and from the server counted once: the request head and the client's bytes;
  // the 101 head with the bytes that came with it, and the server's last answer.
  std::size_t up_head = head_seen.find("\r\n\r\n") + 4;
  std::string sent = std::to_string(up_head + std::string("early;more;").size());
  std::string received = std::to_string(
      std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nX-Server: s\r\n\r\nserver-first;got:early;more;")
          .size());
  std::string ep = "endpoint=\"127.0.0.1:" + std::to_string(upstream.port()) + "\"";
  std::string metrics;
  EXPECT_TRUE(eventually(
      [&] {
        metrics = proxy_metrics();
        return metrics.find("{cluster=\"up\"," + ep + ",direction=\"sent\"} " + sent + "\n") !=
                   std::string::npos &&
               metrics.find("{cluster=\"up\"," + ep + ",direction=\"received\"} " + received +
                            "\n") != std::string::npos;
      },
      5s))
      << "want sent " << sent << ", received " << received << "\n"
      << metrics;
}

TEST_F(ProxyTest, HttpUpgradeDeclinedIsAnOrdinaryResponse) {
  // A server that does not switch answers 200: the client gets it, and its connection carries
  // the next request as usual. An h2c upgrade is not passed on at all (after it, the client
  // could send the server requests that routing never saw).
  RawServer upstream([](int fd) {
    for (int i = 0; i < 4; ++i) {
      std::string got = read_head(fd);
      if (got.empty()) {
        return;
      }
      std::string body = got.find("Upgrade: ") != std::string::npos ? "asked" : "plain";
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body);
    }
  });
  start(one_endpoint_http(upstream.port()), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(
      c.send(request_bytes("GET", "/ws", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}})));
  HttpResult declined = c.read_response();
  EXPECT_EQ(declined.status, 200);
  EXPECT_EQ(declined.body, "asked");
  ASSERT_TRUE(c.send(request_bytes(
      "GET", "/h2", {{"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"}})));
  HttpResult h2c = c.read_response();
  EXPECT_EQ(h2c.status, 200);
  EXPECT_EQ(h2c.body, "plain");
  // A WebSocket handshake is a GET (RFC 6455): a POST asking for one goes as it is, without.
  ASSERT_TRUE(c.send(
      request_bytes("POST", "/ws", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, "body")));
  HttpResult post = c.read_response();
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, "plain");
  ASSERT_TRUE(c.send(request_bytes("GET", "/next")));
  HttpResult next = c.read_response();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "plain");
}

TEST_F(ProxyTest, HttpUpgradeToAnotherProtocolThanAskedIsA502) {
  RawServer upstream([](int fd) {
    read_head(fd);
    write_all(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  HttpResult r = http(proxy_->port("front"), "GET", "/ws",
                      {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("something else than websocket"), std::string::npos) << r.body;
}

TEST_F(ProxyTest, HttpUpgradeTunnelEndsAfterIdleTimeout) {
  // The 101 comes alone; one exchange of bytes follows, then nothing.
  static constexpr std::string_view k101 =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  std::atomic<bool> server_saw_end{false};
  std::atomic<std::size_t> up_head{0};
  RawServer upstream([&](int fd) {
    up_head = read_head(fd).size();
    write_all(fd, std::string(k101));
    char buf[64];
    while (::read(fd, buf, sizeof buf) > 0) {
      write_all(fd, "x");
    }
    server_saw_end = true;
  });
  start(one_endpoint_http(upstream.port(), ", idle_timeout: 300ms"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(
      c.send(request_bytes("GET", "/", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}})));
  EXPECT_EQ(c.read_until("\r\n\r\n").rfind("HTTP/1.1 101 ", 0), 0U);
  ASSERT_TRUE(c.send("go"));
  EXPECT_EQ(c.read_until("x"), "x");
  // Nothing moves either way: the proxy ends both sides.
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_TRUE(eventually([&] { return server_saw_end.load(); }, 10s));
  // Bytes read after the 101 count too.
  std::string ep = "{cluster=\"up\",endpoint=\"127.0.0.1:" + std::to_string(upstream.port()) + "\"";
  std::string metrics = proxy_metrics();
  EXPECT_NE(metrics.find(ep + ",direction=\"received\"} " + std::to_string(k101.size() + 1) + "\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(ep + ",direction=\"sent\"} " + std::to_string(up_head + 2) + "\n"),
            std::string::npos)
      << metrics;
}

TEST_F(ProxyTest, HttpUpgradeTunnelKeepsASlowReader) {
  // After its 101 the server sends 192 KiB at once, then answers "ping" with "pong".
  static constexpr std::size_t kBulk = 192 * 1024;
  static constexpr std::string_view k101 =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  RawServer upstream([](int fd) {
    read_head(fd);
    write_all(fd, std::string(k101) + std::string(kBulk, 'b'));
    while (read_until(fd, "ping")) {
      write_all(fd, "pong");
    }
  });
  start(one_endpoint_http(upstream.port(), ", idle_timeout: 500ms"), {"--workers", "1"});
  // The client reads the whole over about 1.5 s, far longer than idle_timeout, with a
  // window small enough that the proxy's write waits for it all along: that is not idle.
  int fd = connect_loopback(proxy_->port("front"), 15s, 4096);
  ASSERT_GE(fd, 0);
  write_all(fd, request_bytes("GET", "/", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}}));
  EXPECT_TRUE(read_slowly(fd, k101.size() + kBulk));
  write_all(fd, "ping");
  EXPECT_TRUE(read_until(fd, "pong"));
  ::close(fd);
}

}  // namespace
}  // namespace tender::testing
