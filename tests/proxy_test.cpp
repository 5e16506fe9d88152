// `tender proxy`: TCP forwarding, reloads and the command line, with real backends on
// 127.0.0.1.
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
#include <set>
#include <thread>

#include "proxy_support.hpp"

namespace tender::testing {
namespace {

TEST_F(ProxyTest, TcpRoundRobinSpreadsConnectionsEvenly) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  Tender b3(echo_args({"--id", "b3"}));
  start(echo_cluster({&b1, &b2, &b3}, "    policy: round_robin\n"), {"--workers", "1"});
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    ++seen[backend_id(proxy_->port("front"))];
  }
  EXPECT_EQ(seen["b1"], 10);
  EXPECT_EQ(seen["b2"], 10);
  EXPECT_EQ(seen["b3"], 10);
}

TEST_F(ProxyTest, TcpDeadBackendIsRetriedEjectedAndReadmitted) {
  Tender b1(echo_args({"--id", "b1"}));
  std::uint16_t dead_port = free_port();  // nobody listens here yet
  std::string yaml =
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
      "clusters:\n"
      "  - name: web\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(b1.port("listen")) + "\", \"127.0.0.1:" + std::to_string(dead_port) +
      "\"]\n"
      "    policy: round_robin\n"
      "    health_check: {type: tcp, interval: 200ms, timeout: 200ms, unhealthy_threshold: 2, "
      "healthy_threshold: 1}\n"
      "    outlier: {consecutive_failures: 2, base_ejection: 30s}\n";
  start(yaml, {"--workers", "1"});
  // Every connection succeeds: a refused connect is tried again on the live endpoint.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(backend_id(proxy_->port("front")), "b1");
  }
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 1);
    return e.at("health").as_string() == "unhealthy";
  }));
  // It comes back: the health check sees it and readmits it.
  Tender revived({"echo", "--listen", "127.0.0.1:" + std::to_string(dead_port), "--admin",
                  "127.0.0.1:0", "--id", "revived"});
  EXPECT_TRUE(eventually([&] {
    auto e = endpoint("web", 1);
    return e.at("health").as_string() == "healthy";
  }));
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) {
    ++seen[backend_id(proxy_->port("front"))];
  }
  EXPECT_EQ(seen["revived"], 5);
  auto metrics = proxy_metrics();
  EXPECT_NE(
      metrics.find("tender_proxy_upstream_errors_total{cluster=\"web\",endpoint=\"127.0.0.1:" +
                   std::to_string(dead_port) + "\",kind=\"connect\"}"),
      std::string::npos);
}

TEST_F(ProxyTest, TcpPassiveEjectionWithoutHealthChecks) {
  Tender b1(echo_args({"--id", "b1"}));
  std::uint16_t dead_port = free_port();
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
      "clusters:\n"
      "  - name: web\n"
      "    endpoints: [\"127.0.0.1:" +
          std::to_string(b1.port("listen")) + "\", \"127.0.0.1:" + std::to_string(dead_port) +
          "\"]\n"
          "    outlier: {consecutive_failures: 3, base_ejection: 60s, max_ejected_percent: 50}\n",
      {"--workers", "1"});
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(backend_id(proxy_->port("front")), "b1");
  }
  auto e = endpoint("web", 1);
  EXPECT_TRUE(e.at("ejected").as_bool()) << json::serialize(e);
  EXPECT_EQ(e.at("ejections").to_number<std::uint64_t>(), 1U);
  // The cap: the live endpoint is never ejected as well (it would be 100%).
  EXPECT_FALSE(endpoint("web", 0).at("ejected").as_bool());
}

TEST_F(ProxyTest, TcpHalfClosesArePassedOnBothWays) {
  // The server reads to the end of the client's stream, then answers and closes.
  RawServer upstream([](int fd) {
    std::string got;
    char buf[256];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      got.append(buf, static_cast<std::size_t>(n));
    }
    write_all(fd, "got " + got);
  });
  start(one_endpoint_tcp(upstream.port()), {"--workers", "1"});
  Connection c(proxy_->port("front"));
  ASSERT_TRUE(c.send("question"));
  c.shutdown_send();  // the server sees the end of the stream only through the proxy
  EXPECT_EQ(c.read_until("question"), "got question");
  EXPECT_TRUE(c.closed_by_peer(10s));  // and the server's close comes back the same way
}

