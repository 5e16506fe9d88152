// `tender proxy` as a redis ambassador, with real redis-server shards on 127.0.0.1.
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

TEST_F(ProxyTest, RedisKeysLandOnTheShardTheHashNames) {
  RedisServer a, b, c;
  start(redis_config({&a, &b, &c}, "jump"));
  RespClient client(proxy_->port("cache"));
  ASSERT_TRUE(client.ok());
  constexpr int kKeys = 10'000;
  std::string batch;
  for (int i = 0; i < kKeys; ++i) {
    batch += resp_command({"SET", "key:" + std::to_string(i), "v" + std::to_string(i)});
  }
  client.send(batch);
  auto replies = client.read(kKeys);
  ASSERT_EQ(replies.size(), static_cast<std::size_t>(kKeys));
  for (const auto& r : replies) {
    ASSERT_EQ(r, "+OK\r\n");
  }
  // Each shard holds exactly the keys the hash gives it.
  const RedisServer* shards[] = {&a, &b, &c};
  std::vector<int> count(3, 0);
  for (int s = 0; s < 3; ++s) {
    RespClient direct(shards[s]->port());
    std::string ask;
    for (int i = 0; i < kKeys; ++i) {
      ask += resp_command({"EXISTS", "key:" + std::to_string(i)});
    }
    direct.send(ask);
    auto got = direct.read(kKeys);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kKeys));
    for (int i = 0; i < kKeys; ++i) {
      bool here = got[static_cast<std::size_t>(i)] == ":1\r\n";
      ASSERT_EQ(here, expected_shard("key:" + std::to_string(i), 3) == s)
          << "key:" << i << " on shard " << s;
      count[static_cast<std::size_t>(s)] += here ? 1 : 0;
    }
  }
  for (int n : count) {
    EXPECT_GT(n, kKeys / 3 * 8 / 10);  // and spread about evenly
  }
  // GET through the proxy reads them back.
  EXPECT_EQ(client.call({"GET", "key:42"}), "$3\r\nv42\r\n");
}

TEST_F(ProxyTest, RedisMultiKeyCommandsSplitAndReassembleInOrder) {
  RedisServer a, b, c;
  start(redis_config({&a, &b, &c}, "ring_hash"));
  RespClient client(proxy_->port("cache"));
  std::vector<std::string> mset = {"MSET"};
  std::vector<std::string> mget = {"MGET"};
  for (int i = 0; i < 50; ++i) {
    mset.push_back("m" + std::to_string(i));
    mset.push_back("value" + std::to_string(i));
    mget.push_back("m" + std::to_string(i));
    if (i == 25) {
      mget.emplace_back("missing");
    }
  }
  EXPECT_EQ(client.call(mset), "+OK\r\n");
  std::string want = "*51\r\n";
  for (int i = 0; i < 50; ++i) {
    std::string v = "value" + std::to_string(i);
    want += "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
    if (i == 25) {
      want += "$-1\r\n";
    }
  }
  EXPECT_EQ(client.call(mget), want);
  // The keys really are spread: no shard has them all.
  for (const auto* s : {&a, &b, &c}) {
    std::string n = s->command({"DBSIZE"});
    EXPECT_NE(n, ":50\r\n");
  }
  EXPECT_EQ(client.call({"EXISTS", "m1", "m2", "missing", "m3"}), ":3\r\n");
  EXPECT_EQ(client.call({"DEL", "m1", "m2", "m3", "missing"}), ":3\r\n");
  EXPECT_EQ(client.call({"EXISTS", "m1", "m2", "m3"}), ":0\r\n");
}

