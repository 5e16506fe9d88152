// `tender proxy` as a redis ambassador when things go wrong: servers that leave, stop answering or
// die, clients that do not read, send too much or do not authenticate, and the limits that
// bound what any of them can make the proxy hold.
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

TEST_F(ProxyTest, ConnectionsToServersThatLeftAreClosed) {
  RedisServer a;
  RedisServer b;
  auto line = [](const RedisServer& s) { return "127.0.0.1:" + std::to_string(s.port()) + "\n"; };
  std::string list = dir_.write("shards.txt", line(a) + line(b));
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: shards}\n"
      "clusters:\n"
      "  - {name: shards, file: \"" +
          list + "\"}\n",
      {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(c.call({"SET", "key" + std::to_string(i), "v"}), "+OK\r\n");
  }
  ASSERT_EQ(a.clients(), 2);  // the proxy's connection and this one
  dir_.write("shards.txt", line(b));
  auto admin = proxy_->port("admin");
  ASSERT_TRUE(eventually([&] {
    auto cs = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
    return cs.at(0).at("endpoints").as_array().size() == 1;
  }));
  EXPECT_EQ(c.call({"SET", "after", "v"}), "+OK\r\n");
  EXPECT_TRUE(eventually([&] { return a.clients() == 1; }));
  EXPECT_EQ(b.clients(), 2);
}

TEST_F(ProxyTest, RedisListenerRemovedByAReloadClosesItsServerConnections) {
  RedisServer a;
  auto config = [&](bool extra) {
    std::string listeners =
        "listeners:\n"
        "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n";
    if (extra) {
      listeners += "  - {name: extra, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n";
    }
    return listeners +
           "clusters:\n  - {name: one, endpoints: [\"127.0.0.1:" + std::to_string(a.port()) +
           "\"]}\n";
  };
  start(config(true), {"--workers", "1"});
  RespClient kept(proxy_->port("cache"));
  RespClient dropped(proxy_->port("extra"));
  ASSERT_EQ(kept.call({"SET", "k", "1"}), "+OK\r\n");
  ASSERT_EQ(dropped.call({"SET", "k", "2"}), "+OK\r\n");
  ASSERT_EQ(a.clients(), 3);  // each listener's connection, and this one
  dir_.write("proxy.yaml", config(false));
  proxy_->signal(SIGHUP);
  // The removed listener's idle client is let go, then its connection to the server closes.
  EXPECT_TRUE(dropped.closed());
  EXPECT_TRUE(eventually([&] { return a.clients() == 2; }));
  EXPECT_EQ(kept.call({"GET", "k"}), "$1\r\n2\r\n");
  EXPECT_EQ(a.clients(), 2);
}

TEST_F(ProxyTest, RedisServerThatStopsAnsweringTimesOut) {
  // Answers the first command, then reads and never answers again.
  RawServer mute([](int fd) {
    char buf[4096];
    bool answered = false;
    while (::read(fd, buf, sizeof buf) > 0) {
      if (!answered) {
        write_all(fd, "$-1\r\n");
        answered = true;
      }
    }
  });
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one, timeout: 300ms}\n"
      "clusters:\n"
      "  - {name: one, endpoints: [\"127.0.0.1:" +
          std::to_string(mute.port()) + "\"]}\n",
      {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  EXPECT_EQ(c.call({"GET", "k"}), "$-1\r\n");
  // Nothing is owed now, so the connection has no deadline: this request must set one.
  auto asked = std::chrono::steady_clock::now();
  std::string r = c.call({"GET", "k"});
  EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r;
  EXPECT_NE(r.find("timed out"), std::string::npos) << r;
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s);
}