TEST_F(ProxyTest, TcpConnectTimeoutTriesAnotherEndpoint) {
  BlackHole hole;
  RawServer upstream([](int fd) { write_all(fd, "hello"); });
  start(
      "listeners:\n"
      "  - {name: front, listen: \"127.0.0.1:0\", protocol: tcp, cluster: web}\n"
      "clusters:\n"
      "  - {name: web, connect_timeout: 200ms, policy: round_robin,\n"
      "     outlier: {consecutive_failures: 1000}, endpoints: [\"127.0.0.1:" +
          std::to_string(hole.port()) + "\", \"127.0.0.1:" + std::to_string(upstream.port()) +
          "\"]}\n",
      {"--workers", "1"});
  // Connections sent to the hole first still reach the server, on their second try.
  for (int i = 0; i < 4; ++i) {
    Connection c(proxy_->port("front"));
    EXPECT_EQ(c.read_until("hello"), "hello") << i;
  }
  // Connects to the hole timed out (none was refused: it listens).
  std::string metrics = proxy_metrics();
  std::string series = "tender_proxy_upstream_errors_total{cluster=\"web\",endpoint=\"127.0.0.1:" +
                       std::to_string(hole.port()) + "\",kind=\"timeout\"} ";
  auto at = metrics.find(series);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoi(metrics.substr(at + series.size())), 1) << metrics;
}

TEST_F(ProxyTest, TcpIdleTimeoutClosesQuietConnectionsNotSlowReaders) {
  // The server sends 192 KiB at once, then answers "ping" with "pong" until the client goes.
  static constexpr std::size_t kBulk = 192 * 1024;
  RawServer upstream([](int fd) {
    write_all(fd, std::string(kBulk, 'b'));
    while (read_until(fd, "ping")) {
      write_all(fd, "pong");
    }
  });
  start(one_endpoint_tcp(upstream.port(), ", idle_timeout: 500ms"), {"--workers", "1"});
  // A client with a small window reads the bulk over about 1.5 s, far longer than
  // idle_timeout, while the proxy's write waits for it: that is not idle.
  int fd = connect_loopback(proxy_->port("front"), 15s, 4096);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(read_slowly(fd, kBulk));
  write_all(fd, "ping");
  EXPECT_TRUE(read_until(fd, "pong"));
  ::close(fd);
  // A connection on which nothing moves is closed.
  Connection quiet(proxy_->port("front"));
  EXPECT_EQ(quiet.read_until("ping").size(), kBulk);  // (no ping comes: all it was sent)
  EXPECT_TRUE(quiet.closed_by_peer(10s));
}

TEST_F(ProxyTest, ReloadUnderLoadDropsNothing) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  start(echo_cluster({&b1}, ""), {"--workers", "2"});
  std::uint16_t front = proxy_->port("front");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> served{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      while (!stop) {
        if (backend_id(front).empty()) {
          ++failures;
        }
        ++served;
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return served > 200; }));
  // Swap the cluster to b2, and back, several times.
  for (int i = 0; i < 6; ++i) {
    const Tender* next = i % 2 == 0 ? &b2 : &b1;
    dir_.write("proxy.yaml", echo_cluster({next}, ""));
    proxy_->signal(SIGHUP);
    std::string want = i % 2 == 0 ? "b2" : "b1";
    EXPECT_TRUE(eventually([&] { return backend_id(front) == want; })) << "reload " << i;
  }
  stop = true;
  for (auto& t : load) {
    t.join();
  }
  EXPECT_EQ(failures, 0) << "of " << served;
  EXPECT_GT(served, 100);
}

