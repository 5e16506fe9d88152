// `tender proxy` as an HTTP/1.1 proxy, with `tender echo` and raw backends on 127.0.0.1.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "proxy_support.hpp"

namespace tender::testing {
namespace {

TEST_F(ProxyTest, HttpRoundRobinOverKeepAliveSpreadsEvenly) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  Tender b3(echo_args({"--id", "b3"}));
  start(http_config({&b1, &b2, &b3}, "", ""), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c.send(request_bytes("GET", "/x?i=" + std::to_string(i))));
    HttpResult r = c.read_response();
    ASSERT_EQ(r.status, 200) << r.body;
    auto v = json::parse(r.body);
    ++seen[std::string(v.at("id").as_string())];
    // The client's address reaches the backend.
    EXPECT_EQ(v.at("headers").at("x-forwarded-for").as_string(), "127.0.0.1");
  }
  // Turned off, io_uring is not used (where it is on, the kernel decides).
  auto status = json::parse(http(proxy_->port("admin"), "GET", "/statusz").body).at("status");
  if (const char* env = std::getenv("TENDER_IO_URING");
      env != nullptr && std::string(env) == "off") {
    EXPECT_FALSE(status.at("io_uring").as_bool());
  }
  EXPECT_EQ(seen["b1"], 10);
  EXPECT_EQ(seen["b2"], 10);
  EXPECT_EQ(seen["b3"], 10);
}

TEST_F(ProxyTest, HttpBackendKilledMidRunIsRetriedEjectedAndReadmitted) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  std::optional<Tender> b3;
  b3.emplace(echo_args({"--id", "b3"}));
  std::uint16_t b3_port = b3->port("listen");
  start(
      http_config({&b1, &b2, &*b3}, "",
                  "    health_check: {type: http, path: /healthz, interval: 200ms, timeout: 200ms, "
                  "unhealthy_threshold: 2, healthy_threshold: 1}\n"
                  "    outlier: {consecutive_failures: 2, base_ejection: 30s}\n"),
      {"--workers", "1"});
  // The admin port of an echo is its own; /healthz on the listen port is echoed with 200 too.
  Connection c(proxy_->port("front"));
  for (int i = 0; i < 200; ++i) {
    if (i == 50) {
      b3->signal(SIGKILL);
      (void)b3->wait_exit();
    }
    ASSERT_TRUE(c.send(request_bytes("GET", "/x")));
    HttpResult r = c.read_response();
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.body;
  }
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 2);
    return e.at("ejected").as_bool() || e.at("health").as_string() == "unhealthy";
  }));
  b3.reset();
  Tender revived({"echo", "--listen", "127.0.0.1:" + std::to_string(b3_port), "--admin",
                  "127.0.0.1:0", "--id", "revived"});
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 2);
    return !e.at("ejected").as_bool() && e.at("health").as_string() == "healthy";
  }));
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c.send(request_bytes("GET", "/x")));
    HttpResult r = c.read_response();
    ASSERT_EQ(r.status, 200);
    ++seen[std::string(json::parse(r.body).at("id").as_string())];
  }
  // Back in the rotation (a third of the requests while nothing changes; a health check that
  // times out on a loaded machine may rebuild the rotation in between).
  EXPECT_GE(seen["revived"], 5) << seen["revived"];
  // The requests that met the dead backend were retried, not failed.
  auto metrics = proxy_metrics();
  std::string key = "tender_proxy_cluster_retries_total{cluster=\"web\"} ";
  auto at = metrics.find(key);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stod(metrics.substr(at + key.size())), 1.0);
}