TEST_F(ProxyTest, RedisServerThatStopsReadingTimesOut) {
  // Never reads: the proxy's write fills the socket buffers and waits when the time is up.
  std::atomic<bool> done{false};
  RawServer deaf([&](int fd) {
    pollfd p{fd, POLLRDHUP, 0};
    while (!done && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) {
      ::poll(&p, 1, 50);
    }
  });
  struct Release {
    std::atomic<bool>& done;
    ~Release() { done = true; }
  } release{done};
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one, timeout: 300ms}\n"
      "clusters:\n"
      "  - {name: one, endpoints: [\"127.0.0.1:" +
          std::to_string(deaf.port()) + "\"]}\n",
      {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  const std::string value(1 << 20, 'v');
  constexpr int kSets = 32;
  std::string sets;
  for (int i = 0; i < kSets; ++i) {
    sets += resp_command({"SET", "k" + std::to_string(i), value});
  }
  std::thread writer([&] { c.send(sets); });
  auto replies = c.read(kSets);
  writer.join();
  ASSERT_EQ(replies.size(), static_cast<std::size_t>(kSets));
  // A timeout, not the failed write it caused.
  for (const auto& r : replies) {
    EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r.substr(0, 100);
    EXPECT_NE(r.find("timed out"), std::string::npos) << r.substr(0, 100);
  }
  // Counted as timeouts (one per connection the proxy made: later commands may have found the
  // first one gone and made another), never as resets.
  std::string endpoint =
      "tender_proxy_upstream_errors_total{cluster=\"one\",endpoint=\"127.0.0.1:" +
      std::to_string(deaf.port()) + "\",kind=";
  EXPECT_GE(proxy_metric(endpoint + "\"timeout\"}"), 1) << proxy_metrics();
  EXPECT_EQ(proxy_metric(endpoint + "\"reset\"}"), 0) << proxy_metrics();
}

TEST_F(ProxyTest, RedisCommandsOverMaxRequestsAreRefused) {
  // Holds every GET until released, then answers each.
  std::atomic<bool> release{false};
  std::atomic<bool> done{false};
  RawServer held([&](int fd) {
    std::string got;
    std::size_t answered = 0;
    while (!done) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 10) > 0) {
        char buf[4096];
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
          return;
        }
        got.append(buf, static_cast<std::size_t>(n));
      }
      std::size_t asked = 0;
      for (auto at = got.find("GET"); at != std::string::npos; at = got.find("GET", at + 1)) {
        ++asked;
      }
      for (; release && answered < asked; ++answered) {
        write_all(fd, "$1\r\nv\r\n");
      }
    }
  });
  struct Done {
    std::atomic<bool>& done;
    ~Done() { done = true; }  // before `held` joins its thread
  } finish{done};
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n"
      "clusters:\n"
      "  - name: one\n"
      "    endpoints: [\"127.0.0.1:" +
          std::to_string(held.port()) +
          "\"]\n"
          "    limits: {max_requests: 2}\n",
      {"--workers", "1"});
  RespClient a(proxy_->port("cache"));
  a.send(resp_command({"GET", "a"}) + resp_command({"GET", "b"}));
  ASSERT_TRUE(
      eventually([&] { return first_cluster().at("active_requests").to_number<int>() == 2; }));
  // A third, while two are in flight, is refused at once; commands answered locally are not
  // requests to the cluster.
  RespClient b(proxy_->port("cache"));
  EXPECT_EQ(b.call({"GET", "c"}), "-ERR cluster one is at its max_requests limit\r\n");
  EXPECT_EQ(b.call({"MGET", "c", "d"}), "-ERR cluster one is at its max_requests limit\r\n");
  EXPECT_EQ(b.call({"PING"}), "+PONG\r\n");
  release = true;
  EXPECT_EQ(a.read(2), (std::vector<std::string>{"$1\r\nv\r\n", "$1\r\nv\r\n"}));
  EXPECT_EQ(b.call({"GET", "c"}), "$1\r\nv\r\n");
  EXPECT_EQ(first_cluster().at("active_requests").to_number<int>(), 0);
  EXPECT_EQ(
      proxy_metric("tender_proxy_cluster_overflow_total{cluster=\"one\",breaker=\"requests\"}"),
      2.0);
}