TEST_F(ProxyTest, ReloadUnderLoadKeepsHttpAndRedisConnections) {
  // Keep-alive HTTP clients and pipelining redis clients go on, each on its one connection,
  // while reloads move both listeners' clusters back and forth.
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  RedisServer r1;
  RedisServer r2;
  auto config = [&](const Tender& web, const RedisServer& cache) {
    return "listeners:\n"
           "  - {name: web, listen: \"127.0.0.1:0\", protocol: http, cluster: web}\n"
           "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: cache}\n"
           "clusters:\n"
           "  - {name: web, endpoints: [\"127.0.0.1:" +
           std::to_string(web.port("listen")) +
           "\"]}\n"
           "  - {name: cache, endpoints: [\"127.0.0.1:" +
           std::to_string(cache.port()) + "\"]}\n";
  };
  start(config(b1, r1), {"--workers", "2"});
  std::uint16_t web = proxy_->port("web");
  std::uint16_t cache = proxy_->port("cache");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> served{0};
  std::mutex mu;
  std::string first_failure;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(mu);
    if (failures++ == 0) {
      first_failure = what;
    }
  };
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t) {
    load.emplace_back([&] {
      Connection c(web);
      while (!stop && failures == 0) {
        HttpResult r = c.send(request_bytes("GET", "/")) ? c.read_response() : HttpResult{};
        if (r.status != 200) {
          fail("http status " + std::to_string(r.status) + " " + r.body);
        }
        ++served;
      }
    });
    load.emplace_back([&, t] {
      RespClient c(cache);
      for (int i = 0; !stop && failures == 0; ++i) {
        std::string key = "k" + std::to_string(t) + "-" + std::to_string(i % 100);
        c.send(resp_command({"SET", key, "v"}) + resp_command({"GET", key}) +
               resp_command({"PING"}));
        auto replies = c.read(3);
        if (replies.size() != 3 || replies[0] != "+OK\r\n" || replies[2] != "+PONG\r\n" ||
            (replies[1] != "$1\r\nv\r\n" && replies[1] != "$-1\r\n")) {
          fail("redis replies " + std::to_string(replies.size()) + ": " +
               (replies.empty() ? "" : replies[0]));
        }
        ++served;
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return served > 200; }));
  for (int i = 0; i < 6; ++i) {
    bool even = i % 2 == 0;
    dir_.write("proxy.yaml", config(even ? b2 : b1, even ? r2 : r1));
    proxy_->signal(SIGHUP);
    std::string want = even ? "b2" : "b1";
    EXPECT_TRUE(eventually([&] { return backend_id(web) == want; })) << "reload " << i;
    // The redis clients' keys reach the cluster's new server.
    const RedisServer& now = even ? r2 : r1;
    now.command({"FLUSHALL"});
    EXPECT_TRUE(eventually([&] { return now.command({"DBSIZE"}) != ":0\r\n"; })) << i;
    int before = served;
    EXPECT_TRUE(eventually([&] { return served > before + 200; })) << i;
  }
  stop = true;
  for (auto& t : load) {
    t.join();
  }
  EXPECT_EQ(failures, 0) << first_failure;
}

TEST_F(ProxyTest, ReloadIsAllOrNothing) {
  Tender b1(echo_args({"--id", "b1"}));
  Tender b2(echo_args({"--id", "b2"}));
  start(echo_cluster({&b1}, ""), {"--workers", "2"});
  std::uint16_t front = proxy_->port("front");
  ASSERT_EQ(backend_id(front), "b1");
  // The cluster moves to b2, but a new listener's address is taken: nothing may change.
  RawServer squatter([](int) {});
  std::string cfg = echo_cluster({&b2}, "") + "  - name: other\n    endpoints: [\"127.0.0.1:1\"]\n";
  cfg.insert(cfg.find("clusters:"),
             "  - {name: extra, listen: \"127.0.0.1:" + std::to_string(squatter.port()) +
                 "\", protocol: tcp, cluster: other}\n");
  dir_.write("proxy.yaml", cfg);
  proxy_->signal(SIGHUP);
  auto admin = proxy_->port("admin");
  ASSERT_TRUE(eventually([&] {
    return http(admin, "GET", "/metrics")
               .body.find("tender_proxy_config_reloads_total{result=\"error\"} 1") !=
           std::string::npos;
  }));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(backend_id(front), "b1");
  }
  auto clusters = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
  EXPECT_EQ(clusters.size(), 1U);
  // Without the taken address the same change applies.
  dir_.write("proxy.yaml", echo_cluster({&b2}, ""));
  proxy_->signal(SIGHUP);
  EXPECT_TRUE(eventually([&] { return backend_id(front) == "b2"; }));
}