TEST_F(ProxyTest, HttpCircuitBreakerAnswersTheExcessWith503) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", "    limits: {max_requests: 2}\n"), {"--workers", "1"});
  std::uint16_t front = proxy_->port("front");
  std::vector<std::thread> slow;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back([&] {
      if (http(front, "GET", "/slow?delay_ms=3000").status == 200) {
        ++ok;
      }
    });
  }
  ASSERT_TRUE(eventually([&] {
    auto all = clusters();
    return all.at("clusters").at(0).at("active_requests").to_number<int>() == 2;
  }));
  HttpResult excess = http(front, "GET", "/fast");
  EXPECT_EQ(excess.status, 503);
  EXPECT_NE(excess.body.find("max_requests"), std::string::npos) << excess.body;
  // Refused while the two slow ones are still in flight: it did not wait for them.
  EXPECT_EQ(ok.load(), 0);
  for (auto& t : slow) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 2);
  auto metrics = proxy_metrics();
  EXPECT_NE(
      metrics.find("tender_proxy_cluster_overflow_total{cluster=\"web\",breaker=\"requests\"} 1"),
      std::string::npos);
}

TEST_F(ProxyTest, HttpTimeoutsAnswer504) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "    timeout: 400ms\n    per_try_timeout: 150ms\n", ""),
        {"--workers", "1"});
  HttpResult r = http(proxy_->port("front"), "GET", "/slow?delay_ms=2000");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("timed out"), std::string::npos) << r.body;
  // The proxy still serves.
  EXPECT_EQ(http(proxy_->port("front"), "GET", "/").status, 200);
}

TEST_F(ProxyTest, HttpRequestsWaitForAConnectionWithinMaxPending) {
  Tender b1(echo_args({"--id", "b1"}));
  // Two workers: a waiting request may be on the worker that frees the connection or not.
  start(http_config({&b1}, "", "    limits: {max_connections: 1, max_pending: 3}\n"),
        {"--workers", "2"});
  std::uint16_t front = proxy_->port("front");
  auto cluster_field = [&](const char* field) {
    return first_cluster().at(field).to_number<int>();
  };
  std::atomic<int> done{0};
  std::thread slow([&] {
    EXPECT_EQ(http(front, "GET", "/slow?delay_ms=1500").status, 200);
    ++done;
  });
  ASSERT_TRUE(eventually([&] { return cluster_field("active_requests") == 1; }));
  // Three more wait for the one connection the cluster may open.
  std::vector<std::thread> waiting;
  for (int i = 0; i < 3; ++i) {
    waiting.emplace_back([&, i] {
      HttpResult r = http(front, "GET", "/fast?i=" + std::to_string(i));
      EXPECT_EQ(r.status, 200) << r.body;
      ++done;
    });
  }
  ASSERT_TRUE(eventually([&] { return cluster_field("pending_requests") == 3; }));
  // A fourth finds max_pending full: refused at once, while the others still wait.
  HttpResult excess = http(front, "GET", "/excess");
  EXPECT_EQ(excess.status, 503);
  EXPECT_NE(excess.body.find("max_pending"), std::string::npos) << excess.body;
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(cluster_field("pending_requests"), 3);
  // Once the slow one gives the connection up, the waiting ones are served over it.
  slow.join();
  for (auto& t : waiting) {
    t.join();
  }
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(cluster_field("pending_requests"), 0);
  auto eps = first_cluster().at("endpoints").as_array();
  EXPECT_LE(eps.at(0).at("connections").to_number<int>(), 1);
  EXPECT_EQ(
      proxy_metric("tender_proxy_cluster_overflow_total{cluster=\"web\",breaker=\"pending\"}"),
      1.0);
}