TEST_F(ProxyTest, RedisPipelineKeepsItsOrder) {
  RedisServer a, b;
  // Without busy polling a server's commands leave at the end of the loop's turn; with it, once
  // the worker is out of ready work (AtIdle): both must deliver all of them, in order.
  for (std::string busy_poll : {"0", "50us"}) {
    SCOPED_TRACE("busy_poll " + busy_poll);
    proxy_.reset();
    start("busy_poll: " + busy_poll + "\n" + redis_config({&a, &b}, "maglev"));
    std::vector<std::unique_ptr<RespClient>> clients;
    std::vector<std::vector<std::string>> wants;
    // Two clients: each may have 512 replies owed, and the cluster's max_requests is 1024.
    for (int c = 0; c < 2; ++c) {
      clients.push_back(std::make_unique<RespClient>(proxy_->port("cache")));
      std::string batch;
      auto& want = wants.emplace_back();
      for (int i = 0; i < 500; ++i) {
        std::string k = "p" + busy_poll + "." + std::to_string(c) + "." + std::to_string(i);
        batch += resp_command({"SET", k, std::to_string(i)});
        want.emplace_back("+OK\r\n");
        batch += resp_command({"INCR", k});
        want.push_back(":" + std::to_string(i + 1) + "\r\n");
        batch += resp_command({"PING"});  // answered by the proxy, still in order
        want.emplace_back("+PONG\r\n");
        batch += resp_command({"GET", k});
        std::string v = std::to_string(i + 1);
        want.push_back("$" + std::to_string(v.size()) + "\r\n" + v + "\r\n");
      }
      clients.back()->send(batch);
    }
    for (std::size_t c = 0; c < clients.size(); ++c) {
      EXPECT_EQ(clients[c]->read(wants[c].size()), wants[c]) << "client " << c;
    }
    // Every reply came: no endpoint counts a request in flight any more.
    EXPECT_TRUE(eventually([&] {
      auto c = first_cluster();
      for (const auto& e : c.at("endpoints").as_array()) {
        if (e.at("active_requests").to_number<int>() != 0) {
          return false;
        }
      }
      return true;
    })) << json::serialize(clusters());
  }
}

TEST_F(ProxyTest, RedisHashTagsCoLocateKeys) {
  RedisServer a, b, c;
  start(redis_config({&a, &b, &c}, "ring_hash"));
  RespClient client(proxy_->port("cache"));
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(client.call({"SET", "{user42}." + std::to_string(i), "x"}), "+OK\r\n");
  }
  int holders = 0;
  for (const auto* s : {&a, &b, &c}) {
    std::string n = s->command({"DBSIZE"});
    if (n != ":0\r\n") {
      ++holders;
      EXPECT_EQ(n, ":30\r\n");
    }
  }
  EXPECT_EQ(holders, 1);
}