TEST_F(ProxyTest, ReloadMovingOrRemovingAListenerDrainsIt) {
  Tender b1(echo_args({"--id", "b1"}));
  auto config = [&](const std::string& listen, bool extra) {
    return "listeners:\n"
           "  - {name: front, listen: \"" +
           listen + "\", protocol: http, cluster: web}\n" +
           (extra ? "  - {name: extra, listen: \"127.0.0.1:0\", protocol: http, cluster: web}\n"
                  : "") +
           "clusters:\n"
           "  - {name: web, endpoints: [\"127.0.0.1:" +
           std::to_string(b1.port("listen")) + "\"]}\n";
  };
  start(config("127.0.0.1:0", true), {"--workers", "2"});
  std::uint16_t old_port = proxy_->port("front");
  std::uint16_t extra_port = proxy_->port("extra");
  // On each listener, an idle keep-alive connection and one with a request under way.
  Connection idle_moved(old_port);
  Connection idle_removed(extra_port);
  ASSERT_EQ(idle_moved.send(request_bytes("GET", "/")) ? idle_moved.read_response().status : 0,
            200);
  ASSERT_EQ(idle_removed.send(request_bytes("GET", "/")) ? idle_removed.read_response().status : 0,
            200);
  Connection busy_moved(old_port);
  Connection busy_removed(extra_port);
  ASSERT_TRUE(busy_moved.send(request_bytes("GET", "/?delay_ms=1000")));
  ASSERT_TRUE(busy_removed.send(request_bytes("GET", "/?delay_ms=1000")));
  ASSERT_TRUE(wait_in_flight(b1, 2));
  // "front" moves to another port and "extra" goes: both drain as on SIGTERM.
  std::uint16_t new_port = free_port();
  dir_.write("proxy.yaml", config("127.0.0.1:" + std::to_string(new_port), false));
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return backend_id(new_port) == "b1"; }));
  EXPECT_TRUE(eventually([&] { return connect_refused(old_port) && connect_refused(extra_port); }));
  EXPECT_TRUE(idle_moved.closed_by_peer(10s));
  EXPECT_TRUE(idle_removed.closed_by_peer(10s));
  // A drain now waits for the old listeners' requests too.
  proxy_->signal(SIGTERM);
  // Requests under way are answered, then their connections closed.
  for (Connection* c : {&busy_moved, &busy_removed}) {
    HttpResult r = c->read_response();
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_TRUE(c->closed_by_peer(10s));
  }
  auto st = proxy_->wait_exit(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
}