TEST_F(ProxyTest, HttpRequestWaitingForAConnectionTimesOutWith504) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "    timeout: 300ms\n", "    limits: {max_connections: 1}\n"),
        {"--workers", "1"});
  std::uint16_t front = proxy_->port("front");
  // An upload that stalls halfway holds the one connection (its timeout runs from the end of
  // its body, which does not come).
  Connection upload(front);
  ASSERT_TRUE(upload.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                          std::string(100'000, 'u')));
  ASSERT_TRUE(eventually([&] {
    auto e = first_cluster().at("endpoints").at(0);
    return e.at("connections").to_number<int>() == 1;
  }));
  HttpResult r = http(front, "GET", "/fast");
  EXPECT_EQ(r.status, 504);
  EXPECT_NE(r.body.find("no connection of cluster web came free"), std::string::npos) << r.body;
  // The endpoint is not blamed for the wait.
  auto e = first_cluster().at("endpoints").at(0);
  EXPECT_EQ(e.at("ejected").as_bool(), false);
}

TEST_F(ProxyTest, HttpRoutesByPrefixAndHost) {
  Tender web(echo_args({"--id", "web"}));
  Tender api(echo_args({"--id", "api"}));
  Tender admin(echo_args({"--id", "admin"}));
  auto ep = [](const Tender& t) {
    return "[\"127.0.0.1:" + std::to_string(t.port("listen")) + "\"]";
  };
  start(
      "listeners:\n"
      "  - name: front\n"
      "    listen: \"127.0.0.1:0\"\n"
      "    protocol: http\n"
      "    routes:\n"
      "      - {prefix: /, host: admin.example, cluster: admin}\n"
      "      - {prefix: /api/, cluster: api}\n"
      "      - {prefix: /, cluster: web}\n"
      "clusters:\n"
      "  - {name: web, endpoints: " +
      ep(web) +
      "}\n"
      "  - {name: api, endpoints: " +
      ep(api) +
      "}\n"
      "  - {name: admin, endpoints: " +
      ep(admin) + "}\n");
  std::uint16_t front = proxy_->port("front");
  auto id = [&](const std::string& target, const std::string& host) {
    auto r = http(front, "GET", target, {{"Host", host}});
    return r.status == 200 ? std::string(json::parse(r.body).at("id").as_string()) : "";
  };
  EXPECT_EQ(id("/api/users", "x.example"), "api");
  EXPECT_EQ(id("/apiary", "x.example"), "web");
  EXPECT_EQ(id("/api/users", "ADMIN.example:8080"), "admin");
  EXPECT_EQ(id("/", "x.example"), "web");
}

TEST_F(ProxyTest, HttpMalformedRequestIs400AndOthersAreServed) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", ""));
  Connection bad(proxy_->port("front"));
  ASSERT_TRUE(bad.send("GARBAGE\r\n\r\n"));
  HttpResult r = bad.read_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(bad.closed_by_peer(5s));
  EXPECT_EQ(http(proxy_->port("front"), "GET", "/").status, 200);
}

TEST_F(ProxyTest, HttpBodiesStreamBothWays) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", ""), {"--workers", "1"});
  auto front = proxy_->port("front");
  // 1 MiB each way: larger than what is buffered for retries, so it streams.
  std::string big(1 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) {
    big[i] = static_cast<char>('a' + (i / 4096) % 26);
  }
  HttpResult r = http(front, "POST", "/upload", {}, big);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("body").as_string(), big);

  // A chunked request body reaches the backend whole; the connection then serves another.
  Connection c(front);
  ASSERT_TRUE(
      c.send("POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n"));
  ASSERT_TRUE(c.send("7;x=y\r\n, world\r\n0\r\n\r\n"));
  r = c.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("body").as_string(), "hello, world");
  ASSERT_TRUE(c.send(request_bytes("GET", "/again")));
  EXPECT_EQ(c.read_response().status, 200);

  // Expect: 100-continue gets its interim answer before the body is sent.
  Connection e(front);
  ASSERT_TRUE(
      e.send("PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
             "Content-Length: 4\r\n\r\n"));
  EXPECT_EQ(e.read_response().status, 100);
  ASSERT_TRUE(e.send("data"));
  r = e.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("body").as_string(), "data");
  EXPECT_EQ(json::parse(r.body).at("headers").as_object().count("expect"), 0U);
}