TEST_F(ProxyTest, RedisServerConnectionRefusedByTheBreakerIsNotTheServersFault) {
  RedisServer a;
  RedisServer b;
  // One worker may open one server connection: commands for the other server are refused by
  // the breaker, which must not count against that server (one failure would eject it).
  start(redis_config({&a, &b}, "ring_hash") +
            "    limits: {max_connections: 1}\n"
            "    outlier: {consecutive_failures: 1}\n",
        {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  int ok = 0;
  int refused = 0;
  for (int i = 0; i < 40; ++i) {
    std::string r = c.call({"GET", "key:" + std::to_string(i)});
    if (r == "$-1\r\n") {
      ++ok;
    } else {
      EXPECT_EQ(r, "-ERR cluster shards is at its max_connections limit\r\n");
      ++refused;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0);
  for (std::size_t i = 0; i < 2; ++i) {
    auto e = endpoint("shards", i);
    EXPECT_FALSE(e.at("ejected").as_bool()) << e;
    EXPECT_EQ(e.at("failures").to_number<int>(), 0) << e;
  }
}

TEST_F(ProxyTest, RedisClientThatDoesNotReadCannotGrowTheProxy) {
  RedisServer a;
  start(one_redis_shard(a), {"--workers", "1"});
  RespClient c(proxy_->port("cache"));
  const std::string value(64 << 10, 'b');
  ASSERT_EQ(c.call({"SET", "big", value}), "+OK\r\n");
  auto rss_kib = [&] {
    std::ifstream status("/proc/" + std::to_string(proxy_->pid()) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        return std::stol(line.substr(6));
      }
    }
    return 0L;
  };
  long before = rss_kib();
  // 250 MiB of replies asked for, none read yet: the proxy stops reading this client instead
  // of holding them.
  constexpr int kGets = 4000;
  std::string gets;
  for (int i = 0; i < kGets; ++i) {
    gets += resp_command({"GET", "big"});
  }
  std::thread writer([&] { c.send(gets); });
  // Until the proxy's memory stops moving (it would climb past 250 MiB without the pause).
  long during = rss_kib();
  int steady = 0;
  for (int i = 0; i < 200 && steady < 10; ++i) {
    std::this_thread::sleep_for(50ms);
    long now = rss_kib();
    steady = std::abs(now - during) < 1024 ? steady + 1 : 0;
    during = now;
  }
  EXPECT_LT(during - before, 128 * 1024)
      << "RSS grew from " << before << " to " << during << " KiB";
  // Nothing is lost: every reply arrives, whole, once the client reads.
  std::string bulk = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  for (int i = 0; i < kGets; ++i) {
    auto r = c.read(1);
    ASSERT_EQ(r.size(), 1U) << "reply " << i;
    ASSERT_EQ(r[0], bulk) << "reply " << i;
  }
  writer.join();
}

TEST_F(ProxyTest, RedisClientsThatResetAreLetGoAtOnce) {
  RedisServer a;
  start(one_redis_shard(a));  // idle_timeout 10m: only noticing the reset frees these
  auto port = proxy_->port("cache");
  auto connections = [&] {
    return proxy_metric("tender_proxy_downstream_connections{listener=\"cache\"}");
  };
  // Each client is served once, so that the proxy holds it, and then sends `last` (nothing, a
  // command cut short, a whole command) and a reset at once: both may be there before the
  // proxy reads.
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_loopback(port, 10s);
    ASSERT_GE(fd, 0);
    std::string ping = "*1\r\n$4\r\nPING\r\n";
    ASSERT_EQ(::send(fd, ping.data(), ping.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(ping.size()));
    char buf[16];
    ASSERT_EQ(::recv(fd, buf, sizeof buf, 0), 7);  // +PONG\r\n
    fds.push_back(fd);
  }
  ASSERT_TRUE(eventually([&] { return connections() == 3.0; }));
  const std::string lasts[] = {"", "*2\r\n$3\r\nGET\r\n$1\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"};
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (!lasts[i].empty()) {
      ASSERT_GT(::send(fds[i], lasts[i].data(), lasts[i].size(), MSG_NOSIGNAL), 0);
    }
    linger reset{1, 0};
    ASSERT_EQ(::setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset), 0);
    ::close(fds[i]);
  }
  EXPECT_TRUE(eventually([&] { return connections() == 0.0; })) << connections();
  RespClient other(port);  // and the proxy serves on
  EXPECT_EQ(other.call({"PING"}), "+PONG\r\n");
}

TEST_F(ProxyTest, RedisDrainClosesIdleClientsAndExits) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient idle(proxy_->port("cache"));
  ASSERT_EQ(idle.call({"PING"}), "+PONG\r\n");
  proxy_->signal(SIGTERM);
  // Well within the 30 s grace: an idle client does not hold the drain up.
  auto st = proxy_->wait_exit(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
  EXPECT_TRUE(idle.closed());
}

// --- tcp -------------------------------------------------------------------------------------

// "\"127.0.0.1:P1\", \"127.0.0.1:P2\"": the backends' listen addresses, for an endpoints list.