TEST_F(ProxyTest, CheckValidatesAndNamesTheLine) {
  std::string good =
      dir_.write("good.yaml",
                 "listeners:\n"
                 "  - {name: l, listen: \"127.0.0.1:0\", protocol: tcp, cluster: c}\n"
                 "clusters:\n"
                 "  - {name: c, endpoints: [\"127.0.0.1:1\"]}\n");
  RunResult ok = run_tender({"proxy", "--check", good});
  EXPECT_EQ(ok.status.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("ok: 1 listener(s), 1 cluster(s)"), std::string::npos);
  std::string bad = dir_.write("bad.yaml",
                               "listeners:\n"
                               "  - {name: l, listen: \"127.0.0.1:0\", protocol: tcp, cluster: c}\n"
                               "clusters:\n"
                               "  - name: c\n"
                               "    endpoints: [\"127.0.0.1:1\"]\n"
                               "    policy: fastest\n");
  RunResult r = run_tender({"proxy", "--check", bad});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("bad.yaml:6: clusters[0].policy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("policy"), std::string::npos) << r.err;
  RunResult none = run_tender({"proxy", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(none.status.code, 2);
}

// A cluster that is not defined is reported at the line and field that name it.
TEST_F(ProxyTest, CheckPointsAtTheReferenceToAMissingCluster) {
  const std::string clusters =
      "clusters:\n"
      "  - {name: api, endpoints: [\"127.0.0.1:1\"]}\n";
  std::string route = dir_.write("route.yaml",
                                 "listeners:\n"
                                 "  - name: web\n"
                                 "    listen: 127.0.0.1:0\n"
                                 "    protocol: http\n"
                                 "    routes:\n"
                                 "      - {prefix: /v1/, cluster: api}\n"
                                 "      - {prefix: /v2/, cluster: api-v2}\n"
                                 "    cluster: api\n" +
                                     clusters);
  RunResult r = run_tender({"proxy", "--check", route});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("route.yaml:7: listeners[0].routes[1].cluster: listener web uses cluster "
                       "api-v2, which is not defined (clusters: api)"),
            std::string::npos)
      << r.err;
  std::string tcp = dir_.write("tcp.yaml",
                               "listeners:\n"
                               "  - {name: a, listen: \"127.0.0.1:0\", cluster: api}\n"
                               "  - name: db\n"
                               "    listen: 127.0.0.1:0\n"
                               "    cluster: pg\n" +
                                   clusters);
  r = run_tender({"proxy", "--check", tcp});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("tcp.yaml:5: listeners[1].cluster: listener db uses cluster pg"),
            std::string::npos)
      << r.err;
  std::string redis = dir_.write("redis.yaml",
                                 "listeners:\n"
                                 "  - name: cache\n"
                                 "    listen: 127.0.0.1:0\n"
                                 "    protocol: redis\n"
                                 "    cluster: redis\n" +
                                     clusters);
  r = run_tender({"proxy", "--check", redis});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("redis.yaml:5: listeners[0].cluster: listener cache uses cluster redis"),
            std::string::npos)
      << r.err;
}

TEST_F(ProxyTest, OneLinerRedis) {
  RedisServer a, b;
  proxy_.emplace(std::vector<std::string>{
      "proxy", "--listen", "127.0.0.1:0", "--redis", "--to",
      "127.0.0.1:" + std::to_string(a.port()) + ",127.0.0.1:" + std::to_string(b.port()), "--admin",
      "127.0.0.1:0"});
  RespClient client(proxy_->port("main"));
  EXPECT_EQ(client.call({"SET", "x", "1"}), "+OK\r\n");
  EXPECT_EQ(client.call({"GET", "x"}), "$1\r\n1\r\n");
  auto c = first_cluster();
  EXPECT_EQ(c.at("policy").as_string(), "ring_hash");
  EXPECT_EQ(c.at("endpoints").as_array().size(), 2U);
}

// /configz of a proxy started from flags alone shows what the flags made of it: the listener
// and the cluster with its endpoints, as for a config file.
TEST_F(ProxyTest, OneLinerConfigzNamesItsEndpoints) {
  std::string a = "127.0.0.1:" + std::to_string(free_port());
  std::string b = "127.0.0.1:" + std::to_string(free_port());
  for (const std::string protocol : {"tcp", "http", "redis"}) {
    SCOPED_TRACE(protocol);
    proxy_.emplace(std::vector<std::string>{"proxy", "--listen", "127.0.0.1:0", "--" + protocol,
                                            "--to", a + "," + b, "--admin", "127.0.0.1:0"});
    json::value cfg = json::parse(http(proxy_->port("admin"), "GET", "/configz").body).at("config");
    const json::value& l = cfg.at("listeners").at(0);
    EXPECT_EQ(l.at("name").as_string(), "main");
    EXPECT_EQ(l.at("protocol").as_string(), protocol);
    EXPECT_EQ(l.at("cluster").as_string(), "main");
    const json::value& c = cfg.at("clusters").at(0);
    EXPECT_EQ(c.at("name").as_string(), "main");
    EXPECT_EQ(c.at("endpoints"), (json::array{json::string(a), json::string(b)}));
    EXPECT_EQ(c.at("policy").as_string(), protocol == "redis" ? "ring_hash" : "round_robin");
    if (protocol == "http") {
      EXPECT_EQ(l.at("routes"), json::parse(R"([{"prefix": "/", "cluster": "main"}])"));
    }
    proxy_.reset();
  }
}