TEST_F(ProxyTest, HttpChunkedRequestTrailersArePassedOn) {
  // Answers with the request body exactly as it arrived (chunked, trailers included).
  RawServer upstream([](int fd) {
    std::string got = read_request(fd);
    std::string body = got.substr(got.find("\r\n\r\n") + 4);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n\r\n" + body);
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(
      c.send("POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
             "0\r\nX-Checksum: abc\r\nContent-Length: 99\r\nX-Other:  two words \r\n\r\n"));
  HttpResult r = c.read_response();
  EXPECT_EQ(r.status, 200);
  // Re-encoded as read here; the trailer that would change framing is not passed on.
  EXPECT_EQ(r.body, "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: two words\r\n\r\n");

  Connection bad(proxy_->port("front"));
  ASSERT_TRUE(bad.send(
      "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n"));
  HttpResult refused = bad.read_response();
  EXPECT_EQ(refused.status, 400);
}

TEST_F(ProxyTest, HttpHeadAndHttp10Clients) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "", ""), {"--workers", "1"});
  auto front = proxy_->port("front");
  Connection c(front);
  ASSERT_TRUE(c.send(request_bytes("GET", "/same")));
  HttpResult get = c.read_response();
  ASSERT_EQ(get.status, 200);
  // HEAD keeps the Content-Length a GET would have, sends no body, and the connection goes on.
  ASSERT_TRUE(c.send(request_bytes("HEAD", "/same")));
  HttpResult head = c.read_response(true);
  ASSERT_EQ(head.status, 200);
  EXPECT_FALSE(head.header("content-length").empty());
  ASSERT_TRUE(c.send(request_bytes("GET", "/after-head")));
  HttpResult after = c.read_response();
  ASSERT_EQ(after.status, 200);
  EXPECT_EQ(json::parse(after.body).at("path").as_string(), "/after-head");

  // HTTP/1.0 closes after the answer unless it asks for keep-alive.
  Connection old(front);
  ASSERT_TRUE(old.send("GET /one HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(old.read_response().status, 200);
  EXPECT_TRUE(old.closed_by_peer(5s));
  Connection kept(front);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(kept.send("GET /two HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    HttpResult r = kept.read_response();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "keep-alive");
  }
}

TEST_F(ProxyTest, HttpConnectionIsNotReusedAfterHead) {
  // Wrongly sends a body after its answer to HEAD, late: a proxy that went on using the
  // connection would read "stale" as the next answer.
  RawServer upstream([](int fd) {
    std::string got = read_head(fd);
    if (got.rfind("HEAD", 0) == 0) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
      got = read_head(fd);  // empty: the proxy closed the connection, as it should
      if (!got.empty()) {
        write_all(fd, "stale");
      }
    }
    if (!got.empty()) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfresh");
    }
  });
  start(one_endpoint_http(upstream.port(), ", retries: 0"), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(c.send(request_bytes("HEAD", "/h")));
  HttpResult head = c.read_response(true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "5");
  ASSERT_TRUE(c.send(request_bytes("GET", "/g")));
  HttpResult get = c.read_response();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "fresh");
  EXPECT_GE(upstream.closed(), 1);  // the HEAD's connection, closed by the proxy
}

TEST_F(ProxyTest, HttpConnectCutShortByTheTryAnswers504) {
  BlackHole hole;
  std::string unreachable_list = "[\"127.0.0.1:" + std::to_string(hole.port()) + "\"]";
  // The same unreachable endpoint behind a long connect timeout cut short by the try's time
  // (504, the proxy gave up), and behind a short connect timeout (502, unreachable).
  start(
      "listeners:\n"
      "  - {name: short_try, listen: \"127.0.0.1:0\", protocol: http, cluster: patient,\n"
      "     retries: 0, per_try_timeout: 200ms}\n"
      "  - {name: short_connect, listen: \"127.0.0.1:0\", protocol: http, cluster: hasty,\n"
      "     retries: 0}\n"
      "clusters:\n"
      "  - {name: patient, connect_timeout: 10s, endpoints: " +
          unreachable_list +
          "}\n"
          "  - {name: hasty, connect_timeout: 100ms, endpoints: " +
          unreachable_list + "}\n",
      {"--workers", "1"});
  HttpResult cut = http(proxy_->port("short_try"), "GET", "/");
  EXPECT_EQ(cut.status, 504) << cut.body;
  EXPECT_NE(cut.body.find("timed out"), std::string::npos) << cut.body;
  HttpResult unreachable = http(proxy_->port("short_connect"), "GET", "/");
  EXPECT_EQ(unreachable.status, 502) << unreachable.body;
}