TEST_F(ProxyTest, RedisBadInputGetsAnErrorAndOthersAreServed) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient bad(proxy_->port("cache"));
  RespClient good(proxy_->port("cache"));
  bad.send("*2\r\n$3\r\nGET\r\n$x\r\n");
  auto r = bad.read(1);
  ASSERT_EQ(r.size(), 1U);
  EXPECT_EQ(r[0].rfind("-ERR Protocol error", 0), 0U) << r[0];
  EXPECT_TRUE(eventually([&] { return bad.closed(); }));
  EXPECT_EQ(good.call({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(good.call({"KEYS", "*"}).rfind("-ERR", 0), 0U);
  EXPECT_EQ(good.call({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(good.call({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(good.call({"QUIT"}), "+OK\r\n");
  EXPECT_TRUE(eventually([&] { return good.closed(); }));
}

TEST_F(ProxyTest, RedisUpstreamGarbageIsAnErrorNotACrash) {
  // A "server" that answers anything with bytes that are not RESP.
  RawServer garbage([](int c) {
    char buf[1024];
    while (::read(c, buf, sizeof buf) > 0) {
      const char junk[] = "hello, this is not redis\r\n";
      (void)!::write(c, junk, sizeof junk - 1);
    }
  });
  std::uint16_t port = garbage.port();
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: junk}\n"
      "clusters:\n"
      "  - name: junk\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(port) + "\"]\n");
  RespClient client(proxy_->port("cache"));
  for (int i = 0; i < 3; ++i) {
    std::string r = client.call({"GET", "k"});
    EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r;
  }
  EXPECT_EQ(http(proxy_->port("admin"), "GET", "/healthz").status, 200);
}

TEST_F(ProxyTest, RedisPasswordsOnBothSides) {
  RedisServer a("server-secret");
  RedisServer b("server-secret");
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: shards,\n"
      "     auth: client-secret}\n"
      "clusters:\n"
      "  - name: shards\n"
      "    auth: server-secret\n"
      "    health_check: {type: redis, interval: 100ms}\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\", \"127.0.0.1:" + std::to_string(b.port()) + "\"]\n");
  RespClient c(proxy_->port("cache"));
  EXPECT_EQ(c.call({"GET", "k"}).rfind("-NOAUTH", 0), 0U);
  EXPECT_EQ(c.call({"PING"}).rfind("-NOAUTH", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "wrong"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "someone", "client-secret"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "client-secret"}), "+OK\r\n");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(c.call({"SET", "key" + std::to_string(i), "v"}), "+OK\r\n");
  }
  RespClient d(proxy_->port("cache"));
  EXPECT_EQ(d.call({"AUTH", "default", "client-secret"}), "+OK\r\n");
  EXPECT_EQ(d.call({"GET", "key7"}), "$1\r\nv\r\n");
  // Both servers took keys: the proxy authenticated to each.
  EXPECT_NE(a.command({"DBSIZE"}), ":0\r\n");
  EXPECT_NE(b.command({"DBSIZE"}), ":0\r\n");
  // The health checks authenticate too: every endpoint stays healthy.
  auto admin = proxy_->port("admin");
  EXPECT_TRUE(eventually([&] {
    auto cs = json::parse(http(admin, "GET", "/v1/clusters").body).at("clusters").as_array();
    int checked = 0;
    for (const auto& e : cs.at(0).at("endpoints").as_array()) {
      const auto& o = e.as_object();
      checked += o.contains("last_check") && o.at("last_check").as_string() == "ok" &&
                         o.at("health").as_string() == "healthy"
                     ? 1
                     : 0;
    }
    return checked == 2;
  }));
}

TEST_F(ProxyTest, RedisAclUsersOnBothSides) {
  // The server has an ACL user "app" besides the open default user; the proxy logs in as app.
  RedisServer a("", {"--user", "app", "on", ">server-secret", "~*", "+@all"});
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one,\n"
      "     auth: client-secret, auth_user: web}\n"
      "clusters:\n"
      "  - name: one\n"
      "    auth: server-secret\n"
      "    auth_user: app\n"
      "    health_check: {type: redis, interval: 100ms}\n"
      "    endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\"]\n");
  RespClient c(proxy_->port("cache"));
  // The password alone names the default user, and so does a wrong user: both are refused.
  EXPECT_EQ(c.call({"AUTH", "client-secret"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "default", "client-secret"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(c.call({"GET", "k"}).rfind("-NOAUTH", 0), 0U);
  EXPECT_EQ(c.call({"AUTH", "web", "client-secret"}), "+OK\r\n");
  EXPECT_EQ(c.call({"SET", "k", "v"}), "+OK\r\n");
  // HELLO authenticates too (as clients asking for RESP2 do), or says it must be.
  RespClient h(proxy_->port("cache"));
  EXPECT_EQ(h.call({"HELLO", "2"}).rfind("-NOAUTH HELLO must be called", 0), 0U);
  EXPECT_EQ(h.call({"HELLO", "2", "AUTH", "web", "wrong"}).rfind("-WRONGPASS", 0), 0U);
  EXPECT_EQ(h.call({"HELLO", "2", "AUTH", "web", "client-secret"}).rfind("*14\r\n", 0), 0U);
  EXPECT_EQ(h.call({"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(a.command({"GET", "k"}), "$1\r\nv\r\n");
  // The server sees the proxy's connections as user app, health checks included.
  EXPECT_NE(a.command({"CLIENT", "LIST"}).find("user=app"), std::string::npos);
  EXPECT_TRUE(eventually([&] {
    auto cs = json::parse(http(proxy_->port("admin"), "GET", "/v1/clusters").body);
    const auto& e = cs.at("clusters").at(0).at("endpoints").at(0).as_object();
    return e.contains("last_check") && e.at("last_check").as_string() == "ok";
  }));
}

TEST_F(ProxyTest, RedisHelloKeepsClientsOnResp2) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient c(proxy_->port("cache"));
  // RESP2 asked for, or nothing asked: the server map, proto 2.
  std::string map = c.call({"HELLO"});
  EXPECT_EQ(map.rfind("*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0), 0U) << map;
  EXPECT_NE(map.find("$5\r\nproto\r\n:2\r\n"), std::string::npos) << map;
  EXPECT_EQ(c.call({"hello", "2", "SETNAME", "app"}).rfind("*14\r\n", 0), 0U);
  EXPECT_EQ(c.call({"CLIENT", "GETNAME"}), "$3\r\napp\r\n");  // as CLIENT SETNAME
  EXPECT_EQ(c.call({"HELLO", "2", "SETNAME", "a b"}).rfind("-ERR Client names cannot", 0), 0U);
  // RESP3 is answered as a server without HELLO answers, after which clients stay on RESP2
  // (NOPROTO would make some give up); the error does not repeat a password.
  EXPECT_EQ(c.call({"HELLO", "3", "AUTH", "default", "secret"}),
            "-ERR unknown command 'HELLO', with args beginning with: '3' \r\n");
  EXPECT_EQ(c.call({"HELLO", "2", "NOPE"}), "-ERR Syntax error in HELLO option 'NOPE'\r\n");
  EXPECT_EQ(c.call({"SET", "k", "v"}), "+OK\r\n");  // the connection carries on
}

TEST_F(ProxyTest, RedisClientCommandsOfTheConnectionItself) {
  RedisServer a;
  start(redis_config({&a}, "ring_hash"));
  RespClient c(proxy_->port("cache"));
  RespClient d(proxy_->port("cache"));
  // What clients send on connecting.
  EXPECT_EQ(c.call({"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}), "+OK\r\n");
  EXPECT_EQ(c.call({"CLIENT", "SETINFO", "lib-ver", "5.0.1"}), "+OK\r\n");
  EXPECT_EQ(c.call({"CLIENT", "GETNAME"}), "$-1\r\n");
  EXPECT_EQ(c.call({"CLIENT", "SETNAME", "worker-7"}), "+OK\r\n");
  EXPECT_EQ(c.call({"client", "getname"}), "$8\r\nworker-7\r\n");
  EXPECT_EQ(d.call({"CLIENT", "GETNAME"}), "$-1\r\n");  // names are per connection
  EXPECT_EQ(c.call({"CLIENT", "SETNAME", "a b"}).rfind("-ERR Client names cannot contain", 0), 0U);
  std::string id_c = c.call({"CLIENT", "ID"});
  std::string id_d = d.call({"CLIENT", "ID"});
  EXPECT_EQ(id_c.rfind(':', 0), 0U) << id_c;
  EXPECT_NE(id_c, id_d);
  // About the proxy's shared server connections: refused.
  EXPECT_EQ(c.call({"CLIENT", "LIST"}),
            "-ERR command 'client LIST' is not supported by tender "
            "proxy: it cannot be sharded\r\n");
  EXPECT_EQ(c.call({"CLIENT"}).rfind("-ERR wrong number of arguments for 'client'", 0), 0U);
  EXPECT_EQ(c.call({"GET", "k"}), "$-1\r\n");
}

TEST_F(ProxyTest, RedisWrongServerPasswordIsAClearError) {
  RedisServer a("server-secret");
  start(
      "listeners:\n"
      "  - {name: cache, listen: \"127.0.0.1:0\", protocol: redis, cluster: one}\n"
      "clusters:\n"
      "  - {name: one, auth: not-it, endpoints: [\"127.0.0.1:" +
      std::to_string(a.port()) + "\"]}\n");
  RespClient c(proxy_->port("cache"));
  std::string r = c.call({"GET", "k"});
  EXPECT_EQ(r.rfind("-ERR upstream", 0), 0U) << r;
  EXPECT_NE(r.find("AUTH"), std::string::npos) << r;
  EXPECT_EQ(c.call({"AUTH", "x"}).rfind("-ERR AUTH <password> called without", 0), 0U);
}

}  // namespace
}  // namespace tender::testing