TEST_F(ProxyTest, BusyPollComesFromTheFileOrTheFlagAndReloads) {
  RedisServer a;
  start("busy_poll: 1ms\n" + one_redis_shard(a), {"--workers", "1"});
  auto configz = [&] {
    return json::parse(http(proxy_->port("admin"), "GET", "/configz").body).at("config");
  };
  EXPECT_EQ(configz().at("busy_poll").as_string(), "1000us");
  // Work found while looking is counted as such: the worker did not sleep for it.
  auto polled = [&] {
    return proxy_metric("tender_proxy_worker_wakeups_total{worker=\"0\",by=\"poll\"}");
  };
  RespClient client(proxy_->port("cache"));
  // On a loaded machine every look for a while may let other threads run and end in a sleep;
  // some commands are found by looking all the same.
  EXPECT_TRUE(eventually([&] {
    for (int i = 0; i < 300; ++i) {
      if (client.call({"PING"}) != "+PONG\r\n") {
        return false;
      }
    }
    return polled() > 0.0;
  }));
  // A reload turns it off: from then on the worker sleeps whenever it runs out of work.
  dir_.write("proxy.yaml", one_redis_shard(a));
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return configz().at("busy_poll").as_string() == "0us"; }));
  // One command for a look that was under way at the reload; a wake-up is counted just after
  // its handler ran, so the last one may land after a reply has been read: one more at most.
  ASSERT_EQ(client.call({"PING"}), "+PONG\r\n");
  double before = polled();
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(client.call({"PING"}), "+PONG\r\n");
  }
  EXPECT_LE(polled(), before + 1);
  // The flag wins over the file, at a reload too; out of range is a usage error.
  proxy_.reset();
  start("busy_poll: 1ms\n" + one_redis_shard(a), {"--workers", "1", "--busy-poll", "20us"});
  EXPECT_EQ(configz().at("busy_poll").as_string(), "20us");
  proxy_->signal(SIGHUP);
  ASSERT_TRUE(eventually([&] {
    return proxy_metrics().find("tender_proxy_config_reloads_total{result=\"ok\"} 1") !=
           std::string::npos;
  }));
  EXPECT_EQ(configz().at("busy_poll").as_string(), "20us");
  RunResult bad = run_tender({"proxy", "--busy-poll", "5ms", "--listen", "127.0.0.1:0", "--to",
                              "127.0.0.1:1", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(bad.status.code, 2);
  EXPECT_NE(bad.err.find("--busy-poll: not a duration from 0 to 1000us: \"5ms\""),
            std::string::npos)
      << bad.err;
}

TEST_F(ProxyTest, ThreadsAreNamedForPsAndTop) {
  RedisServer a;
  start(one_redis_shard(a), {"--workers", "2"});
  std::multiset<std::string> names;
  std::string task_dir = "/proc/" + std::to_string(proxy_->pid()) + "/task";
  auto look = [&] {
    names.clear();
    for (const auto& task : std::filesystem::directory_iterator(task_dir)) {
      std::ifstream comm(task.path() / "comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    // Each thread names itself once it runs.
    return names.count("proxy-worker-0") == 1 && names.count("proxy-worker-1") == 1 &&
           names.count("proxy-control") == 1 && names.count("http-worker-0") == 1;
  };
  EXPECT_TRUE(eventually(look)) << ::testing::PrintToString(names);
  EXPECT_EQ(names.count("proxy-worker-2"), 0U);  // two workers, as asked
}

}  // namespace
}  // namespace tender::testing