TEST_F(ProxyTest, HttpRequestHeadMustArriveWithinIdleTimeoutOfItsFirstByte) {
  Tender b1(echo_args({"--id", "b1"}));
  start(http_config({&b1}, "    idle_timeout: 500ms\n", ""), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  // A byte every 100 ms keeps each read well within idle_timeout, but not the head as a whole.
  int sent = 0;
  bool closed = false;
  while (!closed && sent < 40) {
    closed = !c.send("a") || c.closed_by_peer(100ms);
    ++sent;
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, 20);  // closed about 0.5 s in, not after 4 s of trickling
}

TEST_F(ProxyTest, HttpUpstreamFramingsAndGarbage) {
  // Answers by path: /chunked (chunked, after a 103), /close (no length: read until close),
  // anything else with bytes that are not HTTP.
  RawServer upstream([](int fd) {
    std::string got = read_head(fd);
    if (got.empty()) {
      return;
    }
    if (got.rfind("GET /chunked", 0) == 0) {
      write_all(fd,
                "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n");
    } else if (got.rfind("GET /close", 0) == 0) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    } else {
      write_all(fd, "SMTP ready, not HTTP\r\n\r\n");
    }
  });
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: http, cluster: raw, retries: 0}\n"
      "clusters:\n"
      "  - name: raw\n"
      "    endpoints: [\"127.0.0.1:" +
          std::to_string(upstream.port()) +
          "\"]\n"
          "    outlier: {consecutive_failures: 1000}\n",
      {"--workers", "1"});
  auto front = proxy_->port("front");
  Connection c(front);
  ASSERT_TRUE(c.send(request_bytes("GET", "/chunked")));
  std::string chunked = c.read_until("0\r\n\r\n");
  EXPECT_EQ(chunked.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << chunked;  // the 103 is not passed on
  EXPECT_NE(chunked.find("\r\n\r\n4\r\nWiki\r\n6\r\npedia \r\n0\r\n\r\n"), std::string::npos)
      << chunked;
  ASSERT_TRUE(c.send(request_bytes("GET", "/chunked")));  // the client connection goes on
  EXPECT_NE(c.read_until("0\r\n\r\n").find("pedia"), std::string::npos);

  // An HTTP/1.0 client gets the chunked body decoded, ended by closing.
  Connection old(front);
  ASSERT_TRUE(old.send("GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  std::string decoded = old.read_until("\n\n\n");  // nothing like it: reads until closed
  EXPECT_NE(decoded.find("Connection: close\r\n"), std::string::npos) << decoded;
  EXPECT_EQ(decoded.substr(decoded.find("\r\n\r\n") + 4), "Wikipedia ");

  // A body that runs until the server closes reaches the client, which is closed after it.
  Connection until(front);
  ASSERT_TRUE(until.send(request_bytes("GET", "/close")));
  std::string all = until.read_until("\n\n\n");
  EXPECT_EQ(all.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << all;
  EXPECT_EQ(all.substr(all.find("\r\n\r\n") + 4), "until the end");

  // Garbage from the upstream is a 502 for that request; the proxy goes on serving.
  HttpResult bad = http(front, "GET", "/garbage");
  EXPECT_EQ(bad.status, 502);
  EXPECT_NE(bad.body.find("malformed"), std::string::npos) << bad.body;
  ASSERT_TRUE(c.send(request_bytes("GET", "/chunked")));
  EXPECT_NE(c.read_until("0\r\n\r\n").find("Wiki"), std::string::npos);
  EXPECT_EQ(http(proxy_->port("admin"), "GET", "/healthz").status, 200);
}

TEST_F(ProxyTest, HttpStreamedBodiesAreSafe) {
  // Answers every request with what it received, then closes the connection: the proxy's
  // pooled connection is dead by the next request.
  RawServer upstream([](int fd) {
    std::string got = read_request(fd);
    if (!got.empty()) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(got.size()) +
                        "\r\n\r\n" + got);
    }
  });
  start(one_endpoint_http(upstream.port(), ", timeout: 500ms"), {"--workers", "1"});
  auto front = proxy_->port("front");
  // A streamed PUT (over 64 KiB) after the pooled connection died: sent on a fresh one.
  ASSERT_EQ(http(front, "GET", "/first").status, 200);
  ASSERT_TRUE(eventually([&] { return upstream.closed() == 1; }));
  std::string big(100 * 1024, 'p');
  HttpResult put = http(front, "PUT", "/big", {}, big);
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_NE(put.body.find(big), std::string::npos);
  ASSERT_TRUE(eventually([&] { return upstream.closed() == 2; }));

  // A chunked body goes on re-encoded: no extensions, CRLF only, its trailer passed on.
  Connection c(front);
  ASSERT_TRUE(
      c.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"));
  HttpResult chunked = c.read_response();
  ASSERT_EQ(chunked.status, 200);
  EXPECT_NE(chunked.body.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(chunked.body.find("\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), std::string::npos)
      << chunked.body;
  EXPECT_EQ(chunked.body.find("ext"), std::string::npos);
  ASSERT_TRUE(eventually([&] { return upstream.closed() == 3; }));

  // A chunk line ended by a bare LF is refused, not passed on for the upstream to read its way.
  Connection bad(front);
  ASSERT_TRUE(
      bad.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\nabc\r\n0\r\n\r\n"));
  EXPECT_EQ(bad.read_response().status, 400);

  // A client slower than `timeout` to send its body: the time is the client's, not the
  // upstream's, and the endpoint is not charged a timeout.
  Connection slow(front);
  ASSERT_TRUE(slow.send("PUT /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" +
                        std::string(70000, 's')));
  std::this_thread::sleep_for(800ms);  // the pause under test, longer than `timeout`
  EXPECT_TRUE(slow.send(std::string(30000, 's')));
  HttpResult sr = slow.read_response();
  EXPECT_EQ(sr.status, 200) << sr.body;
  std::string metrics = proxy_metrics();
  auto at = metrics.find("tender_proxy_upstream_errors_total{cluster=\"up\"");
  ASSERT_NE(at, std::string::npos);
  std::string errors = metrics.substr(at, metrics.find("\n# ", at) - at) + "\n";
  for (const char* kind : {"timeout", "reset", "protocol"}) {
    EXPECT_NE(errors.find("kind=\"" + std::string(kind) + "\"} 0\n"), std::string::npos) << errors;
  }
}

TEST_F(ProxyTest, HttpPooledConnectionsToEndpointsThatLeftAreClosed) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  auto line = [](const Tender& b) {
    return "127.0.0.1:" + std::to_string(b.port("listen")) + "\n";
  };
  std::string list = dir_.write("web.txt", line(b1) + line(b2));
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: http, cluster: web}\n"
      "clusters:\n"
      "  - {name: web, file: \"" +
          list + "\"}\n",
      {"--workers", "1"});
  // A backend's open connections, from its own metrics.
  auto open = [](const Tender& b) {
    std::string m = http(b.port("admin"), "GET", "/metrics").body;
    auto at = m.find("\ntender_echo_http_connections ");
    return at == std::string::npos ? -1.0 : std::stod(m.substr(at + 30));
  };
  Connection c(proxy_->port("front"));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(c.send(request_bytes("GET", "/")));
    ASSERT_EQ(c.read_response().status, 200);
  }
  ASSERT_TRUE(eventually([&] { return open(b2) >= 1; }));
  dir_.write("web.txt", line(b1));
  auto admin = proxy_->port("admin");
  ASSERT_TRUE(eventually([&] {
    auto cs = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
    return cs.at(0).at("endpoints").as_array().size() == 1;
  }));
  ASSERT_TRUE(c.send(request_bytes("GET", "/")));  // the next request to the cluster prunes
  auto r = c.read_response();
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("id").as_string(), "b1");
  EXPECT_TRUE(eventually([&] { return open(b2) == 0; }));
}

// A cluster hashed by a key (hash_on) shards: a request whose key belongs to a backend that is
// down is refused, not served by another backend that does not have its data.
TEST_F(ProxyTest, HttpKeyHashedClusterKeepsKeysWithTheirBackend) {
  Tender b1(echo_args({"--id", "b1"}));
  std::optional<Tender> b2;
  b2.emplace(echo_args({"--id", "b2"}));
  start(http_config({&b1, &*b2}, "",
                    "    policy: ring_hash\n"
                    "    hash_on: header:X-Shard-Key\n"
                    "    health_check: {type: http, path: /healthz, interval: 100ms, timeout: "
                    "100ms, unhealthy_threshold: 1}\n"),
        {"--workers", "1"});
  std::uint16_t front = proxy_->port("front");
  auto id_for = [&](const std::string& key) {
    auto r = http(front, "GET", "/x", {{"X-Shard-Key", key}});
    return r.status == 200 ? std::string(json::parse(r.body).at("id").as_string())
                           : std::to_string(r.status);
  };
  std::string on_b1;
  std::string on_b2;
  for (int i = 0; i < 200 && (on_b1.empty() || on_b2.empty()); ++i) {
    std::string k = "user-" + std::to_string(i);
    std::string id = id_for(k);
    (id == "b1" ? on_b1 : on_b2) = k;
    EXPECT_EQ(id_for(k), id) << "a key always goes to the same backend";
  }
  ASSERT_FALSE(on_b1.empty());
  ASSERT_FALSE(on_b2.empty());
  b2->signal(SIGKILL);
  (void)b2->wait_exit();
  ASSERT_TRUE(
      eventually([&] { return endpoint("web", 1).at("health").as_string() == "unhealthy"; }));
  auto refused = http(front, "GET", "/x", {{"X-Shard-Key", on_b2}});
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("is down"), std::string::npos) << refused.body;
  EXPECT_EQ(id_for(on_b1), "b1");
  EXPECT_FALSE(first_cluster().at("auto_eject").as_bool());
}