// redis-server refuses large arrays and bulk strings from a client that has not authenticated,
// before reading them; so does the proxy, or anyone who can connect could make it buffer
// 512 MiB per connection without knowing the password.
TEST_F(ProxyTest, RedisUnauthenticatedClientsCannotMakeItBuffer) {
  RedisServer a;
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one,\n"
      "     auth: client-secret}\n"
      "clusters:\n"
      "  - {name: one, endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\"]}\n");
  std::uint16_t port = proxy_->port("cache");
  RespClient bulk(port);
  bulk.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n");
  EXPECT_EQ(bulk.read(1),
            std::vector<std::string>{"-ERR Protocol error: unauthenticated bulk length\r\n"});
  EXPECT_TRUE(bulk.closed());
  RespClient many(port);
  many.send("*11\r\n");
  EXPECT_EQ(many.read(1),
            std::vector<std::string>{"-ERR Protocol error: unauthenticated multibulk length\r\n"});
  EXPECT_TRUE(many.closed());
  // Once authenticated, the listener's own limits apply, in the same pipeline too.
  RespClient ok(port);
  std::string big(100 * 1024, 'v');
  ok.send(resp_command({"AUTH", "client-secret"}) + resp_command({"SET", "k", big}));
  EXPECT_EQ(ok.read(2), (std::vector<std::string>{"+OK\r\n", "+OK\r\n"}));
  EXPECT_EQ(a.command({"STRLEN", "k"}), ":102400\r\n");
}

// What the clients of a listener can make it hold in commands that came in part is bounded
// for all of them together (max_input_bytes): the client whose command would pass it is
// refused, the others are served.
TEST_F(ProxyTest, RedisPartialCommandsAreBoundedAcrossClients) {
  RedisServer a;
  start(
      "workers: 1\n"
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one,\n"
      "     max_input_bytes: 1MiB}\n"
      "clusters:\n"
      "  - {name: one, endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\"]}\n");
  std::uint16_t port = proxy_->port("cache");
  const std::string gauge = "tender_proxy_downstream_buffered_bytes{listener=\"cache\"}";
  std::string value_a(700 * 1024, 'a');
  std::string set_a = resp_command({"SET", "big-a", value_a});
  RespClient first(port);
  first.send(set_a.substr(0, 600 * 1024));
  ASSERT_TRUE(eventually([&] { return proxy_metric(gauge) >= 590 * 1024; })) << proxy_metric(gauge);
  RespClient second(port);
  second.send(resp_command({"SET", "big-b", std::string(700 * 1024, 'b')}).substr(0, 600 * 1024));
  auto refused = second.read(1);
  ASSERT_EQ(refused.size(), 1U);
  EXPECT_EQ(refused[0].rfind("-ERR tender proxy", 0), 0U) << refused[0];
  EXPECT_NE(refused[0].find("max_input_bytes"), std::string::npos) << refused[0];
  EXPECT_TRUE(second.closed());
  // The first client finishes its command; what it held is let go.
  first.send(set_a.substr(600 * 1024));
  EXPECT_EQ(first.read(1), std::vector<std::string>{"+OK\r\n"});
  EXPECT_EQ(a.command({"STRLEN", "big-a"}), ":716800\r\n");
  EXPECT_EQ(a.command({"EXISTS", "big-b"}), ":0\r\n");
  EXPECT_TRUE(eventually([&] { return proxy_metric(gauge) == 0; })) << proxy_metric(gauge);
  EXPECT_GE(
      proxy_metric("tender_proxy_downstream_errors_total{listener=\"cache\",kind=\"input_limit\"}"),
      1);
}

// A command of many keys arrives in many reads; each read must not parse it from the start
// again (an MGET of 1M keys once took 22 s through the proxy, 0.19 s direct).
TEST_F(ProxyTest, RedisHugeMultiKeyCommandsComeBackWholeAndInOrder) {
  RedisServer a, b;
  start(redis_config({&a, &b}, "ring_hash"));
  RespClient client(proxy_->port("cache"));
  constexpr int kKeys = 100'000;
  std::vector<std::string> mset = {"MSET"};
  std::vector<std::string> mget = {"MGET"};
  for (int i = 0; i < kKeys; ++i) {
    mset.push_back("huge:" + std::to_string(i));
    mset.push_back(std::to_string(i * 7));
    mget.push_back("huge:" + std::to_string(i));
  }
  EXPECT_EQ(client.call(mset), "+OK\r\n");
  std::string want = "*" + std::to_string(kKeys) + "\r\n";
  for (int i = 0; i < kKeys; ++i) {
    std::string v = std::to_string(i * 7);
    want += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
  }
  std::string got = client.call(mget);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << got.substr(0, 200);
}

// Fast health checks and ejection, for shards that die.
const std::string kFastHealth =
    "    health_check: {type: redis, interval: 100ms, timeout: 100ms, unhealthy_threshold: 1}\n"
    "    outlier: {consecutive_failures: 2}\n";