// A backend killed under load fails every request in flight to it at once, far more than the
// retry budget's share of the requests in flight: they are retried on the other backend, as
// budget frees up, and none fails (once: 20 of 558k requests got 502, refused by the
// max_retries breaker's 3).
TEST_F(ProxyTest, HttpIdempotentRequestsSurviveABackendKilledUnderLoad) {
  Tender b1(echo_args({"--id", "b1"}));
  std::optional<Tender> b2;
  b2.emplace(echo_args({"--id", "b2"}));
  start(http_config({&b1, &*b2}, "", ""), {"--workers", "2"});
  std::uint16_t front = proxy_->port("front");
  constexpr int kClients = 64;
  std::atomic<bool> killed{false};
  std::atomic<int> after_kill{0};
  std::mutex mu;
  std::map<int, int> statuses;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      Connection c(front);
      int mine_after = 0;
      while (mine_after < 5) {
        bool was_killed = killed.load();
        int status = 0;
        if (c.send(request_bytes("GET", "/slow?delay_ms=100"))) {
          status = c.read_response().status;
        }
        std::lock_guard lock(mu);
        ++statuses[status];
        if (was_killed) {
          ++mine_after;
        }
      }
      ++after_kill;
    });
  }
  // Kill b2 while many requests are in flight to it.
  EXPECT_TRUE(
      eventually([&] { return endpoint("web", 1).at("active_requests").as_int64() >= 20; }));
  b2->signal(SIGKILL);
  (void)b2->wait_exit();
  killed = true;
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(statuses.size(), 1U);
  EXPECT_GT(statuses[200], kClients * 5);
  EXPECT_EQ(statuses.count(502), 0U) << statuses[502] << " answered 502";
  EXPECT_GE(proxy_metric("tender_proxy_cluster_retries_total{cluster=\"web\"}"), 20);
}

}  // namespace
}  // namespace tender::testing