// Keys "acct:N" set through the proxy until one lands on each of `a` and `b`: {on a, on b}.
std::pair<std::string, std::string> key_on_each(RespClient& c, const RedisServer& a,
                                                const RedisServer& b) {
  std::string on_a;
  std::string on_b;
  for (int i = 0; i < 1000 && (on_a.empty() || on_b.empty()); ++i) {
    std::string k = "acct:" + std::to_string(i);
    EXPECT_EQ(c.call({"SET", k, "old-" + std::to_string(i)}), "+OK\r\n");
    (a.command({"EXISTS", k}) == ":1\r\n" ? on_a : on_b) = k;
  }
  EXPECT_EQ(b.command({"EXISTS", on_b}), ":1\r\n");
  return {on_a, on_b};
}

// A shard that dies keeps its keys: they are refused until it is back, never answered nil by
// another shard, nor written there and lost when the shard comes back (once: 52,485 of 200k
// pipelined GETs answered nil for keys that existed).
TEST_F(ProxyTest, RedisShardThatDiesKeepsItsKeys) {
  RedisServer a;
  std::optional<RedisServer> b;
  b.emplace();
  start(redis_config({&a, &*b}, "ring_hash", kFastHealth));
  RespClient c(proxy_->port("cache"));
  // Named, not a structured binding: clang 14 cannot capture one in a lambda.
  const auto keys_ab = key_on_each(c, a, *b);
  const std::string on_a = keys_ab.first;
  const std::string on_b = keys_ab.second;
  // Many keys, read pipelined while the shard dies: each answer is the value or an error.
  std::vector<std::string> keys;
  for (int i = 0; i < 2000; ++i) {
    keys.push_back("many:" + std::to_string(i));
    ASSERT_EQ(c.call({"SET", keys.back(), "v" + std::to_string(i)}), "+OK\r\n");
  }
  int errors = 0;
  for (int round = 0; round < 20; ++round) {
    if (round == 5) {
      b->stop();
    }
    if (round == 10) {
      ASSERT_TRUE(eventually([&] {
        auto e = endpoint("shards", 1);
        return e.at("ejected").as_bool() || e.at("health").as_string() == "unhealthy";
      }));
    }
    std::string batch;
    for (const auto& k : keys) {
      batch += resp_command({"GET", k});
    }
    c.send(batch);
    auto replies = c.read(keys.size());
    ASSERT_EQ(replies.size(), keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (replies[i].starts_with("-ERR")) {
        ++errors;
        continue;
      }
      std::string v = "v" + std::to_string(i);
      ASSERT_EQ(replies[i], "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n")
          << "round " << round << ", " << keys[i];
    }
  }
  EXPECT_GT(errors, 0);
  auto got = c.call({"GET", on_b});
  EXPECT_EQ(got.rfind("-ERR shard 127.0.0.1:", 0), 0U) << got;
  EXPECT_NE(got.find("auto_eject"), std::string::npos) << got;
  EXPECT_EQ(c.call({"SET", on_b, "NEW"}).rfind("-ERR shard", 0), 0U);
  EXPECT_EQ(a.command({"EXISTS", on_b}), ":0\r\n");  // not written where it does not live
  EXPECT_EQ(c.call({"MGET", on_a, on_b}).rfind("-ERR shard", 0), 0U);
  EXPECT_EQ(c.call({"GET", on_a}).rfind("$", 0), 0U);  // the living shard's keys are served
  EXPECT_GE(
      proxy_metric("tender_proxy_downstream_errors_total{listener=\"cache\",kind=\"shard_down\"}"),
      1);
}

// A cluster that says its data is a cache moves a dead shard's keys to the others.
TEST_F(ProxyTest, RedisCacheClusterMovesTheKeysOfADeadShard) {
  RedisServer a;
  std::optional<RedisServer> b;
  b.emplace();
  start(redis_config({&a, &*b}, "ring_hash", kFastHealth + "    auto_eject: true\n"));
  RespClient c(proxy_->port("cache"));
  const std::string on_b = key_on_each(c, a, *b).second;
  b->stop();
  ASSERT_TRUE(eventually([&] {
    auto e = endpoint("shards", 1);
    return e.at("ejected").as_bool() || e.at("health").as_string() == "unhealthy";
  }));
  EXPECT_TRUE(eventually([&] { return c.call({"GET", on_b}) == "$-1\r\n"; }));  // a miss
  EXPECT_EQ(c.call({"SET", on_b, "NEW"}), "+OK\r\n");
  EXPECT_EQ(a.command({"GET", on_b}), "$3\r\nNEW\r\n");
  EXPECT_TRUE(first_cluster().at("auto_eject").as_bool());
}

}  // namespace
}  // namespace tender::testing
